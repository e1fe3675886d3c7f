"""Training the fast model: distillation, the decoder phase, resume, growing a model file."""
from dataclasses import replace

import pytest
import torch
from conftest import gradient_image

from stylize.errors import StylizeError
from stylize.media.images import to_tensor
from stylize.models.networks import FAST, Decoder, Encoder, NetworkShape
from stylize.models.style_layers import AdaIN, mean_std
from stylize.models.weights import load_fast
from stylize.pipelines.engine import Engine
from stylize.training.config import FastTrainConfig
from stylize.training.fast import export_fast, grow_decoder, parse_decoder_convs, train_fast, widen_relu4_1
from stylize.training.loop import load_checkpoint


@pytest.fixture
def folders(tmp_path):
    for kind, seeds in (("content", range(3)), ("style", range(10, 13))):
        (tmp_path / kind).mkdir()
        for seed in seeds:
            gradient_image((48, 40), seed).save(tmp_path / kind / f"{seed}.png")
    return tmp_path


def test_train_fast_distils_then_trains_the_decoder_and_resumes(folders, tmp_path):
    cfg = dict(content_dir=str(folders / "content"), style_dir=str(folders / "style"), out=str(tmp_path / "run"),
               encoder_iters=2, batch_size=2, image_size=40, crop_size=32, workers=0, save_every=2, device="cpu")
    train_fast(FastTrainConfig(**cfg, iters=3))
    first = load_checkpoint(tmp_path / "run" / "checkpoint_00000003.pt")
    assert first["kind"] == "fast" and set(first["losses"]) == {"content", "style"}
    state = train_fast(FastTrainConfig(**cfg, iters=5, resume="auto"))
    assert state["iteration"] == 5
    # The student stopped learning when the decoder phase began.
    assert all(torch.equal(a, b) for a, b in zip(first["student"].values(), state["student"].values()))
    assert any(not torch.equal(a, b) for a, b in zip(first["decoder"].values(), state["decoder"].values()))
    target = tmp_path / "fast.safetensors"
    meta = export_fast(tmp_path / "run" / "checkpoint_00000005.pt", target)
    assert (meta["encoder_iterations"], meta["decoder_iterations"]) == (2, 3)
    encoder, decoder = load_fast(target)
    assert encoder.shape == FAST and decoder.metadata["iterations"] == 5
    # A new machine has only the shipped file: training goes on from it, counting on.
    cfg.update(out=str(tmp_path / "again"), loss_net="vgg")
    with pytest.raises(StylizeError, match="before the end of distillation"):
        train_fast(FastTrainConfig(**{**cfg, "encoder_iters": 9}, iters=10, init=str(target)))
    again = train_fast(FastTrainConfig(**cfg, iters=7, init=str(target)))
    assert again["iteration"] == 7
    assert all(torch.equal(a, b) for a, b in zip(encoder.state_dict().values(), again["student"].values()))
    # --finetune-encoder: the student learns in phase 2 too (not its fixed RGB preprocess).
    cfg.update(out=str(tmp_path / "joint"), finetune_encoder=True)
    joint = train_fast(FastTrainConfig(**cfg, iters=7, init=str(target)))
    changed = {k for k, v in encoder.state_dict().items() if not torch.equal(v, joint["student"][k])}
    assert changed and not any(k.startswith("preprocess") for k in changed)
    with pytest.raises(StylizeError, match="needs --loss-net vgg"):
        train_fast(FastTrainConfig(**{**cfg, "loss_net": "student"}, iters=7))


def test_a_grown_decoder_computes_what_the_smaller_one_did():
    torch.manual_seed(0)
    encoder, decoder = Encoder(FAST), Decoder("skip", FAST)
    for conv in decoder:  # biases that make the inputs of some blocks negative, as AdaIN's output is
        if isinstance(conv, torch.nn.Conv2d):
            torch.nn.init.normal_(conv.bias, std=0.5)
    taps = [t - t.mean() for t in encoder(torch.rand(2, 3, 32, 40))]
    deeper = NetworkShape(FAST.widths, FAST.encoder_convs, (2, 3, 2, 3))
    grown = grow_decoder(decoder, deeper, taps)
    assert grown.shape == deeper and len([m for m in grown if isinstance(m, torch.nn.Conv2d)]) == 10
    assert len([m for m in decoder if isinstance(m, torch.nn.Conv2d)]) == 7
    assert grown[1].bias.max() > 0  # relu4_1's new first conv shifts its (partly negative) input up
    with torch.no_grad():
        torch.testing.assert_close(grown(taps), decoder(taps), atol=1e-5, rtol=0)
    with pytest.raises(StylizeError, match="can only grow"):
        grow_decoder(grown, FAST, taps)
    assert parse_decoder_convs("2,2,3,3") == (2, 2, 3, 3)
    for bad in ("2,2,3", "2,2,0,3", "a,b,c,d"):
        with pytest.raises(StylizeError, match="four positive counts"):
            parse_decoder_convs(bad)


def test_a_widened_relu4_1_computes_what_the_narrow_one_did():
    torch.manual_seed(0)
    encoder, decoder = Encoder(FAST), Decoder("skip", FAST)
    images = torch.rand(2, 3, 32, 40)

    def stylised(encoder, decoder):
        style = [mean_std(t) for t in encoder(images.flip(0))]
        return decoder([AdaIN()(t, *s) for t, s in zip(encoder(images), style)])

    wide_encoder, wide_decoder = widen_relu4_1(encoder, decoder, 192, images)
    assert [t.shape[1] for t in wide_encoder(images)] == [16, 32, 64, 192]
    assert wide_decoder.shape.decoder_widths == (16, 32, 64, 128)  # only the tap widens, not the decoder
    first = [m for m in wide_decoder if isinstance(m, torch.nn.Conv2d)][0]
    assert (first.in_channels, first.out_channels) == (192, 64) and not first.weight[:, 128:].any()
    new_filters = wide_encoder.convs["conv4_1"].weight[128:]
    assert new_filters.abs().sum() > 0  # random, so they can learn once the decoder reads them
    with torch.no_grad():
        torch.testing.assert_close(stylised(wide_encoder, wide_decoder), stylised(encoder, decoder), atol=1e-5, rtol=0)
    with pytest.raises(StylizeError, match="below the model's 128; a model can only grow"):
        widen_relu4_1(encoder, decoder, 64, images)
    deeper = replace(wide_decoder.shape, decoder_convs=(2, 2, 2, 2))
    with pytest.raises(StylizeError, match="deepen a model before widening it"):
        grow_decoder(wide_decoder, deeper, wide_encoder(images))


def test_train_fast_grows_a_shipped_model(folders, tmp_path, fast_file):
    cfg = FastTrainConfig(content_dir=str(folders / "content"), style_dir=str(folders / "style"),
                          out=str(tmp_path / "grow"), encoder_iters=0, iters=2, batch_size=2, image_size=40,
                          crop_size=32, workers=0, save_every=2, device="cpu", loss_net="vgg",
                          init=str(fast_file), decoder_convs="2,2,3,3", relu4_1_width=192)
    grown = train_fast(cfg)["shape"]
    assert (grown["decoder_convs"], grown["widths"]) == ([2, 2, 3, 3], [16, 32, 64, 192])
    # Resuming reads the shape from the checkpoint; the exported file carries it to the engine.
    state = train_fast(FastTrainConfig(**{**cfg.__dict__, "init": None, "decoder_convs": None, "relu4_1_width": 0,
                                          "iters": 3, "resume": "auto"}))
    assert state["iteration"] == 3
    meta = export_fast(tmp_path / "grow" / "checkpoint_00000003.pt", tmp_path / "grown.safetensors")
    engine = Engine.load("fast", tmp_path / "grown.safetensors", device="cpu", precision="fp32")
    # What is exported is the moving average of the weights, not the last step's.
    assert meta["weights"] == "moving average of the decoder phase's (decay 0.99)"
    for name, module in (("decoder", engine.decoder), ("student", engine.encoder)):
        exported = {k: v.contiguous() for k, v in module.state_dict().items()}
        assert all(torch.equal(exported[k], v.contiguous()) for k, v in state["average"][name].items())
    assert any(not torch.equal(v, state["average"]["decoder"][k]) for k, v in state["decoder"].items())
    with pytest.raises(StylizeError, match="--ema-decay must be at least 0 and below 1, not 1.0"):
        train_fast(FastTrainConfig(**{**cfg.__dict__, "ema_decay": 1.0}))
    assert engine.decoder.shape.decoder_convs == (2, 2, 3, 3) and engine.encoder.shape.widths[3] == 192
    assert engine.stylize_tensor(to_tensor(gradient_image((40, 32), 1)), engine.style_stats(
        to_tensor(gradient_image((32, 32), 2)))).shape == (3, 32, 40)
