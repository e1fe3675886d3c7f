"""The fast model: its shape, its engine, and its weight files."""
import pytest
import torch
from conftest import gradient_image

from stylize.errors import StylizeError
from stylize.media.images import to_tensor
from stylize.models.networks import Decoder, Encoder
from stylize.models.style_layers import stylize_taps
from stylize.models.weights import WEIGHTS_DIR, load_fast, read_metadata
from stylize.pipelines.engine import Engine


def test_fast_shape_is_a_quarter_of_vgg(fast_file):
    encoder, decoder = load_fast(fast_file)
    taps = encoder(torch.rand(1, 3, 32, 48))
    assert [tuple(t.shape) for t in taps] == [(1, 16, 32, 48), (1, 32, 16, 24), (1, 64, 8, 12), (1, 128, 4, 6)]
    assert decoder.reads == (0, 1, 2, 3) and decoder(taps).shape == (1, 3, 32, 48)
    assert read_metadata(fast_file)["shape"]["widths"] == [16, 32, 64, 128]
    vgg_params = sum(p.numel() for p in Encoder().parameters()) + sum(p.numel() for p in Decoder("skip").parameters())
    per_frame = sum(p.numel() for p in encoder.parameters()) + sum(p.numel() for p in decoder.net.parameters())
    assert per_frame * 15 < vgg_params  # the head runs once per style, not per frame


def test_fast_engine_reads_the_style_with_vgg_and_paints_with_the_slim_network(fast_file):
    engine = Engine.load("fast", fast_file, device="cpu", precision="fp32")
    content, style = to_tensor(gradient_image((61, 45), 1)), to_tensor(gradient_image((40, 40), 2))
    stats = engine.style_stats(style)
    assert [m.shape[1] for m in stats.means] == [64, 128, 256, 512]  # VGG-19's, as the quality model's
    quality = Engine.load("quality", WEIGHTS_DIR / "adain_decoder.safetensors", device="cpu", precision="fp32")
    for ours, theirs in zip(stats.means + stats.stds, (s := quality.style_stats(style)).means + s.stds):
        torch.testing.assert_close(ours, theirs)
    assert engine.style_source == quality.style_source  # so a server's cached style serves both
    out = engine.stylize_tensor(content, stats)
    assert out.shape == (3, 45, 61) and 0 <= out.min() and out.max() <= 1
    with torch.no_grad():  # alpha 0 is the decoded content with no modulation, as with the quality model
        expected = engine.model.decoder(engine.model.encoder(content[None, :, :40, :56]))[0].clamp(0, 1)
        targets, modulation = engine.condition(stats)
        assert engine.condition(stats)[1] is modulation  # the head runs once per style, not per frame
        assert any(gamma.abs().sum() > 0 for gamma, _ in modulation)
        by_hand = engine.model.decoder(stylize_taps(engine.model.encoder(content[None, :, :40, :56]), targets,
                                                    range(4)), modulation)[0].clamp(0, 1)
    torch.testing.assert_close(engine.stylize_tensor(content[:, :40, :56], stats, alpha=0.0), expected)
    torch.testing.assert_close(engine.stylize_tensor(content[:, :40, :56], stats), by_hand)


def test_fast_masks_give_each_region_its_styles_modulation(fast_file):
    engine = Engine.load("fast", fast_file, device="cpu", precision="fp32")
    content = to_tensor(gradient_image((48, 32), 1))
    a, b = (engine.style_stats(to_tensor(gradient_image((40, 40), seed))) for seed in (2, 3))
    everywhere, nowhere = torch.ones(32, 48), torch.zeros(32, 48)
    torch.testing.assert_close(engine.stylize_tensor(content, [a, b], masks=[everywhere, nowhere]),
                               engine.stylize_tensor(content, a))
    torch.testing.assert_close(engine.stylize_tensor(content, [a, b], masks=[nowhere, everywhere]),
                               engine.stylize_tensor(content, b))


def test_fast_model_errors(tmp_path, fast_file):
    with pytest.raises(StylizeError, match="fast model file not found"):
        Engine.load("fast", tmp_path / "none.safetensors")
    with pytest.raises(StylizeError, match="applies to the quality model only"):
        Engine.load("fast", fast_file, vgg_path=tmp_path / "vgg.pth")
    bad = tmp_path / "bad.safetensors"
    from stylize.models.weights import save_decoder

    save_decoder(bad, Decoder("skip"), {})  # a quality decoder is not a fast model
    with pytest.raises(StylizeError, match="does not fit the fast model"):
        Engine.load("fast", bad)


@pytest.mark.parametrize("kind", ["decoder", "fast", "bank"])
def test_truncated_weight_files_are_one_clear_error(kind, decoder_file, fast_file, tmp_path):
    from stylize.models.bank import StyleBank, load_bank, save_bank
    from stylize.models.weights import load_decoder

    if kind == "bank":
        source = tmp_path / "bank.safetensors"
        stats = Engine.load("quality", decoder_file, device="cpu").style_stats(to_tensor(gradient_image((40, 40), 2)))
        save_bank(source, StyleBank.from_stats(["a"], [stats], range(4)))
    else:
        source = decoder_file if kind == "decoder" else fast_file
    truncated = tmp_path / f"truncated_{kind}.safetensors"
    truncated.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    load = {"decoder": load_decoder, "fast": load_fast, "bank": load_bank}[kind]
    with pytest.raises(StylizeError, match=str(truncated.name)):
        load(truncated)
