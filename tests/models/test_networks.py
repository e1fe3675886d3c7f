import os

import pytest
import torch
from conftest import random_decoder

from stylize.errors import StylizeError
from stylize.models.networks import Decoder, Encoder
from stylize.models.style_layers import stylize_taps
from stylize.models.style_transfer import StyleTransferModel
from stylize.models.weights import (
    IMAGENET_MEAN_BGR,
    NORMALISED_VGG_INDEX,
    load_decoder,
    load_encoder,
    read_metadata,
    save_decoder,
)

# pytorch-AdaIN's decoder.pth: nn.Sequential indices of its convolutions and their shapes.
PYTORCH_ADAIN_DECODER = {1: (256, 512), 5: (256, 256), 8: (256, 256), 11: (256, 256), 14: (128, 256),
                         18: (128, 128), 21: (64, 128), 25: (64, 64), 28: (3, 64)}


def test_encoder_preprocessing_gives_bgr_0_255_minus_mean(encoder):
    rgb = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1)
    out = encoder.preprocess(rgb).flatten()
    expected = torch.tensor([0.9, 0.5, 0.2]) * 255 - torch.tensor(IMAGENET_MEAN_BGR)
    torch.testing.assert_close(out, expected, atol=1e-3, rtol=1e-5)


def test_encoder_taps_have_vgg_shapes_and_normalised_scale(encoder):
    x = torch.rand(2, 3, 64, 64)
    taps = encoder(x)
    assert [tuple(t.shape) for t in taps] == [(2, 64, 64, 64), (2, 128, 32, 32), (2, 256, 16, 16), (2, 512, 8, 8)]
    for t in taps:  # divided by the per-tap mean of photos: order 1, not 30-400
        assert 0.05 < t.mean().item() < 20


def test_encoder_is_frozen_and_stays_in_eval(encoder):
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.training


def test_encoder_gradient_reaches_the_image(encoder):
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    encoder(x)[3].mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_vgg_normalised_pth_loads(tmp_path, encoder):
    # A file laid out like the AdaIN release's vgg_normalised.pth (an nn.Sequential state dict,
    # with layers past relu4_1 too), here carrying our own weights so the outputs must agree.
    ours = encoder.state_dict()
    state = {}
    for name, index in NORMALISED_VGG_INDEX.items():
        prefix = "preprocess" if name == "preprocess" else f"convs.{name}"
        state[f"{index}.weight"], state[f"{index}.bias"] = ours[f"{prefix}.weight"], ours[f"{prefix}.bias"]
    state["32.weight"], state["32.bias"] = torch.zeros(512, 512, 3, 3), torch.zeros(512)
    path = tmp_path / "vgg_normalised.pth"
    torch.save(state, path)
    loaded = load_encoder(path)
    x = torch.rand(1, 3, 32, 32)
    for a, b in zip(loaded(x), encoder(x)):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)  # memory layouts may differ: other conv kernels


def test_vgg_file_with_wrong_layout_is_a_clear_error(tmp_path):
    path = tmp_path / "vgg.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises(StylizeError, match="does not look like vgg_normalised.pth"):
        load_encoder(path)


def test_decoder_maps_relu4_1_back_to_image_size(encoder):
    for architecture in Decoder.ARCHITECTURES:
        out = random_decoder(architecture)(encoder(torch.rand(1, 3, 40, 56)))
        assert out.shape == (1, 3, 40, 56)


@pytest.mark.parametrize("architecture, reads", [("plain", (3,)), ("skip3", (2, 3)), ("skip", (0, 1, 2, 3)),
                                                    ("fade", (0, 1, 2, 3))])
def test_each_architecture_reads_exactly_its_taps(encoder, architecture, reads):
    decoder = random_decoder(architecture)
    assert decoder.reads == reads
    taps = encoder(torch.rand(1, 3, 32, 32))
    for level in range(4):
        changed = [t.clone() for t in taps]
        changed[level] += 1.0
        assert torch.allclose(decoder(taps), decoder(changed)) == (level not in reads), level


def test_fade_decoder_is_the_plain_one_at_strength_1_and_the_skip_one_given_the_photo_at_0(encoder):
    """The same weights wired three ways: fade at strength 1 paints from relu4_1 alone; at 0 it is
    given the photo's own relu1_1-relu3_1, as the skip decoder is; halfway, half of them."""
    photo, painting = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    models = {name: StyleTransferModel("quality", encoder, random_decoder(name)) for name in ("fade", "plain", "skip")}
    stats = models["fade"].style_stats(painting)
    taps = encoder(photo)
    fade = {alpha: models["fade"].paint(taps, stats, alpha) for alpha in (0.0, 0.5, 1.0)}
    torch.testing.assert_close(fade[1.0], models["plain"].paint(taps, stats, 1.0))
    torch.testing.assert_close(fade[0.0], models["skip"].paint(taps, stats, 0.0))
    halfway = [0.5 * t for t in taps[:3]] + [stylize_taps(taps, list(zip(stats.means, stats.stds)), (3,), 0.5)[3]]
    torch.testing.assert_close(fade[0.5], random_decoder("fade")(halfway))
    assert (fade[1.0] - fade[0.0]).abs().mean() > 1e-3


def test_pytorch_adain_decoder_pth_loads(tmp_path):
    g = torch.Generator().manual_seed(0)
    state = {}
    for index, (cout, cin) in PYTORCH_ADAIN_DECODER.items():
        state[f"{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=g)
        state[f"{index}.bias"] = torch.randn(cout, generator=g)
    path = tmp_path / "decoder.pth"
    torch.save(state, path)
    decoder = load_decoder(path)
    assert decoder.architecture == "plain"
    for key, value in state.items():
        torch.testing.assert_close(decoder.state_dict()[key], value)


def test_decoder_pth_with_wrong_shapes_is_a_clear_error(tmp_path):
    state = {f"{i}.weight": torch.zeros(cout, cin, 1, 1) for i, (cout, cin) in PYTORCH_ADAIN_DECODER.items()}
    state.update({f"{i}.bias": torch.zeros(cout) for i, (cout, _) in PYTORCH_ADAIN_DECODER.items()})
    torch.save(state, tmp_path / "decoder.pth")
    with pytest.raises(StylizeError, match="does not fit the AdaIN decoder"):
        load_decoder(tmp_path / "decoder.pth")


def test_safetensors_round_trip_keeps_weights_and_metadata(tmp_path):
    decoder = random_decoder("skip")
    path = tmp_path / "d.safetensors"
    save_decoder(path, decoder, {"iterations": 123, "data": {"content_images": 7}}, half=True)
    meta = read_metadata(path)
    assert meta["architecture"] == "skip" and meta["iterations"] == 123 and meta["dtype"] == "float16"
    assert meta["data"] == {"content_images": 7}
    loaded = load_decoder(path)
    assert loaded.architecture == "skip"
    for key, value in decoder.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value.half().float())
    assert [p.name for p in tmp_path.iterdir()] == ["d.safetensors"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # the usual permissions, not a temp file's 0600


def test_missing_and_garbage_decoder_files(tmp_path):
    with pytest.raises(StylizeError, match="not found"):
        load_decoder(tmp_path / "nope.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(StylizeError, match="not a readable safetensors file"):
        load_decoder(tmp_path / "junk.safetensors")
    (tmp_path / "junk.pth").write_bytes(b"\x80\x04garbage")
    with pytest.raises(StylizeError, match="could not be read"):
        load_decoder(tmp_path / "junk.pth")


def test_encoder_module_is_always_frozen():
    assert not any(p.requires_grad for p in Encoder().parameters())


def test_malformed_decoder_metadata_is_one_clear_error(tmp_path):
    from safetensors.torch import save_file

    from stylize.models.weights import load_decoder

    state = {k: v.contiguous() for k, v in Decoder("skip").state_dict().items()}
    save_file(state, str(tmp_path / "d.safetensors"), metadata={"stylize": "{broken"})
    with pytest.raises(StylizeError, match="malformed metadata"):
        load_decoder(tmp_path / "d.safetensors")


def test_an_image_given_as_decoder_weights_is_one_error_line(tmp_path):
    from PIL import Image

    from stylize.models.weights import load_decoder

    Image.new("RGB", (8, 8)).save(tmp_path / "decoder.jpg")
    with pytest.raises(StylizeError) as error:
        load_decoder(tmp_path / "decoder.jpg")
    assert "could not be read" in str(error.value) and "\n" not in str(error.value)
