"""One optimisation step of the reference transformer, for one process or many.

The global batch of step ``k`` is ``batch_size`` window indices drawn from
``default_rng([seed, k])`` (:class:`StepBatches`), whatever the number of processes: rank ``r``
of ``N`` takes the ``r``-th contiguous share of it and splits that share into ``accumulate``
micro-batches.  :func:`train_step` divides every loss numerator by the denominators of the whole
global batch (summed over ranks before the forward pass, see :mod:`facebench.baseline.losses`)
and scales by ``N`` to undo DistributedDataParallel's gradient mean, so the gradient, the clipped
update and the logged loss terms are those of the global batch in one piece, up to float rounding.
"""

from __future__ import annotations

import numpy as np

from facebench.errors import InputError


class StepBatches:
    """Batch sampler: the indices of step ``k`` are drawn from ``default_rng([seed, k])``.

    With ``world`` > 1 it yields rank ``rank``'s contiguous share of each global batch.
    """

    def __init__(self, n_items: int, batch_size: int, seed: int, start: int, stop: int,
                 rank: int = 0, world: int = 1):
        if batch_size % world:
            raise InputError(f"batch size {batch_size} does not split over {world} processes")
        self.n_items, self.batch_size, self.seed = n_items, batch_size, seed
        self.start, self.stop, self.rank, self.world = start, stop, rank, world

    def __len__(self):
        return max(0, self.stop - self.start)

    def __iter__(self):
        share = self.batch_size // self.world
        for step in range(self.start, self.stop):
            rng = np.random.default_rng([self.seed, step])
            indices = rng.integers(self.n_items, size=self.batch_size).tolist()
            yield indices[self.rank * share:(self.rank + 1) * share]


def check_split(batch_size: int, world: int, accumulate: int) -> int:
    """Sequences per micro-batch; a user error when the global batch does not split evenly."""
    if accumulate < 1:
        raise InputError("--accumulate must be at least 1")
    if batch_size % (world * accumulate):
        raise InputError(f"--batch-size {batch_size} must be a multiple of processes x --accumulate "
                         f"({world} x {accumulate})")
    return batch_size // (world * accumulate)


def split_batch(batch: dict, parts: int) -> list[dict]:
    """A collated batch cut into ``parts`` equal micro-batches along its first axis."""
    if parts == 1:
        return [batch]
    out = [{} for _ in range(parts)]
    for key, value in batch.items():
        n = len(value) // parts
        for i in range(parts):
            out[i][key] = value[n * i:n * (i + 1)]
    return out


def to_device(batch: dict, device: str) -> dict:
    import torch

    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}


def forward(model, batch: dict):
    """The model's outputs for a collated (device) batch."""
    return model(batch["image"], batch.get("prior"), rotation=batch["T_cam_from_world"][:, :3, :3])


def train_step(model, optimizer, batch: dict, weights: dict, *, dist, accumulate: int = 1,
               precision: str = "fp32", grad_clip: float | None = 1.0) -> dict:
    """Forward, backward and one optimizer update on this rank's share of the global batch.

    ``model`` is the (possibly DDP-wrapped) module, ``batch`` this rank's collated share (on the
    CPU; micro-batches move to ``dist.device`` one at a time).  Returns the loss terms of the
    whole global batch as floats.  The caller steps the scheduler.
    """
    import torch

    from facebench.baseline.losses import SUM_KEYS, combine_loss, loss_counts, loss_sums, terms_to_floats
    from facebench.baseline.runtime import autocast

    counts = dist.sum(loss_counts(batch))  # denominators of the global batch
    optimizer.zero_grad(set_to_none=True)
    parts = split_batch(batch, accumulate)
    totals = torch.zeros(len(SUM_KEYS), dtype=torch.float64)
    for i, part in enumerate(parts):
        part = to_device(part, dist.device)
        with dist.no_sync(model, skip=i < len(parts) - 1):
            with autocast(dist.device, precision):
                out = forward(model, part)
            sums = loss_sums(out, part, weights)
            loss, _ = combine_loss(sums, counts, weights)
            (loss * dist.world).backward()
        totals += torch.stack([sums[k].detach().double().cpu() for k in SUM_KEYS])
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    totals = dist.sum(totals)
    loss, terms = combine_loss(dict(zip(SUM_KEYS, totals)), counts, weights)
    return terms_to_floats(loss, terms)
