"""POST parameters of OAuth endpoints that carry secrets, for error reports to hide.

A host project's token, revocation and introspection views wear
``@protect_secret_parameters`` (Django's ``sensitive_post_parameters`` with the names below),
so DEBUG pages, error e-mails and ``django.request`` logs show stars instead. The service
functions mark their own secret-bearing locals with ``sensitive_variables``.
"""

from django.views.decorators.debug import sensitive_post_parameters

SECRET_PARAMETERS = (
    "client_secret",
    "client_assertion",
    "code",
    "code_verifier",
    "refresh_token",
    "access_token",
    "token",
    "password",
    "device_code",
)

protect_secret_parameters = sensitive_post_parameters(*SECRET_PARAMETERS)
