"""`stylize export` of a train-fast checkpoint: the fast model's file (the table's exporter for
checkpoints of kind "fast")."""
from stylize.errors import StylizeError
from stylize.models.fast import StyledDecoder
from stylize.models.networks import Encoder, NetworkShape
from stylize.models.weights import save_fast
from stylize.training.lineage import commands_of
from stylize.training.loop import load_checkpoint


def export_fast(checkpoint_paths, out_path, half=False):
    """A fast-model checkpoint -> the shipped safetensors file (slim encoder + StyledDecoder with
    its head), in float32: the file is small, and CPUs run it in float32."""
    if half:
        raise StylizeError("the fast model is stored in float32; export it without --half")
    if len(checkpoint_paths) != 1:
        raise StylizeError("a fast-model checkpoint already holds its weights' moving average (--ema-decay): "
                           "export one checkpoint")
    ckpt = load_checkpoint(checkpoint_paths[0])
    shape = NetworkShape.from_dict(ckpt["shape"])
    student, decoder = Encoder(shape), StyledDecoder(shape)
    weights = ckpt.get("average") or {"student": ckpt["student"], "decoder": ckpt["decoder"]}
    student.load_state_dict(weights["student"])
    decoder.load_state_dict(weights["decoder"])
    cfg = ckpt["config"]
    metadata = {
        "model": "fast: slim encoder distilled from VGG-19 + slim skip decoder steered by a head that reads "
                 "the style's VGG-19 statistics",
        "iterations": ckpt["iteration"], "encoder_iterations": min(ckpt["iteration"], cfg["encoder_iters"]),
        "decoder_iterations": max(0, ckpt["iteration"] - cfg["encoder_iters"]),
        "train_seconds": round(ckpt["history"]["seconds"], 1),
        "train_cpu_seconds": round(ckpt["history"]["cpu_seconds"], 1),
        "weights": f"moving average of phase 2's (decay {cfg['ema_decay']})" if ckpt.get("average")
                   else "the last step's",
        "losses": ckpt["losses"], "data": ckpt["data"], "config": cfg, "commands": commands_of(ckpt),
    }
    save_fast(out_path, student, decoder, metadata)
    return metadata
