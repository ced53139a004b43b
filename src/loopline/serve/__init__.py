"""Serve: a registered model behind HTTP, following its alias, with canary, shadow and a
prediction log that never loses a request; and batch scoring of a dataset.

Modules: inputs (a signature compiled into a row checker), deployment (loaded versions and the
alias follower), recorder (the background log writer and its disk spool), metrics, app (the
routes), wiring (one call from the Project), batch (scoring partitions). Nothing is imported
here, so batch scoring on a Dask worker never loads the web stack.
"""

__all__: list[str] = []  # nothing here: the modules are imported by name
