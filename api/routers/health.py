"""Liveness, readiness and the web page."""
import importlib.resources
from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from ..deps import ready_models

router = APIRouter()
STATIC = Path(str(importlib.resources.files("stylize.api"))) / "static"  # package data: in the wheel too


@router.get("/", include_in_schema=False)
async def page():
    return FileResponse(STATIC / "index.html")


@router.get("/healthz", summary="The process is alive")
async def healthz():
    return {"status": "ok"}


@router.get("/readyz", summary="The models are loaded (503 until they are)", dependencies=[Depends(ready_models)])
async def readyz():
    return {"status": "ready"}
