"""`stylize export`: training checkpoints of any model -> that model's weight file, through the
exporter its row of the table names (stylize/models/registry.py)."""
import importlib

from stylize.models.registry import spec_for_checkpoint
from stylize.training.loop import load_checkpoint


def export_checkpoint(checkpoint_paths, out_path, half=False):
    """Checkpoints of one run (one, or several to average) -> the model's weight file; returns
    (spec, metadata)."""
    spec = spec_for_checkpoint(load_checkpoint(checkpoint_paths[0]))
    module, function = spec.exporter.split(":")
    return spec, getattr(importlib.import_module(module), function)(checkpoint_paths, out_path, half=half)
