"""Everything that lets a stock better-auth server share this project's database.

- :mod:`.mapping`: the better-auth view of the Django models (model and field keys, columns).
- :mod:`.drizzle`: renders that mapping as the JavaScript module a better-auth server imports.
- :mod:`.grants`: the privileges of the better-auth database role.
- :mod:`.hashers`: better-auth's scrypt password format as a Django password hasher.
- :mod:`.credentials`: the ``credential`` account kept in step with Django's password.
- :mod:`.backends`: Django logins checked against that credential account.
- :mod:`.signing`: better-call's signed cookie values (HMAC-SHA256 with the shared secret).
- :mod:`.sessions`: the session token's stored form and the session a cookie names.
- :mod:`.middleware`: Django requests authenticated by better-auth's session cookie.

See docs/better-auth.md.
"""
