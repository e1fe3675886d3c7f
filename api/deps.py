"""Shared state behind FastAPI dependencies: settings, loaded models, bank, cache, admission."""
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from .admission import Admission
from .loaded_models import LoadedModels
from .settings import Settings
from .style_cache import StyleCache


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_models(request: Request) -> LoadedModels:
    return request.app.state.models


def ready_models(models: Annotated[LoadedModels, Depends(get_models)]) -> LoadedModels:
    if not models.ready:
        raise HTTPException(503, models.error or "model is loading, retry shortly", headers={"Retry-After": "2"})
    return models


def ready_bank(models: Annotated[LoadedModels, Depends(ready_models)]):
    if models.bank is None:
        raise HTTPException(404, "this server has no style bank; send a style image instead")
    return models.bank


def get_cache(request: Request) -> StyleCache:
    return request.app.state.style_cache


def get_admission(request: Request) -> Admission:
    return request.app.state.admission


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelsDep = Annotated[LoadedModels, Depends(get_models)]
ReadyModelsDep = Annotated[LoadedModels, Depends(ready_models)]
CacheDep = Annotated[StyleCache, Depends(get_cache)]
AdmissionDep = Annotated[Admission, Depends(get_admission)]
