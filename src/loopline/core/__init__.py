"""Shared foundations: hashing, ids, errors, settings and typed records. No storage, no web."""

__all__: list[str] = []  # nothing here: the modules are imported by name
