"""Every registered model's admin pages render for a superuser (changelist, add, change)."""

import inspect

import factory
import pytest
from django.contrib import admin
from django.urls import reverse

from beep_shared.rls.middleware import ACTIVE_TENANT_SESSION_KEY
from tests import factories

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def factory_for(model):
    for _, candidate in inspect.getmembers(factories, inspect.isclass):
        if (
            issubclass(candidate, factory.django.DjangoModelFactory)
            and candidate._meta.model is model
        ):
            return candidate
    return None


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("admin@example.com", "pw", name="Admin")


@pytest.fixture
def superuser_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.parametrize(
    ("model", "model_admin"), REGISTERED, ids=lambda v: getattr(v, "__name__", "")
)
def test_changelist_add_and_change_pages_render(
    superuser_client, superuser, rf, model, model_admin
):
    opts = model._meta
    model_factory = factory_for(model)
    obj = model_factory() if model_factory else None

    response = superuser_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert response.status_code == 200
    assert opts.verbose_name_plural.lower() in response.content.decode().lower()

    search = superuser_client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), {"q": "x"}
    )
    assert search.status_code == 200

    request = rf.get("/admin/")
    request.user = superuser
    if model_admin.has_add_permission(request):
        add = superuser_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        assert add.status_code == 200

    if obj is not None:
        if getattr(obj, "organization_id", None):
            # Work in the row's organization: the bypass alias (a superuser's default in the
            # admin) is another connection and cannot see this test's uncommitted row.
            session = superuser_client.session
            session[ACTIVE_TENANT_SESSION_KEY] = obj.organization_id
            session.save()
        change = superuser_client.get(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        )
        assert change.status_code == 200
        assert str(obj.pk) in change.content.decode()


def test_every_registered_model_has_a_factory():
    missing = [
        model._meta.label
        for model, _ in REGISTERED
        if model._meta.app_label.startswith("beep_") and factory_for(model) is None
    ]
    assert missing == [], f"no factory for {missing}"
