"""One router per concern: health, the labeling REST API, blobs, and the web pages."""

__all__: list[str] = []  # nothing here: the modules are imported by name
