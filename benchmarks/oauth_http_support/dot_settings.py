"""A minimal project serving django-oauth-toolkit's endpoints on their own scratch database:
Django's ``startproject`` middleware, DOT's defaults (client secrets hashed with Django's
password hasher, tokens stored as DOT stores them), OpenID Connect on for UserInfo."""

import os

from .db_env import database

DEBUG = False
SECRET_KEY = os.environ.get("SECRET_KEY", "benchmark-only-secret-key")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "benchmarks.oauth_http_support.dot_urls"
DATABASES = {"default": database("BENCH_DOT_DB")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TEMPLATES = [
    {"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True},
]
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": os.environ.get("BENCH_DOT_RSA_KEY", ""),
    "SCOPES": {
        "openid": "OpenID Connect",
        "profile": "Profile",
        "email": "Email",
        "invoices:read": "Read invoices",
    },
}
