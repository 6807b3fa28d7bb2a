"""Django's login for beep's user model, with the user's own validity rule.

``ModelBackend`` refuses only inactive users; :class:`UserBackend` asks
``user.may_authenticate()`` (active, not banned, not soft-deleted), at login and on every
later request of a Django session (``get_user``), so a ban or a soft-delete ends a Django
login at once. Use it in place of ``ModelBackend`` (check ``beep_shared.W020``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from beep_shared.models.user import user_may_authenticate


class UserBackend(ModelBackend):
    def user_can_authenticate(self, user: Any) -> bool:
        return user_may_authenticate(user)
