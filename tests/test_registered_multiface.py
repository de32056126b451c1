"""Multiface reader and ``prepare multiface`` on a synthetic capture of an ICT subject with relief."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from facebench.errors import FacebenchError, InputError
from facebench.registered.multiface import open_multiface, participant_id
from tests.registered_builders import EXPRESSIONS, build_multiface, capture_dir

FAST = {"fit": {"iterations": 80, "offset_iterations": 20}, "maps": {"n_tracks": 64},
        "registered": {"samples_per_face": 1}}


@pytest.fixture(scope="module")
def mf(tmp_path_factory):
    return build_multiface(tmp_path_factory.mktemp("mf") / "root", frames=2, stride=6)


def _copy(mf, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(mf["root"], root)
    return root, capture_dir(root, mf["pid"])


def test_layout_names_and_meshes(mf):
    truth = mf["truth"] / mf["pid"]
    with open_multiface(mf["root"]) as cap:
        assert cap.dataset == "multiface" and cap.participants() == [mf["pid"]]
        assert cap.sequences(mf["pid"]) == sorted(EXPRESSIONS)
        assert cap.cameras(mf["pid"], EXPRESSIONS[1]) == sorted(mf["cameras"].values())
        assert cap.neutral_frame(mf["pid"]) == ("E001_Neutral_Eyes_Open", 0)
        for seq in EXPRESSIONS:
            tr = np.load(truth / seq / "truth.npz")
            assert cap.frame_ids(mf["pid"], seq).tolist() == tr["frame_ids"].tolist()
            for t, fid in enumerate(tr["frame_ids"]):
                v = cap.mesh_vertices(mf["pid"], seq, int(fid))  # head frame (mm) -> world metres
                assert np.abs(v - tr["vertices"][t][mf["vertex_ids"]]).max() < 1e-6
        faces = cap.mesh_faces(mf["pid"])
        assert np.array_equal(faces, mf["faces"]) and faces.max() == len(mf["vertex_ids"]) - 1
    # not the ICT topology: other vertex count, scrambled order
    assert len(mf["vertex_ids"]) == 7306 and not np.all(np.diff(mf["vertex_ids"]) > 0)
    # the capture folder itself is a root too; the participant id is the ID field of its name
    assert open_multiface(capture_dir(mf["root"], mf["pid"])).participants() == [mf["pid"]]
    assert participant_id("m--20180227--0000--6795937--GHS") == "6795937" and participant_id("abc") == "abc"


def test_cameras_reproject_the_mesh_onto_the_images(mf):
    """SPEC §1 cameras: the registered mesh ray cast into each camera falls on the subject's pixels."""
    from facebench.geometry import Raycaster
    from facebench.nersemble.images import read_alpha

    serial_of = {name: s for s, name in mf["cameras"].items()}
    with open_multiface(mf["root"]) as cap:
        seq = EXPRESSIONS[1]
        for fid in cap.frame_ids(mf["pid"], seq):
            caster = Raycaster(cap.mesh_vertices(mf["pid"], seq, fid), cap.mesh_faces(mf["pid"]))
            for name in cap.cameras(mf["pid"], seq):
                view = cap.read_view(mf["pid"], seq, fid, name)
                assert view.image.shape == (mf["height"], mf["width"], 3) and view.mask is None
                assert view.camera.width == mf["width"] and view.depth is None
                x0, x1 = mf["crop"]  # the Multiface images are the synth's cropped to 1334:2048
                alpha = read_alpha(mf["synth"] / mf["pid"] / "sequences" / seq / f"frame_{fid:05d}" /
                                   "alpha_map-73fps" / f"cam_{serial_of[name]}.png")[:, x0:x1] > 0.5
                hit = np.isfinite(caster.render(view.camera).depth)
                assert hit.sum() > 0.1 * hit.size
                assert (hit & alpha).sum() / hit.sum() > 0.98  # the mesh lies on the subject
                assert (hit & alpha).sum() / alpha.sum() > 0.2  # and covers its face (not hair, torso)
                half = cap.camera(mf["pid"], seq, name, mf["width"] // 2, mf["height"] // 2)
                assert np.allclose(half.K, view.camera.rescaled(mf["width"] // 2, mf["height"] // 2).K)


def test_obj_only_frames_and_topology(mf, tmp_path):
    root, cap_dir = _copy(mf, tmp_path)
    seq = EXPRESSIONS[0]
    first = cap_dir / "tracked_mesh" / seq / "000000"
    v_bin = open_multiface(root).mesh_vertices(mf["pid"], seq, 0)
    first.with_suffix(".bin").unlink()
    assert np.abs(open_multiface(root).mesh_vertices(mf["pid"], seq, 0) - v_bin).max() < 1e-8


@pytest.mark.parametrize("fault, message", [
    ("no_krt", "no Multiface capture"),
    ("bad_krt", "malformed camera block"),
    ("short_bin", "expected 7306 vertices"),
    ("no_pose", "head pose file not found"),
    ("bad_pose", "head pose must be a 3x4 matrix"),
    ("bad_png", "not an image file"),
    ("bad_obj", "malformed OBJ"),
    ("no_obj", "no .obj mesh"),
])
def test_corrupt_files_are_one_line_errors(mf, tmp_path, fault, message):
    root, cap_dir = _copy(mf, tmp_path)
    seq, mesh = EXPRESSIONS[1], cap_dir / "tracked_mesh" / EXPRESSIONS[1]
    if fault == "no_krt":
        (cap_dir / "KRT").unlink()
    elif fault == "bad_krt":
        lines = (cap_dir / "KRT").read_text().splitlines()
        lines[2] = "1 2 x"
        (cap_dir / "KRT").write_text("\n".join(lines) + "\n")
    elif fault == "short_bin":
        (mesh / "000006.bin").write_bytes((mesh / "000006.bin").read_bytes()[:-12])
    elif fault == "no_pose":
        (mesh / "000006_transform.txt").unlink()
    elif fault == "bad_pose":
        (mesh / "000006_transform.txt").write_text("1 0 0\n0 1 0\n")
    elif fault == "bad_png":
        (cap_dir / "images" / seq / "400004" / "000006.png").write_bytes(b"not a png")
    elif fault in ("bad_obj", "no_obj"):
        obj = cap_dir / "tracked_mesh" / EXPRESSIONS[0] / "000000.obj"
        if fault == "no_obj":
            obj.unlink()
        else:
            obj.write_text("v 1 2\nf 1 2 3\n")
    with pytest.raises(InputError, match=message) as err:
        cap = open_multiface(root)
        cap.mesh_vertices(mf["pid"], seq, 6)
        cap.read_view(mf["pid"], seq, 6, "400004")
        cap.camera(mf["pid"], seq, "400004")
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="no participant"):
        open_multiface(mf["root"]).sequences("999")


def test_prepare_multiface_writes_valid_faithful_shards(mf, tmp_path):
    """GT shards validate (SPEC §4) and follow the true surface: depth, coverage, consistency."""
    from click.testing import CliRunner

    from facebench.cli import cli
    from facebench.io.shards import GTReader, validate_gt
    from facebench.prepare.fidelity_free import measure
    from facebench.prepare.registered import prepare_registered
    from facebench.templates import load

    out = tmp_path / "gt"
    summary = prepare_registered("multiface", mf["root"], out, sequences=EXPRESSIONS[1], config=FAST,
                                 progress=False)
    assert summary.sequences_done == 1 and summary.clips == 3 and not summary.failures
    assert validate_gt(out, check_hashes=True) == []
    reader = GTReader(out)
    assert reader.manifest["dataset"] == "multiface" and reader.manifest["template"]["name"] == "ict-light"
    attrs = reader.manifest["shards"][0]["sequences"][0]
    assert attrs["participant"] == mf["pid"]
    # GT depth against the synthetic capture's exact depth maps: the outer side of the registered
    # surface only (no depth seen through its eye holes), within a millimetre almost everywhere
    from facebench.nersemble.images import read_depth

    serial_of = {name: s for s, name in mf["cameras"].items()}
    far = []
    for cid in reader.clip_ids:
        depth = reader.clip(cid, fields=("depth",)).depth
        for t, fid in enumerate(reader.sequence_vertices(mf["pid"], EXPRESSIONS[1])[0]):
            true = read_depth(mf["synth"] / mf["pid"] / "sequences" / EXPRESSIONS[1] / f"frame_{fid:05d}" /
                              "colmap-73fps" / "depth_maps_compressed" /
                              f"cam_{serial_of[cid[-6:]]}.png")[:, mf["crop"][0]:mf["crop"][1]]
            ok = np.isfinite(depth[t]) & np.isfinite(true)
            assert ok.sum() > 0.95 * np.isfinite(depth[t]).sum()
            far.append(np.abs(depth[t][ok] - true[ok]) > 0.003)
    assert np.concatenate(far).mean() < 0.01
    reader.close()
    ict = load("ict-light")
    fid = measure(mf["truth"], out, template=ict, subject=ict, n_points=500)
    assert fid["coverage"] > 0.95
    assert fid["depth_error_median_mm"] < 0.2
    assert fid["consistency_median_mm"] < 0.5 and fid["temporal_consistency_median_mm"] < 0.3
    assert fid["track_epe_median_px"] < 0.1
    assert fid["canonical_abs_median_mm"] < 3.0  # tangential placement of the (shortened) neutral fit
    # resume: nothing left to do
    again = prepare_registered("multiface", mf["root"], out, sequences=EXPRESSIONS[1], config=FAST,
                               progress=False)
    assert again.sequences_done == 0 and again.sequences_skipped == 1
    # the CLI: thin wrapper, one-line error for an unknown camera
    res = CliRunner().invoke(cli, ["prepare", "multiface", str(mf["root"]), "--out", str(tmp_path / "x"),
                                    "--cameras", "400999", "--quiet"])
    assert isinstance(res.exception, InputError) and "unknown camera '400999'" in str(res.exception)


def test_dropped_views_and_determinism(mf, tmp_path):
    """A frame a camera dropped is left out; a fresh run (binding recomputed) writes the same shard."""
    import facebench.prepare.registered as registered
    from facebench.io.shards import GTReader, dataset_hashes
    from facebench.prepare.registered import prepare_registered
    from facebench.templates import load

    root, cap_dir = _copy(mf, tmp_path)
    seq = EXPRESSIONS[1]
    (cap_dir / "images" / seq / "400004" / "000006.png").unlink()
    runs = []
    for k in range(2):
        registered._BINDINGS.clear()
        out = tmp_path / f"gt{k}"
        prepare_registered("multiface", root, out, sequences=seq, config=FAST, progress=False)
        runs.append(out)
    reader = GTReader(runs[0])
    frame_ids, vertices = reader.sequence_vertices(mf["pid"], seq)
    assert frame_ids.tolist() == [0]
    truth = np.load(mf["truth"] / mf["pid"] / seq / "truth.npz")["vertices"][:1]
    face = load("ict-light").regions == 1
    err = np.linalg.norm(vertices[:, face].astype(np.float64) - truth[:, face], axis=-1) * 1000.0
    assert np.median(err) < 3.0  # mostly tangential: the shortened neutral fit (FAST), a non-neutral frame
    reader.close()
    shard = "shards/shard-00001.h5"
    assert dataset_hashes(runs[0] / shard) == dataset_hashes(runs[1] / shard)


def test_neutral_expression_without_images(mf, tmp_path):
    """Meshes but no images for the neutral expression: the binding takes the rig from another."""
    from facebench.io.shards import validate_gt
    from facebench.prepare.registered import prepare_registered

    root, cap_dir = _copy(mf, tmp_path)
    shutil.rmtree(cap_dir / "images" / EXPRESSIONS[0])
    summary = prepare_registered("multiface", root, tmp_path / "gt", config=FAST, progress=False)
    assert summary.sequences_done == 1 and validate_gt(tmp_path / "gt") == []


def test_selection_skips_what_only_some_sequences_lack(mf, tmp_path):
    from facebench.prepare.registered import select

    root, cap_dir = _copy(mf, tmp_path)
    shutil.rmtree(cap_dir / "images" / EXPRESSIONS[1] / "400006")
    with open_multiface(root) as cap:
        sel = select(cap, cameras="400006,400002")
        assert [(seq, names) for _, seq, names, _ in sel] == [(EXPRESSIONS[0], ["400002", "400006"]),
                                                              (EXPRESSIONS[1], ["400002"])]
        assert [ids.tolist() for *_, ids in sel] == [[0, 6], [0, 6]]
        assert [ids.tolist() for *_, ids in select(cap, sequences=EXPRESSIONS[1], frames="6:")] == [[6]]
        with pytest.raises(InputError, match="unknown sequence 'E999'"):
            select(cap, sequences="E999")
        with pytest.raises(InputError, match="unknown participant '7'"):
            select(cap, participants="7")


def test_unknown_dataset():
    from facebench.prepare.registered import open_registered

    with pytest.raises(FacebenchError, match="unknown registered-mesh dataset"):
        open_registered("nope", ".")


def test_multiface_v1_benchmark_spec():
    from facebench.benchmarks import get_benchmark, list_benchmarks

    b = get_benchmark("multiface-v1")
    assert "multiface-v1" in [x.name for x in list_benchmarks()]
    assert b.dataset == "multiface" and b.template == "ict-light" and b.main_metric == "canonical.mean_mm"
    assert len(b.split.participants) == 8 and "6795937" in b.split.participants
    assert len(b.split.cameras) == 4 and all(c.startswith("4000") for c in b.split.cameras)
    assert "E001_Neutral_Eyes_Open" in b.split.sequences and (b.width, b.height) == (250, 384)
    assert b.task("depth").alignment == "median"
