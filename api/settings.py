"""Server settings: defaults, overridden by STYLIZE_* environment variables, then by `stylize serve` flags."""
import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Settings:
    decoder: str | None = None  # None: the shipped default decoder
    bank: str | None = None  # None: the shipped style bank, if there is one
    vgg: str | None = None
    device: str = "auto"
    precision: str = "auto"
    max_upload_mb: float = 20.0  # whole request body
    max_side: int = 2048  # largest shorter side a client may ask for, and largest working side
    max_styles: int = 4
    max_concurrency: int = 2  # stylisations running at once
    max_queue: int = 8  # requests waiting beyond those; more get 503 + Retry-After
    style_cache_size: int = 64  # encoded styles kept, keyed by SHA-256 of the file

    @classmethod
    def from_env(cls, **overrides):
        values = {}
        for field in fields(cls):
            raw = os.environ.get(f"STYLIZE_{field.name.upper()}")
            if raw is not None:
                kind = field.type if field.type in (int, float) else str
                values[field.name] = kind(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
