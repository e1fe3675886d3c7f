"""`stylize export-web`: the web page as a static site that runs the fast model in the browser.

  DIR/index.html                 the page (the same file `stylize serve` answers at /)
  DIR/sw.js                      service worker: the site offline after the first visit, and the
                                 cross-origin isolation that lets the runtime use threads
  DIR/static/...                 the page's scripts, examples and the pinned onnxruntime-web copy
  DIR/static/model/*.onnx        the fast model's two graphs, weights stored in int8
  DIR/static/model/model.json    what the page needs to know about them
  DIR/static/site-files.json     every file of the site, for the service worker to cache (the
                                 WebGPU runtime's once a page has used them)

Nothing is sent anywhere: the page reads photos and paintings on the device.
"""
import importlib.resources
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from stylize.errors import StylizeError
from stylize.export.onnx import export_onnx
from stylize.files import atomic_write
from stylize.models.registry import model_spec

STATIC = Path(str(importlib.resources.files("stylize.api"))) / "static"
GRAPHS = ("style_encoder.onnx", "stylizer.onnx")
# Only weight matrices and kernels this large are worth storing in 8 bits; biases, norms and other
# vectors (one scale per element would be as large) stay fp32.
MIN_INT8_ELEMENTS = 1024


def store_weights_in_int8(model):
    """Store the graph's large float32 weights in int8 with one scale per output channel (the first
    axis), each behind a DequantizeLinear back to float32: a quarter of the download (the site
    then has room for the WebGPU runtime within its 40 MB), and the arithmetic stays float32. On the
    shipped fast model the style statistics move by about 1 % and the pictures by 42 dB PSNR (38 at
    worst) against float32 weights. Returns how many tensors were stored so."""
    from onnx import TensorProto, helper, numpy_helper

    dequantize = []
    for tensor in list(model.graph.initializer):
        if tensor.data_type != TensorProto.FLOAT or len(tensor.dims) < 2 or np.prod(tensor.dims) < MIN_INT8_ELEMENTS:
            continue
        values = numpy_helper.to_array(tensor)
        if not np.isfinite(values).all():
            continue
        rows = values.reshape(values.shape[0], -1)
        scale = (np.abs(rows).max(axis=1) / 127).astype(np.float32)
        scale[scale == 0] = 1  # an all-zero channel stays zero
        quantised = np.clip(np.round(rows / scale[:, None]), -127, 127).astype(np.int8).reshape(values.shape)
        name = tensor.name
        tensor.CopyFrom(numpy_helper.from_array(quantised, f"{name}__int8"))
        model.graph.initializer.append(numpy_helper.from_array(scale, f"{name}__scale"))
        dequantize.append(helper.make_node("DequantizeLinear", [f"{name}__int8", f"{name}__scale"], [name], axis=0,
                                           name=f"{name}__to_fp32"))
    nodes = dequantize + list(model.graph.node)  # before every use: the graph stays in topological order
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return len(dequantize)


def site_files(static=STATIC):
    """(source, path in the site) for every file of the page: index.html and sw.js at the root,
    the rest under static/ as `stylize serve` serves them."""
    pairs = []
    for source in sorted(p for p in static.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        relative = source.relative_to(static).as_posix()
        pairs.append((source, relative if relative in ("index.html", "sw.js") else f"static/{relative}"))
    return pairs


def prepare_folder(out_dir):
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StylizeError(f"cannot create output folder {out_dir}: {e.strerror or e}") from None
    return out_dir


def copy_atomic(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


def export_model_graphs(model, model_dir):
    """The page's in-browser model in model_dir: the fast model's two graphs with int8 weights and
    model.json. Returns model.json's content."""
    if model.name != "fast":
        raise StylizeError(f"the in-browser page runs the fast model, not {model.name!r}")
    try:
        import onnx
    except ImportError:
        raise StylizeError("the in-browser model needs the onnx package: pip install 'stylize[onnx]'") from None
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=model_dir) as work:
        info = export_onnx(model, work)
        for name in GRAPHS:
            graph = onnx.load(os.path.join(work, name))
            store_weights_in_int8(graph)  # dequantised as the graph runs: the page measured as fast as with fp16
            atomic_write(model_dir / name, lambda tmp: onnx.save(graph, str(tmp)))
    described = {"model": info["model"], "style_size": model_spec(model.name).style_size,
                 "style_stats_size": info["style_stats_size"],
                 "style_stats_order": info["style_stats_order"],
                 "weights": "int8 per output channel, computed in float32",
                 "metadata": info["metadata"]}
    atomic_write(model_dir / "model.json", lambda tmp: Path(tmp).write_text(json.dumps(described, indent=2)))
    return described


def export_web(engine, out_dir):
    """Write the static site for `engine` (the fast model) into out_dir; returns its model.json
    with the site's total size in bytes added."""
    if engine.model.name != "fast":  # said before anything is written
        raise StylizeError(f"the in-browser page runs the fast model, not {engine.model.name!r}")
    out_dir = prepare_folder(out_dir)
    written = []
    for source, relative in site_files():
        copy_atomic(source, out_dir / relative)
        written.append(relative)
    model = export_model_graphs(engine.model, out_dir / "static" / "model")
    written += [f"static/model/{name}" for name in GRAPHS]
    written += ["static/model/model.json", "static/site-files.json"]
    # the service worker caches these only once a page has used them (see sw.js)
    listing = {"files": sorted(written), "cached_when_used": [name for name in written if ".jspi." in name]}
    atomic_write(out_dir / "static" / "site-files.json", lambda tmp: Path(tmp).write_text(json.dumps(listing)))
    model["site_bytes"] = sum((out_dir / name).stat().st_size for name in written)
    return model
