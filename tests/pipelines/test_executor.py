"""The executor: a checked request's styles resolved once, always as StyleStats; colour
preservation as its own per-content step; uploads and plans painted with them."""
import io

import pytest
import torch
from conftest import gradient_image
from PIL import Image

from stylize.media.images import open_image, to_tensor
from stylize.models.bank import StyleBank, painting
from stylize.models.style_stats import StyleStats, blend
from stylize.pipelines.color import match_color
from stylize.pipelines.executor import colour_preserved, frame_style, resolve_styles, stylize_upload
from stylize.pipelines.request import StyleRequest, check_inputs
from stylize.pipelines.stylizer import Stylizer


@pytest.fixture(scope="module")
def stylizer():
    """The shipped quality model: its paintings differ visibly from style to style."""
    return Stylizer.from_files("quality", device="cpu", precision="fp32")


@pytest.fixture
def files(tmp_path):
    gradient_image((48, 40), 1).save(tmp_path / "content.png")
    red = Image.new("RGB", (40, 40), (200, 30, 30))
    red.paste(gradient_image((20, 20), 4), (10, 10))
    red.save(tmp_path / "red.png")
    gradient_image((40, 40), 3).save(tmp_path / "b.png")
    return tmp_path


def request_of(files, styles=("red.png", "b.png"), **fields):
    return check_inputs(StyleRequest(contents=(files / "content.png",), styles=tuple(files / s for s in styles),
                                     content_size=0, style_size=0, **fields))


def stats_of(stylizer, path):
    return stylizer.prepare_style(open_image(path), 0)


def test_weights_blend_the_styles_once_into_one_style_stats(stylizer, files):
    request = request_of(files, style_weights="1,3")
    resolved = resolve_styles(stylizer, request)
    assert len(resolved) == 1 and isinstance(resolved[0], StyleStats)
    by_hand = blend([stats_of(stylizer, files / s) for s in ("red.png", "b.png")], [0.25, 0.75])
    for ours, theirs in zip(resolved[0].means + resolved[0].stds, by_hand.means + by_hand.stds):
        assert torch.equal(ours, theirs)
    assert frame_style(stylizer, request) is not None and isinstance(frame_style(stylizer, request), StyleStats)


def test_each_style_alone_and_masks_keep_one_style_per_mask(stylizer, files):
    assert [type(s) for s in resolve_styles(stylizer, request_of(files))] == [StyleStats, StyleStats]
    masks = (files / "content.png", files / "content.png")
    (group,) = resolve_styles(stylizer, request_of(files, masks=masks))
    assert [type(s) for s in group] == [StyleStats, StyleStats]


def test_an_upload_with_weights_paints_with_the_blended_style(stylizer, files):
    request = request_of(files, style_weights="1,3", alpha=0.5)
    painted = stylize_upload(stylizer, request)
    style = blend([stats_of(stylizer, files / s) for s in ("red.png", "b.png")], [0.25, 0.75])
    by_hand = stylizer.engine.stylize_tensor(to_tensor(open_image(files / "content.png")), style, alpha=0.5)
    torch.testing.assert_close(to_tensor(painted), by_hand, atol=1 / 255, rtol=0)
    alone = stylize_upload(stylizer, request_of(files, styles=("b.png",), alpha=0.5))
    assert painted.tobytes() != alone.tobytes()


def test_colour_preservation_encodes_the_style_with_the_contents_colours(stylizer, files):
    request = request_of(files, styles=("red.png",), preserve_color=True)
    content = open_image(files / "content.png")
    style = colour_preserved(stylizer, request, [open_image(files / "red.png")], content)
    matched = match_color(to_tensor(open_image(files / "red.png")), to_tensor(content))
    expected = stylizer.engine.style_stats(matched)
    for ours, theirs in zip(style.means + style.stds, expected.means + expected.stds):
        assert torch.equal(ours, theirs)
    kept = stylize_upload(stylizer, request)
    plain = stylize_upload(stylizer, request_of(files, styles=("red.png",)))
    torch.testing.assert_close(to_tensor(kept), stylizer.engine.stylize_tensor(to_tensor(content), expected),
                               atol=1 / 255, rtol=0)
    assert kept.tobytes() != plain.tobytes()


def test_an_attention_model_paints_a_bank_style_from_its_kept_painting(stylizer, files):
    paintings = [open_image(files / name) for name in ("red.png", "b.png")]
    stats = [stylizer.prepare_style(p, 0) for p in paintings]
    bank = StyleBank.from_stats(["red", "b"], stats, range(4), paintings=[painting(p) for p in paintings])
    bare = StyleBank.from_stats(["red", "b"], stats, range(4))
    assert stylizer.engine.model.attention and bank.keeps_paintings and not bare.keeps_paintings

    def resolved(bank, spec):
        request = check_inputs(StyleRequest(contents=(files / "content.png",), style_name=spec, content_size=0,
                                            style_size=0))
        return resolve_styles(stylizer, request, bank)[0]

    alone = resolved(bank, "b")  # exactly the kept painting (a JPEG) read as a style image
    kept = stylizer.prepare_style(Image.open(io.BytesIO(bank.paintings[1])), 0).memory
    for level in stylizer.engine.model.reads:
        assert torch.equal(alone.memory.values[level], kept.values[level])
    half = resolved(bank, "red:0.5,b:0.5")
    assert half.memory.keys[2].shape[1] == 2 * alone.memory.keys[2].shape[1]
    assert torch.allclose(half.memory.prior[2], torch.tensor(0.5).log())
    assert resolved(bare, "b").memory is None  # a bank without paintings: its statistics, through AdaIN


def test_a_shared_style_cache_never_hands_an_attention_model_a_style_without_patches(stylizer, files):
    from api.style_cache import StyleCache

    fast = Stylizer.from_files("fast", device="cpu", precision="fp32")
    cache, request = StyleCache(8), request_of(files, styles=("b.png",))
    (from_fast,) = resolve_styles(fast, request, cache=cache)
    (from_quality,) = resolve_styles(stylizer, request, cache=cache)
    assert from_fast.memory is None and from_quality.memory is not None and cache.stats()["misses"] == 2
    assert resolve_styles(fast, request, cache=cache)[0] is from_fast  # the fast model still hits its own
