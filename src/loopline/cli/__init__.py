"""The command line: thin Typer commands over the Project facade, rendered by one Rich console."""
