# Importing the modules registers their ModelAdmins, and links adds this app's related links
# to beep_shared's admins.
from . import auth, links, oauth, tenant  # noqa: F401
