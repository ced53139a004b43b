"""A pipeline: steps ordered by the artifacts they exchange. Cycles and duplicate outputs are
configuration errors found before anything runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from loopline.core.errors import ConfigError
from loopline.pipeline.step import Step, as_step


class Pipeline:
    def __init__(self, steps: Sequence[Step | Callable[..., Any]], *, declared_in: str | None = None) -> None:
        self.declared_in = declared_in
        self.steps: dict[str, Step] = {}
        self.producer: dict[str, str] = {}
        for obj in steps:
            item = as_step(obj)
            if item.name in self.steps:
                raise ConfigError(
                    f"two steps are named {item.name!r}",
                    where=item.where or declared_in,
                    hint="give each step its own name",
                )
            for output in item.outputs:
                if output in self.producer:
                    raise ConfigError(
                        f"output {output!r} is produced by both {self.producer[output]!r} and {item.name!r}",
                        where=item.where or declared_in,
                        hint="an artifact name has one producing step; rename one output",
                    )
                self.producer[output] = item.name
            item.check_signature()
            self.steps[item.name] = item
        for item in self.steps.values():
            for name, version in item.pins.items():
                if name in self.producer:
                    raise ConfigError(
                        f"step {item.name!r} pins input {name}@{version}, but step "
                        f"{self.producer[name]!r} of this pipeline produces {name!r}",
                        where=item.where or declared_in,
                        hint=f"a pin reads a stored dataset: read `{name}` (what that step makes), "
                        "or pin a dataset no step produces",
                    )
        self.order = self._topological_order()

    def external_inputs(self) -> dict[str, list[str]]:
        """Inputs no step produces (they must exist as datasets): `NAME` (the latest) or
        `NAME@VERSION` (pinned) -> steps reading it."""
        found: dict[str, list[str]] = {}
        for item in self.steps.values():
            for name in item.inputs:
                if name not in self.producer:
                    found.setdefault(item.ref(name), []).append(item.name)
        return found

    def upstream(self, name: str) -> list[str]:
        return [self.producer[i] for i in self.steps[name].inputs if i in self.producer]

    def downstream(self, names: Iterable[str]) -> set[str]:
        """The given steps and every step that depends on them."""
        result = set(names)
        for step_name in self.order:
            if any(up in result for up in self.upstream(step_name)):
                result.add(step_name)
        return result

    def _topological_order(self) -> list[str]:
        state: dict[str, int] = {}  # 1 visiting, 2 done
        order: list[str] = []

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = [*path[path.index(name) :], name]
                raise ConfigError(
                    "the pipeline has a cycle: " + " -> ".join(cycle),
                    where=self.steps[name].where or self.declared_in,
                    hint="a step cannot depend, directly or not, on its own output",
                )
            state[name] = 1
            for up in self.upstream(name):
                visit(up, [*path, name])
            state[name] = 2
            order.append(name)

        for name in self.steps:
            visit(name, [])
        return order

    def select(self, targets: Sequence[str]) -> list[str]:
        """Steps needed to produce the targets (steps or outputs), in run order."""
        if not targets:
            return list(self.order)
        wanted: set[str] = set()

        def need(name: str) -> None:
            if name in wanted:
                return
            wanted.add(name)
            for up in self.upstream(name):
                need(up)

        for target in targets:
            name = self.producer.get(target, target)
            if name not in self.steps:
                raise ConfigError(
                    f"no step or output named {target!r}", hint=f"steps: {', '.join(self.steps)}"
                )
            need(name)
        return [n for n in self.order if n in wanted]
