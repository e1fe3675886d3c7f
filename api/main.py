"""The HTTP API: FastAPI over the `stylize` library. The app factory wires settings, shared
state, middleware and the routers; the routers hold the endpoints.

The models load in the background at startup (/readyz says when they are in). Stylisation runs
in worker threads, at most `max_concurrency` at once, with a bounded queue behind them; past
that the server answers 503 with Retry-After instead of piling up memory.
"""
import logging
import threading
import time
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

import stylize

from .limits import Admission, AdmissionGate, BodyLimit, StyleCache
from .metrics import Metrics
from .models import LoadedModels
from .routers import health, metrics, stream, styles, web_model
from .routers import stylize as stylize_router
from .settings import Settings, load_settings

access_log = logging.getLogger("stylize.access")


def _problem_text(error):
    where = ".".join(str(part) for part in error["loc"] if part not in ("body", "query"))
    return f"{where}: {error['msg']}" if where else error["msg"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app):
        app.state.models.load_in_background()
        yield

    app = FastAPI(title="stylize", version=stylize.__version__, lifespan=lifespan,
                  description="Arbitrary neural style transfer (AdaIN) over HTTP. Try it at `/`.")
    app.state.settings = settings
    app.state.models = LoadedModels(settings)
    app.state.style_cache = StyleCache(settings.style_cache_size)
    app.state.admission = Admission(settings.max_concurrency, settings.max_queue)
    app.state.stopping = threading.Event()  # set on SIGTERM/SIGINT: work in flight ends at its next stage
    app.state.metrics = Metrics(app.state.admission, app.state.style_cache, app.state.models)
    # Outermost last: the body limit and the admission gate act before any body is read.
    app.add_middleware(AdmissionGate, admission=app.state.admission, paths=["/v1/stylize"],
                       on_reject=app.state.metrics.reject)
    app.add_middleware(BodyLimit, limit=int(settings.max_upload_mb * 2**20))

    @app.middleware("http")
    async def log_and_count(request: Request, call_next):
        start = time.perf_counter()
        app.state.metrics.in_flight.inc()
        try:
            response = await call_next(request)
        finally:
            app.state.metrics.in_flight.dec()
        seconds = time.perf_counter() - start
        route = getattr(request.scope.get("route"), "path", "unmatched")
        app.state.metrics.observe(route, request.method, response.status_code, seconds)
        access_log.info("method=%s path=%s status=%d ms=%.1f", request.method, request.url.path,
                        response.status_code, seconds * 1000)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc):
        return JSONResponse({"detail": "; ".join(_problem_text(e) for e in exc.errors())}, 422)

    for router in (health.router, styles.router, stylize_router.router, stream.router, metrics.router):
        app.include_router(router)
    app.include_router(web_model.router, prefix="/v1")
    app.mount("/static", StaticFiles(directory=health.STATIC), name="static")
    return app


class _Server(uvicorn.Server):
    """uvicorn, telling the app when a stop signal arrives, so that work in flight ends at its
    next stage boundary (with 503) instead of holding the shutdown for minutes."""

    def __init__(self, config, app):
        super().__init__(config)
        self.stylize_app = app

    def handle_exit(self, sig, frame):
        self.stylize_app.state.stopping.set()
        super().handle_exit(sig, frame)


def serve(settings: Settings, host="127.0.0.1", port=8000):
    """Run the API under uvicorn until SIGTERM/SIGINT; stops within settings.graceful_timeout."""
    app = create_app(settings)
    config = uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None,
                            timeout_graceful_shutdown=settings.graceful_timeout)
    _Server(config, app).run()
