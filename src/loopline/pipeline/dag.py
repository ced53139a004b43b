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
        self.order = self._topological_order()

    def external_inputs(self) -> dict[str, list[str]]:
        """Inputs read from stored datasets (no step produces them, or they are pinned): `NAME`
        (the latest) or `NAME@VERSION` -> steps reading it."""
        found: dict[str, list[str]] = {}
        for item in self.steps.values():
            for name in item.inputs:
                if name in item.pins or name not in self.producer:
                    found.setdefault(item.ref(name), []).append(item.name)
        return found

    def upstream(self, name: str) -> list[str]:
        """The steps whose outputs `name` reads: a pinned input reads a stored version, even of
        an artifact a step of the pipeline makes (a collected dataset), so it waits for none."""
        item = self.steps[name]
        return [self.producer[i] for i in item.inputs if i in self.producer and i not in item.pins]

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
