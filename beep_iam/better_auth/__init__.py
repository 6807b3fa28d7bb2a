"""Everything that lets a stock better-auth server share this project's database.

- :mod:`.mapping`: the better-auth view of the Django models (model and field keys, columns).
- :mod:`.drizzle`: renders that mapping as the JavaScript module a better-auth server imports.
- :mod:`.grants`: the privileges of the better-auth database role.
"""
