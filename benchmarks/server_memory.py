"""Peak memory of `stylize serve` per concurrent request, by model and size: what to size a
machine by (docs/operations.md).

    python benchmarks/server_memory.py [--models quality fast] [--sizes 256 512 1024 2048]
                                       [--concurrency 2]

For each model, one server (CPU, loopback) with --max-concurrency N: its RSS idle (models
loaded), then for each size, 1 request and then N at once, each after resetting the kernel's
peak-RSS counter (/proc/PID/clear_refs, root or the server's owner), so each row is that load's
own peak. Last, N photos of 8000 x 8000 (a few hundred KB as PNG, 64 MP decoded) worked on at
512 px: a small upload that decodes large. Also printed: RSS once the load is over.
"""
import argparse
import io
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from soak import free_port, picture, rss_mb, start_server  # noqa: E402


def reset_peak(pid):
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


def flat_png(side):
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (120, 80, 40)).save(buf, format="PNG")
    return buf.getvalue()


def post(base, model, content, size):
    files = [("content", ("photo", content, "image/png")), ("style", ("style.jpg", picture((256, 256), 100)))]
    data = {"content_size": str(size), "style_size": "256", "model": model, "format": "jpeg"}
    return httpx.post(f"{base}/v1/stylize", files=files, data=data, timeout=600).status_code


def measure(pid, base, model, content, size, count):
    """Peak RSS over the load of `count` requests at once, and RSS 2 s after."""
    reset_peak(pid)
    with ThreadPoolExecutor(count) as pool:
        codes = list(pool.map(lambda _: post(base, model, content, size), range(count)))
    time.sleep(2)
    rss, peak = rss_mb(pid)
    return peak, rss, codes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["quality", "fast"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024, 2048])
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    server_args = argparse.Namespace(concurrency=args.concurrency, queue=args.concurrency, request_timeout=600,
                                     body_timeout=60, max_upload_mb=20)
    print(f"{'model':8s} {'load':>24s} {'peak MB':>8s} {'over idle':>9s} {'per request':>11s} {'RSS after':>9s}")
    for model in args.models:
        port = free_port()
        with open(f"server-memory-{model}.log", "w") as log:
            proc = start_server(server_args, port, log)
            try:
                base = f"http://127.0.0.1:{port}"
                post(base, model, picture((96, 64), 1), 64)  # warm up: first-call allocations are not load
                time.sleep(2)
                idle = rss_mb(proc.pid)[0]
                print(f"{model:8s} {'idle, models loaded':>24s} {idle:8.0f}")
                loads = [(f"{size} px x {n}", picture((size * 4 // 3, size), 1), size, n)
                         for size in args.sizes for n in sorted({1, args.concurrency})]
                loads.append((f"8000x8000 at 512 x {args.concurrency}", flat_png(8000), 512, args.concurrency))
                for label, content, size, n in loads:
                    peak, rss, codes = measure(proc.pid, base, model, content, size, n)
                    note = "" if set(codes) == {200} else f"  statuses {codes}"
                    print(f"{model:8s} {label:>24s} {peak:8.0f} {peak - idle:9.0f} {(peak - idle) / n:11.0f} "
                          f"{rss:9.0f}{note}", flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=60)


if __name__ == "__main__":
    main()
