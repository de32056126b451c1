"""Faster decoding of GT shard datasets: chunks inflated outside HDF5, frames in parallel.

HDF5 (through h5py) inflates a gzip+shuffle chunk with zlib under one global lock, so
reading a clip uses one core at zlib's speed.  Here a dataset stored as facebench writes
its maps (one frame per chunk, filters shuffle then deflate) is read as raw chunks
(``read_direct_chunk``, still under the lock, but only I/O), then inflated with libdeflate
(the ``deflate`` package; about 3x zlib's speed, plain zlib when it is missing) and
un-shuffled in a thread pool: the bytes are exactly those HDF5 would return.  Any other
layout goes through h5py unchanged.

JPEG frames are decoded with the fastest libjpeg-turbo binding installed (OpenCV when
present, else simplejpeg, else Pillow), also in the pool.  All three use libjpeg-turbo's
accurate integer IDCT and give the same pixels for facebench's 4:4:4 JPEGs (tested).

``FACEBENCH_DECODE_THREADS`` sets the pool size (default: up to 4, the CPUs this process
may use); 1 decodes in the calling thread.  ``FACEBENCH_FAST_READ=0`` turns this module
off (HDF5 and Pillow decode everything, as before it existed).
"""

from __future__ import annotations

import io
import os

import numpy as np

SHUFFLE, DEFLATE = 2, 1          # HDF5 filter ids
_POOL: dict = {}                 # {"pid": ..., "pool": ThreadPoolExecutor}


def enabled() -> bool:
    return os.environ.get("FACEBENCH_FAST_READ", "1") != "0"


def decode_threads() -> int:
    value = os.environ.get("FACEBENCH_DECODE_THREADS")
    if value:
        return max(1, int(value))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def pool_map(func, items: list) -> list:
    """``[func(x) for x in items]``, in the decode pool when there is more than one item."""
    n = decode_threads()
    if n == 1 or len(items) < 2:
        return [func(x) for x in items]
    pool = _POOL.get("pool")
    if pool is None or _POOL.get("pid") != os.getpid() or _POOL.get("n") != n:  # new after a fork
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="facebench-decode")
        _POOL.update(pid=os.getpid(), pool=pool, n=n)
    return list(pool.map(func, items))


# -- gzip + shuffle chunks -------------------------------------------------------------------
def _inflater():
    """``inflate(zlib stream, decoded size) -> bytes``: libdeflate, else zlib (same bytes)."""
    try:
        import deflate

        return deflate.zlib_decompress
    except ImportError:  # `deflate` is a dependency; zlib is slower, not different
        import zlib

        return lambda data, size: zlib.decompress(data)


def frame_chunked(ds) -> tuple[bool, bool] | None:
    """(shuffled, deflated) when ``ds`` is chunked one frame per chunk with at most the filters
    shuffle and deflate (in that order); None for any other layout."""
    chunks = getattr(ds, "chunks", None)  # None also for array-likes that are not h5py datasets
    if chunks is None or ds.ndim < 2 or chunks != (1,) + tuple(ds.shape[1:]):
        return None
    if ds.dtype.kind not in "uif" or ds.dtype.byteorder not in "=|<":
        return None
    plist = ds.id.get_create_plist()
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    if filters not in ([SHUFFLE, DEFLATE], [DEFLATE]):
        return None
    return filters[0] == SHUFFLE, True


def read_frames(ds, frames=slice(None), decode=None, dtype=None) -> np.ndarray | None:
    """``ds[frames]`` for a frame-chunked gzip(+shuffle) dataset, inflated in the pool; None
    when this path does not apply (another layout, or the fast path is off).

    ``decode(stored_frame, out_frame)``, if given, turns each stored frame into the returned
    array's frame (of ``dtype``) in the same pool task, while the frame is still in cache.
    """
    if not enabled() or not isinstance(frames, slice):
        return None
    layout = frame_chunked(ds)
    if layout is None:
        return None
    shuffled, _ = layout
    index = range(*frames.indices(ds.shape[0]))
    out = np.empty((len(index),) + tuple(ds.shape[1:]), ds.dtype if decode is None else dtype)
    if not len(index):
        return out
    zero = (0,) * (ds.ndim - 1)
    raw = [ds.id.read_direct_chunk((t,) + zero) for t in index]  # I/O only, under h5py's lock
    inflate = _inflater()
    itemsize = ds.dtype.itemsize
    n = int(np.prod(ds.shape[1:]))

    def inflate_frame(i):
        mask, data = raw[i]
        if mask:  # a filter was skipped for this chunk: let HDF5 say what it holds
            return False
        try:
            flat = np.frombuffer(inflate(data, n * itemsize), np.uint8)
        except Exception:  # a chunk this path cannot inflate: HDF5 reads it (or says what is wrong)
            return False
        if len(flat) != n * itemsize:
            return False
        stored = out[i] if decode is None else np.empty(ds.shape[1:], ds.dtype)
        if shuffled and itemsize > 1:
            unshuffle(flat, itemsize, stored.reshape(-1).view(f"<u{itemsize}"))
        else:
            stored.reshape(-1).view(np.uint8)[...] = flat
        if decode is not None:
            decode(stored, out[i])
        return True

    done = pool_map(inflate_frame, list(range(len(index))))
    for i, ok in enumerate(done):
        if not ok:
            if decode is None:
                out[i] = ds[index[i]]
            else:
                decode(ds[index[i]], out[i])
    return out


def unshuffle(flat: np.ndarray, itemsize: int, out: np.ndarray) -> np.ndarray:
    """Undo HDF5's shuffle filter: ``flat`` holds byte k of every element, then byte k+1, ...;
    ``out`` (n,) little-endian unsigned of ``itemsize`` bytes receives the elements.  Shifts
    and ors on whole rows (contiguous, vectorised): several times faster than a transposed
    byte copy."""
    kind = np.dtype(f"<u{itemsize}")
    rows = flat.reshape(itemsize, -1)
    out[...] = rows[0]
    for k in range(1, itemsize):
        out |= rows[k].astype(kind) << kind.type(8 * k)
    return out


# -- JPEG / PNG frames -----------------------------------------------------------------------
def _jpeg_decoder():
    if not enabled():
        return None
    try:
        import cv2

        flag = getattr(cv2, "IMREAD_COLOR_RGB", None)
        if flag is not None:
            return lambda blob: cv2.imdecode(blob, flag)
    except ImportError:
        pass
    try:
        import simplejpeg

        return lambda blob: simplejpeg.decode_jpeg(blob, colorspace="RGB")
    except ImportError:
        return None


def _pillow_decode(blob) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(blob.tobytes())) as im:
        return np.asarray(im if im.mode == "RGB" else im.convert("RGB"))


def decode_images(blobs, shape, encoding: str) -> np.ndarray:
    """(T,) encoded frames -> (T,H,W,C) uint8; JPEG through :func:`_jpeg_decoder`, in the pool."""
    h, w, c = (int(s) for s in shape[1:])
    out = np.empty((len(blobs), h, w, c), np.uint8)
    fast = _jpeg_decoder() if encoding == "jpeg" and c == 3 else None

    def decode(t):
        frame = fast(blobs[t]) if fast is not None else None
        if frame is None or frame.shape != (h, w, c):  # not what the fast decoder reads: Pillow
            frame = _pillow_decode(blobs[t])
        out[t] = frame

    if enabled():
        pool_map(decode, list(range(len(blobs))))
    else:
        for t in range(len(blobs)):
            out[t] = _pillow_decode(blobs[t])
    return out
