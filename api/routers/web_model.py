"""The fast model's graphs for the page's in-browser mode: made from the server's fast model the
first time the page asks (a few seconds, once per process), then served as files."""
import tempfile
import threading
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from stylize.errors import StylizeError
from stylize.export.web import GRAPHS, export_model_graphs
from stylize.models.registry import model_spec

from ..deps import ReadyModelsDep, SettingsDep

router = APIRouter(prefix="/web-model")
FILES = {"model.json": "application/json", **{name: "application/octet-stream" for name in GRAPHS}}
_made = {}
_lock = threading.Lock()


def graphs_folder(weights):
    """The folder with the graphs of the fast model `weights` (None: the shipped one), made once.
    A fresh float32 copy on the CPU is traced, never the model that serves requests."""
    with _lock:
        if weights not in _made:
            folder = Path(tempfile.mkdtemp(prefix="stylize-web-model-"))
            export_model_graphs(model_spec("fast").model(weights), folder)
            _made[weights] = folder
        return _made[weights]


@router.get("/{name}", summary="The in-browser fast model's files: model.json, style_encoder.onnx, stylizer.onnx")
async def web_model_file(name: str, models: ReadyModelsDep, settings: SettingsDep):
    if name not in FILES:
        raise HTTPException(404, f"no file {name!r}; there are {', '.join(FILES)}")
    if "fast" not in models.stylizers:
        raise HTTPException(404, "this server has no fast model, so the page has no in-browser mode")
    try:
        folder = await run_in_threadpool(graphs_folder, settings.fast_weights)
    except StylizeError as e:
        raise HTTPException(404, str(e)) from None
    return FileResponse(folder / name, media_type=FILES[name])
