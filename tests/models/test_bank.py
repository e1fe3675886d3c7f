import io

import pytest
import torch
import torch.nn.functional as F
from conftest import gradient_image, random_decoder, wait_ready
from fastapi.testclient import TestClient
from PIL import Image

from stylize.api.main import create_app
from stylize.api.settings import Settings
from stylize.cli.main import main
from stylize.errors import StylizeError
from stylize.media.images import to_tensor
from stylize.models.bank import StyleBank, load_bank, painting, save_bank, thumbnail
from stylize.models.style_layers import EPS, stylize_taps
from stylize.models.weights import load_decoder, load_fast, save_decoder
from stylize.pipelines.request import parse_blend
from stylize.training.bank import BankTrainer
from stylize.training.config import BankTrainConfig

SMALL = ["--content-size", "32", "--style-size", "32"]


def train_bank(cfg, command=""):
    return BankTrainer(cfg, command).run()



def weights_of(bank, spec):
    return bank.blend_weights(parse_blend(spec))

def painting_stats(engine, seeds):
    return [engine.style_stats(to_tensor(gradient_image((48, 40), seed))) for seed in seeds]


@pytest.fixture
def bank(skip_engine):
    stats = painting_stats(skip_engine, (2, 3, 4))
    thumbs = [thumbnail(gradient_image((48, 40), s)) for s in (2, 3, 4)]
    return StyleBank.from_stats(["starry", "wave", "ink"], stats, range(4), thumbs), stats


def test_untrained_style_equals_adain_with_its_painting(skip_engine, bank):
    bank, stats = bank
    content = to_tensor(gradient_image((64, 48), 1))
    for k, name in enumerate(bank.names):
        from_bank = skip_engine.stylize_tensor(content, bank.style_stats(weights_of(bank, name)))
        from_painting = skip_engine.stylize_tensor(content, stats[k])
        torch.testing.assert_close(from_bank, from_painting, atol=1e-5, rtol=1e-5)


def test_one_hot_selection_is_that_styles_instance_norm(bank, encoder):
    bank, _ = bank
    taps = encoder(torch.rand(2, 3, 32, 32))
    stats = bank.style_stats(torch.eye(3)[[1, 1]])
    out = stylize_taps(taps, dict(enumerate(zip(stats.means, stats.stds))), bank.levels)
    for level in bank.levels:
        layer = bank.layers[str(level)]
        expected = F.instance_norm(taps[level], weight=layer.weight[1], bias=layer.bias[1], eps=EPS)
        torch.testing.assert_close(out[level], expected, atol=1e-4, rtol=1e-4)


def test_blends_are_convex_combinations(bank):
    bank, _ = bank
    w = weights_of(bank, "starry:0.25,ink:0.75")
    assert w.tolist() == [0.25, 0.0, 0.75]
    blend = bank.style_stats(w)
    a, c = bank.style_stats(weights_of(bank, "starry")), bank.style_stats(weights_of(bank, "2"))
    for level in bank.levels:
        torch.testing.assert_close(blend.means[level], 0.25 * a.means[level] + 0.75 * c.means[level])
        torch.testing.assert_close(blend.stds[level], 0.25 * a.stds[level] + 0.75 * c.stds[level])


@pytest.mark.parametrize("spec, message", [("monet", "no style 'monet' in this bank; it has: starry, wave, ink"),
                                           ("starry:0.5,wave:0.2", "must sum to 1"),
                                           ("starry:1.5,wave:-0.5", "non-negative"),
                                           ("starry:x", "bad style weight")])
def test_bad_style_specs(bank, spec, message):
    bank, _ = bank
    with pytest.raises(StylizeError, match=message):
        weights_of(bank, spec)


def test_incomplete_or_malformed_bank_files_are_one_clear_error(bank, tmp_path):
    from safetensors.torch import load_file, save_file

    bank, _ = bank
    save_bank(tmp_path / "b.safetensors", bank)
    state = load_file(str(tmp_path / "b.safetensors"))
    del state["layers.2.weight"]
    from safetensors import safe_open

    with safe_open(str(tmp_path / "b.safetensors"), framework="pt") as f:
        meta = f.metadata()
    save_file(state, str(tmp_path / "missing.safetensors"), metadata=meta)
    with pytest.raises(StylizeError, match="incomplete: tensor 'layers.2.weight' is missing"):
        load_bank(tmp_path / "missing.safetensors")
    save_file(state, str(tmp_path / "json.safetensors"), metadata={"stylize_bank": "{not json"})
    with pytest.raises(StylizeError, match="not a readable style bank"):
        load_bank(tmp_path / "json.safetensors")


def test_save_and_load_round_trip_with_thumbnails(bank, tmp_path):
    bank, _ = bank
    save_bank(tmp_path / "b.safetensors", bank, {"note": "test"})
    loaded = load_bank(tmp_path / "b.safetensors")
    assert loaded.names == bank.names and loaded.metadata["note"] == "test"
    assert max(Image.open(io.BytesIO(loaded.thumbnails[1])).size) <= 128
    for key, value in bank.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    assert not loaded.keeps_paintings  # made without its paintings


def test_a_bank_keeps_its_paintings_at_the_side_attention_reads(bank, tmp_path):
    bank, stats = bank
    big = [gradient_image((900, 600), s) for s in (2, 3, 4)]
    kept = StyleBank.from_stats(bank.names, stats, range(4), bank.thumbnails, [painting(p) for p in big])
    save_bank(tmp_path / "b.safetensors", kept)
    loaded = load_bank(tmp_path / "b.safetensors")
    assert loaded.keeps_paintings and loaded.paintings == kept.paintings
    assert Image.open(io.BytesIO(loaded.paintings[0])).size == (576, 384)
    other = StyleBank.from_stats(["more"], stats[:1], range(4), paintings=[b"jpeg"])
    assert loaded.joined(other).paintings == kept.paintings + [b"jpeg"]


def test_bank_that_does_not_match_the_decoder(skip_engine, fast_file, tmp_path):
    stats = painting_stats(skip_engine, (2,))
    save_bank(tmp_path / "plain.safetensors", StyleBank.from_stats(["a"], stats, [3]))
    with pytest.raises(StylizeError, match="does not match the skip decoder"):
        load_bank(tmp_path / "plain.safetensors", skip_engine.model.decoder)
    with pytest.raises(StylizeError, match=r"sets taps \[3\], the decoder reads \[0, 1, 2, 3\]"):
        load_bank(tmp_path / "plain.safetensors", load_fast(fast_file)[1])  # the fast head reads all four
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(StylizeError, match="not a readable style bank"):
        load_bank(tmp_path / "junk.safetensors")


@pytest.fixture
def bank_folders(tmp_path):
    content, heldout, styles = tmp_path / "content", tmp_path / "heldout", tmp_path / "styles"
    for folder in (content, heldout, styles):
        folder.mkdir()
    for i in range(4):
        gradient_image((48, 48), i).save(content / f"c{i}.png")
        gradient_image((40, 40), 20 + i).save(heldout / f"h{i}.png")
    stripes = Image.new("RGB", (48, 48), (240, 200, 20))
    for x in range(0, 48, 6):
        stripes.paste((20, 40, 160), (x, 0, x + 3, 48))
    stripes.save(styles / "stripes.png")
    gradient_image((48, 48), 99).save(styles / "ramp.png")
    return content, heldout, styles


def bank_config(folders, decoder_file, out, **kw):
    content, heldout, styles = folders
    return BankTrainConfig(**{**dict(styles=[str(styles)], content_dir=str(content), out=str(out), iters=30,
                                     batch_size=2, lr=2e-2, crop_size=32, image_size=40, style_size=48,
                                     decoder=str(decoder_file), eval_content_dir=str(heldout), save_every=10,
                                     workers=0), **kw})


def test_training_lowers_style_loss_and_extending_keeps_old_styles(bank_folders, decoder_file, tmp_path):
    first = tmp_path / "first.safetensors"
    _, trained = train_bank(bank_config(bank_folders, decoder_file, first))
    for name in ("ramp", "stripes"):
        assert trained[name]["after"]["style"] < trained[name]["before"]["style"], trained[name]
    old = load_bank(first)
    extra = tmp_path / "extra"
    extra.mkdir()
    gradient_image((48, 48), 7).save(extra / "dots.png")
    content, heldout, _ = bank_folders
    train_bank(bank_config((content, heldout, extra), decoder_file, tmp_path / "more.safetensors",
                           base=str(first), iters=5))
    more = load_bank(tmp_path / "more.safetensors")
    assert more.names == old.names + ["dots"]
    for level in old.levels:
        for attr in ("weight", "bias"):
            assert torch.equal(getattr(more.layers[str(level)], attr)[:2], getattr(old.layers[str(level)], attr))
    assert set(more.metadata["styles"]) == {"ramp", "stripes", "dots"}
    with pytest.raises(StylizeError, match="already in the base bank"):
        train_bank(bank_config(bank_folders, decoder_file, tmp_path / "again.safetensors", base=str(first)))


@pytest.fixture
def bank_file(skip_engine, decoder_file, tmp_path):
    decoder = load_decoder(decoder_file)
    stats = painting_stats(skip_engine, (2, 3))
    path = tmp_path / "bank.safetensors"
    save_bank(path, StyleBank.from_stats(["starry", "wave"], stats, range(4),
                                         [thumbnail(gradient_image((48, 40), s)) for s in (2, 3)]),
              {"decoder_architecture": decoder.architecture})
    return path


def run(args):
    try:
        return main([str(a) for a in args])
    except SystemExit as e:
        return e.code


def test_cli_transfer_with_a_bank(images, decoder_file, fast_file, bank_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(["transfer", "--content", images / "content.png", "--bank", bank_file, "--style", "starry:0.7,wave:0.3",
                "--weights", decoder_file, "--output", out, *SMALL]) == 0
    assert Image.open(out / "content_stylized_starry-0.7+wave-0.3.jpg").size == (43, 32)
    # The fast model reads a style as VGG-19's statistics too, so bank styles serve it as well.
    assert run(["transfer", "--model", "fast", "--content", images / "content.png", "--bank", bank_file, "--style",
                "wave", "--weights", fast_file, "--output", tmp_path / "fast.png", *SMALL]) == 0
    assert Image.open(tmp_path / "fast.png").size == (43, 32)
    for style, message in [("monet", "no style 'monet'"), ("starry:0.7,wave:0.7", "must sum to 1")]:
        assert run(["transfer", "--content", images / "content.png", "--bank", bank_file, "--style", style,
                    "--weights", decoder_file, "--output", tmp_path / "x.png", *SMALL]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
    assert not (tmp_path / "x.png").exists()


def test_api_styles_and_style_name(decoder_file, fast_file, bank_file):
    app = create_app(Settings(quality_weights=str(decoder_file), fast_weights=str(fast_file), bank=str(bank_file),
                              device="cpu"))
    with TestClient(app) as client:
        wait_ready(client)
        listed = client.get("/v1/styles").json()["styles"]
        assert [s["name"] for s in listed] == ["starry", "wave"]
        thumb = client.get(listed[0]["thumbnail"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        buf = io.BytesIO()
        gradient_image((64, 48)).save(buf, format="PNG")
        files = [("content", ("c.png", buf.getvalue(), "image/png"))]
        ok = client.post("/v1/stylize", files=files, data={"style_name": "starry:0.5,wave:0.5", "content_size": "32"})
        assert ok.status_code == 200 and Image.open(io.BytesIO(ok.content)).size == (43, 32)
        fast = client.post("/v1/stylize", files=files, data={"style_name": "starry:0.5,wave:0.5", "content_size": "32",
                                                             "model": "fast"})
        assert fast.status_code == 200 and fast.headers["x-model"] == "fast" and fast.content != ok.content
        bad = client.post("/v1/stylize", files=files, data={"style_name": "monet", "content_size": "32"})
        assert bad.status_code == 422 and "no style 'monet'" in bad.json()["detail"]
        assert client.get("/v1/styles/monet/thumbnail").status_code == 404


def test_resume_and_finetune_decoder(bank_folders, decoder_file, tmp_path):
    out = tmp_path / "bank.safetensors"
    train_bank(bank_config(bank_folders, decoder_file, out, iters=4, save_every=2))
    bank, _ = train_bank(bank_config(bank_folders, decoder_file, out, iters=6, save_every=2, resume="auto"))
    assert load_bank(out).metadata["styles"]["ramp"]["iterations"] == 6
    assert sorted(p.name for p in (tmp_path / "bank.checkpoints").iterdir()) == [
        "checkpoint_00000004.pt", "checkpoint_00000006.pt"]
    tuned = tmp_path / "tuned.safetensors"
    train_bank(bank_config(bank_folders, decoder_file, tuned, iters=2, finetune_decoder=True))
    decoder = load_decoder(tmp_path / "tuned.decoder.safetensors")
    original = load_decoder(decoder_file)
    assert any(not torch.equal(a, b) for a, b in zip(decoder.state_dict().values(), original.state_dict().values()))
    assert load_bank(tuned, decoder).metadata["decoder"] == str(tmp_path / "tuned.decoder.safetensors")


def test_a_bank_is_not_trained_through_an_attention_decoder(bank_folders, tmp_path):
    decoder = random_decoder("skip")
    decoder.style_layer = "attention"
    save_decoder(tmp_path / "attention.safetensors", decoder, {"iterations": 0})
    with pytest.raises(StylizeError, match="a bank's styles are learned through AdaIN"):
        BankTrainer(bank_config(bank_folders, tmp_path / "attention.safetensors", tmp_path / "b.safetensors"))
