"""Posting an admin form as a browser would: every field of the page with its current value,
then the changes a test makes."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from django.test import Client


class _FormFields(HTMLParser):
    """The named fields of the page's main form (``id="<model>_form"``) and their values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.data: dict[str, Any] = {}
        self._in_form = False
        self._textarea: str | None = None
        self._select: str | None = None
        self._multiple = False

    def _put(self, name: str, value: str, *, many: bool = False) -> None:
        if many:
            self.data.setdefault(name, []).append(value)
        else:
            self.data[name] = value

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form" and a.get("id", "").endswith("_form"):
            self._in_form = True
        if not self._in_form:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("submit", "button", "file"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._put(name, a.get("value", "on"), many=kind == "checkbox")
                return
            self._put(name, a.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""
        elif tag == "select" and name:
            self._select, self._multiple = name, "multiple" in a
            if self._multiple:
                self.data[name] = []
        elif tag == "option" and self._select and "selected" in a:
            self._put(self._select, a.get("value", ""), many=self._multiple)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += (
                data.removeprefix("\n") if not self.data[self._textarea] else data
            )


def form_data(client: Client, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    parser = _FormFields()
    parser.feed(response.content.decode())
    return parser.data


def post_form(client: Client, url: str, **changes: Any) -> Any:
    """POST the form at ``url`` with its current values and ``changes``."""
    data = form_data(client, url)
    data.update(changes)
    return client.post(url, data)
