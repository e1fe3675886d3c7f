"""StyleTransferModel: the table hands out one per model; its forward is what every face paints."""
import pytest
import torch
from conftest import gradient_image

from stylize.media.images import to_tensor
from stylize.models.registry import model_spec
from stylize.models.style_layers import mean_std
from stylize.models.style_transfer import StyleTransferModel


@pytest.fixture(scope="module")
def models(decoder_file, fast_file):
    return {"quality": model_spec("quality").model(decoder_file), "fast": model_spec("fast").model(fast_file)}


def image(seed, size=(56, 40)):
    return to_tensor(gradient_image(size, seed))[None]


def test_the_table_hands_out_models_whose_style_is_read_by_vgg(models):
    quality, fast = models["quality"], models["fast"]
    assert isinstance(quality, StyleTransferModel) and (quality.name, fast.name) == ("quality", "fast")
    assert quality.style_encoder is quality.encoder  # VGG-19 reads content and style
    assert fast.style_encoder is not fast.encoder and fast.style_encoder.source == quality.encoder.source


@pytest.mark.parametrize("name", ["quality", "fast"])
def test_alpha_mixes_between_the_decoded_content_and_the_style(models, name):
    model = models[name]
    content = image(1)
    with torch.no_grad():
        stats = model.style_stats(image(2))
        unstyled = model.decoder(model.encoder(content)).clamp(0, 1)
        torch.testing.assert_close(model(content, stats, alpha=0.0), unstyled)
        assert (model(content, stats) - unstyled).abs().mean() > 1e-3


def halves(width=64, height=32):
    """Masks of two styles: the left half and the right half."""
    left = torch.zeros(1, 1, height, width)
    left[..., :width // 2] = 1
    return torch.cat([left, 1 - left], dim=1)


@pytest.mark.parametrize("name", ["quality", "fast"])
def test_each_masked_region_takes_its_own_styles_statistics(models, name):
    """At every stylised tap, each half of the image has its own style's mean, and std where the
    content varies (AdaIN scales what is there), measured over that half only; one mask over the
    whole image is the style alone."""
    model = models[name]
    content, masks = image(1, (64, 32)), halves()
    with torch.no_grad():
        styles = [model.style_stats(image(seed)) for seed in (2, 3)]
        conditioned = [model.condition(style) for style in styles]
        before = model.encode(content)
        taps, _, _ = model.stylize(before, conditioned, regions=masks)
        for level in model.reads:
            side = taps[level].shape[-1] // 2
            for k, part in enumerate((slice(0, side), slice(side, None))):
                mean, std = mean_std(taps[level][..., part])
                target_mean, target_std = conditioned[k][0][level]
                varies = mean_std(before[level][..., part])[1] > 0.1
                torch.testing.assert_close(mean, target_mean, atol=1e-3, rtol=1e-3)
                torch.testing.assert_close(std[varies], target_std[varies], atol=5e-3, rtol=1e-2)
        whole = model(content, styles[:1], masks=torch.ones(1, 1, 32, 64))
        torch.testing.assert_close(whole, model(content, styles[0]), atol=2e-4, rtol=0)


def test_masks_paint_each_half_like_its_style_alone():
    """With the shipped quality model: away from the seam, each half of a two-mask painting is
    nearer the painting of its own style than of the other."""
    model = model_spec("quality").model()
    content = image(1, (64, 32))
    with torch.no_grad():
        a, b = model.style_stats(image(2)), model.style_stats(image(7, (40, 40)).flip(-1) ** 3)
        split, only_a, only_b = model(content, [a, b], masks=halves()), model(content, a), model(content, b)
    left, right = (..., slice(0, 16)), (..., slice(48, None))
    assert (split[left] - only_a[left]).abs().mean() < 0.5 * (split[left] - only_b[left]).abs().mean()
    assert (split[right] - only_b[right]).abs().mean() < 0.5 * (split[right] - only_a[right]).abs().mean()
