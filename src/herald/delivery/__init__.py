"""Delivery mechanics of notifications: webhook and e-mail requests, signing, targets, trusts.

Each module does one kind of sending and says how it went as an `Outcome`;
the engine that decides when to send, and again, calls them. Imports go to
`herald.service`, `herald.auth` and `herald.config`, never to a transport.
"""
