"""Each stage wired to the engine and the stores: one module per stage, named like the stage package.

A stage package (collect/, annotate/, evaluate/, serve/, monitor/) is pure functions on data, and
pipeline/ is the engine that runs steps; what sits between them (read the artifacts a stage
needs, call it, store what it made, record it as a run so lineage sees it) lives here, so that
`loopline.wiring.monitor` is where monitoring meets the metadata store, just as
`loopline.monitor` is the drift tests and `loopline.cli.monitor_commands` the commands.

Named `wiring`, not `steps`: a step is the engine's noun (pipeline/step.py, `steps:` in
loopline.yaml), and most of what is here is not one (a labeling project, a serving app, the
active tracking run). The folder sits between project/ and pipeline/ in the layers: it uses the
engine (the Runner records its runs) and the stages; the engine never imports it, it is handed
what it needs (collect a source, find an evaluation's baseline) by the Project that builds it.
"""

__all__: list[str] = []  # nothing here: the modules are imported by name
