"""facebench: ground truth, benchmarks and baselines for 4D face reconstruction.

Light on import: nothing heavy (torch, trimesh, h5py) is imported here, so that
``facebench --help`` stays fast.  Import the submodules you need.
"""

__version__ = "0.1.0"
SCHEMA_VERSION = 1

__all__ = ["SCHEMA_VERSION", "__version__", "evaluate_model"]


def evaluate_model(predict_fn, benchmark: str = "synth-v2", gt=None, out=None, **kwargs) -> dict:
    """Run ``predict_fn(images (T,H,W,3) uint8, K (3,3)) -> {SPEC §5 key: array}`` over every clip of
    ``benchmark``, write the predictions folder ``out``, score it and return the results record.

    See :func:`facebench.evaluate.model.evaluate_model` for the options.
    """
    from facebench.evaluate.model import evaluate_model as run

    return run(predict_fn, benchmark=benchmark, gt=gt, out=out, **kwargs)
