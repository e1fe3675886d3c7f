"""In-browser speed of the page's fast model: headless Chromium (Debian's), WebAssembly, on the
static site that `stylize export-web` writes for the shipped fast model, served by python -m http.server.

    python benchmarks/browser.py [--frames 30] [--style-side N]

Prints the CPU, the site's size, whether the page ran cross-origin isolated (threads) and with how
many threads, then: frames/s of 256 x 256 frames with the painting's statistics cached (the camera
loop's work: pixels in, graph, pixels out), and the time for a 512 px photo (examples/gorilla.jpg
drawn at 910 x 512) including the painting's style pass (examples/sower.jpg read at the side the
page reads paintings at, model.json's style_size, or at --style-side), after one warm-up. Figures,
not a test: nothing here passes or fails.
"""
import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"

MEASURE = """async ({ frames, styleSide }) => {
    const { BrowserModel } = await import('./static/browser-model.js');
    const { pixelsAt } = await import('./static/pixels.js');
    const picture = async (name) => {
        const img = new Image(); img.src = `static/examples/${name}.jpg`; await img.decode(); return img;
    };
    const [photo, painting] = await Promise.all([picture('gorilla'), picture('sower')]);
    const model = await BrowserModel.load('static/model/');
    const side = styleSide || model.info.style_size;
    const now = () => performance.now();
    // The 512 x 288 example drawn at 910 x 512: a photo whose shorter side is 512 px.
    const large = new OffscreenCanvas(910, 512);
    large.getContext('2d').drawImage(photo, 0, 0, 910, 512);
    const photoRun = async () => {
        const start = now();
        const stats = await model.styleStats(pixelsAt(painting, side));
        const styled = now();
        const out = await model.stylize(pixelsAt(large, 512), stats, 1);
        return [now() - start, styled - start, out.width, out.height];
    };
    await photoRun();  // warm-up: the first run of each graph size compiles its kernels
    const [photoMs, styleMs, width, height] = await photoRun();
    const stats = await model.styleStats(pixelsAt(painting, side));
    const frame = pixelsAt(photo, 256);
    const square = new OffscreenCanvas(256, 256).getContext('2d');
    square.putImageData(frame, -Math.round((frame.width - 256) / 2), 0);
    const tile = square.getImageData(0, 0, 256, 256);
    for (let i = 0; i < 3; i++) await model.stylize(tile, stats, 1);
    const start = now();
    for (let i = 0; i < frames; i++) await model.stylize(tile, stats, 1);
    const fps = frames / ((now() - start) / 1000);
    return { photoMs, styleMs, width, height, fps, backend: model.description, isolated: crossOriginIsolated,
             styleSide: side };
}"""


def cpu_name():
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--style-side", type=int, help="read the painting at this side instead of the page's")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as site:
        subprocess.run([sys.executable, "-m", "stylize.cli.main", "export-web", site], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        size = sum(p.stat().st_size for p in Path(site).rglob("*") if p.is_file())
        port = 8917
        server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                   "--directory", site], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_function("document.body.dataset.ready === 'true'", timeout=120_000)
                result = page.evaluate(MEASURE, {"frames": args.frames, "styleSide": args.style_side})
                version = browser.version
                browser.close()
        finally:
            server.terminate()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical CPUs; Chromium {version}, headless, WebAssembly")
    print(f"load average while measuring (other work on the machine slows these): {os.getloadavg()[0]:.1f}")
    print(f"site: {size / 1e6:.1f} MB ({size / 2**20:.1f} MiB); cross-origin isolated: {result['isolated']}; "
          f"ran on {result['backend']}")
    print(f"256 x 256 frames, style cached: {result['fps']:.1f} frames/s")
    print(f"512 px photo ({result['width']} x {result['height']}) with the style pass at {result['styleSide']} px: "
          f"{result['photoMs'] / 1000:.2f} s (the style pass {result['styleMs'] / 1000:.2f} s of it)")


if __name__ == "__main__":
    main()
