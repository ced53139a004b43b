"""Raw, messy demo data made from scikit-learn's bundled handwritten digits (no network).

Each digit becomes a PNG in an inbox folder; a metadata CSV describes them, made messy on
purpose the way real exports are: padded and mixed-case text, missing values, impossible values,
a malformed line, duplicated rows and a batch that arrives later. Seeded: the same files every time.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

WRITERS = ["w01", "w02", "w03", "w04", "w05", "w06"]


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    image = Image.fromarray((pixels * (255 / 16)).astype(np.uint8), mode="L").resize((32, 32))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def write_inbox(root: Path, *, first: int = 1500, seed: int = 7) -> dict[str, int]:
    """Write the first batch: images/ and metadata/batch-1.csv. Returns counts of the planted mess."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    images = root / "images"
    meta = root / "metadata"
    images.mkdir(parents=True, exist_ok=True)
    meta.mkdir(parents=True, exist_ok=True)
    for index in range(len(digits.images)):
        (images / f"digit-{index:04d}.png").write_bytes(_png(digits.images[index]))
    rows = [
        {
            "id": index,
            "file": f"digit-{index:04d}.png",
            "writer": str(rng.choice(WRITERS)),
            "label": int(digits.target[index]),
            "quality": round(float(rng.uniform(0.5, 1.0)), 3),
        }
        for index in range(len(digits.images))
    ]
    planted = {"padded": 0, "missing_quality": 0, "bad_label": 0, "bad_quality": 0, "duplicates": 0}
    for row in rows:
        roll = rng.random()
        if roll < 0.05:
            row["writer"] = f"  {str(row['writer']).upper()} "
            planted["padded"] += 1
        elif roll < 0.08:
            row["quality"] = ""
            planted["missing_quality"] += 1
        elif roll < 0.10:
            row["label"] = int(rng.choice([11, 42, -1]))
            planted["bad_label"] += 1
        elif roll < 0.115:
            row["quality"] = round(float(rng.uniform(1.5, 9.0)), 3)
            planted["bad_quality"] += 1
    # The same digits exported twice, the second time with a re-measured quality.
    duplicated = [
        {**rows[i], "quality": round(float(rng.uniform(0.5, 1.0)), 3)}
        for i in rng.choice(first, 25, replace=False)
    ]
    planted["duplicates"] = len(duplicated)
    _write_csv(meta / "batch-1.csv", rows[:first] + duplicated, malformed_after=100)
    (root / "later").mkdir(exist_ok=True)
    _write_csv(root / "later" / "batch-2.csv", rows[first:], malformed_after=None)
    return planted


def _write_csv(path: Path, rows: list[dict[str, object]], malformed_after: int | None) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["id", "file", "writer", "label", "quality"], lineterminator="\n")
    writer.writeheader()
    for number, row in enumerate(rows):
        writer.writerow(row)
        if malformed_after is not None and number == malformed_after:
            out.write("9999,digit-9999.png,w01\n")  # a line cut short by a broken export
    path.write_text(out.getvalue())
