"""Django's login for beep's user model, with the user's own validity rule.

``ModelBackend`` refuses only inactive users; :class:`UserBackend` asks
``user.may_authenticate()`` (active, not banned, not soft-deleted), at login and on every
later request of a Django session (``get_user``), so a ban or a soft-delete ends a Django
login at once. Use it in place of ``ModelBackend`` (check ``beep_shared.W020``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from beep_shared.models.user import user_may_authenticate
from beep_shared.rls import access


class UserBackend(ModelBackend):
    #: Its sessions' users are loaded by primary key and kept by User.may_authenticate():
    #: TenantMiddleware repeats that in SQL for sessions it verified before.
    loads_users_by_validity_rule = True

    def user_can_authenticate(self, user: Any) -> bool:
        return user_may_authenticate(user)

    def get_user(self, user_id: Any) -> Any:
        """ModelBackend's, in one statement with TenantMiddleware's organization check when
        one is pending (:func:`beep_shared.rls.access.check_with_user_load`)."""
        model = get_user_model()
        try:
            user = access.annotate_user_load(model._default_manager.all(), user_id).get(pk=user_id)
        except model.DoesNotExist:
            return None
        access.mark_user_load(user, user_id)
        return user if self.user_can_authenticate(user) else None
