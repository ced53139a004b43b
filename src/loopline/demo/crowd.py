"""A simulated crowd with known noise, so the demo can show what aggregation recovers.

Ground truth comes from scikit-learn's digits (file `digit-0123.png` is digit number 123). Each
image is answered by `overlap` annotators drawn at random: most are decent, a few are sloppy,
two are spammers who answer at random. Some items are gold (their answer is known).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

CROWD = {  # annotator -> probability of the right answer (spammers: chance)
    **{f"ann{i:02d}": acc for i, acc in enumerate([0.95, 0.93, 0.9, 0.88, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6])},
    "spam01": 0.1,
    "spam02": 0.1,
}
LABELS = [str(d) for d in range(10)]


def truth_of(tasks: list[Any]) -> dict[str, str]:
    """item_id -> true digit, from the file name the task shows."""
    from sklearn.datasets import load_digits

    target = load_digits().target
    return {t.item_id: str(int(target[int(Path(t.data["path"]).stem.split("-")[1])])) for t in tasks}


def write_answers(truth: dict[str, str], path: Path, *, overlap: int = 3, seed: int = 11) -> int:
    """The crowd's answers as CSV (item_id, annotator, label, seconds, source)."""
    rng = np.random.default_rng(seed)
    names = list(CROWD)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["item_id", "annotator", "label", "seconds", "source"])
    count = 0
    for item, label in sorted(truth.items()):
        for who in rng.choice(names, overlap, replace=False):
            right = rng.random() < CROWD[str(who)]
            answer = label if right else str(rng.choice([x for x in LABELS if x != label]))
            if str(who).startswith("spam"):
                answer = str(rng.choice(LABELS))
            writer.writerow([item, who, answer, round(float(rng.uniform(1.5, 6.0)), 2), "human"])
            count += 1
    path.write_text(out.getvalue())
    return count


def write_gold(truth: dict[str, str], path: Path, *, share: float = 0.05, seed: int = 12) -> int:
    rng = np.random.default_rng(seed)
    items = sorted(truth)
    chosen = rng.choice(len(items), max(1, int(len(items) * share)), replace=False)
    lines = ["item_id,label", *(f"{items[i]},{truth[items[i]]}" for i in sorted(chosen))]
    path.write_text("\n".join(lines) + "\n")
    return len(chosen)
