"""`stylize dataset` end to end, for one process among any number: plan this process's shard,
load the model on its device, encode the styles it needs, stylise what is left, and agree on
the totals and the merged manifest with the other ranks.
"""
import logging
import os
import sys

from tqdm import tqdm

from stylize.dataset.plan import plan_dataset
from stylize.dataset.ranks import Process
from stylize.dataset.runner import DatasetRun, finish
from stylize.models.registry import model_spec
from stylize.pipelines.stylizer import Stylizer

log = logging.getLogger(__name__)


def dataset_settings(request, plan, weights=None, vgg=None):
    """What the outputs depend on (dataset.json): a resumed run must say the same."""
    return {"seed": request.seed, "per_image": request.per_image, "alpha_range": list(request.alpha_range),
            "size": request.size, "crop": request.crop, "style_size": request.style_size, "ext": request.ext,
            "model": request.model, "weights": str(weights) if weights else "shipped",
            "vgg": str(vgg) if vgg else "shipped", "styles": list(plan.styles)}


def default_batch(model, device):
    """Images per pass: the model's batch on a GPU; 4 per one-thread worker on a CPU (measured
    7 % faster than 1 with the fast model at 224 px; benchmarks/dataset.py)."""
    return model_spec(model).batch_size(device) if device.type == "cuda" else 4


def default_workers(device, process):
    """DataLoader workers per process: on a GPU enough decoders to keep it fed; on a CPU one per
    core this process has (each runs a one-thread copy of the network, see DatasetRun.stylize)."""
    if device.type == "cuda":
        return 4
    return max(1, len(os.sched_getaffinity(0)) // process.local_world)


def stylize_dataset(request, weights=None, vgg=None, device="auto", precision="auto", batch_size=None,
                    workers=None, process=None):
    """Run a checked DatasetRequest in this process; returns the Summary over every rank on
    rank 0 (None on the others)."""
    process = process or Process.from_environment()
    process.start()
    try:
        shard = process.shard(request.shard)
        plan = plan_dataset(request, shard)
        stylizer = Stylizer.from_files(request.model, weights, vgg, str(process.device(device)), precision)
        engine = stylizer.engine
        batch_size = batch_size or default_batch(request.model, engine.device)
        workers = default_workers(engine.device, process) if workers is None else workers
        log.info("shard %d/%d: %d of the source images, %d styles, %s model on %s (%s), batch %d, %d workers",
                 *shard, len(plan.sources), len(plan.styles), request.model, engine.device, engine.precision,
                 batch_size, workers)
        label = f" {shard[0]}/{shard[1]}" if shard[1] > 1 else ""
        with DatasetRun(stylizer, request, plan, shard, dataset_settings(request, plan, weights, vgg)) as run:
            with tqdm(total=len(plan.sources), desc=f"checking{label}", unit="image", file=sys.stderr,
                      leave=False) as bar:
                run.check(bar.update)
            with tqdm(total=len(run.style_indices), desc=f"styles{label}", unit="style", file=sys.stderr,
                      disable=not run.style_indices) as bar:
                run.encode_styles(bar.update)
            with tqdm(total=len(run.todo), desc=f"dataset{label}", unit="image", file=sys.stderr,
                      smoothing=0.05) as bar:
                summary = run.stylize(batch_size, workers, bar.update)
        log.info("shard %d/%d: %s", *shard, summary)
        return finish(request, process, summary)
    finally:
        process.end()
