"""The README's Python examples run as written, against the test database."""

import pytest

from tests.readme import block


@pytest.mark.django_db
def test_the_services_example_runs_as_written():
    namespace: dict = {}
    exec(
        compile(block("services-example"), "README.md <!-- ci:services-example -->", "exec"),
        namespace,
    )
    assert namespace["client"].client_id
    assert namespace["info"].user_id == namespace["alice"].pk
