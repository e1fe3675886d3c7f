"""WebSocket /v1/stream: live stylisation of camera frames.

Protocol (all JSON messages carry a "type"):
  client -> server, text: a config, at the start and whenever it changes:
      {"type": "config", "style_name": "NAME" | "style_image": "<data URL or base64>",
       "alpha": 1.0, "model": "fast", "size": 256}
  server -> client, text: {"type": "ready", ...the settings in force} or {"type": "error", "detail": "..."}
  client -> server, binary: a frame (JPEG, PNG or WebP)
  server -> client, binary: the stylised frame (JPEG)

The server works on the newest frame only: frames that arrive while one is being stylised
replace each other, so a slow server drops frames instead of falling behind. Frames are
stabilised over time as in `stylize video`. A session holds one of the server's stylisation
slots for as long as it is open; with none free the socket is closed with code 1013.
"""
import asyncio
import base64
import binascii
import json
from typing import Literal

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, ValidationError

from stylize.errors import StylizeError
from stylize.media.images import encode_image, open_image
from stylize.models.registry import MODEL_NAMES
from stylize.pipelines.executor import frame_style
from stylize.pipelines.frames import FrameStylizer
from stylize.pipelines.request import StyleRequest, check_inputs

from ..admission import ServerBusy

router = APIRouter()
TRY_AGAIN_LATER, GOING_AWAY = 1013, 1001


class StreamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["config"]
    style_name: str | None = None
    style_image: str | None = None
    alpha: float = 1.0
    model: Literal[MODEL_NAMES] = "fast"
    size: int = 256  # shorter side of the frames worked on
    style_size: int | None = None  # None: the model's own, as for still images


def style_bytes(text):
    try:
        return base64.b64decode(text.split(",", 1)[-1], validate=True)  # a data URL or bare base64
    except (binascii.Error, ValueError):
        raise StylizeError("style_image must be an image as a data URL or base64") from None


class StreamSession:
    """One socket's state: the checked config and its FrameStylizer (style encoded once)."""

    def __init__(self, models, cache, settings):
        self.models, self.cache, self.settings = models, cache, settings
        self.request, self.frames = None, None
        self.sent = self.dropped = 0

    def configure(self, message):
        try:
            config = StreamConfig.model_validate(message)
        except ValidationError as e:
            problems = (f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            raise StylizeError("; ".join(problems)) from None
        styles = ((style_bytes(config.style_image), "style_image"),) if config.style_image else ()
        request = check_inputs(StyleRequest(
            contents=("camera",), styles=styles, style_name=config.style_name, alpha=config.alpha,
            model=config.model, content_size=config.size, style_size=config.style_size,
            max_pixels=self.settings.max_side ** 2), max_side=self.settings.max_side)
        stylizer = self.models.get(request.model)
        style = frame_style(stylizer, request, self.models.bank, self.cache)
        previous = self.frames
        self.frames = FrameStylizer(stylizer.engine, style, request.alpha, request.content_size, even=False)
        if previous is not None and previous.engine is stylizer.engine:  # a new style fades in, no jump cut
            self.frames.stabiliser = previous.stabiliser
        self.request = request
        return {"type": "ready", "model": request.model, "size": request.content_size, "alpha": request.alpha,
                "style": request.style_name or "style_image", "temporal": "flow"}

    def process(self, data):
        """One frame (image bytes) -> the stylised frame as JPEG bytes."""
        frames = self.frames
        if frames is None:
            raise StylizeError("send a config message before frames")
        image = open_image(data, "frame", check_size=self.request.content_check())
        return encode_image(frames([image])[0], "jpeg", quality=85)


@router.websocket("/stream")
async def stream(ws: WebSocket):
    app = ws.app
    models, admission = app.state.models, app.state.admission
    await ws.accept()
    if not models.ready:
        return await ws.close(TRY_AGAIN_LATER, models.error or "model is loading, retry shortly")
    session = StreamSession(models, app.state.style_cache, app.state.settings)
    try:
        with admission.place():
            async with admission.slot():  # a slot free now, or none: a camera does not wait in line
                app.state.metrics.streams.inc()
                try:
                    await _serve(ws, session, app.state.stopping, admission)
                finally:
                    app.state.metrics.streams.dec()
                    app.state.metrics.stream_frames.labels("sent").inc(session.sent)
                    app.state.metrics.stream_frames.labels("dropped").inc(session.dropped)
    except ServerBusy as e:
        app.state.metrics.reject("busy")
        await ws.close(TRY_AGAIN_LATER, str(e))


async def _serve(ws, session, stopping, admission):
    newest, arrived = [None], asyncio.Event()

    async def receive():
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                if newest[0] is not None:
                    session.dropped += 1  # a newer frame came before this one was picked up
                newest[0] = message["bytes"]
                arrived.set()
            elif message.get("text") is not None:
                await ws.send_json(await _configure(session, message["text"], admission))

    async def work():
        while not stopping.is_set():
            with anyio.move_on_after(0.5):  # wake up now and then to notice a shutdown
                await arrived.wait()
            if not arrived.is_set():
                continue
            arrived.clear()
            data, newest[0] = newest[0], None
            try:
                await ws.send_bytes(await admission.run(session.process, data))
                session.sent += 1
            except StylizeError as e:
                await ws.send_json({"type": "error", "detail": str(e)})
        await ws.close(GOING_AWAY, "the server is shutting down")

    async def until_done(task, group):
        await task()
        group.cancel_scope.cancel()  # one side ended (client left, or shutdown): end the other

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(until_done, receive, group)
            group.start_soon(until_done, work, group)
    except WebSocketDisconnect:
        pass


async def _configure(session, text, admission):
    try:
        message = json.loads(text)
        if not isinstance(message, dict):
            raise ValueError
    except ValueError:
        return {"type": "error", "detail": "text messages must be JSON objects"}
    try:
        return await admission.run(session.configure, message)
    except StylizeError as e:
        return {"type": "error", "detail": str(e)}
