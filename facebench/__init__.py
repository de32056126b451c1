"""facebench: ground truth, benchmarks and baselines for 4D face reconstruction.

Light on import: nothing heavy (torch, trimesh, h5py) is imported here, so that
``facebench --help`` stays fast.  Import the submodules you need.
"""

__version__ = "0.1.0"
SCHEMA_VERSION = 1

__all__ = ["SCHEMA_VERSION", "__version__"]
