"""Run a store implementation through every contract check, as scikit-learn's `check_estimator`.

A factory builds a fresh, empty store for each check, so checks never see each other's data and
one failure does not hide the next. A failed check raises AssertionError naming the check and
the contract it holds the store to; so does a check the store crashes in (an exception other
than the loopline error the contract asks for is a failure too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from loopline.testing import (
    blob_checks,
    dataset_checks,
    labeling_checks,
    model_checks,
    tracking_checks,
    user_checks,
)

if TYPE_CHECKING:
    from loopline.store.contracts import BlobStore
    from loopline.testing.stores import MetadataStores

S = TypeVar("S")


@dataclass(frozen=True)
class Check(Generic[S]):
    """One contract check: `name` (the pytest id), the noun it is about, and its function."""

    name: str
    noun: str
    function: Callable[[S], None]

    @property
    def contract(self) -> str:
        return (self.function.__doc__ or self.name).strip().splitlines()[0]

    def __call__(self, factory: Callable[[], S]) -> None:
        subject = factory()
        try:
            self.function(subject)
        except AssertionError as exc:
            raise AssertionError(f"{self.name} failed: {self.contract}\n    {exc}") from exc
        except Exception as exc:
            raise AssertionError(
                f"{self.name} failed: {self.contract}\n    raised {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            close = getattr(subject, "close", None)
            if callable(close):
                close()

    def __repr__(self) -> str:
        return self.name


def _checks(modules: Sequence[Any]) -> list[Check[Any]]:
    return [Check(fn.__name__, module.NOUN, fn) for module in modules for fn in module.CHECKS]


def metadata_store_checks() -> list[Check[MetadataStores]]:
    """Every metadata check, by noun: datasets and runs, labeling, tracking, models, users."""
    return _checks([dataset_checks, labeling_checks, tracking_checks, model_checks, user_checks])


def blob_store_checks() -> list[Check[BlobStore]]:
    """Every blob store check."""
    return _checks([blob_checks])


def _run_all(checks: Sequence[Check[S]], factory: Callable[[], S]) -> None:
    failures: list[str] = []
    for check in checks:
        try:
            check(factory)
        except AssertionError as exc:
            failures.append(str(exc))
    if failures:
        raise AssertionError(f"{len(failures)} of {len(checks)} store checks failed:\n" + "\n".join(failures))


def check_metadata_store(factory: Callable[[], MetadataStores]) -> None:
    """Run every metadata check, each on a fresh store from `factory`; AssertionError lists all
    that failed."""
    _run_all(metadata_store_checks(), factory)


def check_blob_store(factory: Callable[[], BlobStore]) -> None:
    """Run every blob store check, each on a fresh, empty store from `factory`."""
    _run_all(blob_store_checks(), factory)
