"""The attention style layer: a photo's places take the painting's patches."""
import pytest
import torch
from conftest import gradient_image, random_decoder

from stylize.errors import StylizeError
from stylize.export.onnx import export_onnx
from stylize.media.images import to_tensor
from stylize.models.attention import StyleMemory, memory_size, swap_taps
from stylize.models.networks import Decoder
from stylize.models.registry import model_spec
from stylize.models.style_stats import StyleStats, blend, stack_styles
from stylize.models.style_transfer import StyleTransferModel
from stylize.models.weights import WEIGHTS_DIR, load_decoder, save_decoder

LEVELS = (0, 1, 2, 3)


def image(seed, size=(48, 40)):
    return to_tensor(gradient_image(size, seed))[None]


@pytest.fixture(scope="module")
def attention_model(encoder):
    decoder = random_decoder("skip")
    decoder.style_layer = "attention"
    return StyleTransferModel("quality", encoder, decoder)


def test_a_painting_matched_against_itself_sharply_gets_its_own_taps_back(encoder):
    with torch.no_grad():
        taps = encoder(image(2))
        swapped = swap_taps(taps, StyleMemory.of(taps, LEVELS), LEVELS, temperature=1e-4)
    for level in LEVELS:  # each place finds itself, and its patch is copied whole
        torch.testing.assert_close(swapped[level], taps[level], atol=1e-4, rtol=1e-4)


def test_a_place_takes_patches_of_the_paintings_tone_there():
    """Where the pattern says nothing, the guide decides: the photo's dark half takes the
    painting's dark half, its light half the light."""
    torch.manual_seed(0)

    def taps(flip):
        tone = torch.zeros(1, 64, 32, 32)
        tone[..., 16:] = 1.0  # relu1_1: the right half light
        tone = tone.flip(-1) if flip else tone
        return [tone + 0.01 * torch.randn_like(tone)] + [torch.randn(1, c, 32 // 2 ** k, 32 // 2 ** k)
                                                          for k, c in ((1, 128), (2, 256), (3, 512))]

    photo, painting = taps(flip=False), taps(flip=True)  # the painting's light half is on the left
    swapped = swap_taps(photo, StyleMemory.of(painting, LEVELS), LEVELS)
    light, dark = painting[2][..., :4].mean(dim=(2, 3)), painting[2][..., 4:].mean(dim=(2, 3))
    apart = (light - dark).abs().mean()
    assert (swapped[2][..., 4:].mean(dim=(2, 3)) - light).abs().mean() < 0.1 * apart
    assert (swapped[2][..., :4].mean(dim=(2, 3)) - dark).abs().mean() < 0.1 * apart


def test_each_place_takes_a_weighted_average_of_the_paintings_patches(encoder):
    with torch.no_grad():
        photo, painting = encoder(image(1)), encoder(image(2, (40, 32)))
        swapped = swap_taps(photo, StyleMemory.of(painting, LEVELS), LEVELS)
    for level in LEVELS:  # a convex combination stays inside the painting's range, channel by channel
        low, high = painting[level].amin(dim=(2, 3)), painting[level].amax(dim=(2, 3))
        assert swapped[level].shape == photo[level].shape
        assert (swapped[level].amin(dim=(2, 3)) >= low - 1e-5).all()
        assert (swapped[level].amax(dim=(2, 3)) <= high + 1e-5).all()


def test_a_large_painting_is_read_on_at_most_64x64_relu3_1_places():
    assert memory_size(200, 160) == (200, 160)
    assert memory_size(1024, 768) == (288, 216)  # 72 x 54 = 3,888 places, sides multiples of 8
    assert memory_size(2048, 512) == (512, 128)


def test_a_blend_weighs_each_paintings_patches_and_a_stack_pads_without_effect(encoder):
    with torch.no_grad():
        photo = encoder(image(1))
        one, other = (StyleMemory.of(encoder(image(seed, size)), LEVELS)
                      for seed, size in ((2, (40, 32)), (3, (24, 24))))
        alone = swap_taps(photo, one, LEVELS)
        only_one = swap_taps(photo, StyleMemory.blend([one, other], [1.0, 0.0]), LEVELS)
        twice = swap_taps(photo, StyleMemory.blend([one, one], [0.5, 0.5]), LEVELS)
        mixed = swap_taps(photo, StyleMemory.blend([one, other], [0.5, 0.5]), LEVELS)
        stacked = swap_taps([torch.cat([t, t]) for t in photo], StyleMemory.stack([other, one]), LEVELS)
        other_alone = swap_taps(photo, other, LEVELS)
    for level in LEVELS:
        torch.testing.assert_close(only_one[level], alone[level])
        torch.testing.assert_close(twice[level], alone[level])
        torch.testing.assert_close(stacked[level][1:], alone[level])
        torch.testing.assert_close(stacked[level][:1], other_alone[level])  # padded to the longer one
        assert (mixed[level] - alone[level]).abs().mean() > 1e-3


def test_a_decoder_file_says_which_style_layer_it_was_trained_with(tmp_path):
    decoder = random_decoder("skip")
    decoder.style_layer = "attention"
    save_decoder(tmp_path / "d.safetensors", decoder, {"iterations": 0})
    assert load_decoder(tmp_path / "d.safetensors").style_layer == "attention"
    assert model_spec("quality").model(tmp_path / "d.safetensors").attention
    with pytest.raises(ValueError, match="unknown style layer 'wct'"):
        Decoder("skip", style_layer="wct")


def test_an_attention_model_carries_the_paintings_patches_and_mixes_by_strength(attention_model):
    model, content = attention_model, image(1)
    with torch.no_grad():
        stats = model.style_stats(image(2, (40, 32)))
        assert set(stats.memory.values) == set(model.reads) and stats.memory.keys[2].shape == (1, 80, 256 + 64)
        own = model.decoder(model.encoder(content)).clamp(0, 1)
        torch.testing.assert_close(model(content, stats, alpha=0.0), own)
        styled, half = model(content, stats), model(content, stats, alpha=0.5)
        assert (styled - own).abs().mean() > 1e-3 and (half - styled).abs().mean() > 1e-4


def test_an_attention_model_paints_blends_stacks_and_regions_like_its_one_style(attention_model):
    model, content = attention_model, image(1, (64, 32))
    with torch.no_grad():
        first, second = model.style_stats(image(2, (40, 32))), model.style_stats(image(3, (32, 32)))
        alone = model(content, first)
        torch.testing.assert_close(model(content, blend([first, second], [1.0, 0.0])), alone)
        torch.testing.assert_close(model(torch.cat([content, content]), stack_styles([second, first]))[1:], alone)
        left = torch.zeros(1, 2, 32, 64)
        left[:, 0, :, :32], left[:, 1, :, 32:] = 1, 1
        regions = model(content, [first, second], masks=left)
        both = torch.ones(1, 2, 32, 64)
        both[:, 1] = 0
        torch.testing.assert_close(model(content, [first, second], masks=both), alone)
        assert (regions - alone)[..., 40:].abs().mean() > 1e-3  # the right half took the second painting


def test_a_banks_statistics_reach_an_attention_model_through_adain(attention_model, encoder):
    content = image(1)
    with torch.no_grad():
        stats = attention_model.style_stats(image(2, (40, 32)))
        learned = StyleStats(stats.means, stats.stds)  # what a bank hands over: statistics, no patches
        adain = StyleTransferModel("quality", encoder, attention_model.decoder)
        adain.attention = False
        torch.testing.assert_close(attention_model(content, learned), adain(content, learned))
        assert (attention_model(content, stats) - adain(content, learned)).abs().mean() > 1e-3


def test_onnx_export_of_an_attention_model_is_a_clear_error(attention_model, tmp_path):
    with pytest.raises(StylizeError, match="ONNX export covers AdaIN models; this quality decoder was trained "
                                           "with the attention style layer"):
        export_onnx(attention_model, tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists()


def test_the_shipped_attention_decoder_says_it_was_trained_on_the_attention_layer():
    decoder = load_decoder(WEIGHTS_DIR / "attention_decoder.safetensors")
    assert (decoder.style_layer, decoder.architecture, decoder.metadata["iterations"]) == ("attention", "skip", 14128)
