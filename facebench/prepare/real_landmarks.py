"""``facebench prepare real-landmarks``: real photos with human iBUG-68 labels -> a landmark GT folder.

facebench downloads nothing: the user fetches the photos (datasets/real-landmarks-v1/README.md
says from where) and points ``--root`` at the folder holding them.  The benchmark lists its
items (image and label file names, with their sha256) in ``source.items`` of its
benchmark.yaml; ``all_images=True`` takes instead every image of the folder that has a label
file of the same stem (for one's own photos).

Every problem is one line (a label without its image, a wrong point count, points outside the
image, a file that differs from the benchmark's): all are collected and reported together, and
nothing is written while any remains.

GT folder::

    OUT/manifest.json   {"kind": "landmarks", "schema_version": 1, "benchmark", "template",
                         "facebench_version", "items": [{id, name, image, width, height, label,
                         image_sha256, label_sha256, landmarks (68,2) pixels}]}
    OUT/images/NAME.png the photos, losslessly re-encoded (clip ids are GROUP/NAME/cam0)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError, InputError
from facebench.io.gt_writer import file_sha256
from facebench.io.landmark_gt import KIND, LandmarkGT, is_landmark_gt  # noqa: F401  (re-exported)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".webp")


def find_items(root, all_images: bool = False, bench=None) -> list[dict]:
    """The (name, image, label[, expected sha256]) items to read from ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("not a folder", root)
    if not all_images:
        listed = list(bench.source.get("items") or []) if bench is not None else []
        if not listed:
            raise FacebenchError(f"benchmark {getattr(bench, 'name', None)!r} lists no items; pass --all")
        return [dict(item) for item in listed]
    from facebench.io.landmark_files import LABEL_SUFFIXES

    items = []
    for label in sorted(p for p in root.iterdir() if p.suffix.lower() in LABEL_SUFFIXES):
        image = [p for p in root.iterdir() if p.stem == label.stem and p.suffix.lower() in IMAGE_SUFFIXES]
        items.append({"name": label.stem, "label": label.name, "image": image[0].name if image else None})
    if not items:
        raise InputError("no landmark files (.pts, .ljson) in the folder", root)
    return items


def read_item(root: Path, item: dict, origin: int):
    """(image (H,W,3) uint8, landmarks (68,2), sha256s) of one item, or an InputError line."""
    from facebench.io.landmark_files import check_landmarks, read_landmarks
    from facebench.nersemble.images import read_rgb

    label = root / item["label"]
    if not label.is_file():
        raise InputError("label file not found", label)
    if not item.get("image") or not (root / item["image"]).is_file():
        want = item.get("image") or f"{label.stem}{{{','.join(IMAGE_SUFFIXES)}}}"
        raise InputError(f"no image for this label (expected {want} next to it)", label)
    image_path = root / item["image"]
    sums = {"image_sha256": file_sha256(image_path), "label_sha256": file_sha256(label)}
    for key, value in sums.items():
        expected = item.get(key)
        if expected and expected != value:
            path = image_path if key == "image_sha256" else label
            raise InputError(f"differs from the benchmark's file (sha256 {value[:12]}..., expected "
                             f"{expected[:12]}...): another version?", path)
    image = read_rgb(image_path)
    points = check_landmarks(read_landmarks(label, origin), image.shape[1], image.shape[0], label, origin)
    return image, points, sums


def prepare_real_landmarks(root, out, benchmark: str = "real-landmarks-v1", all_images: bool = False,
                           origin: int = 1) -> dict:
    """Check and copy the photos and labels under ``root`` into the GT folder ``out``.

    Returns the manifest.  Raises one :class:`FacebenchError` whose message lists every
    problem, one line each, when any item is unusable.
    """
    from PIL import Image

    from facebench import __version__
    from facebench.benchmarks import get_benchmark

    bench = get_benchmark(benchmark)
    root, out = Path(root), Path(out)
    group = str(bench.source.get("group", "photos"))
    if all_images:  # one's own photos: the folder names the group
        import re

        group = re.sub(r"[^A-Za-z0-9._+-]+", "_", root.resolve().name).strip("._") or "photos"
    items, problems, read = find_items(root, all_images, bench), [], []
    for item in items:
        try:
            read.append((item, *read_item(root, item, origin)))
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        raise FacebenchError(f"{len(problems)} of {len(items)} labelled images unusable:\n"
                             + "\n".join(problems))
    (out / "images").mkdir(parents=True, exist_ok=True)
    entries = []
    for item, image, points, sums in read:
        name = item["name"]
        Image.fromarray(image).save(out / "images" / f"{name}.png")
        entries.append({"id": f"{group}/{name}/cam0", "name": name, "image": f"images/{name}.png",
                        "width": int(image.shape[1]), "height": int(image.shape[0]), "label": item["label"],
                        "source_image": item["image"], **sums,
                        "landmarks": np.round(points, 4).tolist()})
    manifest = {"kind": KIND, "schema_version": 1, "benchmark": bench.name, "template": bench.template,
                "facebench_version": __version__, "root": str(root.resolve()), "items": entries}
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(out / "manifest.json")
    return manifest
