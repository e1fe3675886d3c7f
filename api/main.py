"""The HTTP API: FastAPI over the `stylize` library. The app factory wires settings, shared
state, middleware and the routers; the routers hold the endpoints.

The models load in the background at startup (/readyz says when they are in). Stylisation runs
in worker threads, at most `max_concurrency` at once, with a bounded queue behind them; past
that the server answers 503 with Retry-After instead of piling up memory.
"""
import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

import stylize

from .limits import Admission, BodyLimit, StyleCache
from .models import LoadedModels
from .routers import health, styles, stylize as stylize_router
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

    for router in (health.router, styles.router, stylize_router.router):
        app.include_router(router)
    return app
