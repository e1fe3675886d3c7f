"""Training the fast model: distillation, the teacher pool, the head's fit, phase 2, resume, warm starts."""
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import gradient_image, random_decoder
from safetensors.torch import save_file

from stylize.errors import StylizeError
from stylize.media.images import to_tensor
from stylize.models.fast import StyledDecoder
from stylize.models.networks import FAST, Decoder, Encoder
from stylize.models.style_layers import mean_std, stylize_taps
from stylize.models.style_stats import StyleStats
from stylize.models.weights import METADATA_KEY, load_encoder, load_fast, read_metadata, save_decoder, save_fast
from stylize.pipelines.engine import Engine
from stylize.training.config import STYLE_TARGETS, FastTrainConfig
from stylize.training.fast import FastTrainer
from stylize.training.fast_export import export_fast
from stylize.training.fast_head import fit_head
from stylize.training.fast_losses import teacher_losses
from stylize.training.loop import load_checkpoint
from stylize.training.teacher_pool import POOL_FILE, TeacherPool, to_bytes

REPO = Path(__file__).resolve().parents[2]


def train_fast(cfg, command=""):
    return FastTrainer(cfg, command).run()


@pytest.fixture
def folders(tmp_path):
    for kind, seeds in (("content", range(3)), ("style", range(10, 13))):
        (tmp_path / kind).mkdir()
        for seed in seeds:
            gradient_image((48, 40), seed).save(tmp_path / kind / f"{seed}.png")
    return tmp_path


@pytest.fixture
def run_config(folders, decoder_file, tmp_path):
    return dict(content_dir=str(folders / "content"), style_dir=str(folders / "style"), out=str(tmp_path / "run"),
                encoder_iters=2, batch_size=2, image_size=40, crop_size=32, workers=0, save_every=2, device="cpu",
                teacher=str(decoder_file), pool_size=6)


def test_train_fast_distils_then_learns_from_the_teacher_pool_and_resumes(run_config, tmp_path):
    train_fast(FastTrainConfig(**run_config, iters=3), "stylize train-fast A")
    first = load_checkpoint(tmp_path / "run" / "checkpoint_00000003.pt")
    assert first["kind"] == "fast" and set(first["losses"]) == {"pixel", "feature", "total"}
    assert first["head_fitted"] and first["data"]["teacher_pool_pairs"] == 6
    pool = torch.load(tmp_path / "run" / POOL_FILE, weights_only=True)
    assert pool["contents"].shape == pool["outputs"].shape == (6, 3, 32, 32) and pool["contents"].dtype == torch.uint8
    assert [m.shape for m in pool["means"]] == [(6, 64), (6, 128), (6, 256), (6, 512)]
    made = (tmp_path / "run" / POOL_FILE).stat().st_mtime_ns
    killed = tmp_path / "run" / ".teacher_pool.0123456789ab.pt"  # a pool writer killed before its rename
    killed.write_bytes(b"half")
    state = train_fast(FastTrainConfig(**run_config, iters=5, resume="auto"), "stylize train-fast B")
    assert state["iteration"] == 5 and (tmp_path / "run" / POOL_FILE).stat().st_mtime_ns == made  # reused
    assert not killed.exists()
    # The student stopped learning when phase 2 began; the decoder and head go on.
    assert all(torch.equal(a, b) for a, b in zip(first["student"].values(), state["student"].values()))
    changed = {k for k, v in first["decoder"].items() if not torch.equal(v, state["decoder"][k])}
    assert any(k.startswith("net.") for k in changed) and any(k.startswith("head.") for k in changed)
    target = tmp_path / "fast.safetensors"
    meta = export_fast([tmp_path / "run" / "checkpoint_00000005.pt"], target)
    assert (meta["encoder_iterations"], meta["decoder_iterations"]) == (2, 3)
    assert meta["commands"] == [{"from_iteration": 0, "command": "stylize train-fast A"},
                                {"from_iteration": 3, "command": "stylize train-fast B"}]
    encoder, decoder = load_fast(target)
    assert encoder.shape == FAST and decoder.metadata["iterations"] == 5
    # A pool made by another teacher is not reused.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / POOL_FILE).write_bytes((tmp_path / "run" / POOL_FILE).read_bytes())
    other = train_fast(FastTrainConfig(**{**run_config, "out": str(tmp_path / "other"), "pool_size": 4}, iters=3))
    assert torch.load(tmp_path / "other" / POOL_FILE, weights_only=True)["contents"].shape[0] == 4
    assert other["iteration"] == 3


def test_the_adain_losses_join_when_weighted(run_config):
    state = train_fast(FastTrainConfig(**{**run_config, "encoder_iters": 0, "adain_weight": 0.5}, iters=1))
    losses = state["losses"]
    assert set(losses) == {"pixel", "feature", "content", "style", "total"}
    expected = losses["pixel"] + losses["feature"] + 0.5 * (losses["content"] + 25 * losses["style"])
    assert losses["total"] == pytest.approx(expected, rel=1e-5)


def test_the_style_loss_can_aim_at_the_teachers_statistics(run_config):
    """With style_target "teacher", an output that is the teacher's painting has no style loss;
    against the style crop's statistics it has one, and the other terms do not change."""
    trainers = {target: FastTrainer(FastTrainConfig(**{**run_config, "encoder_iters": 0, "adain_weight": 1.0},
                                                    style_target=target)) for target in STYLE_TARGETS}
    pool = trainers["style"]._teacher_pool()
    content, _, teacher, stats = pool.batch(torch.arange(2), "cpu")
    with torch.no_grad():
        losses = {target: teacher_losses(trainer.cfg, trainer.vgg, content, teacher, teacher, stats)
                  for target, trainer in trainers.items()}
    assert losses["teacher"]["style"].item() == 0 and losses["style"]["style"].item() > 1e-3
    assert all(torch.equal(losses["teacher"][name], losses["style"][name]) for name in ("pixel", "feature", "content"))


def test_an_attention_teacher_paints_the_pool_from_each_style_crops_patches(run_config, tmp_path):
    decoder = random_decoder("skip")
    decoder.style_layer = "attention"
    save_decoder(tmp_path / "attention.safetensors", decoder, {"iterations": 0})
    teacher_file = str(tmp_path / "attention.safetensors")
    trainer = FastTrainer(FastTrainConfig(**{**run_config, "encoder_iters": 0, "teacher": teacher_file}))
    pool = trainer._teacher_pool()
    content, style, teacher, _ = pool.batch(torch.arange(2), "cpu")
    engine = Engine.load("quality", tmp_path / "attention.safetensors", device="cpu", precision="fp32")
    with torch.no_grad():
        by_patches = torch.stack([engine.stylize_tensor(c, engine.style_stats(s)) for c, s in zip(content, style)])
        stats = [engine.style_stats(s) for s in style]
        by_numbers = torch.stack([engine.stylize_tensor(c, StyleStats(one.means, one.stds))
                                  for c, one in zip(content, stats)])
    # the pool's teacher runs at the machine's precision (bf16 where the CPU has it) and keeps uint8
    assert (teacher - by_patches).abs().mean() < 0.004
    assert (teacher - by_numbers).abs().mean() > 0.01  # not the AdaIN reading of the same crops


def test_the_heads_tap_targets_and_modulation_learn_at_their_own_rates(run_config, tmp_path):
    base = {**run_config, "encoder_iters": 0, "modulation_lr": 1e-3}
    before = train_fast(FastTrainConfig(**base, iters=1))
    after = train_fast(FastTrainConfig(**base, iters=2, head_lr=0.0, resume="auto"))
    moved = {k for k, v in before["decoder"].items() if not torch.equal(v, after["decoder"][k])}
    assert {k for k in moved if k.startswith("head.")} == {f"head.modulation.{i}.{p}" for i in (0, 2)
                                                           for p in ("weight", "bias")}


def test_a_checkpoint_with_the_head_in_one_optimiser_group_resumes(run_config, tmp_path):
    """Checkpoints written before --modulation-lr (2026-12-03) held the head's parameters in one Adam group."""
    train_fast(FastTrainConfig(**{**run_config, "encoder_iters": 0}, iters=1))
    path = tmp_path / "run" / "checkpoint_00000001.pt"
    ckpt = torch.load(path, weights_only=True)
    net, taps, modulation = ckpt["decoder_optimizer"]["param_groups"]
    assert len(taps["params"]) == 2 and len(modulation["params"]) == 4
    one_group = {**taps, "params": taps["params"] + modulation["params"]}
    ckpt["decoder_optimizer"]["param_groups"] = [net, one_group]
    torch.save(ckpt, path)
    resumed = FastTrainer(FastTrainConfig(**{**run_config, "encoder_iters": 0}, iters=2, resume="auto"))
    groups = resumed.decoder_optimizer.state_dict()["param_groups"]
    assert [g["params"] for g in groups] == [net["params"], taps["params"], modulation["params"]]
    state = resumed.decoder_optimizer.state[resumed.decoder.head.modulation[2].weight]
    assert torch.equal(state["exp_avg"], ckpt["decoder_optimizer"]["state"][modulation["params"][-2]]["exp_avg"])


def test_phase_2_in_mixed_precision_computes_the_same_losses_in_bf16(run_config, tmp_path):
    base = {**run_config, "encoder_iters": 0, "adain_weight": 1.0, "identity_pixel_weight": 1.0,
            "identity_feature_weight": 1.0}
    exact = train_fast(FastTrainConfig(**base, iters=1))["losses"]
    mixed = train_fast(FastTrainConfig(**{**base, "out": str(tmp_path / "amp"), "amp": True}, iters=1))["losses"]
    assert mixed.keys() == exact.keys()
    assert mixed["total"] != exact["total"]  # the convolutions did run in bf16
    assert all(mixed[name] == pytest.approx(exact[name], rel=0.05) for name in exact)
    resumed = train_fast(FastTrainConfig(**{**base, "out": str(tmp_path / "amp"), "amp": True}, iters=2,
                                         resume="auto"))
    assert resumed["iteration"] == 2 and resumed["scaler"] == {}  # no gradient scaler on the CPU


def first_design_file(path):
    """A slim encoder and a plain skip decoder with no head, as the first design's file was."""
    torch.manual_seed(3)
    encoder, decoder = Encoder(FAST), Decoder("skip", FAST)
    state = {f"encoder.{k}": v for k, v in encoder.state_dict().items()}
    state.update({f"decoder.{k}": v for k, v in decoder.state_dict().items()})
    meta = {"iterations": 4, "shape": FAST.as_dict(), "command": "stylize train-fast --iters 4"}
    save_file(state, str(path), metadata={METADATA_KEY: json.dumps(meta)})
    return encoder, decoder


def test_a_first_design_file_goes_on_with_a_fitted_head(run_config, tmp_path):
    old = tmp_path / "first.safetensors"
    encoder, decoder = first_design_file(old)
    cfg = {**run_config, "init": str(old), "encoder_iters": 4}
    with pytest.raises(StylizeError, match="before the end of distillation"):
        train_fast(FastTrainConfig(**{**cfg, "encoder_iters": 9}, iters=10))
    with pytest.raises(StylizeError, match="not a readable safetensors file"):
        train_fast(FastTrainConfig(**{**cfg, "init": str(tmp_path / "missing.safetensors")}, iters=5))
    state = train_fast(FastTrainConfig(**cfg, iters=5), "stylize train-fast --init first.safetensors")
    assert state["iteration"] == 5 and state["head_fitted"]
    # A file from before the chain of commands was kept names only its last, starting where unknown.
    assert state["commands"] == [{"from_iteration": None, "command": "stylize train-fast --iters 4"},
                                 {"from_iteration": 4, "command": "stylize train-fast --init first.safetensors"}]
    assert all(torch.equal(v, state["student"][k]) for k, v in encoder.state_dict().items())
    # --finetune-encoder: the student learns in phase 2 too (not its fixed RGB preprocess).
    joint = train_fast(FastTrainConfig(**{**cfg, "out": str(tmp_path / "joint"), "finetune_encoder": True}, iters=5))
    changed = {k for k, v in encoder.state_dict().items() if not torch.equal(v, joint["student"][k])}
    assert changed and not any(k.startswith("preprocess") for k in changed)


def test_train_fast_goes_on_in_the_new_layout_and_resumes_in_it(run_config, tmp_path):
    old_shape = replace(FAST, decoder_convs=(2, 2, 2, 3))
    init = tmp_path / "old.safetensors"
    torch.manual_seed(0)
    save_fast(init, Encoder(old_shape), StyledDecoder(old_shape), {"iterations": 2})
    cfg = {**run_config, "init": str(init), "decoder_convs": "2,2,4,1"}
    with pytest.raises(StylizeError, match="it needs --init"):
        train_fast(FastTrainConfig(**{**cfg, "init": None}, iters=3))
    state = train_fast(FastTrainConfig(**cfg, iters=3))
    assert state["iteration"] == 3 and state["shape"]["decoder_convs"] == [2, 2, 4, 1]
    with pytest.raises(StylizeError, match="differs from the checkpoint's layout 2,2,4,1"):
        train_fast(FastTrainConfig(**{**cfg, "decoder_convs": "2,2,5,1"}, iters=4, resume="auto"))
    assert train_fast(FastTrainConfig(**cfg, iters=4, resume="auto"))["iteration"] == 4
    export_fast([tmp_path / "run" / "checkpoint_00000004.pt"], tmp_path / "new.safetensors")
    encoder, decoder = load_fast(tmp_path / "new.safetensors")
    assert encoder.shape.decoder_convs == (2, 2, 4, 1)
    assert sum(isinstance(layer, torch.nn.Conv2d) for layer in decoder.net) == 9


def test_the_fitted_head_reproduces_the_slim_encoders_own_adain():
    """Fitted on a pool's styles, the head's tap targets are the slim encoder's own statistics
    of those styles, and with its modulation at zero the output is the first design's."""
    torch.manual_seed(0)
    student, vgg = Encoder(FAST), load_encoder()
    decoder = StyledDecoder(FAST)
    styles = to_bytes(torch.stack([to_tensor(gradient_image((32, 32), seed)) for seed in range(12)]))
    with torch.no_grad():
        vgg_stats = [mean_std(t) for t in vgg(styles.float() / 255)]
    pool = TeacherPool(styles, styles, styles, tuple(m.flatten(1) for m, _ in vgg_stats),
                       tuple(s.flatten(1) for _, s in vgg_stats), {})
    fit_head(decoder.head, student, pool, torch.device("cpu"))
    content = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        own = [mean_std(t) for t in student(styles[:2].float() / 255)]
        targets, modulation = decoder.condition([m[:2] for m, _ in vgg_stats], [s[:2] for _, s in vgg_stats])
        for level in range(4):
            torch.testing.assert_close(targets[level][0], own[level][0], rtol=0.02, atol=0.02)
            torch.testing.assert_close(targets[level][1], own[level][1], rtol=0.02, atol=0.02)
        assert all(not gamma.any() and not beta.any() for gamma, beta in modulation)
        first = decoder.net(stylize_taps(student(content), dict(enumerate(own)), range(4)))
        ours = decoder(stylize_taps(student(content), targets, range(4)), modulation)
    torch.testing.assert_close(ours, first, rtol=0.05, atol=0.02)


def test_the_gpu_recipe_trains_the_fast_model_on_the_cpu(folders, tmp_path):
    env = {**os.environ, "MODEL": "fast", "DEVICE": "cpu", "ITERS": "1", "BATCH": "1", "WORKERS": "0", "POOL": "2",
           "PYTHON": sys.executable}
    result = subprocess.run(["scripts/train_gpu.sh", str(folders), str(tmp_path / "out")], cwd=REPO,
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    meta = read_metadata(tmp_path / "out" / "fast.safetensors")
    assert meta["config"]["crop_size"] == 256 and meta["config"]["pool_size"] == 2
    assert meta["config"]["adain_weight"] == 1 and set(meta["losses"]) == {"pixel", "feature", "content", "style",
                                                                          "id_pixel", "id_feature", "total"}
    assert (meta["config"]["identity_pixel_weight"], meta["config"]["identity_feature_weight"]) == (50, 5)
    assert meta["iterations"] == read_metadata(REPO / "weights" / "fast.safetensors")["iterations"] + 1


def test_fast_export_takes_one_checkpoint(tmp_path):
    with pytest.raises(StylizeError, match="export one checkpoint"):
        export_fast([tmp_path / "a.pt", tmp_path / "b.pt"], tmp_path / "fast.safetensors")


def test_phase_2_needs_a_loss(tmp_path):
    cfg = FastTrainConfig(content_dir="c", style_dir="s", out=str(tmp_path), pixel_weight=0, feature_weight=0)
    with pytest.raises(StylizeError, match="phase 2 needs a loss"):
        train_fast(cfg)
    with pytest.raises(StylizeError, match="--style-target must be one of style, teacher"):
        train_fast(FastTrainConfig(content_dir="c", style_dir="s", out=str(tmp_path), style_target="painting"))


def test_identity_losses_teach_the_fast_model_to_give_photos_and_paintings_back(run_config):
    # Photos at strength 0 and paintings as their own style must come back: trained on these
    # losses alone, the error of both falls, which the teacher's losses never ask for.
    cfg = {**run_config, "encoder_iters": 0, "pixel_weight": 0.0, "feature_weight": 0.0, "lr": 1e-3,
           "identity_pixel_weight": 1.0, "identity_feature_weight": 0.1}

    def errors(trainer):
        content, style, _, stats = trainer.pool.batch(torch.arange(4), "cpu")
        with torch.no_grad():
            photo = trainer.model(content, stats, alpha=0.0)
            painting = trainer.model(style, stats)
        return (photo - content).abs().mean().item(), (painting - style).abs().mean().item()

    first = FastTrainer(FastTrainConfig(**cfg, iters=1))
    state = first.run()
    assert set(state["losses"]) == {"id_pixel", "id_feature", "total"}
    assert state["losses"]["total"] == pytest.approx(state["losses"]["id_pixel"] + 0.1 * state["losses"]["id_feature"])
    last = FastTrainer(FastTrainConfig(**{**cfg, "save_every": 10}, iters=10, resume="auto"))
    last.run()
    (photo_before, painting_before), (photo_after, painting_after) = errors(first), errors(last)
    assert photo_after < 0.7 * photo_before and painting_after < 0.7 * painting_before
