"""PCD corner cases: COUNT > 1 fields, float64 coordinates, nx/ny/nz normals, big LZF streams."""

import numpy as np

from facebench.nersemble.pcd import lzf_decompress, read_pcd, read_pcd_fields
from tests.nersemble_builders import lzf_literals, pcd_header


def test_count_field_ascii_and_binary(tmp_path):
    fields, sizes, types, counts = ["x", "y", "z", "hist"], [8, 8, 8, 2], "FFFU", [1, 1, 1, 3]
    ascii_path = tmp_path / "a.pcd"
    ascii_path.write_bytes(
        pcd_header(fields, sizes, types, 2, "ascii", counts) + b"1 2 3 7 8 9\n4 5 6 1 2 3\n"
    )
    rec = np.zeros(2, dtype=[("x", "<f8"), ("y", "<f8"), ("z", "<f8"), ("hist", "<u2", (3,))])
    rec["x"], rec["y"], rec["z"] = [1, 4], [2, 5], [3, 6]
    rec["hist"] = [[7, 8, 9], [1, 2, 3]]
    binary_path = tmp_path / "b.pcd"
    binary_path.write_bytes(pcd_header(fields, sizes, types, 2, "binary", counts) + rec.tobytes())
    for path in (ascii_path, binary_path):
        data = read_pcd_fields(path)
        np.testing.assert_array_equal(data["hist"], [[7, 8, 9], [1, 2, 3]])
        xyz, normals = read_pcd(path)
        assert xyz.dtype == np.float32 and normals is None
        np.testing.assert_array_equal(xyz, [[1, 2, 3], [4, 5, 6]])


def test_open3d_style_normal_names(tmp_path):
    path = tmp_path / "n.pcd"
    path.write_bytes(
        pcd_header(["x", "y", "z", "nx", "ny", "nz"], [4] * 6, "FFFFFF", 1, "ascii") + b"1 2 3 0 0 1\n"
    )
    _, normals = read_pcd(path)
    np.testing.assert_array_equal(normals, [[0, 0, 1]])


def test_compressed_many_points(tmp_path):
    rng = np.random.default_rng(1)
    xyz = rng.normal(size=(5000, 3)).astype(np.float32)
    columns = b"".join(np.ascontiguousarray(c).tobytes() for c in xyz.T)
    packed = lzf_literals(columns)
    path = tmp_path / "c.pcd"
    path.write_bytes(
        pcd_header(["x", "y", "z"], [4, 4, 4], "FFF", 5000, "binary_compressed")
        + np.array([len(packed), len(columns)], "<u4").tobytes()
        + packed
    )
    got, _ = read_pcd(path)
    np.testing.assert_array_equal(got, xyz)
    assert lzf_decompress(lzf_literals(b"xyz" * 100), 300) == b"xyz" * 100
