"""Scoring predictions against GT (SPEC §5-§7).

    from facebench.evaluate import evaluate, tracks_from_canonical
    record = evaluate("preds/", gt="gt/synth-v1", out="results.json")
"""

from facebench.evaluate.run import evaluate, resolve
from facebench.evaluate.tracks import tracks_from_canonical, tracks_from_canonical_arrays
from facebench.evaluate.validate import validate_predictions

__all__ = ["evaluate", "resolve", "tracks_from_canonical", "tracks_from_canonical_arrays",
           "validate_predictions"]
