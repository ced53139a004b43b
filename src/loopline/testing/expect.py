"""`raises`: pytest.raises for a suite that must not import pytest (it ships to users)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

E = TypeVar("E", bound=BaseException)


def raises(expected: type[E], function: Callable[..., Any], *args: Any, **kwargs: Any) -> E:
    """The `expected` exception that function(*args, **kwargs) raised; AssertionError when it
    returned, or raised another exception (a wrong error is a broken contract too)."""
    call = f"{getattr(function, '__name__', function)}{args!r}"
    try:
        got = function(*args, **kwargs)
    except expected as exc:
        return exc
    except Exception as exc:
        raise AssertionError(f"{call} raised {type(exc).__name__}: {exc}, not {expected.__name__}") from exc
    raise AssertionError(f"{call} returned {got!r} instead of raising {expected.__name__}")
