"""Build the shipped template correspondences (facebench-head <-> ict-light) and print their accuracy.

    python benchmarks/make_correspondences.py            # writes facebench/templates/correspondences/
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facebench.templates import load
from facebench.templates.correspondence import SHIPPED, _file_name, build_pair, save


def main(a="facebench-head", b="ict-light"):
    ta, tb = load(a), load(b)
    start = time.perf_counter()
    forward, backward = build_pair(ta, tb)
    print(f"registered in {time.perf_counter() - start:.1f} s")
    for corr in (forward, backward):
        path = save(corr, SHIPPED / _file_name(corr.source, corr.target))
        print(f"{path} ({path.stat().st_size / 1e3:.0f} kB)\n{json.dumps(corr.metrics, indent=1)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
