# One module per area; each defines __all__.
from .auth import *  # noqa: F403
from .oauth import *  # noqa: F403
from .org import *  # noqa: F403
