"""docs/inspect_cameras.png: ``facebench inspect-cameras`` on a synthetic Multiface capture read right,
then with two conventions misread on purpose (K rescaled twice; the rotation transposed).

    .venv/bin/python benchmarks/inspect_cameras_figure.py --out docs/inspect_cameras.png

Builds the capture with tests/registered_builders.py (an ICT subject rendered by `facebench synth`,
3 cameras, 62 x 96 images) in a temporary folder; prints each inspection's table.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def rescale_krt_twice(capture: Path, width: int, height: int) -> None:
    """Every K of the KRT rescaled to the stored images (the reader then rescales it again)."""
    krt = capture / "KRT"
    lines = krt.read_text().splitlines()
    sx, sy = width / 1334, height / 2048
    for i in [i for i, line in enumerate(lines) if line.strip() and len(line.split()) == 1]:
        K = np.array([[float(x) for x in lines[i + r].split()] for r in (1, 2, 3)])
        K[0] *= sx
        K[1] *= sy
        K[0, 2] += 0.5 * sx - 0.5
        K[1, 2] += 0.5 * sy - 0.5
        lines[i + 1:i + 4] = [" ".join(f"{x:.10g}" for x in row) for row in K]
    krt.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "inspect_cameras.png"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from PIL import Image, ImageDraw

    from facebench.prepare.inspect_cameras import inspect_cameras
    from tests import camera_mistakes
    from tests.registered_builders import build_multiface

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        built = build_multiface(tmp / "good" / "root", expressions=("E001_Neutral_Eyes_Open",), frames=1)
        cases = [("read right", None),
                 ("K rescaled twice: a KRT already rescaled to the stored 62x96 images, which the reader "
                  "takes for 1334x2048", "scaled"),
                 ("the rotation of every camera written transposed", "transposed")]
        sheets = []
        for n, (label, mistake) in enumerate(cases, 1):
            root = tmp / f"case{n}" / "root"
            if mistake is not None:
                shutil.copytree(built["root"], root)
                capture = next(root.glob("m--*"))
                if mistake == "scaled":
                    rescale_krt_twice(capture, built["width"], built["height"])
                else:
                    camera_mistakes.multiface(capture, mistake)
            result = inspect_cameras(root if mistake else built["root"], tmp / f"out-{n}")
            print(f"== {label}\n{result}\n")
            sheet = Image.open(result.sheet).convert("RGB")
            banner = Image.new("RGB", (sheet.width, 20), (225, 235, 250))
            ImageDraw.Draw(banner).text((6, 4), f"{n}. {label}", fill=(0, 0, 0))
            sheets.append(banner)
            sheets.append(sheet)
        width = max(s.width for s in sheets)
        figure = Image.new("RGB", (width, sum(s.height for s in sheets)), "white")
        y = 0
        for s in sheets:
            figure.paste(s, (0, y))
            y += s.height
        figure.save(args.out)
        print(f"wrote {args.out} ({figure.width} x {figure.height})")


if __name__ == "__main__":
    main()
