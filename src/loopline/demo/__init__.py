"""The bundled end-to-end example: `loopline demo` creates a project from it and runs it."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

_FILES = Path(__file__).parent


def run_demo(directory: Path, console: Console) -> int:
    from loopline.project import Project

    directory = directory.absolute()
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_FILES / "steps.py", directory / "demo_steps.py")
    shutil.copyfile(_FILES / "loopline.yaml", directory / "loopline.yaml")
    project = Project.init(directory)
    console.rule("loopline demo: an example pipeline")
    console.print(f"project: {directory}")
    first = project.run()
    console.print(f"first run {first.id}: " + ", ".join(f"{s.name} {s.status}" for s in first.steps))
    second = project.run()
    console.print(f"second run {second.id}: " + ", ".join(f"{s.name} {s.status}" for s in second.steps))
    _, _, comparisons = project.reproduce(first.id)
    identical = all(c.identical for c in comparisons)
    console.print(f"reproduce {first.id}: " + ("bit-identical" if identical else "DIFFERENT"))
    report = project.load("report")
    console.print(f"report: {report}")
    console.print(f"try: cd {directory} && loopline runs && loopline lineage report")
    return 0 if first.status == "succeeded" and identical else 1
