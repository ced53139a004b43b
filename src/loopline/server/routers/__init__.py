"""One router per concern: health, the labeling REST API, blobs, and the web pages."""
