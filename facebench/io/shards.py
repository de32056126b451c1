"""GT shards (SPEC §4): one import for the records, the writer, the reader and the validator.

    from facebench.io.shards import Tracks, Clip, Sequence, GTWriter, GTReader, validate_gt
"""

from facebench.io.clips import Clip, Sequence, Tracks, clip_id, split_clip_id
from facebench.io.gt_reader import GTReader
from facebench.io.gt_validate import validate_gt
from facebench.io.gt_writer import GTWriter, config_hash, file_sha256, write_json_atomic
from facebench.io.schema import CLIP_FIELDS, FILE_ATTRS, MASK_LABELS, SEQUENCE_FIELDS


def dataset_hashes(shard_path) -> dict[str, str]:
    """sha256 of every dataset's bytes in a shard, keyed by its HDF5 path.

    Two shards with equal hashes hold the same data, whatever HDF5 chose for layout.
    """
    import hashlib

    import h5py
    import numpy as np

    hashes = {}
    with h5py.File(shard_path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                arr = obj[()]
                h = hashlib.sha256(str(obj.dtype).encode() + str(obj.shape).encode())
                for part in (arr if arr.dtype == object else [arr]):  # vlen: one array per element
                    h.update(np.ascontiguousarray(part).tobytes())
                for key in sorted(obj.attrs):  # encoded maps: the decoding parameters are data too
                    h.update(key.encode() + np.asarray(obj.attrs[key]).tobytes())
                hashes[name] = h.hexdigest()
        f.visititems(visit)
    return hashes


__all__ = ["CLIP_FIELDS", "FILE_ATTRS", "MASK_LABELS", "SEQUENCE_FIELDS", "Clip", "GTReader", "GTWriter",
           "Sequence", "Tracks", "clip_id", "config_hash", "dataset_hashes", "file_sha256", "split_clip_id",
           "validate_gt", "write_json_atomic"]
