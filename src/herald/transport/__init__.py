"""Transports: the ways clients reach the service."""
