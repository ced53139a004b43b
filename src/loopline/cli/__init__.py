"""The command line: thin Typer commands over the Project facade, rendered by one Rich console."""

__all__: list[str] = []  # nothing here: the modules are imported by name
