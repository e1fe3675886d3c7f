"""The pan test: how stable is stylised video, with and without the temporal stabiliser?

    python benchmarks/temporal.py [--models fast quality] [--photos 4] [--window 192] [--step 2] [--frames 24]

From each held-out photo, frames are made by sliding a window x window crop `step` pixels a frame;
in a perfectly stable result, output frame t+1 shifted back by `step` pixels equals frame t on
their overlap. Prints the mean absolute difference there (0-255) for `--temporal none` and each
stabilised mode, and what the stabilisation costs in the AdaIN paper's losses (VGG-19 yardstick,
as benchmarks/quality.py: content at relu4_1, style on mean/std of relu1_1..relu4_1) measured
on the output frames. Photos are the sorted held-out content images, each with the next style.
"""
import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from stylize.media.images import list_images, open_image, prepare, to_tensor
from stylize.media.temporal import pan_error, pan_frames
from stylize.models.networks import RELU4_1
from stylize.models.registry import MODEL_NAMES
from stylize.models.style_layers import AdaIN, mean_std
from stylize.models.weights import load_encoder
from stylize.pipelines.engine import Engine
from stylize.pipelines.frames import FrameStylizer
from stylize.pipelines.request import TEMPORAL_MODES
from stylize.training.losses import style_losses


@torch.no_grad()
def frame_losses(vgg, frames, outputs, style):
    """Mean (content, style) loss of stylised frames, in VGG-19's space."""
    x, y = (torch.stack([to_tensor(f) for f in batch]) for batch in (frames, outputs))
    style_stats = [tuple(s.expand(len(y), -1, -1, -1) for s in mean_std(t)) for t in vgg(style[None])]
    target = AdaIN()(vgg(x)[RELU4_1], *style_stats[RELU4_1])
    content, style_loss = style_losses(vgg, y, target, style_stats)
    return content.item(), style_loss.item()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES))
    parser.add_argument("--heldout", default="data/heldout", type=Path)
    parser.add_argument("--photos", type=int, default=4)
    parser.add_argument("--window", type=int, default=192)
    parser.add_argument("--step", type=int, default=2)
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args()

    vgg = load_encoder()
    photo_files = list_images(args.heldout / "content")[:args.photos]
    style_files = list_images(args.heldout / "style")
    height = args.window + 16
    for model in args.models:
        engine = Engine.load(model, device="cpu", precision="fp32")
        rows = {mode: [] for mode in TEMPORAL_MODES}
        for i, path in enumerate(photo_files):
            photo = np.array(prepare(open_image(path), height))
            frames = pan_frames(photo, args.window, args.step, args.frames)
            style = to_tensor(prepare(open_image(style_files[(i + 1) % len(style_files)]), 256, crop=True))
            stats = engine.style_stats(style)
            for mode in TEMPORAL_MODES:
                outputs = FrameStylizer(engine, stats, temporal=mode)([Image.fromarray(f) for f in frames])
                content_loss, style_loss = frame_losses(vgg, frames, outputs, style)
                rows[mode].append((pan_error(outputs, args.step), content_loss, style_loss))
                print(f"{model} {path.name:24s} temporal {mode:5s} pan error {rows[mode][-1][0]:6.2f}  "
                      f"content {content_loss:.3f}  style {style_loss:.3f}")
        for mode, values in rows.items():
            pan, content, style_loss = (statistics.mean(v) for v in zip(*values))
            print(f"== {model}, temporal {mode}: pan error {pan:.2f} (0-255), content {content:.3f}, style "
                  f"{style_loss:.3f}, over {len(values)} photos x {args.frames} frames of {args.window} px moving "
                  f"{args.step} px")


if __name__ == "__main__":
    main()
