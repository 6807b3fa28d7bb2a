"""Browser tests: the admin served on a loopback port, driven by headless Chromium.

Chromium is Debian's (``apt-get install chromium``), driven by Playwright for Python; no
browser is downloaded. Without the executable the tests are skipped with the reason.

The tests of one module share, to keep the run short on a small machine:

- ``live_admin``: the app served by Django's ``LiveServerThread`` on 127.0.0.1 (any free port)
  against the test database, a superuser, and the session cookie it got by logging in through
  the real login form. Data is committed (the server runs in another thread, with its own
  connection); the database is flushed when the module ends.
- ``chromium``: one headless browser.

Each test gets its own browser context (``admin_page``: logged in, ``anonymous_page``: not), so
pages, cookies and storage never leak from one test into another. Screenshots go to
``test-artifacts/`` (git-ignored): those a test asks for, and one of each page of a failing test.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management import call_command
from django.db import connections
from django.test.testcases import LiveServerThread
from django.test.utils import override_settings

CHROMIUM = Path(os.environ.get("BEEP_CHROMIUM", "/usr/bin/chromium"))
# Flags for a machine without network access: without them Chromium waits on connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Generous: the machine may be busy with other jobs; waits end as soon as the page is ready.
TIMEOUT_MS = 30_000
# The window a support engineer's laptop gives the admin.
VIEWPORT = (1280, 800)
ADMIN_EMAIL = "browser-admin@example.com"
ADMIN_PASSWORD = "browser-admin-password"

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    missing = not CHROMIUM.exists()
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            if missing:
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"Chromium not found at {CHROMIUM} "
                        "(apt-get install chromium, or set BEEP_CHROMIUM)"
                    )
                )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def horizontal_overflow(page: Any) -> int:
    """How many pixels the page is wider than the window (0: it fits)."""
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/ and print where it is."""
    path = ARTIFACTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def log_in(page: Any, email: str, password: str) -> None:
    """Log in through the admin's login form; fails unless the admin index follows."""
    from playwright.sync_api import expect

    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("#login-form input[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator("#user-tools")).to_contain_text("Log out")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Chromium, for one test module.

    While Playwright's sync API is started, its asyncio loop counts as running on this thread,
    and Django refuses database access from such a thread unless DJANGO_ALLOW_ASYNC_UNSAFE is
    set. The test code is synchronous, so the setting is harmless here; scoping the browser to
    a module confines it to the browser tests instead of the rest of the session.
    """
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()


@dataclass
class LiveAdmin:
    url: str
    user: Any
    storage_state: dict[str, Any]  # the browser state of the logged-in superuser


def new_context(chromium: Any, url: str, **options: Any) -> Any:
    context = chromium.new_context(
        base_url=url, viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]}, **options
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(2 * TIMEOUT_MS)
    return context


@pytest.fixture(scope="module")
def live_admin(django_db_setup: None, django_db_blocker: Any, chromium: Any) -> Iterator[LiveAdmin]:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    # Plain http on the loopback: cookies must not require https, the host must be allowed.
    served = override_settings(
        ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "127.0.0.1"],
        SESSION_COOKIE_SECURE=False,
        CSRF_COOKIE_SECURE=False,
    )
    with django_db_blocker.unblock(), served:
        server = LiveServerThread("127.0.0.1", StaticFilesHandler)
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise server.error
        url = f"http://127.0.0.1:{server.port}"
        try:
            user = get_user_model()._default_manager.create_superuser(
                ADMIN_EMAIL, ADMIN_PASSWORD, name="Browser Admin"
            )
            context = new_context(chromium, url)
            log_in(context.new_page(), ADMIN_EMAIL, ADMIN_PASSWORD)
            state = context.storage_state()
            context.close()
            yield LiveAdmin(url=url, user=user, storage_state=state)
        finally:
            server.terminate()
            wait_for_other_connections_to_close()
            # Leave the test database as empty as the other tests expect it.
            call_command("flush", interactive=False, verbosity=0)
            # Connections opened while Playwright's loop runs live in their own context and
            # would outlive it, keeping the test database from being dropped.
            connections.close_all()


def wait_for_other_connections_to_close(timeout: float = 30.0) -> None:
    """The server's request threads close their connections when their request ends; one
    still finishing would see the flush half done, or keep the test database from being
    dropped at the end of the session."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)


@pytest.fixture(autouse=True)
def _committed_db_access(
    django_db_setup: None, django_db_blocker: Any, request: Any
) -> Iterator[None]:
    # Rows a browser test creates must be committed for the server thread to see them, so
    # these tests must not run inside pytest-django's rolled-back test transaction.
    if {"db", "transactional_db"} & set(request.fixturenames):
        pytest.fail(
            "browser tests share committed data with the live server; don't use the db, "
            "transactional_db or django_user_model fixtures (use the factories directly)"
        )
    with django_db_blocker.unblock():
        yield


@contextmanager
def browser_context(chromium: Any, url: str, request: Any, **options: Any) -> Iterator[Any]:
    """A browser context for one test; screenshots its pages if the test failed."""
    context = new_context(chromium, url, **options)
    try:
        yield context
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
            for number, page in enumerate(context.pages):
                screenshot(page, f"failures/{name}-{number}")
    finally:
        context.close()


@pytest.fixture
def admin_page(chromium: Any, live_admin: LiveAdmin, request: Any) -> Iterator[Any]:
    """A page of a fresh browser context, logged in to the admin as the superuser."""
    with browser_context(
        chromium, live_admin.url, request, storage_state=live_admin.storage_state
    ) as context:
        yield context.new_page()


@pytest.fixture
def anonymous_page(chromium: Any, live_admin: LiveAdmin, request: Any) -> Iterator[Any]:
    """A page of a fresh browser context that is not logged in."""
    with browser_context(chromium, live_admin.url, request) as context:
        yield context.new_page()
