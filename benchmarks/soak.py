"""Soak and fault test of `stylize serve` on loopback: bursts far over capacity, slow and stalled
uploads, oversized and malformed requests and camera sessions, for a set number of minutes.

    python benchmarks/soak.py [--minutes 15] [--concurrency 2] [--queue 8] [--burst 6]
                              [--request-timeout 10] [--header-timeout 5] [--body-timeout 5]
                              [--size 256] [--model quality]

It starts its own server (CPU, loopback, a free port) and every --period seconds sends: a burst of
--burst x (concurrency + queue) stylisations at once; three uploads that send one byte a second;
one client that sends its headers and stalls, one that stalls half-way through its headers and
one that connects and says nothing; a body over the limit with a Content-Length and one
chunked; a truncated multipart body; a 1 MB header; and one camera session that streams a few
frames and then sits idle, holding a slot. It prints the server's RSS as it goes, then the
status counts per kind of request, latency percentiles of the bursts, and RSS over time (the goal:
no 5xx but 503 busy, and RSS at the end within 15 % of RSS after the first minute).

The load is bounded: one burst at a time, so at most --burst x capacity requests are open.
"""
import argparse
import asyncio
import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def picture(size, seed, fmt="JPEG"):
    """A photo-like test image: colour ramps with noise (JPEG-compresses like a photo)."""
    rng = np.random.default_rng(seed)
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w]
    base = np.stack([xs / w, ys / h, (xs + ys) / (w + h)], -1) * 200
    pixels = np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, quality=90)
    return buf.getvalue()


def multipart(fields, files, boundary="soakboundary"):
    """A multipart/form-data body, by hand (the raw-socket clients need its bytes)."""
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    for name, (filename, data) in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def rss_mb(pid):
    """Resident and peak resident memory of a process, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(args, port, log):
    env = {**os.environ, "STYLIZE_BODY_TIMEOUT": str(args.body_timeout),  # ignored by servers without them
           "STYLIZE_HEADER_TIMEOUT": str(args.header_timeout)}
    command = [sys.executable, "-m", "stylize.cli.main", "serve", "--port", str(port), "--device", "cpu",
               "--max-concurrency", str(args.concurrency), "--max-queue", str(args.queue),
               "--request-timeout", str(args.request_timeout), "--max-upload-mb", str(args.max_upload_mb)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if httpx.get(f"http://{HOST}:{port}/readyz").status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}; see {log.name}")
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("the server never became ready")


class Soak:
    def __init__(self, args, port):
        self.args, self.base, self.port = args, f"http://{HOST}:{port}", port
        self.statuses = defaultdict(Counter)  # kind -> status -> count
        self.latency = defaultdict(list)  # burst status -> seconds
        self.contents = [picture((args.size * 4 // 3, args.size), seed) for seed in range(8)]
        self.styles = [picture((256, 256), 100 + seed) for seed in range(3)]
        self.frame = picture((320, 240), 7)

    def count(self, kind, status):
        self.statuses[kind][str(status)] += 1

    async def stylize(self, client, i):
        files = [("content", ("photo.jpg", self.contents[i % len(self.contents)], "image/jpeg")),
                 ("style", ("style.jpg", self.styles[i % len(self.styles)], "image/jpeg"))]
        data = {"content_size": str(self.args.size), "style_size": "256", "model": self.args.model,
                "format": "jpeg"}
        start = time.perf_counter()
        try:
            response = await client.post(f"{self.base}/v1/stylize", files=files, data=data)
            status = response.status_code
            if status == 503 and "retry-after" not in response.headers:
                status = "503-without-retry-after"
        except httpx.HTTPError as e:
            status = type(e).__name__
        self.count("burst", status)
        self.latency[str(status)].append(time.perf_counter() - start)

    async def burst(self, client):
        n = self.args.burst * (self.args.concurrency + self.args.queue)
        await asyncio.gather(*(self.stylize(client, i) for i in range(n)))

    async def raw(self, head, body=b"", byte_every=None, limit=40.0):
        """Send a request over a plain socket (all at once, or one byte every `byte_every` s);
        -> the status line's code, "closed" or "no answer", and the seconds it took."""
        start = time.perf_counter()
        reader, writer = await asyncio.open_connection(HOST, self.port)
        answer = asyncio.ensure_future(reader.read(200))
        try:
            writer.write(head)
            if byte_every is None:
                writer.write(body)
            else:
                for k in range(len(body)):
                    if answer.done() or time.perf_counter() - start > limit:
                        break
                    writer.write(body[k:k + 1])
                    await asyncio.sleep(byte_every)
            await writer.drain()
            first = await asyncio.wait_for(answer, limit - (time.perf_counter() - start))
            result = first.split(b" ", 2)[1].decode() if first.startswith(b"HTTP/") else "closed"
        except (asyncio.TimeoutError, TimeoutError, ValueError):  # ValueError: no time left to wait
            result = "no answer"
        except (ConnectionError, OSError):
            result = "closed"
        finally:
            answer.cancel()
            writer.close()
        return result, time.perf_counter() - start

    def post_head(self, content_type, length=None, chunked=False):
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}"
        return (f"POST /v1/stylize HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: {content_type}\r\n"
                f"{framing}\r\n\r\n").encode()

    async def slow_upload(self):
        body, kind = multipart({"content_size": "64"}, [("content", ("c.jpg", self.contents[0][:3000]))])
        status, seconds = await self.raw(self.post_head(kind, len(body)), body, byte_every=1.0)
        self.count("slow upload (1 B/s)", f"{status} after {5 * round(seconds / 5)} s")

    async def stalled(self):
        status, seconds = await self.raw(self.post_head("multipart/form-data; boundary=x", 5000))
        self.count("headers then stall", f"{status} after {5 * round(seconds / 5)} s")

    async def half_headers(self):
        status, seconds = await self.raw(f"POST /v1/stylize HTTP/1.1\r\nHost: {HOST}\r\nContent-Le".encode())
        self.count("half the headers, then stall", f"{status} after {5 * round(seconds / 5)} s")

    async def silent(self):
        status, seconds = await self.raw(b"")
        self.count("connects, sends nothing", f"{status} after {5 * round(seconds / 5)} s")

    async def oversized(self):
        size = int((self.args.max_upload_mb + 1) * 2**20)
        body, kind = multipart({}, [("content", ("big.jpg", os.urandom(size)))])
        status, _ = await self.raw(self.post_head(kind, len(body)), body)
        self.count("over the limit, Content-Length", status)
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[k:k + 65536]), body[k:k + 65536])
                           for k in range(0, len(body), 65536)) + b"0\r\n\r\n"
        status, _ = await self.raw(self.post_head(kind, chunked=True), chunked)
        self.count("over the limit, chunked", status)

    async def malformed(self, client):
        body, kind = multipart({"content_size": "64"}, [("content", ("c.jpg", self.contents[0]))])
        truncated = body[:len(body) // 2]
        status, _ = await self.raw(self.post_head(kind, len(truncated)), truncated)
        self.count("truncated multipart", status)
        status, _ = await self.raw(f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {'a' * 2**20}\r\n\r\n".encode())
        self.count("1 MB header", status)
        response = await client.post(f"{self.base}/v1/stylize", content=b"not a form",
                                     headers={"content-type": "application/octet-stream"})
        self.count("not a form", response.status_code)

    async def camera(self):
        url = f"ws://{HOST}:{self.port}/v1/stream"
        style = "data:image/jpeg;base64," + base64.b64encode(self.styles[0]).decode()
        try:
            async with connect(url, max_size=2**24, open_timeout=30) as ws:
                await ws.send(json.dumps({"type": "config", "style_image": style, "size": 128, "model": "fast"}))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if reply.get("type") != "ready":
                    return self.count("camera session", f"config {reply.get('detail', reply)}"[:60])
                for _ in range(5):
                    await ws.send(self.frame)
                    await asyncio.wait_for(ws.recv(), 60)
                await asyncio.sleep(self.args.period / 2)  # idle, holding its slot
                self.count("camera session", "5 frames, then idle")
        except Exception as e:  # noqa: BLE001 - a refused or broken session is what we count
            code = getattr(getattr(e, "rcvd", None), "code", None)
            self.count("camera session", f"closed {code}" if code else type(e).__name__)

    async def run(self, pid):
        args = self.args
        start = time.monotonic()
        samples = []

        async def sample():
            while True:
                samples.append((time.monotonic() - start, *rss_mb(pid)))
                await asyncio.sleep(5)

        sampler = asyncio.ensure_future(sample())
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=20)
        async with httpx.AsyncClient(timeout=args.request_timeout + 60, limits=limits) as client:
            round_ = 0
            while time.monotonic() - start < args.minutes * 60:
                round_ += 1
                t0 = time.monotonic()
                side = [self.slow_upload() for _ in range(3)] + [self.stalled(), self.half_headers(), self.silent(),
                                                                  self.oversized(), self.malformed(client),
                                                                  self.camera()]
                await asyncio.gather(self.burst(client), *side)
                rss, peak = rss_mb(pid)
                print(f"t={time.monotonic() - start:6.0f} s  round {round_:3d}  RSS {rss:6.0f} MB  peak {peak:6.0f} MB"
                      f"  burst {dict(self.statuses['burst'])}", flush=True)
                await asyncio.sleep(max(0.0, args.period - (time.monotonic() - t0)))
        sampler.cancel()
        samples.append((time.monotonic() - start, *rss_mb(pid)))
        return samples


def percentiles(values):
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return f"p50 {pick(0.5):.2f} s  p90 {pick(0.9):.2f} s  p99 {pick(0.99):.2f} s  max {values[-1]:.2f} s"


def report(soak, samples):
    print("\nstatus counts")
    for kind, counts in soak.statuses.items():
        print(f"  {kind:32s} " + ", ".join(f"{status}: {n}" for status, n in sorted(counts.items())))
    print("\nburst latency (client side)")
    for status, seconds in sorted(soak.latency.items()):
        print(f"  {status:>6s} x {len(seconds):5d}  {percentiles(seconds)}")
    print("\nRSS over time (MB)")
    for t, rss, peak in samples[::max(1, len(samples) // 20)] + samples[-1:]:
        print(f"  t={t:6.0f} s  RSS {rss:6.0f}  peak {peak:6.0f}")
    after_minute = next((rss for t, rss, _ in samples if t >= 60), samples[0][1])
    final = samples[-1][1]
    print(f"\nRSS idle before load {samples[0][1]:.0f} MB, after the first minute {after_minute:.0f} MB, at the end "
          f"{final:.0f} MB ({100 * (final / after_minute - 1):+.1f} %), peak {samples[-1][2]:.0f} MB")
    errors = sum(n for counts in soak.statuses.values() for status, n in counts.items()
                 if status[:3].isdigit() and status[0] == "5" and not status.startswith("503"))
    print(f"5xx other than 503: {errors}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--period", type=float, default=10, help="seconds between rounds")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--queue", type=int, default=8)
    parser.add_argument("--burst", type=int, default=6, help="burst size as a multiple of concurrency + queue")
    parser.add_argument("--request-timeout", type=float, default=10)
    parser.add_argument("--header-timeout", type=float, default=5)
    parser.add_argument("--body-timeout", type=float, default=5)
    parser.add_argument("--max-upload-mb", type=float, default=2)
    parser.add_argument("--size", type=int, default=256, help="content size of the burst requests")
    parser.add_argument("--model", default="quality", help="model of the burst requests")
    parser.add_argument("--log", type=Path, default=Path("soak-server.log"))
    args = parser.parse_args()
    port = free_port()
    with open(args.log, "w") as log:
        proc = start_server(args, port, log)
        try:
            print(f"server pid {proc.pid} on port {port}; idle RSS {rss_mb(proc.pid)[0]:.0f} MB; "
                  f"{args.minutes:g} minutes of rounds every {args.period:g} s", flush=True)
            soak = Soak(args, port)
            samples = asyncio.run(soak.run(proc.pid))
            report(soak, samples)
        finally:
            proc.terminate()
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
