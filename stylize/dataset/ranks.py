"""Which part of a dataset run this process is: its rank under torchrun (RANK, WORLD_SIZE and
LOCAL_RANK, which torchrun sets for every process on every node), within a scheduler's
`--shard I/N` (a Slurm array task), or both; and the process group that lets the ranks agree
when they have all finished.
"""
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from stylize.device import pick_device

# Ranks that finish early wait at the final barrier for the slowest; a dataset run can take days.
BARRIER_TIMEOUT = datetime.timedelta(days=7)


@dataclass(frozen=True)
class Process:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1  # processes on this machine

    @classmethod
    def from_environment(cls):
        """This process as torchrun launched it (rank 0 of 1 without torchrun)."""
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)),
                   int(env.get("LOCAL_WORLD_SIZE", 1)))

    def shard(self, shard=(0, 1)):
        """(index, count) of this process's share: shard I/N split again among the ranks."""
        index, count = shard
        return index * self.world + self.rank, count * self.world

    def device(self, name="auto"):
        """One GPU per process under torchrun: LOCAL_RANK picks it."""
        device = pick_device(name)
        if device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank % torch.cuda.device_count())
        return device

    def start(self):
        """Join the other ranks (gloo: the final counts are a few CPU numbers, whatever the device)."""
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)

    def total(self, counts):
        """A dict of counts summed over every rank, once all have finished (the barrier)."""
        if self.world == 1:
            return dict(counts)
        keys = sorted(counts)
        values = torch.tensor([float(counts[k]) for k in keys], dtype=torch.float64)
        dist.all_reduce(values)
        return dict(zip(keys, values.tolist()))

    def slowest(self, seconds):
        """The largest of every rank's `seconds`."""
        if self.world == 1:
            return seconds
        value = torch.tensor([float(seconds)], dtype=torch.float64)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return value.item()

    def end(self):
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
