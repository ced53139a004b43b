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


def _png(pixels: np.ndarray, scanner: int = 1) -> bytes:
    """An 8x8 digit (0-16) as a 32x32 PNG. Scanner 2, bought later, draws heavier, darker
    strokes (a dilation and a contrast curve): the same digits, a different distribution."""
    from PIL import Image, ImageFilter

    image = Image.fromarray((pixels * (255 / 16)).astype(np.uint8), mode="L").resize((32, 32))
    if scanner == 2:
        image = image.filter(ImageFilter.MaxFilter(5)).point(lambda v: min(255, int(40 + 1.4 * v)))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def pixels_of(png: bytes) -> np.ndarray:
    """The 64 features a model reads from a digit image: its 8x8 block means, scaled to 0-1."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        grey = np.asarray(image.convert("L").resize((32, 32)), dtype=np.float64)
    return grey.reshape(8, 4, 8, 4).mean(axis=(1, 3)).reshape(64) / 255.0


def write_scanner_batch(folder: Path, *, count: int = 900, seed: int = 21) -> list[Path]:
    """Digits as the second scanner renders them (`digit-0123-s2.png`), for production traffic
    and, once monitoring has seen them drift, for collection and labeling."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder.mkdir(parents=True, exist_ok=True)
    chosen = np.random.default_rng(seed).choice(len(digits.images), count, replace=False)
    paths = []
    for index in sorted(int(i) for i in chosen):
        path = folder / f"digit-{index:04d}-s2.png"
        path.write_bytes(_png(digits.images[index], scanner=2))
        paths.append(path)
    return paths


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
