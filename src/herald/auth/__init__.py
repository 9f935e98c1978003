"""Authentication and authorization: identity steps, pre-signed URLs and access policy.

Each authentication backend is an `IdentityStep` (see `herald.identity`) that
`app.identity_step` chooses from the `auth` setting; `signed_urls` makes and
honours Zaqar's pre-signed URLs ahead of it; `policy` decides which caller may
run which operation. None of them knows a wire protocol.
"""
