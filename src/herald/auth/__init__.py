"""Authentication backends: identity steps that check what a request presents.

Each backend is an `IdentityStep` (see `herald.identity`); `app.identity_step`
chooses one from the `auth` setting.
"""
