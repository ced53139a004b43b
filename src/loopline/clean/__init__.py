"""Clean: declarative rules that turn a raw table into a clean one, and expectations that say
whether a table can be trusted. Bad input never vanishes: every rejected row goes to the
quarantine, as it came in, with the rule and the reason.

As a step in loopline.yaml (the same dicts work from Python: ``apply(table, rules=[...])``)::

    steps:
      clean:
        uses: loopline.clean:apply
        inputs: {table: raw}                     # {argument: artifact}
        params:
          rules:
            - {rule: rename, columns: {Age: age}}                # or {rename: {Age: age}}
            - {rule: cast, columns: {age: Int64, signup: Date}}  # unconvertible value: rejected
            - {rule: trim, columns: [name, email]}               # also: chars: "-_"
            - {rule: lowercase, columns: [email]}                # and uppercase
            - {rule: normalize, columns: [name]}                 # NFKC, inner whitespace collapsed
            - {rule: missing, column: age, action: fill, with: median}  # drop | fill | flag
            - {rule: range, column: age, min: 0, max: 120}
            - {rule: allowed, column: country, values: [FR, DE]}
            - {rule: regex, column: email, pattern: '^[^@\\s]+@[^@\\s]+$'}
            - {rule: outliers, column: amount, method: iqr, k: 1.5}  # or method: zscore, threshold: 3
            - {rule: dedupe}                                     # or key: [id]; the first is kept
            - {rule: filter, keep: "country <> 'XX'"}            # SQL, never Python eval
            - {rule: expression, fail: "amount < 0", reason: "negative amount"}
        outputs: {clean: clean, quarantine: quarantine, report: clean_report}

Rules run in order on the rows still clean; after a `rename` they name the columns by their new
names (an unknown old name or a clash with a column is a ConfigError naming the rule). `missing`
fills with `value: CONSTANT` or `with: median|mean|mode` (over the rows still clean), drops,
or flags (a Boolean column `COLUMN_missing`, or `as: NAME`). Dates are read as ISO 8601 unless
a cast says `format:`. Null values pass range, allowed, regex and outlier rules. Any rule takes
`name:` for the report.

Outputs: ``clean`` (the rows that passed, transformed), ``quarantine`` (rejected rows as they
came in, plus ``_row`` — the 0-based input row —, ``_rule`` — e.g. ``"6:range"`` — and
``_reason`` — e.g. ``"age 150 is above max 120"``, ``"duplicate of row 12"``) and ``report``
(rows_in, rows_clean, rows_quarantined, per rule what it rejected and the figures it used).
``rows_in == rows_clean + rows_quarantined`` always. Called directly, the report has timings;
as a step they go to the run's metrics, so the report artifact stays reproducible.

Validation (``loopline.clean:validate``; ``evaluate`` returns the report without failing)::

    params:
      threshold: 0.01            # share of violating rows tolerated per expectation
      expectations:
        - {expect: schema, columns: {id: Int64, email: String}, exact: false}
        - {expect: not_null, columns: [id, email]}
        - {expect: unique, column: id}
        - {expect: range, column: age, min: 0, max: 120, mostly: 0.99}
        - {expect: allowed, column: country, values: [FR, DE]}
        - {expect: regex, column: email, pattern: '@'}
        - {expect: expression, fail: "amount < 0"}
        - {expect: row_count, min: 1000}
        - {expect: mean, column: amount, min: 10, max: 50}   # also std, median, min, max
        - {expect: quantile, column: amount, q: 0.99, max: 5000}

A rule or expectation naming a missing column, a bad regex or SQL, or a malformed entry is a
ConfigError before any data is read (each step function carries a ``check`` the runner calls on
the inputs' recorded schemas). On the Dask executor both run partition by partition through
``ctx.map`` and give the same artifact ids as locally. Run locally, a step's table arrives as a
lazy scan and both stream it, a partition at a time: ``apply`` writes the clean table to the
step's scratch folder as it goes and returns it as a ``TableFile`` (``out=PATH`` does the same
when called directly with a LazyFrame), so memory is bounded by a partition.
"""

from __future__ import annotations

from loopline.clean._apply import RULES, apply, parse_rules
from loopline.clean._apply import check as _check_apply
from loopline.clean._base import Rule
from loopline.clean._checks import Allowed, Dedupe, Expression, Filter, Outliers, Range, Regex
from loopline.clean._rename import Rename
from loopline.clean._transforms import Cast, Lowercase, Missing, Normalize, Trim, Uppercase
from loopline.clean._validate import (
    Expectation,
    evaluate,
    parse_expectations,
    render_validation,
    validate,
)
from loopline.clean._validate import check as _check_validate

apply.check = _check_apply  # type: ignore[attr-defined]  # the preflight hook the pipeline engine reads
apply.quarantine_outputs = ("quarantine",)  # type: ignore[attr-defined]  # the engine counts these rows as quarantined
validate.check = _check_validate  # type: ignore[attr-defined]  # the preflight hook the pipeline engine reads

__all__ = [
    "RULES",
    "Allowed",
    "Cast",
    "Dedupe",
    "Expectation",
    "Expression",
    "Filter",
    "Lowercase",
    "Missing",
    "Normalize",
    "Outliers",
    "Range",
    "Regex",
    "Rename",
    "Rule",
    "Trim",
    "Uppercase",
    "apply",
    "evaluate",
    "parse_expectations",
    "parse_rules",
    "render_validation",
    "validate",
]
