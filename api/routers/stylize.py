"""POST /v1/stylize: form fields -> one checked StyleRequest -> the pipeline -> image bytes."""
import hashlib
import re
import time
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from stylize.errors import Cancelled, ImageTooLarge, StylizeError, check_stop
from stylize.images import encode_image, open_image
from stylize.request import StyleRequest, check_inputs

from ..deps import AdmissionDep, CacheDep, ReadyModelsDep, SettingsDep

router = APIRouter()
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def stop_condition(stopping, deadline, timeout):
    """The should_stop callable of one request: the server is stopping, or its deadline passed."""
    def should_stop():
        if stopping.is_set():
            return "the server is shutting down; retry shortly"
        if time.monotonic() > deadline:
            return f"the request took longer than the server's limit of {timeout:g} s"
        return None
    return should_stop


def cached_style(stylizer, cache, data, name, request, should_stop=None):
    """A style upload's StyleStats, from the cache when the same file was encoded before."""
    return cache.get_or_compute(
        (stylizer.engine.model, hashlib.sha256(data).hexdigest(), request.style_size),
        lambda: stylizer.prepare_style(open_image(data, name, check_size=request.style_check()),
                                       request.style_size, should_stop=should_stop))


def run_transfer(stylizer, request, bank, cache, fmt, should_stop):
    """Decode, stylise and encode one checked request (runs in a worker thread). Every image's
    working size is checked from its header, before its pixels are decoded."""
    check_stop(should_stop)
    content_bytes, content_name = request.contents[0]
    content = open_image(content_bytes, content_name, check_size=request.content_check())
    if request.blend is not None:
        styles = [bank.style_stats(bank.blend_weights(request.blend))]
    elif request.preserve_color:  # the style's colours depend on this content: nothing to cache
        styles = [open_image(data, name, check_size=request.style_check()) for data, name in request.styles]
    else:
        styles = [cached_style(stylizer, cache, data, name, request, should_stop) for data, name in request.styles]
    result = stylizer.transfer(content, styles, weights=request.style_weights, alpha=request.alpha,
                               preserve_color=request.preserve_color, content_size=request.content_size,
                               style_size=request.style_size, should_stop=should_stop)
    return encode_image(result, fmt)


@router.post("/v1/stylize", summary="Stylize a content image with style images or a bank style",
             response_class=Response,
             responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
                              "description": "The stylised image"},
                        413: {"description": "Upload or image too large"},
                        422: {"description": "Bad input, with a `detail` saying what"},
                        503: {"description": "Model loading or server busy (see Retry-After)"}})
async def stylize_image(
    http: Request, models: ReadyModelsDep, settings: SettingsDep, cache: CacheDep, admission: AdmissionDep,
    content: Annotated[UploadFile, File(description="The photo to stylize")],
    style: Annotated[list[UploadFile] | None, File(description="One or more style images (paintings)")] = None,
    style_name: Annotated[str | None, Form(description="Instead of style images: a bank style, or a blend "
                                            "NAME:W,NAME:W (see /v1/styles; quality model only)",
                                           examples=["starry:0.7,wave:0.3"])] = None,
    alpha: Annotated[float, Form(description="0 = content, 1 = full style", examples=[1.0])] = 1.0,
    style_weights: Annotated[str | None, Form(description="Comma list, one weight per style", examples=["1,1"])] = None,
    preserve_color: Annotated[bool, Form(description="Keep the content's colours")] = False,
    content_size: Annotated[int, Form(description="Shorter side of the output", examples=[512])] = 512,
    style_size: Annotated[int, Form(description="Shorter side the style is encoded at", examples=[512])] = 512,
    model: Annotated[Literal["quality", "fast"] | None, Form(
        description="quality (VGG-19) or fast (distilled, several times faster); default: the server's")] = None,
    format: Annotated[Literal["png", "jpeg", "webp"], Form(description="Output format")] = "png",
):
    start = time.perf_counter()
    should_stop = stop_condition(http.app.state.stopping, time.monotonic() + settings.request_timeout,
                                 settings.request_timeout)
    metrics = http.app.state.metrics
    try:
        request = check_inputs(StyleRequest(
            contents=((await content.read(), content.filename or "content"),),
            styles=tuple([(await s.read(), s.filename or "style") for s in style or []]),
            style_name=style_name, style_weights=style_weights, alpha=alpha, preserve_color=preserve_color,
            content_size=content_size, style_size=style_size, model=model or settings.default_model,
            max_pixels=settings.max_side ** 2),
            max_styles=settings.max_styles, max_side=settings.max_side)
        stylizer = models.get(request.model)
        if request.blend is not None and models.bank is None:
            raise StylizeError("this server has no style bank; send a style image instead")
        async with admission.run():
            data = await run_in_threadpool(run_transfer, stylizer, request, models.bank, cache, format, should_stop)
    except Cancelled as e:
        metrics.reject("shutdown" if http.app.state.stopping.is_set() else "timeout")
        raise HTTPException(503, str(e), headers={"Retry-After": "1"}) from None
    except ImageTooLarge as e:
        metrics.reject("too_large")
        raise HTTPException(413, str(e)) from None
    except StylizeError as e:
        metrics.reject("invalid")
        raise HTTPException(422, str(e)) from None
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(content.filename or "image").stem)[:80]
    return Response(data, media_type=MEDIA_TYPES[format], headers={
        "Content-Disposition": f'inline; filename="{stem}_stylized.{format}"',
        "X-Processing-Ms": f"{(time.perf_counter() - start) * 1000:.1f}",
        "X-Model": request.model, "X-Device": str(stylizer.engine.device)})
