"""A step: a plain function plus its declared inputs, outputs, params and environment."""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.core.errors import ConfigError, Conflict
from loopline.core.experiments import check_metric, param_text
from loopline.core.hashing import hash_text

if TYPE_CHECKING:
    from loopline.collect.spec import SourceSpec

STEP_ATTR = "__loopline_step__"
# A step function may carry these: the returned keys it seals (the split's "test"), and whether
# it may read sealed artifacts (the final evaluation). loopline.yaml can say both per step too.
SEALED_ATTR = "sealed_outputs"
READS_SEALED_ATTR = "reads_sealed"


def code_hash(fn: Callable[..., Any]) -> str:
    """Hash of the function's source text (its code, not its module's other functions)."""
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        source = repr(code.co_code) if code is not None else repr(fn)
    return hash_text(source)


def import_path(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


def resolve(uses: str, *, where: str | None = None) -> Callable[..., Any]:
    """Import `module:function`; every way it can fail is a ConfigError naming the fix."""
    module_name, sep, attr = uses.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"uses {uses!r} is not of the form module:function",
            where=where,
            hint="write e.g. `uses: mypackage.steps:clean`",
        )
    try:
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
    except Exception as exc:  # an import can raise anything
        raise ConfigError(
            f"cannot import module {module_name!r} for uses {uses!r}: {type(exc).__name__}: {exc}",
            where=where,
            hint="check the module path; it is imported from the project folder",
        ) from exc
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ConfigError(
                f"module {module_name!r} has no function {attr!r}",
                where=where,
                hint=f"define {attr} in {getattr(module, '__file__', module_name)}",
            )
    target = getattr(target, "__wrapped_step__", target)
    if not callable(target):
        raise ConfigError(f"{uses!r} is not a function", where=where)
    return target


@dataclass(frozen=True)
class Step:
    name: str
    fn: Callable[..., Any]
    uses: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    env: tuple[str, ...] = ()
    code_hash: str = ""
    where: str | None = None  # file:line of the declaration, for error messages
    # Only where a name differs: input artifact -> function argument, output artifact -> returned key.
    args: Mapping[str, str] = field(default_factory=dict)
    keys: Mapping[str, str] = field(default_factory=dict)
    collects: SourceSpec | None = None  # set for a collect source: always runs, never cached
    # Output artifacts only a step that reads sealed data may take as input (a test split).
    sealed: tuple[str, ...] = ()
    reads_sealed: bool = False
    # Inputs read at a fixed stored version (`inputs: {raw: elec@2}`): dataset -> version. The
    # input keeps its dataset name as its slot, so the fingerprint and lineage are those of any
    # input with that artifact: a pin to the version that is the latest is a cache hit.
    pins: Mapping[str, int] = field(default_factory=dict)

    def ref(self, name: str) -> str:
        """What the input `name` reads: `NAME@VERSION` when pinned, else NAME (the latest, or
        what a step of the pipeline produces)."""
        return f"{name}@{self.pins[name]}" if name in self.pins else name

    def __post_init__(self) -> None:
        if not self.code_hash:
            object.__setattr__(self, "code_hash", code_hash(self.fn))
        keys = getattr(self.fn, SEALED_ATTR, ())
        sealed = {*self.sealed, *(o for o in self.outputs if self.keys.get(o, o) in keys)}
        object.__setattr__(self, "sealed", tuple(sorted(sealed)))
        if getattr(self.fn, READS_SEALED_ATTR, False):
            object.__setattr__(self, "reads_sealed", True)

    def bindings(self) -> dict[str, dict[str, str]]:
        """The renames, only those present: {"args": {...}, "keys": {...}}, and the sealed
        outputs {"sealed": {artifact: key}} (recorded, so a later run knows a test split)."""
        sealed = {name: self.keys.get(name, name) for name in self.sealed}
        return {k: dict(v) for k, v in (("args", self.args), ("keys", self.keys), ("sealed", sealed)) if v}

    def with_params(self, **params: Any) -> Step:
        return replace(self, params={**self.params, **params})

    def check_signature(self) -> None:
        """Inputs and params must be arguments the function takes, and cover what it needs."""
        if self.collects is not None:
            return
        where = self.where or f"step {self.name!r}"
        signature = inspect.signature(self.fn)
        accepted = signature.parameters
        var_kw = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
        arguments = tuple(self.args.get(name, name) for name in self.inputs)
        for kind, names in (("input", arguments), ("param", tuple(self.params))):
            for name in names:
                if name not in accepted and not var_kw:
                    raise ConfigError(
                        f"step {self.name!r}: {kind} {name!r} is not an argument of {self.uses}",
                        where=where,
                        hint=f"its arguments are {', '.join(accepted) or 'none'}; "
                        f"remove {name!r} or add it to the function",
                    )
        given = {*arguments, *self.params, "ctx"}
        for name, param in accepted.items():
            required = param.default is param.empty and param.kind not in (
                param.VAR_KEYWORD,
                param.VAR_POSITIONAL,
            )
            if required and name not in given:
                raise ConfigError(
                    f"step {self.name!r}: {self.uses} needs argument {name!r}, which is neither "
                    "an input nor a param",
                    where=where,
                    hint=f"add {name!r} to the step's inputs or params",
                )
        if not self.outputs:
            raise ConfigError(
                f"step {self.name!r} declares no outputs", where=where, hint="add `outputs: [NAME]`"
            )


def bindings(
    declared: Sequence[str] | Mapping[str, str] | None,
) -> tuple[tuple[str, ...], dict[str, str]]:
    """Artifact names and their renames from a list (same names) or a mapping {function side: artifact}."""
    if declared is None:
        return (), {}
    if isinstance(declared, Mapping):
        return tuple(declared.values()), {art: fn_side for fn_side, art in declared.items() if fn_side != art}
    return tuple(declared), {}


def input_bindings(
    declared: Sequence[str] | Mapping[str, str] | None, *, step: str, where: str | None = None
) -> tuple[tuple[str, ...], dict[str, str], dict[str, int]]:
    """As `bindings`, for inputs that may be pinned: `elec@2` (the argument named `elec`) or
    `{raw: elec@2}`. Returns (dataset names, renames, pins {dataset: version})."""
    if declared is None:
        return (), {}, {}
    pairs = list(declared.items()) if isinstance(declared, Mapping) else [(None, ref) for ref in declared]
    names: list[str] = []
    args: dict[str, str] = {}
    pins: dict[str, int] = {}
    for argument, ref in pairs:
        name, at, version = str(ref).partition("@")
        if at and not (version.isdigit() and int(version) >= 1):
            raise ConfigError(
                f"step {step!r}: input {ref!r} has version {version!r}, not a number from 1",
                where=where,
                hint=f"write `{name}@2` for version 2, or `{name}` for the latest",
            )
        if not name:
            raise ConfigError(f"step {step!r}: input {ref!r} names no dataset", where=where)
        if name in names:
            raise ConfigError(
                f"step {step!r} reads {name!r} twice",
                where=where,
                hint="a step reads each dataset once; make a step that returns the other version",
            )
        names.append(name)
        if argument is not None and argument != name:
            args[name] = argument
        if at:
            pins[name] = int(version)
    return tuple(names), args, pins


def step(
    outputs: Sequence[str] | Mapping[str, str],
    *,
    inputs: Sequence[str] | Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    name: str | None = None,
    env: Sequence[str] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a function as a pipeline step. Inputs default to its arguments without a default
    that are neither params nor `ctx`. A mapping `{argument: artifact}` (inputs) or
    `{returned key: artifact}` (outputs) renames; an input `NAME@VERSION` reads that stored
    version (`inputs=["elec@2"]`, `inputs={"raw": "elec@2"}`)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        given = dict(params or {})
        step_name = name or fn.__name__
        if inputs is None:
            inputs_declared: Sequence[str] = [
                p.name
                for p in inspect.signature(fn).parameters.values()
                if p.default is p.empty
                and p.name not in given
                and p.name != "ctx"
                and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            ]
            declared, args, pins = input_bindings(inputs_declared, step=step_name)
        else:
            declared, args, pins = input_bindings(inputs, step=step_name)
        produced, keys = bindings(outputs)
        definition = Step(
            name=step_name,
            fn=fn,
            uses=import_path(fn),
            inputs=declared,
            outputs=produced,
            params=given,
            env=tuple(env),
            args=args,
            keys=keys,
            pins=pins,
        )
        setattr(fn, STEP_ATTR, definition)
        return fn

    return decorate


CHECK_ATTR = "check"


def preflight(item: Step, schemas: Mapping[str, Mapping[str, str] | None]) -> None:
    """Run the function's own check of its params against its inputs' schemas, before any data
    is read. A step function opts in with a `check(params, schemas)` attribute that raises
    ConfigError; `schemas` maps each argument name to its input's column types (None if not a table).
    """
    check = getattr(item.fn, CHECK_ATTR, None)
    if check is None:
        return
    by_argument = {item.args.get(name, name): schema for name, schema in schemas.items()}
    try:
        check(dict(item.params), by_argument)
    except ConfigError as exc:
        raise ConfigError(f"step {item.name!r}: {exc.message}", where=item.where, hint=exc.hint) from exc


def as_step(obj: Step | Callable[..., Any]) -> Step:
    if isinstance(obj, Step):
        return obj
    found = getattr(obj, STEP_ATTR, None)
    if found is None:
        raise ConfigError(
            f"{getattr(obj, '__name__', obj)!r} is not a step",
            hint="decorate it with @loopline.step",
        )
    return found


@dataclass
class StepContext:
    """What a step may ask of loopline while it runs; passed as the `ctx` argument."""

    run_id: str
    step_name: str
    seed: int
    scratch: Path
    logger: logging.Logger
    metrics: list[tuple[str, float, int, float]] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    children: list[ChildRun] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    _steps: dict[str, int] = field(default_factory=dict, repr=False)

    def record_gates(self, results: Sequence[Mapping[str, Any]]) -> None:
        """The gates this step checked ({gate, metric, value, threshold, passed, note} each),
        kept even when one fails the step, so `run` and `show` print the table."""
        self.gates = [dict(r) for r in results]

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Record a metric value (step defaults to the next one for that key); written with the
        step's params and tags in one batch when the step finishes."""
        _log_metric(self.metrics, self._steps, key, value, step)

    def log_metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        for key, value in values.items():
            self.log_metric(key, value, step)

    def log_params(self, values: Mapping[str, Any]) -> None:
        _log_params(self.params, values, self.step_name)

    def set_tags(self, values: Mapping[str, Any]) -> None:
        self.tags.update({k: param_text(v) for k, v in values.items()})

    def child_run(self, name: str, experiment: str | None = None) -> ChildRun:
        """A run nested under this one (a tuning trial, a fold), with its own params and metrics;
        recorded in `experiment` (default: the step's name) and tagged with its parent run."""
        child = ChildRun(name, experiment or self.step_name)
        self.children.append(child)
        return child

    @property
    def distributed(self) -> bool:
        """True when this step runs on a Dask worker (`--executor dask`)."""
        try:
            from distributed import get_worker

            get_worker()
        except (ImportError, ValueError):
            return False
        return True

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """fn over items, results in order: spread over the Dask cluster when this step runs on a
        Dask worker (`--executor dask`), one after another here otherwise."""
        if not self.distributed:
            return [fn(item) for item in items]
        from distributed import worker_client

        from loopline.pipeline.shipping import by_value

        with worker_client() as client:  # by value: the scheduler may not have the project's code
            return list(client.gather(client.map(*by_value(fn, items), pure=False)))


@dataclass
class ChildRun:
    """A nested run logged from inside a step; the runner records it after the step."""

    name: str
    experiment: str
    metrics: list[tuple[str, float, int, float]] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "succeeded"
    # When the trial began (epoch seconds): each child is stamped with its own start, not the
    # moment the runner records them all after the step.
    started_at: float = field(default_factory=time.time)
    _steps: dict[str, int] = field(default_factory=dict, repr=False)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        _log_metric(self.metrics, self._steps, key, value, step)

    def log_metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        for key, value in values.items():
            self.log_metric(key, value, step)

    def log_params(self, values: Mapping[str, Any]) -> None:
        _log_params(self.params, values, self.name)

    def set_tags(self, values: Mapping[str, Any]) -> None:
        self.tags.update({k: param_text(v) for k, v in values.items()})


def _log_metric(
    into: list[tuple[str, float, int, float]],
    steps: dict[str, int],
    key: str,
    value: float,
    step: int | None,
) -> None:
    key, number, index = check_metric(key, value, steps.get(key, 0) if step is None else step)
    steps[key] = index + 1
    into.append((key, number, index, time.time()))


def _log_params(into: dict[str, str], values: Mapping[str, Any], owner: str) -> None:
    texts = {k: param_text(v) for k, v in values.items()}
    for key, text in texts.items():
        if into.get(key, text) != text:
            raise Conflict(
                f"{owner}: param {key!r} is {into[key]!r} already; cannot log {text!r}",
                hint="params are logged once per run; log a metric or a tag for what changes",
            )
    into.update(texts)


def seed_from(fingerprint: str) -> int:
    """A 32-bit seed from the fingerprint (itself a BLAKE3 hash): same step, same randomness."""
    return int(fingerprint[:8], 16)
