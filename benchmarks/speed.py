"""How fast is one stylisation? Latency per stage and end to end, peak memory, and accuracy.

    python benchmarks/speed.py [--sizes 256 512 1024] [--runs 5] [--device auto] [--large] [--json FILE]

Two paths are measured on the same weights and inputs:
  baseline   the plain eager float32 path (torch.no_grad, contiguous tensors): what a reference
             implementation does;
  stylize    what `stylize` runs by default: inference_mode, channels_last, bf16 autocast on
             CPUs with native bf16 (fp16 on CUDA), statistics in float32.
Each figure is the median of --runs timed runs after one warm-up. "cached style" is end to end
with the style's statistics already computed (the CLI's folder runs and the API's style cache).
"max diff" is the largest absolute difference from the baseline's output, on [0, 1] images.
"bank style" is end to end with a style bank's blend instead of a style image (no style image,
no style encoder pass). --large also stylises a 4096x4096 image, which goes through the tiled path.
"""
import argparse
import json
import os
import platform
import statistics
import resource
import subprocess
import sys
import time

import torch

from stylize.bank import DEFAULT_BANK, load_bank
from stylize.transfer import Stylizer, _pad_to_multiple
from stylize.weights import load_decoder, load_encoder


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


def measure(stylizer, content, style, runs, bank=None):
    device = stylizer.device
    x = _pad_to_multiple(content[None].to(device))
    stats = stylizer.style_stats(style)
    with torch.inference_mode():
        taps = stylizer.stylize_features(stylizer.encode(x), [stats])
        row = {
            "encode content ms": timed(lambda: stylizer.encode(x), device, runs)[0],
            "encode style ms": timed(lambda: stylizer.style_stats(style), device, runs)[0],
            "decode ms": timed(lambda: stylizer.decode(taps), device, runs)[0],
        }
    row["end to end ms"], _ = timed(lambda: stylizer.stylize_tensor(content, [stylizer.style_stats(style)]), device, runs)
    row["cached style ms"], out = timed(lambda: stylizer.stylize_tensor(content, [stats]), device, runs)
    if bank is not None:  # a bank style: no style image, no style encoder pass
        weights = torch.full((len(bank.names),), 1.0 / len(bank.names))
        row["bank style ms"], _ = timed(lambda: stylizer.stylize_tensor(content, [bank.style_stats(weights)]),
                                        device, runs)
    return row, out


def machine(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {os.cpu_count()} cores"


def build(args):
    encoder, decoder = load_encoder(), load_decoder(args.decoder)
    return {"baseline": lambda: Stylizer(decoder, encoder, args.device, precision="fp32", channels_last=False),
            "stylize": lambda: Stylizer(decoder, encoder, args.device)}


def inputs(size):
    g = torch.Generator().manual_seed(size)
    return torch.rand(3, size, size, generator=g), torch.rand(3, min(size, 512), min(size, 512), generator=g)


def peak_in_fresh_process(args, path, size):
    """Peak memory of one end-to-end stylisation, measured in its own process."""
    if torch.cuda.is_available() and args.device != "cpu":
        stylizer = build(args)[path]()
        content, style = inputs(size)
        return peak_mb(lambda: stylizer.stylize_tensor(content, [stylizer.style_stats(style)]), stylizer.device)
    cmd = [sys.executable, __file__, "--peak", path, str(size), "--device", args.device]
    cmd += ["--decoder", args.decoder] if args.decoder else []
    return float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decoder", help="decoder file (default: the shipped one)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--large", action="store_true", help="also a 4096x4096 image (tiled)")
    parser.add_argument("--json", help="write the table here as JSON")
    parser.add_argument("--bank", help="also time a blend of this style bank's styles (default: the shipped bank)")
    parser.add_argument("--peak", nargs=2, metavar=("PATH", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.peak:  # child process: print the peak memory of one run and stop
        path, size = args.peak[0], int(args.peak[1])
        stylizer = build(args)["stylize" if path == "tiled" else path]()
        content, style = inputs(size)
        print(peak_mb(lambda: stylizer.stylize_tensor(content, [stylizer.style_stats(style)]), stylizer.device))
        return

    models = build(args)
    probe = models["stylize"]()
    bank_path = args.bank or (DEFAULT_BANK if DEFAULT_BANK.exists() else None)
    bank = load_bank(bank_path, probe.decoder) if bank_path else None
    device = probe.device
    print(f"device: {device} ({machine(device)}), torch {torch.__version__}, stylize precision {probe.precision}, "
          f"decoder {probe.decoder.architecture}")
    results = []
    header = (f"{'path':9} {'size':>5} {'enc content':>11} {'enc style':>9} {'decode':>8} {'end to end':>10} "
              f"{'cached style':>12} {'peak MB':>8} {'max diff':>8}")
    print(header)
    for size in args.sizes:
        content, style = inputs(size)
        reference = None
        for name, make in models.items():
            stylizer = make()  # sets the shared model's memory format for this path
            row, out = measure(stylizer, content, style, args.runs, bank if name == "stylize" else None)
            reference = out if reference is None else reference
            row.update(path=name, size=size, max_diff=(out - reference).abs().max().item(),
                       **{"peak MB": peak_in_fresh_process(args, name, size)})
            results.append(row)
            print(f"{name:9} {size:5d} {row['encode content ms']:11.0f} {row['encode style ms']:9.0f} "
                  f"{row['decode ms']:8.0f} {row['end to end ms']:10.0f} {row['cached style ms']:12.0f} "
                  f"{row['peak MB']:8.0f} {row['max_diff']:8.4f}", flush=True)
            if "bank style ms" in row:
                print(f"{'':15} with a bank style ({len(bank.names)}-style blend): {row['bank style ms']:.0f} ms end to end")
    if args.large:
        stylizer = models["stylize"]()
        content, style = inputs(4096)[0], inputs(512)[1]
        stats = stylizer.style_stats(style)
        start = time.perf_counter()
        stylizer.stylize_tensor(content, [stats])
        seconds = time.perf_counter() - start
        peak = peak_in_fresh_process(args, "tiled", 4096)
        results.append({"path": "stylize (tiled)", "size": 4096, "cached style ms": seconds * 1000, "peak MB": peak})
        print(f"4096x4096, tiled ({stylizer.tile} px tiles, {stylizer.overlap} px overlap): {seconds:.1f} s, "
              f"peak {peak:.0f} MB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": str(device), "machine": machine(device), "torch": torch.__version__,
                       "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
