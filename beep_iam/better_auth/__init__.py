"""Everything that speaks to a better-auth server sharing this database.

- :mod:`.hashers`: better-auth's scrypt password format as a Django password hasher;
- :mod:`.credentials`: the ``credential`` account kept in step with Django's password;
- :mod:`.backends`: Django logins checked against that credential account;
- :mod:`.signing`: better-call's signed cookie values (HMAC-SHA256 with the shared secret);
- :mod:`.sessions`: the session token's stored form and the session a cookie names;
- :mod:`.middleware`: Django requests authenticated by better-auth's session cookie.

See docs/better-auth.md.
"""
