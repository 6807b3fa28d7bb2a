"""Error reports that hide secrets also while ``DEBUG`` is on.

Django's ``SafeExceptionReporterFilter`` honours ``sensitive_variables`` and
``sensitive_post_parameters`` only when ``DEBUG`` is off, so a development server's error page
would show raw tokens and client secrets in frame locals (and a staging site left on DEBUG
would publish them). Set ``DEFAULT_EXCEPTION_REPORTER_FILTER`` to this class to hide them
always; everything else about the debug page stays.
"""

from __future__ import annotations

from typing import Any

from django.views.debug import SafeExceptionReporterFilter


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request: Any) -> bool:
        return True
