"""Speed and memory of the geometry core.

    .venv/bin/python benchmarks/bench_geometry.py [--points 200000] [--repeat 3]

Prints closest-point throughput for each backend (points/s, best of ``--repeat``;
CPU time of this process summed over its threads, so other load on the machine
counts less) for point sets near and far from a head-sized bumpy ellipsoid (5042
vertices, 10080 faces, uv-sphere topology: mixed triangle sizes, slivers at the
poles) and from the built-in facebench-head template when it is available;
ray-cast render time of the ellipsoid at 1100x1604; and the peak resident memory
of the process.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import time

import numpy as np


def bumpy_ellipsoid(count):
    """A closed head-sized surface (semi-axes 8 x 10 x 12 cm) with smooth bumps."""
    import trimesh

    mesh = trimesh.creation.uv_sphere(radius=1.0, count=count)
    v = np.asarray(mesh.vertices)
    bumps = 1.0 + 0.05 * np.sin(5 * v[:, 0]) * np.cos(4 * v[:, 1]) + 0.03 * np.sin(7 * v[:, 2])
    return v * bumps[:, None] * [0.08, 0.10, 0.12], np.asarray(mesh.faces)


def shell(vertices, n, lo, hi, rng):
    dirs = rng.normal(size=(n, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return vertices[rng.integers(len(vertices), size=n)] + dirs * rng.uniform(lo, hi, size=(n, 1))


def best_time(fn, repeat):
    best_cpu, best_wall = np.inf, np.inf
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    return best_cpu, best_wall


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    from facebench.geometry import Camera, MeshProximity, Raycaster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"peak RSS after imports: {peak_rss_mb():.0f} MB")

    vertices, faces = bumpy_ellipsoid(count=[38, 70])
    K = np.array([[3000.0, 0.0, 549.5], [0.0, 3000.0, 801.5], [0.0, 0.0, 1.0]])
    T = np.eye(4)
    T[2, 3] = 0.55  # the head 55 cm in front of the camera: it fills most of the image
    camera = Camera(K, T, 1100, 1604)
    cpu, _ = best_time(lambda: Raycaster(vertices, faces), args.repeat)
    print(f"render: mesh with {len(faces)} faces at {camera.width}x{camera.height}")
    print(f"  build Raycaster: {1000 * cpu:.1f} ms")
    raycaster = Raycaster(vertices, faces)
    render = raycaster.render(camera)
    cpu, wall = best_time(lambda: raycaster.render(camera), args.repeat)
    n_rays = camera.width * camera.height
    print(
        f"  render: cpu {cpu:.3f} s, wall {wall:.3f} s ({n_rays / cpu / 1e6:.1f} M rays/s, "
        f"{render.hit.mean():.0%} pixels hit)"
    )
    print(f"peak RSS after render: {peak_rss_mb():.0f} MB")

    meshes = [("bumpy ellipsoid", *bumpy_ellipsoid(count=[38, 70]))]
    try:
        from facebench.templates import load

        template = load("facebench-head")
        meshes.append(("facebench-head template", template.canonical_vertices, template.faces))
    except Exception as exc:  # templates not importable: the ellipsoid alone still measures the code
        print(f"(facebench-head template skipped: {exc})")
    cases = [
        ("within 5 mm", 0.0, 0.005, None),
        ("within 3 cm", 0.0, 0.03, None),
        ("within 3 cm, max_distance=0.05", 0.0, 0.03, 0.05),
        ("5 cm to 1 m, no limit", 0.05, 1.0, None),
        ("5 cm to 1 m, max_distance=0.05", 0.05, 1.0, 0.05),
    ]
    backends = ["igl", "numpy"] if MeshProximity(*meshes[0][1:]).backend == "igl" else ["numpy"]
    for (mesh_name, vertices, faces), backend in itertools.product(meshes, backends):
        print(f"closest points: {mesh_name}, {len(vertices)} vertices, {len(faces)} faces, backend {backend}")
        cpu, _ = best_time(lambda v=vertices, f=faces, b=backend: MeshProximity(v, f, b), args.repeat)
        print(f"  build MeshProximity: {1000 * cpu:.1f} ms")
        proximity = MeshProximity(vertices, faces, backend)
        for name, lo, hi, limit in cases:
            points = shell(vertices, args.points, lo, hi, rng)
            cpu, wall = best_time(
                lambda p=points, m=limit, q=proximity: q.query(p, max_distance=m), args.repeat
            )
            print(f"  {name:32s} {args.points / cpu:10,.0f} points/s (cpu {cpu:.3f} s, wall {wall:.3f} s)")
        print(f"peak RSS so far: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
