"""Shared foundations: hashing, ids, errors, settings and typed records. No storage, no web."""
