"""Source declarations from the `sources:` section of loopline.yaml (or built in Python)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from loopline.core.errors import ConfigError
from loopline.core.ids import check_name


@dataclass(frozen=True)
class SourceType:
    """What the rest of loopline needs to know of one `type:` of source, so that adding a source
    is one line here and one module: its reader (imported only when a source of the type is
    declared) and whether it reads files under the project's `root:` (what `loop --watch` polls)."""

    reader: str
    reads_root: bool = False


# The one list of source types: parse_source checks `type:` against it, collect.reader_for
# imports the reader it names, loop --watch polls the ones reading the project's files.
SOURCE_TYPES: Mapping[str, SourceType] = MappingProxyType(
    {
        "files": SourceType("loopline.collect.files", reads_root=True),
        "folder": SourceType("loopline.collect.folder", reads_root=True),
        "http": SourceType("loopline.collect.http"),
        "sql": SourceType("loopline.collect.sql"),
    }
)


@dataclass(frozen=True)
class SourceSpec:
    """One source: it versions the artifact `name` (and `name`_quarantine) at each collection."""

    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)
    key: tuple[str, ...] = ()  # columns identifying an item; default: its whole content
    where: str | None = None

    @property
    def quarantine_name(self) -> str:
        return f"{self.name}_quarantine"

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def require(self, key: str, hint: str) -> Any:
        if key not in self.options:
            raise ConfigError(
                f"source {self.name!r} ({self.type}) needs `{key}`", where=self.where, hint=hint
            )
        return self.options[key]

    def fail(self, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"source {self.name!r}: {message}", where=self.where, hint=hint)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "key": list(self.key), **dict(self.options)}


def parse_source(name: str, decl: Any, where: str | None = None) -> SourceSpec:
    check_name(str(name), "source name")
    if not isinstance(decl, Mapping):
        raise ConfigError(f"source {name!r} must be a mapping", where=where, hint="give it `type:`")
    kind = decl.get("type")
    if not isinstance(kind, str) or kind not in SOURCE_TYPES:
        raise ConfigError(
            f"source {name!r} has type {kind!r}",
            where=where,
            hint=f"`type:` is one of {', '.join(SOURCE_TYPES)}",
        )
    key = decl.get("key") or ()
    if isinstance(key, str):
        key = (key,)
    if not isinstance(key, list | tuple) or not all(isinstance(k, str) for k in key):
        raise ConfigError(f"`key` of source {name!r} must be a list of columns", where=where)
    options = {k: v for k, v in decl.items() if k not in ("type", "key")}
    spec = SourceSpec(str(name), kind, options, tuple(key), where)
    importlib.import_module(SOURCE_TYPES[kind].reader).validate(spec)  # collect.reader_for's lookup
    return spec
