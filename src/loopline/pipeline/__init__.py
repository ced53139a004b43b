"""Steps, the DAG, fingerprints and cache, executors, and the runner that records it all."""

__all__: list[str] = []  # nothing here: the modules are imported by name
