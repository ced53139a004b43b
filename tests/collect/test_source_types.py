"""SOURCE_TYPES is the one list of source types: the declaration check, the reader lookup and
`loop --watch` all read it, so a type missing from one of them cannot exist."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from loopline.collect import SOURCE_TYPES, parse_source, reader_for
from loopline.collect.spec import SourceSpec
from loopline.core.errors import ConfigError
from loopline.pipeline.loop import source_signature


@pytest.mark.parametrize("kind", sorted(SOURCE_TYPES))
def test_each_type_names_a_reader_with_validate_and_read(kind: str) -> None:
    module = importlib.import_module(SOURCE_TYPES[kind].reader)
    assert reader_for(SourceSpec("x", kind)) is module
    assert callable(module.validate) and callable(module.read)


@pytest.mark.parametrize("kind", ["csv", None, ["files"]])
def test_an_unknown_type_is_refused_with_every_type_in_the_hint(kind: object) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_source("x", {"type": kind})
    assert caught.value.hint == f"`type:` is one of {', '.join(SOURCE_TYPES)}"
    assert list(SOURCE_TYPES) == ["files", "folder", "http", "sql"]


def test_watch_polls_only_the_types_that_read_the_project_files(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "a.csv").write_text("id\n1\n")
    for kind, spec in SOURCE_TYPES.items():
        found = source_signature({"s": {"type": kind, "root": "inbox"}}, tmp_path)
        assert (found[0] == 1) == spec.reads_root, kind
    assert {k for k, s in SOURCE_TYPES.items() if s.reads_root} == {"files", "folder"}
    assert source_signature({"s": {"type": ["files"], "root": "inbox"}}, tmp_path) == (0, 0)
