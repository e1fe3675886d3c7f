"""Video speed: frames per second of `stylize video` (decode, stylise, stabilise, encode) by model and size.

    python benchmarks/video.py [--models fast quality] [--sizes 256 512] [--frames 48] [--animation FILE.webp]

The clip is made from one photo (examples/gorilla.jpg): a 4:3 window panning right 2 px a frame
at 24 frames/s, written as H.264 at the largest size asked for. Each model and size stylises it
with the default temporal mode (flow) and with `--temporal none`, wall clock over the whole file
(style encoded once, as the command does). Prints the CPU (or GPU) first. With --animation, writes
the first frames of the fast model side by side, the clip | independent frames | stabilised, at
144 px, as an animated WebP (or GIF).
"""
import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image
from speed import ROOT, machine

from stylize.media.images import open_image, prepare, to_tensor
from stylize.media.video import probe, stylize_video
from stylize.models.registry import MODEL_NAMES
from stylize.pipelines.engine import Engine
from stylize.pipelines.frames import FrameStylizer

PHOTO, STYLE = ROOT / "examples" / "gorilla.jpg", ROOT / "examples" / "sower.jpg"


def write_clip(path, frames, fps=24):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "18"})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())


def pan_clip(size, count, step=2):
    """`count` frames of a 4:3 window, `size` px tall, panning right across the photo."""
    photo = np.array(prepare(open_image(PHOTO), size))
    width = size * 4 // 3 // 2 * 2
    if photo.shape[1] < width + step * (count - 1):
        raise SystemExit(f"{PHOTO} is too narrow for {count} frames at {size} px")
    return [photo[:size, t * step:t * step + width] for t in range(count)]


def write_animation(engine, style, path, count=24, size=144):
    frames = pan_clip(size, count)
    pictures = [Image.fromarray(frame) for frame in frames]
    independent = FrameStylizer(engine, style, temporal="none")(pictures)
    stabilised = FrameStylizer(engine, style, temporal="flow")(pictures)
    strips = [Image.fromarray(np.concatenate(row, axis=1)) for row in zip(frames, independent, stabilised)]
    strips[0].save(path, save_all=True, append_images=strips[1:], duration=1000 // 12, loop=0, quality=55, method=6)
    print(f"wrote {path} ({len(strips)} frames: the clip | --temporal none | flow)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES))
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--animation", type=Path, help="write the clip | none | flow side by side (.webp or .gif)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        write_clip(clip, pan_clip(max(args.sizes), args.frames))
        for model in args.models:
            engine = Engine.load(model, device=args.device)
            print(f"{model}: {machine(engine.device)}, precision {engine.precision}")
            style = engine.style_stats(to_tensor(prepare(open_image(STYLE), 512)))
            for size in args.sizes:
                for temporal in ("flow", "none"):
                    start = time.perf_counter()
                    written = stylize_video(FrameStylizer(engine, style, size=size, temporal=temporal), clip,
                                            probe(clip), Path(tmp) / "out.mp4",
                                            batch_size=8 if engine.device.type == "cuda" else 2)
                    seconds = time.perf_counter() - start
                    print(f"  {model} {size} px, temporal {temporal:4s}: {written} frames in {seconds:.1f} s = "
                          f"{written / seconds:.1f} frames/s")
            if args.animation and model == "fast":
                write_animation(engine, style, args.animation)
            del engine
            torch.cuda.empty_cache() if torch.cuda.is_available() else None


if __name__ == "__main__":
    main()
