"""The only home of storage libraries: metadata (SQLAlchemy) and blobs (fsspec)."""
