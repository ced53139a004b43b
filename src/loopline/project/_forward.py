"""How the Project facade hands a call to one of its parts in one line, keeping the part's
signature and docstring for type checkers, `help()` and the docs.

`run = forward("_runs", Runs.run)` makes `project.run(...)` the bound `project._runs.run(...)`;
on the class, `Project.run` is `Runs.run` itself, so its signature and docstring show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

P = ParamSpec("P")
R = TypeVar("R")


class forward(Generic[P, R]):  # noqa: N801: used like a function in the class body
    def __init__(self, part: str, method: Callable[Concatenate[Any, P], R]) -> None:
        self.part = part
        self.method = method
        self.name = method.__name__

    @overload
    def __get__(self, obj: None, owner: type) -> Callable[Concatenate[Any, P], R]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> Callable[P, R]: ...
    def __get__(self, obj: object | None, owner: type) -> Callable[..., R]:
        if obj is None:
            return self.method
        bound: Callable[P, R] = getattr(getattr(obj, self.part), self.name)
        return bound
