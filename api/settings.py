"""Server settings: defaults here, overridden by STYLIZE_* environment variables, then by
`stylize serve` flags (pydantic-settings does the parsing and checking)."""
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from stylize.errors import StylizeError
from stylize.models.registry import MODEL_NAMES


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STYLIZE_", frozen=True)

    decoder: str | None = None  # None: the shipped quality decoder
    fast_model: str | None = None  # None: the shipped fast model, if there is one
    bank: str | None = None  # None: the shipped style bank, if there is one
    vgg: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    default_model: Literal[MODEL_NAMES] = MODEL_NAMES[0]
    max_upload_mb: float = Field(20.0, gt=0)  # whole request body
    max_side: int = Field(2048, gt=0)  # largest shorter side a client may ask for, and largest working side
    max_styles: int = Field(4, gt=0)
    max_concurrency: int = Field(2, gt=0)  # stylisations running at once
    max_queue: int = Field(8, ge=0)  # requests waiting beyond those; more get 503 + Retry-After
    style_cache_size: int = Field(64, ge=0)  # encoded styles kept, keyed by SHA-256 of the file
    request_timeout: float = Field(120.0, gt=0)  # seconds from the body's end: the queue, then the work; then 503
    header_timeout: float = Field(10.0, gt=0)  # seconds for a request line and headers; then 408, closed
    body_timeout: float = Field(10.0, gt=0)  # seconds to receive a request's whole body; then 408
    graceful_timeout: float = Field(10.0, gt=0)  # seconds given to requests in flight on SIGTERM/SIGINT


def load_settings(**overrides):
    """Settings from the environment with `overrides` (None means: not given) on top; a bad
    value is one StylizeError naming the variable."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        problems = "; ".join(f"STYLIZE_{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}" for err in e.errors())
        raise StylizeError(f"bad server setting: {problems}") from None
