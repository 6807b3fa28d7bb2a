"""Bad input to an admin page answered as a 4xx page with one line saying what was wrong."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

# Echoed input is cut short (a value may be megabytes long): each long word to about
# LONG_WORD characters, the whole line to MAX_LINE.
LONG_WORD = 40
MAX_LINE = 300
_LONG_WORD = re.compile(rf"\S{{{LONG_WORD + 20},}}")


def one_line(message: object) -> str:
    """``message`` (an exception, a ValidationError, text) as one short line."""
    if isinstance(message, ValidationError):
        text = "; ".join(message.messages)
    elif isinstance(message, BaseException) and message.args:
        first = message.args[0]
        text = one_line(first) if isinstance(first, BaseException) else str(first)
    else:
        text = str(message)
    text = " ".join(text.split())
    text = _LONG_WORD.sub(lambda match: f"{match.group()[:LONG_WORD]}…", text)
    return text if len(text) <= MAX_LINE else f"{text[: MAX_LINE - 1]}…"


class BadChangelistQuery(Exception):
    """A changelist's query string names a lookup or a value the list cannot use."""

    def __init__(self, cause: object) -> None:
        self.message = one_line(cause)
        super().__init__(self.message)


def bad_request_page(
    model_admin: Any, request: Any, message: str, *, status: int = 400, title: str = ""
) -> TemplateResponse:
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "title": title or f"Cannot show these {opts.verbose_name_plural}",
        "message": message,
    }
    return TemplateResponse(request, "admin/beep_shared/bad_request.html", context, status=status)
