# Importing the modules registers their ModelAdmins.
from . import auth, oauth, org  # noqa: F401
