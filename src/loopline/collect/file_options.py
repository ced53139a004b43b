"""The declaration of a `type: files` source: which options it takes, what each may hold, and
how a file is read (the read options, checked before anything is read). docs/collect.md
documents each option."""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass

from loopline.collect.roots import check_declaration
from loopline.collect.schema import EVOLUTIONS
from loopline.collect.spec import SourceSpec
from loopline.collect.tablerows import dtype_name

FORMATS = ("csv", "parquet", "jsonl")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
OPTIONS = (
    "root", "glob", "format", "schema", "separator", "has_header", "columns", "encoding", "quote_char",
    "null_values", "evolve", "versions",
)  # fmt: skip
VERSIONS = ("append", "mirror")


def validate(spec: SourceSpec) -> None:
    unknown = sorted(set(spec.options) - set(OPTIONS))
    if unknown:
        raise spec.fail(f"unknown option {unknown[0]!r}", hint=f"files sources take {', '.join(OPTIONS)}")
    pattern = spec.require("glob", hint='e.g. glob: "*.csv" or glob: "**/*.jsonl"')
    check_declaration(spec, default_glob=str(pattern))
    fmt = spec.option("format")
    if fmt is not None and fmt not in FORMATS:
        raise spec.fail(f"unknown format {fmt!r}", hint=f"format is one of {', '.join(FORMATS)}")
    suffix = os.path.splitext(str(pattern))[1].lower()
    if fmt is None and suffix and "*" not in suffix and suffix not in SUFFIXES:
        raise spec.fail(
            f"cannot tell the format of {pattern!r} from its extension",
            hint=f"add format: one of {', '.join(FORMATS)}",
        )
    schema = spec.option("schema", {})
    if not isinstance(schema, dict) or not all(isinstance(k, str) for k in schema):
        raise spec.fail(
            "`schema` must map column names to types", hint="e.g. schema: {age: Int64, signup: Date}"
        )
    for column, name in schema.items():
        if dtype_name(name) is None:
            raise spec.fail(
                f"schema: {column}: unknown type {name!r}",
                hint="use a Polars type name: Int64, Float64, String, Boolean, Date, Datetime",
            )
    separator = spec.option("separator", ",")
    if not isinstance(separator, str) or len(separator) != 1 or separator in '\r\n"':
        raise spec.fail(f"separator {separator!r} must be one character (not a quote or newline)")
    if not isinstance(spec.option("has_header", True), bool):
        raise spec.fail("has_header must be true or false")
    _validate_text_options(spec)
    if spec.key and not all(isinstance(k, str) for k in spec.key):
        raise spec.fail("`key` must be a list of column names")


def _validate_text_options(spec: SourceSpec) -> None:
    """columns, encoding, quote_char, null_values, evolve and versions."""
    columns = spec.option("columns")
    if columns is not None:
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c for c in columns):
            raise spec.fail("`columns` must be a list of column names", hint="e.g. columns: [date, price]")
        if len(set(columns)) != len(columns):
            twice = next(c for c in columns if columns.count(c) > 1)
            raise spec.fail(f"columns: {twice!r} is named twice")
        if spec.option("has_header", True):
            raise spec.fail(
                "`columns` names the fields of headerless files",
                hint="add has_header: false, or rename a header's columns with the clean rule `rename`",
            )
    encoding = spec.option("encoding", "utf8")
    try:
        codecs.lookup(str(encoding))
    except LookupError:
        raise spec.fail(
            f"unknown encoding {encoding!r}", hint="e.g. encoding: utf-8, latin-1, cp1252, utf-16"
        ) from None
    quote = spec.option("quote_char", '"')
    if quote is not None and (not isinstance(quote, str) or len(quote) != 1 or quote in "\r\n"):
        raise spec.fail(f"quote_char {quote!r} must be one character, or null for none")
    nulls = spec.option("null_values", [])
    if isinstance(nulls, str):
        nulls = [nulls]
    if not isinstance(nulls, list) or not all(isinstance(v, str) for v in nulls):
        raise spec.fail("`null_values` must be a list of strings", hint='e.g. null_values: ["", "NA", "?"]')
    evolve = spec.option("evolve", [])
    if not isinstance(evolve, list) or any(e not in EVOLUTIONS for e in evolve):
        raise spec.fail(f"evolve {evolve!r} must be a list of {', '.join(EVOLUTIONS)}")
    check_versions(spec)


def check_versions(spec: SourceSpec) -> None:
    """`versions:` of a files or folder source: what a new version means."""
    if spec.option("versions", "append") not in VERSIONS:
        raise spec.fail(
            f"versions {spec.option('versions')!r} is not one of {', '.join(VERSIONS)}",
            hint="append: items are only ever added; mirror: a version holds the folder as it is now",
        )


def mirrors(spec: SourceSpec) -> bool:
    return spec.option("versions", "append") == "mirror"


@dataclass(frozen=True)
class ReadOptions:
    """How a file is read (the read options of the source)."""

    separator: str
    has_header: bool
    quote: str | None
    nulls: list[str]
    encoding: str

    @classmethod
    def of(cls, spec: SourceSpec) -> ReadOptions:
        nulls = spec.option("null_values", [])
        encoding = codecs.lookup(str(spec.option("encoding", "utf8"))).name
        return cls(
            spec.option("separator", ","),
            spec.option("has_header", True),
            spec.option("quote_char", '"'),
            [nulls] if isinstance(nulls, str) else list(nulls),
            encoding,
        )
