"""`stylize export` of train checkpoints: the quality decoder's file (the table's exporter for
checkpoints of kind "decoder")."""
import torch

from stylize.errors import StylizeError
from stylize.models.networks import Decoder
from stylize.models.weights import save_decoder
from stylize.training.lineage import commands_of
from stylize.training.loop import load_checkpoint


def style_layer_of(checkpoint):
    return checkpoint.get("style_layer", "adain")  # checkpoints before the attention layer are AdaIN's


def export_decoder(checkpoint_paths, out_path, half=False):
    """Checkpoints of one run -> decoder safetensors with the training story in its metadata.

    Each checkpoint gives its moving average (stylize/training/averaging.py), or its weights if it
    has none. Several checkpoints are averaged too (their mean, as in stochastic weight averaging,
    Izmailov et al. 2018). The story is the newest checkpoint's.
    """
    loaded = sorted(((load_checkpoint(p), p) for p in checkpoint_paths), key=lambda pair: pair[0]["iteration"])
    ckpts = [c for c, _ in loaded]
    ckpt = ckpts[-1]
    for other, path in loaded:  # each error names its own file, whatever the order given
        if other.get("kind", "decoder") != "decoder" or [other["architecture"], style_layer_of(other)] != [
                ckpt["architecture"], style_layer_of(ckpt)]:
            raise StylizeError(f"checkpoints to average must come from one decoder run; {path} does not match")
    weights = [(c.get("average") or {}).get("decoder", c["decoder"]) for c in ckpts]
    decoder = Decoder(ckpt["architecture"], style_layer=style_layer_of(ckpt))
    decoder.load_state_dict({name: torch.stack([w[name].float() for w in weights]).mean(0) for name in weights[0]})
    history = ckpt["history"]
    iterations = [history.get("iterations_before", 0) + c["iteration"] for c in ckpts]
    kinds = {f"moving average (decay {c['config']['ema_decay']})" if c.get("average") else "weights" for c in ckpts}
    metadata = {
        "model": {"adain": "AdaIN decoder (Huang & Belongie 2017)",
                  "attention": "decoder of the attention style layer (soft patch swap)"}[decoder.style_layer],
        "architecture": decoder.architecture,
        "iterations": iterations[-1],
        "weights": f"iteration {iterations[0]}'s {kinds.pop()}" if len(ckpts) == 1 else
                   f"mean of {len(ckpts)} checkpoints' {' and '.join(sorted(kinds))} "
                   f"(iterations {', '.join(map(str, iterations))})",
        "train_seconds": round(history.get("seconds_before", 0.0) + history.get("seconds", 0.0), 1),
        "train_cpu_seconds": round(history.get("cpu_seconds_before", 0.0) + history.get("cpu_seconds", 0.0), 1),
        "losses": ckpt["losses"],
        "data": ckpt["data"],
        "config": ckpt["config"],
        "commands": commands_of(ckpt),
        "warm_start": history.get("init"),
    }
    save_decoder(out_path, decoder, metadata, half=half)
    return metadata
