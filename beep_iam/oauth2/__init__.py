"""OAuth 2.1 and OpenID Connect endpoints over the beep-iam tables (docs/oauth2.md)."""
