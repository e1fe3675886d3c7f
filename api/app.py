"""The HTTP API: FastAPI over the `stylize` library.

The model is loaded once, in the background at startup (/readyz says when it is ready).
Stylisation runs in worker threads, at most `max_concurrency` at once, with a bounded queue
behind them; past that the server answers 503 with Retry-After instead of piling up memory.
"""
import asyncio
import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

import stylize
from stylize.bank import DEFAULT_BANK, load_bank
from stylize.errors import ImageTooLarge, StylizeError
from stylize.images import encode_image, open_image
from stylize.transfer import Stylizer, StyleStats, check_alpha, normalise_weights

from .settings import Settings

access_log = logging.getLogger("stylize.access")
log = logging.getLogger("stylize.api")
STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse request bodies over `limit` bytes with 413, without buffering them.

    A declared Content-Length over the limit is refused before the body is read; a body that
    turns out larger than declared (or has no length) is cut off once it passes the limit.
    """

    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(send)
        seen = 0

        async def counting_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BodyTooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send):
        mb = self.limit / 2**20
        await JSONResponse({"detail": f"request body larger than the server's limit of {mb:g} MB"}, 413)(
            {"type": "http"}, None, send)


class StyleCache:
    """LRU of encoded styles keyed by SHA-256 of the style file (+ size): a repeated painting is not re-encoded."""

    def __init__(self, capacity):
        self.capacity, self.items, self.hits, self.misses = capacity, OrderedDict(), 0, 0
        self.lock = threading.Lock()

    def get_or_compute(self, key, compute):
        with self.lock:
            if key in self.items:
                self.hits += 1
                self.items.move_to_end(key)
                return self.items[key]
            self.misses += 1
        value = compute()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.capacity:
                self.items.popitem(last=False)
        return value

    def stats(self):
        return {"entries": len(self.items), "capacity": self.capacity, "hits": self.hits, "misses": self.misses}


class Admission:
    """At most `running` jobs at once and `waiting` more in line; beyond that, refuse."""

    def __init__(self, running, waiting):
        self.semaphore = asyncio.Semaphore(running)
        self.capacity, self.admitted = running + waiting, 0

    @asynccontextmanager
    async def slot(self):
        if self.admitted >= self.capacity:
            raise HTTPException(503, "server busy: too many requests in progress, retry shortly",
                                headers={"Retry-After": "1"})
        self.admitted += 1
        try:
            async with self.semaphore:
                yield
        finally:
            self.admitted -= 1


def _problem_text(error):
    where = ".".join(str(part) for part in error["loc"] if part not in ("body", "query"))
    return f"{where}: {error['msg']}" if where else error["msg"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    state = {"stylizer": None, "bank": None, "error": None}
    cache = StyleCache(settings.style_cache_size)
    admission = Admission(settings.max_concurrency, settings.max_queue)

    def load_model():
        try:
            stylizer = Stylizer.from_files(settings.decoder, settings.vgg, settings.device, settings.precision)
            bank_path = settings.bank or (DEFAULT_BANK if DEFAULT_BANK.exists() else None)
            state["bank"] = load_bank(bank_path, stylizer.decoder) if bank_path else None
            state["stylizer"] = stylizer
            log.info("model ready on %s, style bank: %s", stylizer.device, bank_path)
        except StylizeError as e:
            state["error"] = str(e)
            log.error("model failed to load: %s", e)

    @asynccontextmanager
    async def lifespan(app):
        loader = threading.Thread(target=load_model, name="model-loader", daemon=True)
        loader.start()
        yield

    app = FastAPI(title="stylize", version=stylize.__version__, lifespan=lifespan,
                  description="Arbitrary neural style transfer (AdaIN) over HTTP. Try it at `/`.")
    app.add_middleware(BodyLimit, limit=int(settings.max_upload_mb * 2**20))

    @app.middleware("http")
    async def log_access(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        access_log.info("method=%s path=%s status=%d ms=%.1f", request.method, request.url.path,
                        response.status_code, (time.perf_counter() - start) * 1000)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc):
        return JSONResponse({"detail": "; ".join(_problem_text(e) for e in exc.errors())}, 422)

    def ready_stylizer():
        if state["stylizer"] is None:
            raise HTTPException(503, state["error"] or "model is loading, retry shortly", headers={"Retry-After": "2"})
        return state["stylizer"]

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/healthz", summary="The process is alive")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", summary="The model is loaded (503 until it is)")
    async def readyz():
        ready_stylizer()
        return {"status": "ready"}

    @app.get("/v1/info", summary="Version, device, decoder metadata, limits and cache statistics")
    async def info():
        stylizer = state["stylizer"]
        return {
            "version": stylize.__version__,
            "ready": stylizer is not None,
            "device": str(stylizer.device) if stylizer else None,
            "precision": stylizer.precision if stylizer else None,
            "decoder": getattr(stylizer.decoder, "metadata", {}) if stylizer else None,
            "limits": {"max_upload_mb": settings.max_upload_mb, "max_side": settings.max_side,
                       "max_styles": settings.max_styles, "max_concurrency": settings.max_concurrency,
                       "max_queue": settings.max_queue},
            "style_cache": cache.stats(),
            "style_bank": {"styles": state["bank"].names} if state["bank"] else None,
        }

    def ready_bank():
        ready_stylizer()
        if state["bank"] is None:
            raise HTTPException(404, "this server has no style bank; send a style image instead")
        return state["bank"]

    @app.get("/v1/styles", summary="The style bank's named styles, for `style_name`")
    async def styles(request: Request):
        bank = ready_bank()
        return {"styles": [{"index": i, "name": name, "thumbnail": str(request.url_for("style_thumbnail", name=name)),
                            **({"losses": bank.metadata.get("styles", {}).get(name)} if bank.metadata.get("styles") else {})}
                           for i, name in enumerate(bank.names)]}

    @app.get("/v1/styles/{name}/thumbnail", summary="A small JPEG of a bank style's painting",
             response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
    async def style_thumbnail(name: str):
        bank = ready_bank()
        if name not in bank.names or not bank.thumbnails[bank.names.index(name)]:
            raise HTTPException(404, f"no thumbnail for style {name!r}")
        return Response(bank.thumbnails[bank.names.index(name)], media_type="image/jpeg")

    def check_side(name, size):
        if not 0 < size <= settings.max_side:
            raise StylizeError(f"{name} must be between 1 and the server's max side {settings.max_side}, got {size}")

    def run_transfer(stylizer, content_bytes, content_name, styles, weights, alpha, preserve_color,
                     content_size, style_size, fmt):
        content = open_image(content_bytes, content_name)
        w, h = content.size
        scale = content_size / min(w, h)
        if w * h * scale * scale > settings.max_side ** 2:
            raise ImageTooLarge(f"at content_size {content_size} the {w}x{h} image would be {round(w * scale)}x"
                                f"{round(h * scale)}, over the server's limit of {settings.max_side}^2 pixels")
        style_inputs = []
        for item in styles:
            if isinstance(item, StyleStats):  # a bank style: nothing to decode or encode
                style_inputs.append(item)
                continue
            data, name = item
            if preserve_color:  # the style's colours depend on this content: nothing to cache
                style_inputs.append(open_image(data, name))
            else:
                key = (hashlib.sha256(data).hexdigest(), style_size)
                style_inputs.append(cache.get_or_compute(
                    key, lambda: stylizer.prepare_style(open_image(data, name), style_size)))
        result = stylizer.transfer(content, style_inputs, weights=weights, alpha=alpha,
                                   preserve_color=preserve_color, content_size=content_size, style_size=style_size)
        return encode_image(result, fmt)

    @app.post("/v1/stylize", summary="Stylize a content image with one or more style images",
              response_class=Response,
              responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
                               "description": "The stylised image"},
                         413: {"description": "Upload or image too large"},
                         422: {"description": "Bad input, with a `detail` saying what"},
                         503: {"description": "Model loading or server busy (see Retry-After)"}})
    async def stylize_endpoint(
        content: Annotated[UploadFile, File(description="The photo to stylize")],
        style: Annotated[list[UploadFile] | None, File(description="One or more style images (paintings)")] = None,
        style_name: Annotated[str | None, Form(description="Instead of style images: a bank style, or a blend "
                                                "NAME:W,NAME:W (see /v1/styles)", examples=["starry:0.7,wave:0.3"])] = None,
        alpha: Annotated[float, Form(ge=0, le=1, description="0 = content, 1 = full style", examples=[1.0])] = 1.0,
        style_weights: Annotated[str | None, Form(description="Comma list, one weight per style", examples=["1,1"])] = None,
        preserve_color: Annotated[bool, Form(description="Keep the content's colours")] = False,
        content_size: Annotated[int, Form(description="Shorter side of the output", examples=[512])] = 512,
        style_size: Annotated[int, Form(description="Shorter side the style is encoded at", examples=[512])] = 512,
        format: Annotated[Literal["png", "jpeg", "webp"], Form(description="Output format")] = "png",
    ):
        stylizer = ready_stylizer()
        start = time.perf_counter()
        style = style or []
        try:
            if bool(style) == bool(style_name):
                raise StylizeError("send either style image files (style) or a bank style (style_name), not both or neither")
            if style_name:
                bank = ready_bank()
                bank_style = bank.style_stats(bank.weights(style_name))
            if len(style) > settings.max_styles:
                raise StylizeError(f"too many style images: {len(style)}, the server accepts at most {settings.max_styles}")
            weights = None
            if style_weights is not None:
                try:
                    weights = [float(w) for w in style_weights.split(",")]
                except ValueError:
                    raise StylizeError(f"style_weights must be comma-separated numbers, got {style_weights!r}") from None
            if style:
                normalise_weights(weights, len(style))
            elif weights or preserve_color:
                raise StylizeError("style_weights and preserve_color need style images; blend bank styles in style_name")
            check_alpha(alpha)
            check_side("content_size", content_size)
            check_side("style_size", style_size)
            content_bytes = await content.read()
            styles = [(await s.read(), s.filename or "style") for s in style]
            async with admission.slot():
                data = await run_in_threadpool(run_transfer, stylizer, content_bytes, content.filename or "content",
                                               styles or [bank_style], weights, alpha, preserve_color, content_size,
                                               style_size, format)
        except StylizeError as e:
            raise HTTPException(413 if isinstance(e, ImageTooLarge) else 422, str(e)) from None
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(content.filename or "image").stem)[:80]
        return Response(data, media_type=MEDIA_TYPES[format], headers={
            "Content-Disposition": f'inline; filename="{stem}_stylized.{format}"',
            "X-Processing-Ms": f"{(time.perf_counter() - start) * 1000:.1f}",
            "X-Device": str(stylizer.device)})

    return app
