"""An issuer with a path: the endpoints under api/auth/, the well-known documents at the root
(beep_iam.oauth2.urls's docstring)."""

from django.urls import include, path

from beep_iam.oauth2.urls import well_known_urlpatterns

urlpatterns = [
    path("api/auth/", include("beep_iam.oauth2.urls")),
    path("", include(well_known_urlpatterns)),
]
