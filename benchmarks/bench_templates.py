"""Speed of the templates: facebench-head build, deform (numpy, torch), canonical maps.

Each figure is the median of ``--repeat`` runs after one warm-up, printed as JSON.

    nice .venv/bin/python benchmarks/bench_templates.py
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def _median_time(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--points", type=int, default=100_000)
    args = parser.parse_args(argv)

    import torch

    from facebench.templates import load
    from facebench.templates.head import build_head_arrays

    head = load("facebench-head")
    rng = np.random.default_rng(0)
    T = args.frames
    params = dict(identity=rng.normal(size=head.n_identity),
                  expression=rng.normal(size=(T, head.n_expression)),
                  jaw=np.abs(rng.normal(size=(T, 3))) * 0.1, neck=rng.normal(size=(T, 3)) * 0.1,
                  eyes=rng.normal(size=(T, 6)) * 0.1, rotation=rng.normal(size=(T, 3)) * 0.2,
                  translation=rng.normal(size=(T, 3)))
    tensors = {k: torch.tensor(v, dtype=torch.float32) for k, v in params.items()}
    v_t = head.deform(**params)[0]
    face_id = rng.integers(0, len(head.faces), args.points)
    bary = rng.dirichlet([1.0, 1.0, 1.0], args.points)
    points = np.einsum("nk,nkc->nc", bary, v_t[head.faces[face_id]])
    points += rng.normal(size=(args.points, 3)) * 0.002

    def torch_forward_backward():
        expr = tensors["expression"].clone().requires_grad_(True)
        head.deform_torch(**{**tensors, "expression": expr}).sum().backward()

    result = {
        "template": head.name, "V": head.n_vertices, "F": len(head.faces), "frames": T,
        "build_head_s": _median_time(build_head_arrays, max(1, args.repeat // 2)),
        "deform_numpy_s_per_frame": _median_time(lambda: head.deform(**params), args.repeat) / T,
        "deform_torch_f32_s_per_frame": _median_time(lambda: head.deform_torch(**tensors), args.repeat) / T,
        "deform_torch_fwd_bwd_s_per_frame": _median_time(torch_forward_backward, args.repeat) / T,
        "to_canonical_points_per_s": args.points / _median_time(lambda: head.to_canonical(points, v_t), 2),
        "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
