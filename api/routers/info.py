"""GET /v1/info: what this server runs and allows."""
from fastapi import APIRouter

import stylize
from stylize.models.registry import MODELS

from ..deps import CacheDep, ModelsDep, SettingsDep

router = APIRouter()


@router.get("/info", summary="Version, device, models and their metadata, limits and cache statistics")
async def info(models: ModelsDep, settings: SettingsDep, cache: CacheDep):
    quality = models.stylizers.get("quality")
    return {
        "version": stylize.__version__,
        "ready": models.ready,
        "device": str(quality.engine.device) if quality else None,
        "precision": quality.engine.precision if quality else None,
        "default_model": settings.default_model,
        "models": {name: {**st.engine.model.decoder.metadata, "summary": MODELS[name].summary,
                          "style_encoder": st.engine.style_source} for name, st in models.stylizers.items()},
        "decoder": quality.engine.model.decoder.metadata if quality else None,
        "limits": {"max_upload_mb": settings.max_upload_mb, "max_side": settings.max_side,
                   "max_styles": settings.max_styles, "max_concurrency": settings.max_concurrency,
                   "max_queue": settings.max_queue, "request_timeout": settings.request_timeout,
                   "body_timeout": settings.body_timeout},
        "style_cache": cache.stats(),
        "style_bank": {"styles": models.bank.names, "models": list(models.stylizers)} if models.bank else None,
    }
