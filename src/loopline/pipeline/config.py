"""Reading loopline.yaml: every mistake becomes one ConfigError naming the file, line and fix."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from loopline.core.errors import ConfigError
from loopline.core.settings import PROJECT_FILE

if TYPE_CHECKING:  # the pipeline's modules load in build_pipeline: reading the file needs none
    from loopline.collect.spec import SourceSpec
    from loopline.pipeline.dag import Pipeline
    from loopline.pipeline.step import Step

TOP_KEYS = {"project", "sources", "steps", "expectations", "registry", "loop", "monitor"}
PROJECT_KEYS = {"name", "store", "blobs", "remote", "server"}
STEP_KEYS = {"uses", "inputs", "outputs", "params", "env", "sealed", "reads_sealed"}


@dataclass
class ProjectFile:
    path: Path
    project: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    expectations: dict[str, Any] = field(default_factory=dict)  # dataset -> {threshold, checks}
    registry: dict[str, Any] = field(default_factory=dict)  # promotion policy (loopline.registry.Policy)
    loop: dict[str, Any] = field(default_factory=dict)  # the loop's policy (loopline.pipeline.loop)
    monitor: dict[str, Any] = field(default_factory=dict)  # drift, windows, alerts (loopline.monitor)
    lines: dict[str, int] = field(default_factory=dict)  # "steps.NAME[.KEY]" -> line

    def where(self, key: str) -> str:
        line = self.lines.get(key)
        return f"{self.path}:{line}" if line else str(self.path)


def _record_lines(node: yaml.Node, prefix: str, lines: dict[str, int], depth: int) -> None:
    if not isinstance(node, yaml.MappingNode) or depth == 0:
        return
    for key_node, value_node in node.value:
        key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
        lines[key] = key_node.start_mark.line + 1
        _record_lines(value_node, key, lines, depth - 1)


def read_project_file(path: Path) -> ProjectFile:
    if not path.exists():
        raise ConfigError(
            f"no {PROJECT_FILE} here",
            where=str(path.parent),
            hint="run `loopline init` or cd into a project",
        )
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}",
            where=where,
            hint="fix the indentation or quoting on that line",
        ) from exc
    result = ProjectFile(path=path)
    if node is not None:
        _record_lines(node, "", result.lines, depth=3)
    if data is None:
        return result
    if not isinstance(data, dict):
        raise ConfigError(
            "the file must be a mapping of sections", where=str(path), hint="start with `steps:`"
        )
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(
                f"unknown section {key!r}",
                where=result.where(str(key)),
                hint=f"sections are: {', '.join(sorted(TOP_KEYS))}",
            )
    project = data.get("project") or {}
    if not isinstance(project, dict):
        raise ConfigError("`project` must be a mapping", where=result.where("project"))
    for key in project:
        if key not in PROJECT_KEYS:
            raise ConfigError(
                f"unknown key {key!r} in project",
                where=result.where(f"project.{key}"),
                hint=f"keys are: {', '.join(sorted(PROJECT_KEYS))}",
            )
    steps = data.get("steps") or {}
    if not isinstance(steps, dict):
        raise ConfigError(
            "`steps` must be a mapping of step name to declaration", where=result.where("steps")
        )
    sources = data.get("sources") or {}
    if not isinstance(sources, dict):
        raise ConfigError(
            "`sources` must be a mapping of source name to declaration", where=result.where("sources")
        )
    expectations = data.get("expectations") or {}
    if not isinstance(expectations, dict):
        raise ConfigError(
            "`expectations` must map a dataset name to {threshold, checks}",
            where=result.where("expectations"),
        )
    result.project = project
    result.steps = steps
    result.sources = sources
    result.expectations = expectations
    result.registry = data.get("registry") or {}
    result.loop = data.get("loop") or {}
    result.monitor = data.get("monitor") or {}
    return result


def _string_list(value: Any, key: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"`{key}` must be a list of names", where=where, hint=f"write `{key}: [a, b]`")
    return tuple(value)


def _names(value: Any, key: str, where: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """A list of artifact names, or a mapping {function side: artifact name}."""
    from loopline.pipeline.step import bindings

    if isinstance(value, dict):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ConfigError(
                f"`{key}` must map names to names", where=where, hint=f"write `{key}: {{argument: artifact}}`"
            )
        return bindings(value)
    return bindings(_string_list(value, key, where))


def _inputs(value: Any, step: str, where: str) -> tuple[tuple[str, ...], dict[str, str], dict[str, int]]:
    """`inputs:` as a list or a mapping {argument: dataset}, each dataset `NAME` (the latest, or
    what a step produces) or `NAME@VERSION` (that stored version)."""
    from loopline.pipeline.step import input_bindings

    if isinstance(value, dict):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ConfigError(
                "`inputs` must map argument names to datasets",
                where=where,
                hint="write `inputs: {argument: dataset}` or `{argument: dataset@VERSION}`",
            )
        return input_bindings(value, step=step, where=where)
    return input_bindings(_string_list(value, "inputs", where), step=step, where=where)


def _forget_other_projects_module(root: Path, module: str) -> None:
    """A module this project's folder holds (`steps.py`) is imported from it, even when another
    project's module of the same name was imported first in this process (a server, the tests)."""
    top = module.split(".")[0]
    loaded = sys.modules.get(top)
    where = getattr(loaded, "__file__", None)
    if where is None or not ((root / f"{top}.py").is_file() or (root / top).is_dir()):
        return
    if not Path(where).resolve().is_relative_to(root.resolve()):
        for name in [n for n in sys.modules if n == top or n.startswith(f"{top}.")]:
            del sys.modules[name]


def source_step(spec: SourceSpec) -> Step:
    """A `sources:` entry as the pipeline node the runner collects with (loopline.wiring.collect)."""
    from loopline import collect
    from loopline.pipeline.step import Step

    return Step(
        name=f"collect.{spec.name}",
        fn=collect.read,
        uses=f"loopline.collect:{spec.type}",
        outputs=(spec.name, spec.quarantine_name),
        params=spec.to_json(),
        where=spec.where,
        collects=spec,
    )


def build_pipeline(file: ProjectFile) -> Pipeline:
    """Import each step's function (from the project folder) and check the whole DAG."""
    from loopline.collect.spec import parse_source
    from loopline.pipeline.dag import Pipeline
    from loopline.pipeline.step import Step, resolve

    root = str(file.path.parent)
    if root in sys.path:
        sys.path.remove(root)
    sys.path.insert(0, root)  # this project's modules first, whatever was opened before
    steps: list[Step] = [
        source_step(parse_source(name, decl, file.where(f"sources.{name}")))
        for name, decl in file.sources.items()
    ]
    for name, decl in file.steps.items():
        where = file.where(f"steps.{name}")
        if not isinstance(decl, dict):
            raise ConfigError(f"step {name!r} must be a mapping", where=where, hint="give it `uses:`")
        for key in decl:
            if key not in STEP_KEYS:
                raise ConfigError(
                    f"unknown key {key!r} in step {name!r}",
                    where=file.where(f"steps.{name}.{key}"),
                    hint=f"step keys are: {', '.join(sorted(STEP_KEYS))}",
                )
        if "uses" not in decl or not isinstance(decl["uses"], str):
            raise ConfigError(f"step {name!r} has no `uses`", where=where, hint="add `uses: module:function`")
        params = decl.get("params") or {}
        if not isinstance(params, dict):
            raise ConfigError(
                f"`params` of step {name!r} must be a mapping",
                where=file.where(f"steps.{name}.params"),
            )
        _forget_other_projects_module(file.path.parent, decl["uses"].partition(":")[0])
        fn = resolve(decl["uses"], where=file.where(f"steps.{name}.uses"))
        inputs, args, pins = _inputs(decl.get("inputs"), str(name), file.where(f"steps.{name}.inputs"))
        outputs, keys = _names(decl.get("outputs"), "outputs", where)
        sealed = _string_list(decl.get("sealed"), "sealed", where)
        if not set(sealed) <= set(outputs):
            raise ConfigError(
                f"step {name!r} seals {sorted(set(sealed) - set(outputs))[0]!r}, "
                "which is not one of its outputs",
                where=file.where(f"steps.{name}.sealed"),
                hint=f"its outputs are {', '.join(outputs) or 'none'}",
            )
        reads_sealed = decl.get("reads_sealed", False)
        if not isinstance(reads_sealed, bool):
            raise ConfigError(
                f"`reads_sealed` of step {name!r} must be true or false",
                where=file.where(f"steps.{name}.reads_sealed"),
            )
        steps.append(
            Step(
                name=str(name),
                fn=fn,
                uses=decl["uses"],
                inputs=inputs,
                outputs=outputs,
                args=args,
                keys=keys,
                params=params,
                env=_string_list(decl.get("env"), "env", where),
                where=where,
                sealed=sealed,
                reads_sealed=reads_sealed,
                pins=pins,
            )
        )
    return Pipeline(steps, declared_in=str(file.path))
