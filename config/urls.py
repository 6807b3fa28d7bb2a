from django.apps import apps
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # The sign-in page the OAuth authorization endpoint sends users to (settings.LOGIN_URL).
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="admin/login.html"),
        name="login",
    ),
]
if apps.is_installed("beep_iam"):  # absent in config.settings_shared_only
    urlpatterns.append(path("", include("beep_iam.oauth2.urls")))
    # RFC 9728 metadata of the resources this project serves (require_oauth views).
    urlpatterns.append(path("", include("beep_iam.oauth2.resource_metadata")))
