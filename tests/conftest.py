import time

import pytest
import torch
from PIL import Image

from stylize.model import Decoder
from stylize.engine import Engine
from stylize.pipeline import Stylizer
from stylize.model import FAST, Encoder
from stylize.weights import load_encoder, save_decoder, save_fast


def gradient_image(size=(64, 48), seed=0, mode="RGB"):
    """A small deterministic picture: smooth colour ramps plus noise, so it has structure."""
    w, h = size
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    rgb = torch.stack([xs, ys, (xs + ys) / 2]) * 0.7 + 0.3 * torch.rand(3, h, w, generator=g)
    img = Image.fromarray((rgb.clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy())
    return img.convert(mode)


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


@pytest.fixture(scope="session")
def plain_engine(encoder):
    return Engine(random_decoder("plain"), encoder, device="cpu", precision="fp32")


@pytest.fixture(scope="session")
def skip_engine(encoder):
    return Engine(random_decoder("skip"), encoder, device="cpu", precision="fp32")


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
    """A randomly initialised fast model (slim encoder + slim skip decoder) in the shipped format."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny_fast.safetensors"
    save_fast(path, Encoder(FAST), Decoder("skip", FAST), {"iterations": 0, "note": "random, for tests"})
    return path
