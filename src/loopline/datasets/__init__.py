"""Data versioning without a pipeline: add a file or folder as the next version of a name,
list, diff and check out versions (what DVC users expect)."""

__all__: list[str] = []  # nothing here: the modules are imported by name
