"""The HTTP API: FastAPI over the `stylize` library. The app factory wires settings, shared
state, middleware, the error answers and the routers; the routers hold the endpoints.

The models load in the background at startup (/readyz says when they are in). Stylisation runs
on its own work threads, at most `max_concurrency` at once, with a bounded queue behind them;
past that the server answers 503 with Retry-After instead of piling up memory.
"""
import logging
import threading
import time
from contextlib import asynccontextmanager
from functools import partial

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

import stylize
from stylize.errors import Cancelled, ImageTooLarge, StylizeError

from .admission import Admission, AdmissionGate, ServerBusy
from .http_protocol import ApiH11Protocol
from .loaded_models import LoadedModels
from .memory import limit_malloc_arenas
from .metrics import Metrics
from .request_body import BodyRules
from .route_match import RouteLabels
from .routers import health, info, metrics, stream, styles, web_model
from .routers import stylize as stylize_router
from .settings import Settings, load_settings
from .style_cache import StyleCache

access_log = logging.getLogger("stylize.access")
API_PREFIX = "/v1"
MALLOC_ARENAS = 2  # see memory.py


def _problem_text(error):
    where = ".".join(str(part) for part in error["loc"] if part not in ("body", "query"))
    return f"{where}: {error['msg']}" if where else error["msg"]


def error_answer(error, stopping):
    """A StylizeError as (status, rejection reason, headers): the API's one mapping of it."""
    if isinstance(error, Cancelled):  # a deadline, no free slot, or a shutdown: worth a retry
        reason = "shutdown" if stopping.is_set() else "busy" if isinstance(error, ServerBusy) else "timeout"
        return 503, reason, {"Retry-After": "1"}
    if isinstance(error, ImageTooLarge):
        return 413, "too_large", None
    return 422, "invalid", None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app):
        app.state.models.load_in_background()
        yield
        app.state.admission.close()

    app = FastAPI(title="stylize", version=stylize.__version__, lifespan=lifespan,
                  description="Arbitrary neural style transfer (AdaIN) over HTTP. Try it at `/`.")
    app.state.settings = settings
    app.state.models = LoadedModels(settings)
    app.state.style_cache = StyleCache(settings.style_cache_size)
    app.state.admission = Admission(settings.max_concurrency, settings.max_queue)
    app.state.stopping = threading.Event()  # set on SIGTERM/SIGINT: work in flight ends at its next stage
    app.state.metrics = Metrics(app.state.admission, app.state.style_cache, app.state.models)
    route_label = RouteLabels(app, unlisted=["/"])  # the page is kept out of the schema

    async def log_and_count(request: Request, call_next):
        start = time.perf_counter()
        app.state.metrics.in_flight.inc()
        try:
            response = await call_next(request)
        finally:
            app.state.metrics.in_flight.dec()
        seconds = time.perf_counter() - start
        app.state.metrics.observe(route_label(request.scope), request.method, response.status_code, seconds)
        access_log.info("method=%s path=%s status=%d ms=%.1f", request.method, request.url.path,
                        response.status_code, seconds * 1000)
        return response

    @app.exception_handler(StylizeError)
    async def user_error(request, exc):
        status, reason, headers = error_answer(exc, app.state.stopping)
        app.state.metrics.reject(reason)
        return JSONResponse({"detail": str(exc)}, status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc):
        return JSONResponse({"detail": "; ".join(_problem_text(e) for e in exc.errors())}, 422)

    api = APIRouter(prefix=API_PREFIX)
    for router in (info.router, styles.router, stylize_router.router, stream.router, web_model.router):
        api.include_router(router)
    for router in (health.router, api, metrics.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=health.STATIC), name="static")
    # Added inside out: the body's rules and the admission gate act before any body is read.
    app.add_middleware(AdmissionGate, admission=app.state.admission, route_of=route_label,
                       routes=[app.url_path_for(stylize_router.stylize_image.__name__)],
                       on_reject=app.state.metrics.reject)
    app.add_middleware(BodyRules, limit=int(settings.max_upload_mb * 2**20), seconds=settings.body_timeout,
                       on_reject=app.state.metrics.reject)
    app.middleware("http")(log_and_count)  # outermost: it sees the answers of the two above
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
    limit_malloc_arenas(MALLOC_ARENAS)
    app = create_app(settings)
    protocol = partial(ApiH11Protocol, header_timeout=settings.header_timeout)
    config = uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None, http=protocol,
                            timeout_graceful_shutdown=settings.graceful_timeout)
    _Server(config, app).run()
