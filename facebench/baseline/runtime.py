"""Where and how the reference transformer runs: device, precision, compilation, processes.

``--device auto|cpu|cuda|mps`` (``auto``: CUDA when present, else CPU; ``cuda:N`` names one GPU),
``--precision auto|fp32|bf16`` (``auto``: bf16 autocast on CUDA, fp32 elsewhere; TF32 matmuls are
allowed on CUDA in both), ``--compile`` (``torch.compile`` of the model, in place).

Several processes: under ``torchrun`` (``WORLD_SIZE`` and ``MASTER_ADDR`` in the environment)
:class:`Dist` joins the process group (NCCL on CUDA, gloo on CPU), gives each rank its device
(``cuda:LOCAL_RANK``) and sums tensors over ranks; the model trains wrapped in
DistributedDataParallel (also with ``--nproc-per-node 1``).  A plain process is the same object
with ``world == 1`` and no process group.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from facebench.errors import InputError

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")


def resolve_device(name: str | None = "auto", local_rank: int = 0) -> str:
    """A torch device string for ``name`` (auto|cpu|cuda|cuda:N|mps); CUDA ranks get ``cuda:LOCAL_RANK``."""
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    kind = name.split(":")[0]
    if kind not in DEVICES[1:]:
        raise InputError(f"--device {name!r}: choose from {', '.join(DEVICES)} (or cuda:N)")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda: torch sees no CUDA GPU here (try --device cpu)")
        return name if ":" in name else f"cuda:{local_rank}"
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("--device mps: this torch build or machine has no MPS (Apple GPU)")
    return name


def resolve_precision(precision: str | None, device: str) -> str:
    """``fp32`` or ``bf16``; ``auto`` is bf16 on CUDA (when the GPU supports it) and fp32 elsewhere."""
    import torch

    precision = (precision or "auto").lower()
    if precision not in PRECISIONS:
        raise InputError(f"--precision {precision!r}: choose from {', '.join(PRECISIONS)}")
    if precision == "auto":
        cuda = device.startswith("cuda")
        return "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    return precision


def configure_backends(device: str) -> None:
    """Allow TF32 matmuls and convolutions on CUDA (fp32 storage, faster tensor-core products)."""
    import torch

    if device.startswith("cuda"):
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def autocast(device: str, precision: str):
    """Context for the forward pass: bf16 autocast, or nothing for fp32."""
    import torch

    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)


def compile_model(model, enabled: bool):
    """``torch.compile`` the module in place (its state_dict keys stay unchanged)."""
    if enabled:
        model.compile()
    return model


def device_name(device: str) -> str:
    """Human-readable device for meta.json, e.g. ``cuda (NVIDIA H200)``."""
    import platform

    if device.startswith("cuda"):
        import torch

        return f"cuda ({torch.cuda.get_device_name(torch.device(device))})"
    if device.startswith("mps"):
        return "mps (Apple GPU)"
    return f"cpu ({platform.processor() or platform.machine()})"


@dataclass
class Dist:
    """This process's place among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"
    ddp: bool = False  # launched by torchrun: a process group exists

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def start(cls, device: str | None = "auto") -> Dist:
        """Join the torchrun process group (when launched by torchrun); resolve this rank's device."""
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        dev = resolve_device(device, local_rank)
        if "WORLD_SIZE" not in os.environ or "MASTER_ADDR" not in os.environ:
            return cls(device=dev)
        import torch
        import torch.distributed as dist

        if dev.startswith("cuda"):
            torch.cuda.set_device(torch.device(dev))
        if not dist.is_initialized():
            backend = "nccl" if dev.startswith("cuda") else "gloo"
            dist.init_process_group(backend=backend)
        return cls(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local_rank, device=dev,
                   ddp=True)

    def sum(self, tensor):
        """Sum of ``tensor`` over ranks (the tensor itself with one process)."""
        if self.world == 1:
            return tensor
        import torch.distributed as dist

        t = tensor.to(self.device if self.device.startswith("cuda") else "cpu").clone()
        dist.all_reduce(t)
        return t.to(tensor.device)

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def wrap(self, model):
        """The model as trained: DistributedDataParallel under torchrun, the module itself alone."""
        if not self.ddp:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device] if self.device.startswith("cuda") else None
        return DistributedDataParallel(model, device_ids=ids, gradient_as_bucket_view=True)

    def no_sync(self, model, skip: bool):
        """Skip the gradient all-reduce of this backward (accumulation micro-batches but the last)."""
        if not self.ddp or not skip:
            return contextlib.nullcontext()
        return model.no_sync()

    def close(self) -> None:
        if self.ddp:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
