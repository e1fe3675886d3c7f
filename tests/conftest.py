import time
from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

from stylize.models.fast import StyledDecoder
from stylize.models.networks import FAST, Decoder, Encoder
from stylize.models.style_transfer import StyleTransferModel
from stylize.models.weights import load_encoder, save_decoder, save_fast
from stylize.pipelines.engine import Engine
from stylize.pipelines.stylizer import Stylizer


def gradient_image(size=(64, 48), seed=0, mode="RGB"):
    """A small deterministic picture: smooth colour ramps plus noise, so it has structure."""
    w, h = size
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    rgb = torch.stack([xs, ys, (xs + ys) / 2]) * 0.7 + 0.3 * torch.rand(3, h, w, generator=g)
    img = Image.fromarray((rgb.clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy())
    return img.convert(mode)


def make_video(path, frames=8, fps=Fraction(25, 2), size=(64, 48), audio=True, rotation=0):
    """A small H.264 video (a gradient picture panning right, 2 px a frame), with a 440 Hz AAC
    tone as long as the video when `audio`, and a display rotation when `rotation`."""
    import av

    picture = np.array(gradient_image((size[0] + 2 * frames, size[1]), seed=5))
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        sound = container.add_stream("aac", rate=8000, layout="mono") if audio else None
        for t in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture[:, 2 * t:2 * t + size[0]]), format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if sound is not None:
            seconds = np.arange(int(8000 * frames / fps)) / 8000
            samples = (0.3 * np.sin(2 * np.pi * 440 * seconds)).astype(np.float32)[None]
            for k in range(0, samples.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, k:k + 1024]), format="fltp",
                                                   layout="mono")
                chunk.sample_rate = 8000
                container.mux(sound.encode(chunk))
            container.mux(sound.encode())
    return path


def wait_ready(client, timeout=60):
    """Poll a TestClient's /readyz until the model has loaded."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("model never became ready")


@pytest.fixture(scope="session")
def encoder():
    return load_encoder()


def random_decoder(architecture="plain", seed=0):
    torch.manual_seed(seed)
    return Decoder(architecture)


def engine_with(decoder, encoder, **options):
    """An Engine over the quality model's networks, `encoder` (VGG-19) and `decoder`: float32 on
    the CPU unless `options` say otherwise."""
    return Engine(StyleTransferModel("quality", encoder, decoder), **{"device": "cpu", "precision": "fp32", **options})


@pytest.fixture(scope="session")
def plain_engine(encoder):
    return engine_with(random_decoder("plain"), encoder)


@pytest.fixture(scope="session")
def skip_engine(encoder):
    return engine_with(random_decoder("skip"), encoder)


@pytest.fixture(scope="session")
def stylizer(plain_engine):
    """The PIL pipeline over the plain engine."""
    return Stylizer(plain_engine)


@pytest.fixture(scope="session")
def decoder_file(tmp_path_factory):
    """A randomly initialised decoder written the way training writes real ones."""
    path = tmp_path_factory.mktemp("weights") / "tiny_decoder.safetensors"
    save_decoder(path, random_decoder("skip"), {"iterations": 0, "note": "random, for tests"}, half=True)
    return path


@pytest.fixture
def images(tmp_path):
    """content.png (64x48), style.png (40x40), style2.jpg (50x30) in a temporary folder."""
    gradient_image((64, 48), 1).save(tmp_path / "content.png")
    gradient_image((40, 40), 2).save(tmp_path / "style.png")
    gradient_image((50, 30), 3).save(tmp_path / "style2.jpg")
    return tmp_path


@pytest.fixture(scope="session")
def fast_file(tmp_path_factory):
    """A randomly initialised fast model (slim encoder + StyledDecoder) in the shipped format; its
    head's modulation is small and random (not zero, as training starts it), so tests see it act."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny_fast.safetensors"
    decoder = StyledDecoder(FAST)
    torch.nn.init.normal_(decoder.head.modulation[-1].weight, std=0.01)
    save_fast(path, Encoder(FAST), decoder, {"iterations": 0, "note": "random, for tests"})
    return path
