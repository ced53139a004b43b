"""The inputs of a pipeline read from stored datasets: at their latest version when no step
produces them (`inputs: [raw]`), or at a pinned one (`inputs: {raw: elec@2}`), even of a dataset
a step or a collect source of the pipeline makes (it then waits for that step in no way). Each is found before
anything runs, so a missing dataset or version fails the run with nothing written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from loopline.core.errors import ConfigError, NotFound
from loopline.core.types import Artifact
from loopline.pipeline.dag import Pipeline

if TYPE_CHECKING:  # `loopline status` reads through store/metadata/peek.py, without SQLAlchemy
    from loopline.store.metadata import MetadataStore


def stored_inputs(
    meta: MetadataStore, pipeline: Pipeline, names: Sequence[str], *, strict: bool = True
) -> dict[str, Artifact]:
    """`NAME` (the latest version) or `NAME@VERSION` -> its artifact, for the inputs of the
    steps `names` that no step produces or that are pinned. A missing one is a ConfigError
    naming the step, the input and the versions there are (with `strict`), or left out (for
    `status`)."""
    readers: dict[str, list[str]] = {}
    for n in names:
        item = pipeline.steps[n]
        for i in item.inputs:
            if i in item.pins or i not in pipeline.producer:
                readers.setdefault(item.ref(i), []).append(n)
    found: dict[str, Artifact] = {}
    for ref, steps in sorted(readers.items()):
        name, _, pin = ref.partition("@")
        art = meta.latest_version(name)
        if pin and art is not None and int(pin) != art.version:
            try:
                art = meta.get_version(name, int(pin))
            except NotFound:
                if strict:
                    raise ConfigError(
                        f"input {ref!r} of step {steps[0]!r}: {name} has no version {pin} "
                        f"(its versions are 1 to {art.version})",
                        where=pipeline.steps[steps[0]].where or pipeline.declared_in,
                        hint=f"pin one of them, e.g. `{name}@{art.version}`, or write `{name}` "
                        "for the latest",
                    ) from None
                continue
        if art is None:
            if strict:
                raise ConfigError(
                    f"input {ref!r} of step {steps[0]!r} is produced by no step and is not a dataset",
                    where=pipeline.steps[steps[0]].where or pipeline.declared_in,
                    hint=f"add a step with `outputs: [{name}]`, or `loopline add PATH --name {name}`",
                )
            continue
        found[ref] = art
    return found


def versions_read(inputs: dict[str, Artifact]) -> dict[str, dict[str, str]]:
    """{"versions": {slot: NAME@VERSION}} for the inputs read from a stored version (a dataset,
    pinned or the latest): one artifact id can be several versions (after a revert), so the
    run records which it read."""
    read = {slot: f"{a.name}@{a.version}" for slot, a in sorted(inputs.items()) if a.name and a.version}
    return {"versions": read} if read else {}
