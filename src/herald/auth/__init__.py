"""Authentication and authorization pieces that sit beside the identity step.

`signed_urls` makes and honours Zaqar's pre-signed URLs; `policy` decides which
caller may run which operation. Neither knows a wire protocol.
"""
