"""Authentication backends: identity steps that prove who a caller is before it acts.

Each backend is an `IdentityStep` (see `herald.identity`) that `app.identity_step`
chooses by the `auth` setting; nothing else in Herald knows which one runs.
"""
