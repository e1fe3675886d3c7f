"""POST /v1/stylize: form fields -> one checked StyleRequest -> the pipeline -> image bytes."""
import re
import time
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response

from stylize.media.images import encode_image
from stylize.models.registry import MODEL_NAMES, MODELS, STYLE_SIZES
from stylize.pipelines.executor import stylize_upload
from stylize.pipelines.request import StyleRequest, check_inputs

from ..deadline import DeadlineDep
from ..deps import AdmissionDep, CacheDep, ReadyModelsDep, SettingsDep

router = APIRouter()
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def run_transfer(stylizer, request, bank, cache, fmt, should_stop):
    """One checked request -> image bytes in `fmt` (runs in a worker thread)."""
    return encode_image(stylize_upload(stylizer, request, bank, cache, should_stop), fmt)


@router.post("/stylize", summary="Stylize a content image with style images or a bank style",
             response_class=Response,
             responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
                              "description": "The stylised image"},
                        400: {"description": "Upload cut short"},
                        408: {"description": "Upload not received within the body deadline"},
                        413: {"description": "Upload or image too large"},
                        422: {"description": "Bad input, with a `detail` saying what"},
                        503: {"description": "Model loading or server busy (see Retry-After)"}})
async def stylize_image(
    models: ReadyModelsDep, settings: SettingsDep, cache: CacheDep, admission: AdmissionDep, deadline: DeadlineDep,
    content: Annotated[UploadFile, File(description="The photo to stylize")],
    style: Annotated[list[UploadFile] | None, File(description="One or more style images (paintings)")] = None,
    style_name: Annotated[str | None, Form(description="Instead of style images: a bank style, or a blend "
                                            "NAME:W,NAME:W (see /v1/styles; quality model only)",
                                           examples=["starry:0.7,wave:0.3"])] = None,
    alpha: Annotated[float, Form(description="0 = content, 1 = full style", examples=[1.0])] = 1.0,
    style_weights: Annotated[str | None, Form(description="Comma list, one weight per style", examples=["1,1"])] = None,
    preserve_color: Annotated[bool, Form(description="Keep the content's colours")] = False,
    content_size: Annotated[int, Form(description="Shorter side of the output", examples=[512])] = 512,
    style_size: Annotated[int | None, Form(description=f"Shorter side the style is encoded at (default: the "
                                                   f"model's, {STYLE_SIZES})", examples=[512])] = None,
    model: Annotated[Literal[MODEL_NAMES] | None, Form(description="; ".join(
        f"{spec.name}: {spec.summary}" for spec in MODELS.values()) + "; default: the server's")] = None,
    format: Annotated[Literal["png", "jpeg", "webp"], Form(description="Output format")] = "png",
):
    start = time.perf_counter()
    request = check_inputs(StyleRequest(
        contents=((await content.read(), content.filename or "content"),),
        styles=tuple([(await s.read(), s.filename or "style") for s in style or []]),
        style_name=style_name, style_weights=style_weights, alpha=alpha, preserve_color=preserve_color,
        content_size=content_size, style_size=style_size, model=model or settings.default_model,
        max_pixels=settings.max_side ** 2),
        max_styles=settings.max_styles, max_side=settings.max_side)
    stylizer = models.get(request.model)
    async with admission.slot(deadline):  # the wait in line counts in the deadline
        data = await admission.run(run_transfer, stylizer, request, models.bank, cache, format, deadline.should_stop)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(content.filename or "image").stem)[:80]
    return Response(data, media_type=MEDIA_TYPES[format], headers={
        "Content-Disposition": f'inline; filename="{stem}_stylized.{format}"',
        "X-Processing-Ms": f"{(time.perf_counter() - start) * 1000:.1f}",
        "X-Model": request.model, "X-Device": str(stylizer.engine.device)})
