import pytest
import torch
from conftest import engine_with, gradient_image, random_decoder
from PIL import Image

from stylize.errors import StylizeError
from stylize.media.images import to_tensor
from stylize.models.attention import guide_name
from stylize.models.style_layers import mean_std
from stylize.models.style_stats import blend, stack_styles
from stylize.pipelines.color import match_color
from stylize.pipelines.stylizer import Stylizer, stylize_by_size


def content_tensor(size=(61, 45)):
    return to_tensor(gradient_image(size, 1))


def stats(engine, seed):
    return engine.style_stats(to_tensor(gradient_image((48, 40), seed)))


@pytest.mark.parametrize("size", [(61, 45), (64, 48), (9, 13)])
def test_output_keeps_the_content_size_even_off_multiples_of_8(skip_engine, size):
    out = skip_engine.stylize_tensor(content_tensor(size), stats(skip_engine, 2))
    assert out.shape == (3, size[1], size[0])
    assert 0 <= out.min() and out.max() <= 1


def test_content_size_and_crop(stylizer):
    style = stylizer.prepare_style(gradient_image((40, 40), 2))
    assert stylizer.transfer(gradient_image((80, 60)), style, content_size=30).size == (40, 30)
    assert stylizer.transfer(gradient_image((80, 60)), style, content_size=0).size == (80, 60)
    assert stylizer.transfer(gradient_image((80, 60)), style, content_size=32, crop=True).size == (32, 32)


def test_a_style_is_read_at_the_models_side_by_default(stylizer, fast_file):
    painting = gradient_image((400, 336), 3)  # larger than both models' sides
    fast = Stylizer.from_files("fast", fast_file, device="cpu", precision="fp32")
    for model, side in ((stylizer, 512), (fast, 320)):
        default = model.prepare_style(painting)
        assert torch.equal(default.means[0], model.prepare_style(painting, side).means[0])
        assert not torch.allclose(default.means[0], model.prepare_style(painting, 64).means[0])


@pytest.mark.parametrize("fixture", ["plain_engine", "skip_engine"])
def test_alpha_zero_reproduces_the_decoded_content(request, fixture):
    s = request.getfixturevalue(fixture)
    content = content_tensor((64, 48))
    out = s.stylize_tensor(content, stats(s, 2), alpha=0.0)
    with torch.no_grad():
        expected = s.model.decoder(s.model.encoder(content[None]))[0].clamp(0, 1)
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(s.stylize_tensor(content, stats(s, 2), alpha=1.0), expected)


def test_blending_style_statistics(skip_engine):
    s = skip_engine
    a, b = stats(s, 2), stats(s, 3)
    content = content_tensor()
    only_a = s.stylize_tensor(content, a)
    torch.testing.assert_close(s.stylize_tensor(content, blend([a, b], [1.0, 0.0])), only_a)
    mixed = blend([a, b], [0.75, 0.25])
    for level in range(4):
        torch.testing.assert_close(mixed.means[level], 0.75 * a.means[level] + 0.25 * b.means[level])
        torch.testing.assert_close(mixed.stds[level], 0.75 * a.stds[level] + 0.25 * b.stds[level])
    assert not torch.allclose(s.stylize_tensor(content, mixed), only_a)


def test_match_color_gives_the_targets_colour_statistics():
    source, target = to_tensor(gradient_image((50, 40), 2)) * 0.5, to_tensor(gradient_image((30, 30), 5)).flip(0)
    matched = match_color(source, target)
    flat_m, flat_t = matched.reshape(3, -1), target.reshape(3, -1)
    torch.testing.assert_close(flat_m.mean(1), flat_t.mean(1), atol=2e-3, rtol=0)
    torch.testing.assert_close(torch.cov(flat_m), torch.cov(flat_t), atol=2e-3, rtol=0)


def test_masks_give_each_region_its_style(skip_engine):
    s = skip_engine
    a, b = stats(s, 2), stats(s, 3)
    content = content_tensor((64, 48))
    everywhere_a = [torch.ones(48, 64), torch.zeros(48, 64)]
    torch.testing.assert_close(s.stylize_tensor(content, [a, b], masks=everywhere_a), s.stylize_tensor(content, a))
    # Left half style a, right half style b: at every level, each half has its style's statistics.
    left = torch.zeros(1, 1, 48, 64)
    left[..., :32] = 1
    before = s.model.encoder(content[None])
    taps, modulation, _ = s.stylize_features(before, [a, b], masks=torch.cat([left, 1 - left], dim=1))
    assert modulation is None  # the quality decoder takes no modulation
    for level, tap in enumerate(taps):
        half = tap.shape[-1] // 2
        for side, style in ((slice(0, half), a), (slice(half, None), b)):
            live = mean_std(before[level][..., side], eps=0)[1].flatten() > 0.05  # a (nearly) flat channel stays flat
            mean, std = mean_std(tap[..., side])
            torch.testing.assert_close(mean, style.means[level], atol=1e-3, rtol=1e-3)
            torch.testing.assert_close(std.flatten()[live], style.stds[level].flatten()[live], atol=1e-2, rtol=1e-2)


def test_masks_must_match_the_content_size(stylizer):
    content = gradient_image((64, 48))
    style = gradient_image((40, 40), 2)
    with pytest.raises(StylizeError, match="masks must match the content size"):
        stylizer.transfer(content, [stylizer.prepare_style(style)] * 2, masks=[Image.new("L", (10, 10))] * 2)


def test_cuda_request_without_gpu_is_a_clear_error(encoder):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(StylizeError, match="no CUDA GPU"):
        engine_with(random_decoder(), encoder, device="cuda")


def test_tile_spans_cover_the_image_and_cores_partition_it():
    from stylize.pipelines.tiling import ramp, spans

    for length in (64, 512, 1000 // 8 * 8, 4096):
        parts = spans(length, 512, 64)
        assert parts[0].start == 0 and parts[-1].end == length
        assert all(a.end > b.start for a, b in zip(parts, parts[1:]))  # overlapping
        assert [p.core_start for p in parts[1:]] == [p.core_end for p in parts[:-1]]
        assert all(p.core_start % 8 == 0 and p.start <= p.core_start < p.core_end <= p.end for p in parts)
        total = torch.zeros(length)
        for p in parts:
            weight = ramp(p, length, 64, "cpu")
            assert weight.max() == 1 and weight.min() > 0
            assert (weight.diff().abs() <= 1 / 64 + 1e-6).all()  # no jumps: seams fade in and out
            total[p.start:p.end] += weight
        assert total.min() > 0.5


def test_tiled_stylisation_matches_the_whole_image(encoder):
    whole = engine_with(random_decoder("skip"), encoder)
    tiled = engine_with(whole.model.decoder, encoder, max_untiled_pixels=0, tile=64, overlap=32)
    content = to_tensor(gradient_image((160, 128), 1))
    style = stats(whole, 2)
    x = content[None]
    exact = [mean_std(t) for t in whole.encode(x)]
    measured = tiled._whole_image_stats(x, levels=range(4))
    for level, (mean, std) in enumerate(exact):
        t_mean, t_std = measured[level]
        # Only positions near tile borders see different padding: the statistics agree to ~1%.
        assert (t_mean - mean).abs().mean() < 0.02 * mean.abs().mean()
        assert (t_std - std).abs().mean() < 0.02 * std.abs().mean()
    a, b = whole.stylize_tensor(content, style), tiled.stylize_tensor(content, style)
    assert a.shape == b.shape == (3, 128, 160)
    assert (a - b).abs().mean() < 0.02


def test_a_tiled_attention_model_normalises_its_keys_with_the_whole_images_guides(encoder):
    decoder = random_decoder("skip")
    decoder.style_layer = "attention"
    whole = engine_with(decoder, encoder)
    tiled = engine_with(decoder, encoder, max_untiled_pixels=0, tile=64, overlap=32)
    content = to_tensor(gradient_image((160, 128), 1))
    style = stats(whole, 2)
    measured = tiled._whole_image_stats(content[None])
    exact = whole.model.guides(whole.encode(content[None]))
    assert set(exact) == {guide_name(2), guide_name(3)} and set(exact) < set(measured)
    for name, guide in exact.items():
        mean, std = mean_std(guide)
        assert (measured[name][0] - mean).abs().mean() < 0.02 * mean.abs().mean()
        assert (measured[name][1] - std).abs().mean() < 0.05 * std.abs().mean()
    a, b = whole.stylize_tensor(content, style), tiled.stylize_tensor(content, style)
    assert (a - b).abs().mean() < 0.02


def test_reduced_precision_stays_close_to_float32(encoder):
    exact = engine_with(random_decoder("skip"), encoder)
    fast = engine_with(exact.model.decoder, encoder, precision="bf16")
    content = content_tensor((64, 48))
    a = exact.stylize_tensor(content, stats(exact, 2))
    b = fast.stylize_tensor(content, stats(fast, 2))
    assert fast.precision == "bf16" and (a - b).abs().max() < 0.05


def test_unknown_precision(encoder):
    with pytest.raises(StylizeError, match="unknown precision"):
        engine_with(random_decoder(), encoder, precision="int4")


def test_a_batch_equals_its_images_one_by_one(skip_engine):
    s = skip_engine
    batch = torch.stack([to_tensor(gradient_image((61, 45), seed)) for seed in (1, 5, 6)])
    style = stats(s, 2)
    together = s.stylize_tensor(batch, style, alpha=0.7)
    assert together.shape == (3, 3, 45, 61)
    for image, out in zip(batch, together):
        torch.testing.assert_close(out, s.stylize_tensor(image, style, alpha=0.7), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("tiled", [False, True])
def test_a_style_row_and_alpha_per_image_equal_each_image_alone(encoder, tiled):
    """A dataset's batch: image i takes style row i and alpha i, whole or in tiles."""
    s = engine_with(random_decoder("skip"), encoder,
                    **({"max_untiled_pixels": 0, "tile": 64, "overlap": 16} if tiled else {}))
    batch = torch.stack([to_tensor(gradient_image((80, 56), seed)) for seed in (1, 5, 6)])
    styles = [stats(s, seed) for seed in (2, 3, 4)]
    alphas = [1.0, 0.6, 0.2]
    together = s.stylize_tensor(batch, stack_styles(styles), alpha=torch.tensor(alphas))
    assert stack_styles(styles).rows == 3
    for image, style, alpha, out in zip(batch, styles, alphas, together):
        torch.testing.assert_close(out, s.stylize_tensor(image, style, alpha=alpha), atol=1e-4, rtol=1e-4)
    by_size = stylize_by_size(s, [batch[0], batch[1][:, :48, :48], batch[2]], styles, alphas)
    torch.testing.assert_close(by_size[1], s.stylize_tensor(batch[1][:, :48, :48], styles[1], alpha=0.6),
                               atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(by_size[2], together[2], atol=1e-4, rtol=1e-4)
