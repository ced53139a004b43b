"""Ids and references: run ids and `NAME@VERSION` artifact references."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from loopline.core.errors import InvalidInput

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def new_run_id() -> str:
    """Time-ordered, unique id: sortable like the runs it names."""
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{os.urandom(4).hex()}"


def check_name(name: str, what: str = "name") -> str:
    if not _NAME.match(name):
        raise InvalidInput(
            f"{what} {name!r} is not valid",
            hint="use letters, digits, '_', '-' or '.', starting with a letter or '_'",
        )
    return name


@dataclass(frozen=True)
class ArtifactRef:
    """What a user typed to name an artifact: `NAME`, `NAME@3`, or an id (prefix)."""

    name: str | None
    version: int | None
    id_prefix: str | None

    @classmethod
    def parse(cls, text: str) -> ArtifactRef:
        text = text.strip()
        if "@" in text:
            name, _, version = text.partition("@")
            if not version.isdigit():
                raise InvalidInput(
                    f"version {version!r} in {text!r} is not a number",
                    hint="write NAME@VERSION, e.g. raw@2",
                )
            return cls(check_name(name), int(version), None)
        if re.fullmatch(r"[0-9a-f]{8,64}", text):
            return cls(None, None, text)
        return cls(check_name(text), None, None)

    def __str__(self) -> str:
        if self.id_prefix:
            return self.id_prefix
        return f"{self.name}@{self.version}" if self.version is not None else str(self.name)
