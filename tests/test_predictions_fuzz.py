"""Property-based fuzzing of the prediction loader and validator (issue 10).

Over 1,000 generated malformed (and some valid) inputs: every one must end in a
FacebenchError or a correct score, never another exception or a hang.
"""

import io
import json
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facebench.benchmarks import get_benchmark
from facebench.errors import FacebenchError
from facebench.evaluate.scoring import check_prediction_finite, score_clip
from facebench.io.prediction_source import parse_meta
from facebench.io.predictions import KEYS, ClipShape, load_prediction, open_predictions, tasks_of
from facebench.metrics import depth as depth_metrics
from tests.gt_fixtures import make_clip

SHAPE = ClipShape(T=2, H=3, W=4, N=2)
CLIP_ID = "901/EXP-1-head/222200037"
GT = make_clip(np.random.default_rng(5), "222200037", T=2, H=3, W=4, N=2)
BENCH = get_benchmark("synth-v1")
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)


class Workdir:
    """One reusable submission folder per test (hypothesis and tmp_path do not mix)."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="fuzz-"))

    def write(self, npz_bytes: bytes, meta: bytes = b'{"method": "m", "benchmark": "synth-v1"}') -> Path:
        shutil.rmtree(self.root / "901", ignore_errors=True)
        (self.root / "meta.json").write_bytes(meta)
        path = self.root / f"{CLIP_ID}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(npz_bytes)
        return self.root


WORK = Workdir()


def load_and_score(root) -> dict | None:
    """The full path a submission takes: meta, load, finiteness, score.  None on a clean error."""
    try:
        with open_predictions(root) as src:
            src.meta()
            pred = load_prediction(src, CLIP_ID, SHAPE)
            tasks = sorted(tasks_of(pred))
            check_prediction_finite(CLIP_ID, pred, GT, tasks, BENCH)
            scores, _ = score_clip(pred, GT, tasks, BENCH, 0.1, SHAPE.W, SHAPE.H)
    except FacebenchError as exc:
        assert str(exc) and "\n" not in str(exc)
        return None
    if "depth" in scores:  # a correct score: the same as the metric on the arrays directly
        valid = np.isfinite(GT.depth) & np.isin(GT.mask, (1, 2, 3))
        direct = depth_metrics.depth_metrics(pred["depth"], GT.depth, valid)
        for key, value in scores["depth"].items():  # flicker_mm: temporal, checked in test_temporal
            if key != "flicker_mm":
                assert np.isclose(value, np.nanmean(direct[key]), equal_nan=True)
    for task in scores.values():
        assert all(isinstance(v, float) for v in task.values())
    return scores


def npz_bytes(arrays: dict, compressed=False) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


# ------------------------------------------------------------ structured arrays
DTYPES = ["float16", "float32", "float64", "int32", "uint8", "bool", "complex64", "object", "<U3", "V8"]


@st.composite
def arrays_dict(draw):
    keys = draw(st.lists(st.sampled_from(list(KEYS) + ["junk", "depth.npy", ""]), max_size=4, unique=True))
    out = {}
    for key in keys:
        want = SHAPE.shape_of(key) if key in KEYS else (2,)
        shape = draw(st.one_of(st.just(want), st.lists(st.integers(0, 4), max_size=4).map(tuple)))
        dtype = draw(st.sampled_from(["float32", "float32", "bool"] + DTYPES))
        values = draw(st.sampled_from(["ones", "nan", "inf", "random", "negative"]))
        size = int(np.prod(shape))
        if dtype == "object":
            arr = np.array([None] * size, dtype=object).reshape(shape)
        else:
            base = {"ones": np.ones(size), "nan": np.full(size, np.nan), "inf": np.full(size, np.inf),
                    "random": np.random.default_rng(size).normal(size=size),
                    "negative": -np.ones(size)}[values]
            with np.errstate(invalid="ignore"):
                arr = (base.astype(dtype) if dtype not in ("V8",) else np.zeros(size, "V8")).reshape(shape)
        out[key or "x"] = arr
    return out


@settings(FUZZ, max_examples=300)
@given(arrays_dict(), st.booleans(), st.booleans())
def test_fuzz_structured_arrays(arrays, compressed, fortran):
    if fortran:
        arrays = {k: np.asfortranarray(v) for k, v in arrays.items()}
    try:
        data = npz_bytes(arrays, compressed)
    except (ValueError, TypeError):  # numpy itself cannot write this; nothing to test
        return
    load_and_score(WORK.write(data))


# ------------------------------------------------------------ corrupted bytes
VALID = npz_bytes({"depth": np.ones((2, 3, 4), np.float32), "tracks_xy": np.zeros((2, 2, 2), np.float32),
                   "tracks_visible": np.ones((2, 2), bool)})
VALID_Z = npz_bytes({"canonical": np.zeros((2, 3, 4, 3), np.float32)}, compressed=True)


@settings(FUZZ, max_examples=300)
@given(st.sampled_from([VALID, VALID_Z]), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                   min_size=1, max_size=8),
       st.one_of(st.none(), st.integers(0, 10**6)))
def test_fuzz_mutated_npz(base, flips, cut):
    data = bytearray(base)
    for pos, value in flips:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    load_and_score(WORK.write(bytes(data)))


@settings(FUZZ, max_examples=150)
@given(st.one_of(st.binary(max_size=600), st.binary(max_size=600).map(lambda b: b"PK\x03\x04" + b)))
def test_fuzz_random_bytes(data):
    assert load_and_score(WORK.write(data)) is None


# ------------------------------------------------------------ meta.json
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=8)
meta_dicts = st.fixed_dictionaries(
    {}, optional={"method": json_values | st.text(max_size=5), "benchmark": st.just("synth-v1") | json_values,
                  "runtime_s_per_frame": json_values, "params": json_values, "url": json_values})


@settings(FUZZ, max_examples=150)
@given(st.one_of(meta_dicts.map(lambda m: json.dumps(m).encode()),
                 json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=100)))
def test_fuzz_meta(raw):
    try:
        meta = parse_meta(raw)
    except FacebenchError:
        return
    assert isinstance(meta["method"], str) and meta["benchmark"] == "synth-v1"


# ------------------------------------------------------------ submission zips
NAMES = ["meta.json", f"{CLIP_ID}.npz", "../evil.npz", "/abs.npz", "a/../../x", "C:/x", "a\\b", "./meta.json",
         "x/meta.json", "x/" + CLIP_ID + ".npz", "", "901/", "\x00", "é.npz"]


ZIP_PAYLOADS = [VALID, b"{}", b"", b"\x00" * 10, b'{"method": "m", "benchmark": "synth-v1"}']


@settings(FUZZ, max_examples=120)
@given(st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(ZIP_PAYLOADS)), max_size=4),
       st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]))
def test_fuzz_submission_zip(entries, method):
    path = WORK.root.parent / f"{WORK.root.name}.zip"
    try:
        with warnings.catch_warnings(), zipfile.ZipFile(path, "w", method) as zf:
            warnings.simplefilter("ignore")  # duplicate names are part of the fuzzing
            for name, data in entries:
                zf.writestr(name or "x", data)
    except (ValueError, UnicodeError, IndexError):  # zipfile cannot write this name
        return
    try:
        with open_predictions(path) as src:
            ids = src.clip_ids()
            src.meta()
            if CLIP_ID in ids:
                load_prediction(src, CLIP_ID, SHAPE)
    except FacebenchError as exc:
        assert "\n" not in str(exc)


# ------------------------------------------------------------ the whole validator on a GT folder
@settings(FUZZ, max_examples=60)
@given(arrays_dict(), st.sampled_from(["replace", "merge", "delete", "meta"]), json_values)
def test_fuzz_validate_predictions(arrays, how, meta_value):
    from facebench.evaluate.validate import validate_predictions
    from tests.gt_fixtures import make_gt, write_preds

    gt = WORK.root.parent / f"{WORK.root.name}-gt"
    if not (gt / "manifest.json").exists():
        make_gt(gt, T=2, H=3, W=4, N=2)
    preds = WORK.root.parent / f"{WORK.root.name}-preds"
    if not (preds / "meta.json").exists():
        write_preds(gt, preds)
    target = preds.parent / f"{preds.name}-case"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(preds, target)
    path = target / f"{CLIP_ID}.npz"
    if how == "delete":
        path.unlink()
    elif how == "meta":
        meta = {"method": "m", "benchmark": "synth-v1", "x": meta_value}
        (target / "meta.json").write_text(json.dumps(meta))
    else:
        base = {}
        if how == "merge":
            with np.load(path) as f:
                base = {k: f[k] for k in f.files}
        base.update(arrays)
        try:
            path.write_bytes(npz_bytes(base))
        except (ValueError, TypeError):
            return
    try:
        problems = validate_predictions(target, gt=gt)
    except FacebenchError as exc:
        assert "\n" not in str(exc)
        return
    assert all(isinstance(p, str) and "\n" not in p for p in problems)
    if how in ("delete", "meta"):
        assert problems
