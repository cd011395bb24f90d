"""What ``gpuad-train --distributed`` needs on top of the collectives: the process group, each rank's device (rank r
uses local GPU r), the DDP wrapper, each epoch's shard of the data (DistributedSampler), output from rank 0 only, and
totals over the ranks for the loss and the global throughput."""
import numpy as np

from . import collectives, process_group
from ..dtypes import float64
from ..factories import tensor
from ..nn.parallel import DistributedDataParallel
from ..utils.data.distributed import DistributedSampler


class DataParallelRun:
    """One process of a data-parallel ``gpuad-train`` job started with ``mpiexec -n N``."""

    def __init__(self, device):
        process_group.init_process_group()
        self.rank, self.world = process_group.get_rank(), process_group.get_world_size()
        if device.startswith("cuda"):
            import cupy  # lazy: import gpuad never imports CuPy
            device = f"cuda:{process_group.get_node_local_rank() % cupy.cuda.runtime.getDeviceCount()}"
        self.device = device

    def main_only(self, out):
        """``out`` on rank 0, a no-op elsewhere."""
        return out if self.rank == 0 else (lambda *args, **kwargs: None)

    def wrap(self, model):
        return DistributedDataParallel(model)

    def samples_per_rank(self, n):
        return len(DistributedSampler(range(n), self.world, self.rank))

    def shard(self, n, epoch, seed):
        """This rank's sample indices for ``epoch`` (PyTorch's DistributedSampler rules, shuffled by seed + epoch)."""
        sampler = DistributedSampler(range(n), self.world, self.rank, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        return np.fromiter(sampler, dtype=np.int64, count=len(sampler))

    def totals(self, samples, seconds, loss_sum):
        """(samples over all ranks, the slowest rank's seconds, the loss summed over all ranks)."""
        sums = tensor([float(samples), loss_sum], dtype=float64)
        slowest = tensor(float(seconds), dtype=float64)
        collectives.all_reduce(sums)
        collectives.all_reduce(slowest, op="MAX")
        return int(sums[0].item()), slowest.item(), sums[1].item()

    def close(self):
        process_group.destroy_process_group()
