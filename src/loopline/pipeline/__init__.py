"""Steps, the DAG, fingerprints and cache, executors, and the runner that records it all."""
