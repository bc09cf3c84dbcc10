"""Several processes (``torchrun``, ``accelerate launch``): who am I, my share, gathering in order.

Launchers set ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK``. Elicitation and extraction give process
``r`` of ``w`` the questions ``r, r + w, r + 2w, ...`` and gather the results back into the original
order; training is data-parallel through Accelerate inside TRL. Only the main process writes artifacts.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

T = TypeVar("T")


def rank() -> int:
    """This process's global rank (0 when not launched in parallel)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """Number of processes (1 when not launched in parallel)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0


def init_process_group() -> bool:
    """Start ``torch.distributed`` (nccl on CUDA, else gloo) when launched with several processes."""
    import torch
    import torch.distributed as dist

    if world_size() == 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank())
        dist.init_process_group(backend=backend)
    return True


def shard(items: list[T], r: int | None = None, w: int | None = None) -> list[T]:
    """The items of process ``r`` of ``w``: every ``w``-th item starting at ``r``.

    >>> shard(list(range(7)), 1, 3)
    [1, 4]
    """
    r = rank() if r is None else r
    w = world_size() if w is None else w
    return items[r::w]


def interleave(shards: list[list[T]]) -> list[T]:
    """Undo :func:`shard`: put the shards of all processes back into the original order.

    >>> interleave([[0, 3, 6], [1, 4], [2, 5]])
    [0, 1, 2, 3, 4, 5, 6]
    """
    out: list[T] = []
    longest = max((len(s) for s in shards), default=0)
    for i in range(longest):
        for s in shards:
            if i < len(s):
                out.append(s[i])
    return out


def gather_in_order(local: list[Any]) -> list[Any]:
    """Gather every process's shard (from :func:`shard`) and return the full list in order."""
    import torch.distributed as dist

    if world_size() == 1 or not dist.is_initialized():
        return list(local)
    shards: list[Any] = [None] * world_size()
    dist.all_gather_object(shards, list(local))
    return interleave(shards)


def barrier() -> None:
    import torch.distributed as dist

    if world_size() > 1 and dist.is_initialized():
        dist.barrier()
