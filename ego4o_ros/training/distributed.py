"""Training in several processes (``torchrun``) and on a GPU: who this process is, where its
tensors live and how the processes agree.

``ego4o-train`` runs unchanged under ``torchrun --nproc_per_node N [--nnodes M ...]``: torchrun
sets ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` and the rendezvous, ``Session.start`` joins the
process group (gloo on CPU, NCCL on CUDA). Data parallel as DistributedDataParallel does it:
every rank holds the whole model, draws its own windows (its own shard, its own seeded random
stream), and the gradients are averaged over the ranks after each backward, in one flat
all-reduce, before the identical optimizer steps. Rank 0 alone writes logs, checkpoints and the
model card. The batch in the config is the *effective* batch (split over the ranks), so a step
means the same at any world size and the learning rate stays as configured.

We average gradients ourselves instead of wrapping the model in ``DistributedDataParallel``
because the recipes call sub-modules (``model.encoder``, ``model.decode``) rather than one
``forward``: DDP's reducer only arms itself inside ``forward``. The arithmetic is DDP's.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np
import torch


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU; ``cuda`` without a GPU is a clear error."""
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, not {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: torch sees no CUDA device here")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


@dataclass
class Session:
    """This process's place in the run: rank, world size and device."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @classmethod
    def start(cls, device: str = "auto") -> Session:
        """Join torchrun's process group when launched by it (``WORLD_SIZE`` > 1), else a
        single process. Each rank of a CUDA run takes the GPU of its ``LOCAL_RANK``."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        resolved = resolve_device(device)
        if world_size <= 1:
            return cls(0, 1, resolved)
        import torch.distributed as dist

        if resolved.type == "cuda":
            resolved = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(resolved)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), resolved)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def local_batch(self, batch: int) -> int:
        """This rank's share of the effective ``batch``."""
        if batch % self.world_size:
            raise ValueError(f"batch {batch} does not split over {self.world_size} processes: make it a multiple")
        return batch // self.world_size

    def shard(self, num_windows: int, probabilities: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The windows this rank draws from (every ``world_size``-th, from its rank on) and
        their draw probabilities renormalised over the shard (None: uniform)."""
        windows = np.arange(self.rank, num_windows, self.world_size)
        if probabilities is None:
            return windows, None
        shard = probabilities[windows]
        return windows, shard / shard.sum()

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Every rank starts from rank 0's weights (and buffers)."""
        if self.distributed:
            import torch.distributed as dist

            for tensor in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(tensor.data, src=0)

    def average_gradients(self, parameters: list[torch.nn.Parameter]) -> None:
        """Mean gradient over the ranks (a missing gradient counts as zeros), one all-reduce."""
        if not self.distributed:
            return
        import torch.distributed as dist

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for p in parameters:
            count = p.numel()
            p.grad = flat[offset : offset + count].view_as(p).clone()
            offset += count

    def average(self, values: dict[str, float]) -> dict[str, float]:
        """Mean of logged numbers over the ranks (the effective batch's loss)."""
        if not self.distributed:
            return values
        import torch.distributed as dist

        keys = sorted(values)
        tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
        dist.all_reduce(tensor)
        return dict(zip(keys, (tensor / self.world_size).tolist()))

    def from_main(self, value: float) -> float:
        """Rank 0's value of a number, on every rank (decisions all ranks must share)."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        tensor = torch.tensor([float(value)], dtype=torch.float64)
        dist.broadcast(tensor, src=0)
        return float(tensor)

    def maximum(self, value: float) -> float:
        """The largest of one number over the ranks (peak memory)."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        tensor = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return float(tensor)

    @contextlib.contextmanager
    def main_first(self):
        """Rank 0 runs the block first (packing windows, encoding texts or views into the
        cache), the others after it, finding those files written."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def autocast(self):
        """bf16 autocast on CUDA; nothing on CPU."""
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def card_entry(self, batch: int) -> dict:
        return {"device": self.device.type, "world_size": self.world_size, "effective_batch": batch}
