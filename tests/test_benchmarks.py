import pytest

from facebench.benchmarks import get_benchmark, list_benchmarks, load_benchmark
from facebench.errors import FacebenchError, InputError


def test_shipped_benchmarks_load():
    names = [b.name for b in list_benchmarks()]
    assert {"synth-v1", "nersemble-v1"} <= set(names)
    for b in list_benchmarks():
        native = b.dataset == "real-landmarks"  # photos are scored at their own sizes (0 x 0)
        assert b.version >= 1 and (b.width > 0 and b.height > 0 or native and b.width == b.height == 0)
        task, metric = b.main_metric.split(".")
        assert b.task(task).main_metric == metric


def test_synth_v1_source_and_protocol():
    b = get_benchmark("synth-v1")
    assert dict(b.source) == {"generator": "synth", "preset": "small", "seed": 2026,
                              "participants": ["901", "902"], "sequences": 2, "frames": 8, "stride": 8,
                              "layout": "v1"}
    assert all(901 <= int(p) <= 999 for p in b.split.participants)
    assert b.main_metric == "canonical.mean_mm" and b.higher_is_better is False
    assert b.task("tracking_2d").protocol() == {"query_mode": "first", "resolution": 256,
                                                "thresholds_px": [1, 2, 4, 8, 16]}
    with pytest.raises(FacebenchError, match="no task"):
        b.task("normals")


def test_nersemble_v1_split_files():
    b = get_benchmark("nersemble-v1")
    assert len(b.split.participants) == 10 and all(len(p) == 3 for p in b.split.participants)
    assert "222200037" in b.split.cameras and b.split.frame_stride == 8


def test_unknown_name_did_you_mean():
    with pytest.raises(FacebenchError, match="did you mean 'synth-v2'"):
        get_benchmark("synth-v3")


def test_generation_2_benchmarks_use_ict_light_and_test_only_ids():
    v2 = get_benchmark("synth-v2")
    assert v2.template == "ict-light" and get_benchmark("nersemble-v2").template == "ict-light"
    assert get_benchmark("synth-v1").template == "facebench-head"  # frozen
    assert get_benchmark("nersemble-v1").template == "facebench-head"
    assert all(900 <= int(p) <= 999 for p in v2.split.participants)  # never a training id


def test_bad_yaml_is_clear(tmp_path):
    path = tmp_path / "benchmark.yaml"
    path.write_text("name: x\nversion: 1\ntasks: {depth: {main_metric: rmse_mm, direction: higher}}\n")
    with pytest.raises(InputError, match="higher-is-better"):
        load_benchmark(path)
    path.write_text("name: [unclosed\n")
    with pytest.raises(InputError, match="unreadable"):
        load_benchmark(path)


def test_ava256_v1_split_and_protocol():
    b = get_benchmark("ava256-v1")
    assert b.dataset == "ava256" and b.template == "ict-light" and b.exclude_qc == "fail"
    assert len(b.split.participants) == 10 and all(len(p) == 6 and p.isupper() for p in b.split.participants)
    assert b.split.sequences == ("EXP_free_face",) and b.split.cameras == ("*",)
    assert (b.width, b.height) == (256, round(1024 * 256 / 667))
    assert b.task("depth").alignment == "median" and b.main_metric == "canonical.mean_mm"
