"""Rewrite docs/server.md's route x role tables from the code (test_access checks they match):

.venv/bin/python -m tests.server.route_docs
"""

from __future__ import annotations

from pathlib import Path

from loopline.serve.access import SERVE_RULES, markdown
from loopline.server.access import SERVER_RULES

PAGE = Path(__file__).resolve().parents[2] / "docs" / "server.md"


def main() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for app, rules in (("loopline server", SERVER_RULES), ("loopline serve", SERVE_RULES)):
        start = f"<!-- routes: {app} -->\n"
        head, rest = text.split(start, 1)
        _, tail = rest.split("<!-- /routes -->", 1)
        text = head + start + markdown(rules) + "<!-- /routes -->" + tail
    PAGE.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
