"""The only home of storage libraries: metadata (SQLAlchemy) and blobs (fsspec)."""

__all__: list[str] = []  # nothing here: the modules are imported by name
