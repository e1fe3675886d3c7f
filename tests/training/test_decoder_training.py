import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import gradient_image

from stylize.cli.main import main
from stylize.errors import StylizeError
from stylize.models.attention import StyleMemory, swap_taps
from stylize.models.networks import Decoder
from stylize.models.style_layers import mean_std
from stylize.models.style_stats import StyleStats
from stylize.models.style_transfer import StyleTransferModel
from stylize.models.weights import load_decoder, read_metadata
from stylize.training.config import TrainConfig
from stylize.training.data import EndlessSampler, ImageFolder
from stylize.training.decoder import DecoderTrainer, decoded_identity_losses, learning_rate, style_transfer_losses
from stylize.training.decoder_export import export_decoder as export
from stylize.training.loop import load_checkpoint, newest_checkpoint
from stylize.training.losses import identity_losses

REPO = Path(__file__).resolve().parents[2]


def train(cfg, command=""):
    return DecoderTrainer(cfg, command).run()


def model_of(encoder, decoder):
    return StyleTransferModel("quality", encoder, decoder)


@pytest.fixture
def folders(tmp_path):
    content, style = tmp_path / "content", tmp_path / "style" / "impressionism"
    content.mkdir(), style.mkdir(parents=True)
    for i in range(4):
        gradient_image((48, 40), i).save(content / f"c{i}.jpg")
        gradient_image((40, 44), 10 + i).save(style / f"s{i}.png")
    return tmp_path / "content", tmp_path / "style"


def config(folders, out, **kw):
    content, style = folders
    base = dict(content_dir=str(content), style_dir=str(style), out=str(out), iters=4, batch_size=2,
                image_size=40, crop_size=32, workers=0, save_every=2, sample_every=2, architecture="skip")
    return TrainConfig(**{**base, **kw})


def decoder_weights(state):
    return {k: v.clone() for k, v in state["decoder"].items()}


def test_training_lowers_the_loss_writes_checkpoints_samples_and_logs(folders, tmp_path):
    out = tmp_path / "run"
    first = train(config(folders, out, iters=1, lr=1e-3))
    last = train(config(folders, out, iters=30, lr=1e-3, resume="auto", save_every=10, sample_every=30))
    assert last["iteration"] == 30
    assert last["losses"]["total"] < first["losses"]["total"]
    assert [p.name for p in sorted(out.glob("checkpoint_*.pt"))] == ["checkpoint_00000020.pt", "checkpoint_00000030.pt"]
    assert (out / "sample_00000030.png").exists()
    assert any((out / "tensorboard").iterdir())
    assert not list(out.glob(".*"))  # no temporary files left


def test_resume_continues_bit_for_bit(folders, tmp_path):
    straight = train(config(folders, tmp_path / "a", iters=4))
    train(config(folders, tmp_path / "b", iters=2))
    resumed = train(config(folders, tmp_path / "b", iters=4, resume="auto"))
    assert resumed["iteration"] == 4
    for key, value in decoder_weights(straight).items():
        assert torch.equal(resumed["decoder"][key], value), key
    for key, value in straight["average"]["decoder"].items():  # the moving average goes on as it was
        assert torch.equal(resumed["average"]["decoder"][key], value), key


def test_the_moving_average_of_the_weights_is_kept_and_exported(folders, tmp_path):
    train(config(folders, tmp_path / "run", iters=2, save_every=1, ema_decay=0.5))
    first, second = (torch.load(tmp_path / "run" / f"checkpoint_{i:08d}.pt", weights_only=True) for i in (1, 2))
    name = next(n for n in first["decoder"] if not torch.equal(first["decoder"][n], second["decoder"][n]))
    assert torch.equal(first["average"]["decoder"][name], first["decoder"][name])  # the first update copies
    expected = 0.5 * first["decoder"][name] + 0.5 * second["decoder"][name]
    assert torch.allclose(second["average"]["decoder"][name], expected)
    meta = export([tmp_path / "run" / "checkpoint_00000002.pt"], tmp_path / "d.safetensors")
    assert meta["weights"] == "iteration 2's moving average (decay 0.5)"
    assert torch.allclose(load_decoder(tmp_path / "d.safetensors").state_dict()[name], expected)


def test_sampler_depends_only_on_iteration():
    full = EndlessSampler(10, 3, seed=5)
    it = iter(full)
    draws = [next(it) for _ in range(12)]
    later = iter(EndlessSampler(10, 3, seed=5, start=2))
    assert [next(later) for _ in range(6)] == draws[6:]


def test_ranks_draw_from_disjoint_shards():
    for rank in range(2):
        it = iter(EndlessSampler(10, 4, rank=rank, world=2))
        assert {next(it)[0] % 2 for _ in range(40)} == {rank}


def test_unreadable_files_are_skipped_and_counted(folders, tmp_path, caplog):
    content, _ = folders
    (content / "zero.jpg").write_bytes(b"")
    (content / "text.png").write_text("no")
    gradient_image((10, 10)).save(content / "icon.png")
    full = content / "c0.jpg"
    (content / "truncated.jpg").write_bytes(full.read_bytes()[:200])
    dataset = ImageFolder(content, 40, 32)
    skipped = 0
    for index in range(len(dataset)):
        image, count = dataset[(index, 0)]
        assert image.shape == (3, 32, 32)
        skipped += count
    assert skipped >= 4
    assert "skipping training image" in caplog.text and "image too small" in caplog.text


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StylizeError, match="no images found"):
        ImageFolder(tmp_path)


def test_export_writes_safetensors_with_metadata_that_transfer_reads(folders, tmp_path):
    train(config(folders, tmp_path / "run", iters=2))
    target = tmp_path / "decoder.safetensors"
    export([newest_checkpoint(tmp_path / "run")], target, half=True)
    meta = read_metadata(target)
    assert meta["architecture"] == "skip" and meta["iterations"] == 2 and meta["dtype"] == "float16"
    assert meta["data"]["content_images"] == 4 and meta["data"]["style_images"] == 4
    assert set(meta["losses"]) == {"content", "style", "total"}
    assert meta["weights"] == "iteration 2's moving average (decay 0.995)"
    assert load_decoder(target).architecture == "skip"


def test_export_averages_the_weights_of_several_checkpoints(folders, tmp_path, capsys):
    train(config(folders, tmp_path / "run", iters=2, save_every=1, ema_decay=0))  # checkpoints without an average
    first, second = (tmp_path / "run" / f"checkpoint_{i:08d}.pt" for i in (1, 2))
    assert main(["export", str(second), str(first), str(tmp_path / "mean.safetensors")]) == 0
    assert "weights: mean of 2 checkpoints' weights (iterations 1, 2)" in capsys.readouterr().out
    meta = read_metadata(tmp_path / "mean.safetensors")
    assert meta["iterations"] == 2 and meta["weights"] == "mean of 2 checkpoints' weights (iterations 1, 2)"
    averaged = load_decoder(tmp_path / "mean.safetensors").state_dict()
    ones = [torch.load(p, weights_only=True)["decoder"] for p in (first, second)]
    name = next(n for n in averaged if not torch.equal(ones[0][n], ones[1][n]))  # a weight that moved
    assert torch.allclose(averaged[name], (ones[0][name] + ones[1][name]) / 2)


def test_export_refuses_to_average_checkpoints_of_other_runs(folders, tmp_path, capsys):
    train(config(folders, tmp_path / "skip", iters=1))
    train(config(folders, tmp_path / "plain", iters=1, architecture="plain"))
    code = main(["export", str(newest_checkpoint(tmp_path / "skip")), str(newest_checkpoint(tmp_path / "plain")),
                 str(tmp_path / "mean.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and "must come from one decoder run" in err and "Traceback" not in err
    assert not (tmp_path / "mean.safetensors").exists()


def test_warm_start_continues_the_iteration_count_and_the_chain_of_commands(folders, tmp_path):
    train(config(folders, tmp_path / "run", iters=1), command="stylize train A")
    train(config(folders, tmp_path / "run", iters=2, resume="auto"), command="stylize train B")
    export([newest_checkpoint(tmp_path / "run")], tmp_path / "d.safetensors")
    # Warm-starting may rewire the same weights as another architecture (here skip -> skip3).
    state = train(config(folders, tmp_path / "more", iters=2, init=str(tmp_path / "d.safetensors"),
                         architecture="skip3"), command="stylize train C")
    export([newest_checkpoint(tmp_path / "more")], tmp_path / "d2.safetensors")
    meta = read_metadata(tmp_path / "d2.safetensors")
    assert meta["iterations"] == 4 and meta["architecture"] == "skip3"
    assert state["history"]["init"] == str(tmp_path / "d.safetensors")
    assert meta["commands"] == [{"from_iteration": 0, "command": "stylize train A"},
                                {"from_iteration": 1, "command": "stylize train B"},
                                {"from_iteration": 2, "command": "stylize train C"}]


def cli_train(folders, out, *extra):
    content, style = folders
    return [sys.executable, "-m", "stylize.cli.main", "train", "--content-dir", str(content), "--style-dir", str(style),
            "--out", str(out), "--batch-size", "2", "--image-size", "40", "--crop-size", "32", "--workers", "0",
            "--architecture", "skip", *extra]


def test_sigterm_saves_a_checkpoint_before_exiting(folders, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(cli_train(folders, out, "--iters", "100000", "--save-every", "100000"),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "tensorboard").exists():
        time.sleep(0.5)
    time.sleep(3)  # a few iterations
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    assert "stopped by SIGTERM" in output
    saved = load_checkpoint(newest_checkpoint(out))
    assert saved["iteration"] >= 1


def test_sigkill_loses_only_the_work_since_the_last_checkpoint(folders, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(cli_train(folders, out, "--iters", "100000", "--save-every", "3"), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("checkpoint_*.pt"))) < 2:
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    (out / ".checkpoint_00000099.0123456789ab.pt").write_bytes(b"half a checkpoint")  # as a kill mid-write leaves
    newest = load_checkpoint(newest_checkpoint(out))  # every visible checkpoint is whole
    assert newest["iteration"] % 3 == 0 and newest["iteration"] >= 3
    resumed = train(config(folders, out, iters=newest["iteration"] + 1, resume="auto"))
    assert resumed["iteration"] == newest["iteration"] + 1
    assert not list(out.glob(".checkpoint_*"))


def test_empty_style_folder_on_the_command_line(folders, tmp_path):
    content, _ = folders
    (tmp_path / "nothing").mkdir()
    result = subprocess.run(cli_train((content, tmp_path / "nothing"), tmp_path / "run", "--iters", "1"),
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: no images found in")


def test_two_process_distributed_training_on_cpu(folders, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           *cli_train(folders, out, "--iters", "3", "--device", "cpu")[1:]]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    state = load_checkpoint(newest_checkpoint(out))
    assert state["iteration"] == 3
    assert "world size 2" in result.stderr


def test_statistics_are_float32_whatever_the_autocast_dtype():
    # A channel with mean 10 and std 0.5: in bfloat16, E[x^2] - E[x]^2 loses the variance entirely.
    feat = (10 + 0.5 * torch.randn(2, 8, 16, 16, generator=torch.Generator().manual_seed(0))).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mean, std = mean_std(feat)
    ref_mean, ref_std = mean_std(feat.float())
    assert mean.dtype == std.dtype == torch.float32
    torch.testing.assert_close(std, ref_std, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(mean, ref_mean)


def fixed_batch(folders, n=4):
    content, style = folders
    load = lambda folder: torch.stack([ImageFolder(folder, 40, 32)[(i, i)][0] for i in range(n)])  # noqa: E731
    return load(content), load(style)


def test_a_bf16_autocast_step_scores_like_float32(folders, encoder):
    content, style = fixed_batch(folders)
    decoder = Decoder("skip")
    with torch.no_grad():
        full = style_transfer_losses(model_of(encoder, decoder), content, style, gram=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = style_transfer_losses(model_of(encoder, decoder), content, style, gram=True)
    for name, reference in full[0].items():
        assert abs(mixed[0][name].item() - reference.item()) < 0.05 * reference.item()


def test_a_short_amp_warm_start_does_not_raise_the_loss(folders, tmp_path, encoder):
    # The model card's recipe: warm-start the shipped decoder under bf16 autocast (it diverged
    # within 5 steps while the statistics were computed in bf16).
    shipped = REPO / "weights" / "adain_decoder.safetensors"
    content, style = fixed_batch(folders)

    def score(decoder):
        with torch.no_grad():
            losses, _ = style_transfer_losses(model_of(encoder, decoder), content, style)
        return losses["content"].item() + 10 * losses["style"].item()

    train(config(folders, tmp_path / "more", iters=4, lr=1e-5, warmup=2, amp=True, save_every=4, init=str(shipped)))
    export([newest_checkpoint(tmp_path / "more")], tmp_path / "d.safetensors")
    assert score(load_decoder(tmp_path / "d.safetensors")) <= 1.02 * score(load_decoder(shipped))


def test_warmup_ramps_the_learning_rate_of_this_run_only():
    cfg = TrainConfig(content_dir="c", style_dir="s", lr=1e-4, lr_decay=0.0, warmup=4)
    ramp = [learning_rate(cfg, i, iterations_before=1000) for i in range(5)]
    assert ramp == pytest.approx([2.5e-5, 5e-5, 7.5e-5, 1e-4, 1e-4])
    decayed = TrainConfig(content_dir="c", style_dir="s", lr=1e-4, lr_decay=1e-3)
    assert learning_rate(decayed, 0, iterations_before=1000) == 5e-5


def test_the_gpu_recipe_packs_trains_and_exports_on_the_cpu(folders, tmp_path):
    content, style = folders
    source = content.parent  # holds content/ and style/
    packed, out = tmp_path / "packed", tmp_path / "out"
    subprocess.run([sys.executable, "scripts/pack_data.py", str(source), str(packed), "--side", "48"], cwd=REPO,
                   check=True, capture_output=True)
    assert len(list((packed / "style").glob("*.jpg"))) == 4  # subfolders flattened, all kept
    env = {**os.environ, "DEVICE": "cpu", "ITERS": "1", "BATCH": "1", "WORKERS": "0", "AMP": "",
           "PYTHON": sys.executable}
    result = subprocess.run(["scripts/train_gpu.sh", str(packed), str(out)], cwd=REPO, capture_output=True,
                            text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    meta = read_metadata(out / "attention_decoder.safetensors")
    assert meta["dtype"] == "float16" and meta["config"]["crop_size"] == 256 and meta["config"]["batch_size"] == 1
    assert (meta["config"]["identity_pixel_weight"], meta["config"]["identity_feature_weight"]) == (50, 1)
    assert {"id_pixel", "id_feature"} <= set(meta["losses"])
    assert meta["iterations"] == read_metadata(REPO / "weights" / "attention_decoder.safetensors")["iterations"] + 1
    assert meta["style_layer"] == "attention"


def test_a_time_limit_stops_the_run_with_a_checkpoint(folders, tmp_path):
    state = train(config(folders, tmp_path / "run", iters=100_000, save_every=100_000, time_limit=0.5))
    assert 1 <= state["iteration"] < 100_000
    assert load_checkpoint(newest_checkpoint(tmp_path / "run"))["iteration"] == state["iteration"]


def test_identity_losses_teach_the_decoder_to_give_an_image_back(folders, tmp_path, encoder):
    # Trained on the identity losses alone, the decoder learns to return an image from its own
    # taps (strength 0), which the paper's losses never ask of it.
    content, style = fixed_batch(folders)
    images = torch.cat([content, style])

    def pixel_error(state):
        decoder = Decoder("skip")
        decoder.load_state_dict(state["decoder"])
        with torch.no_grad():
            return (decoder(encoder(images)) - images).abs().mean().item()

    cfg = dict(lr=1e-3, content_weight=0.0, style_weight=0.0, identity_pixel_weight=1.0, identity_feature_weight=0.1)
    first = train(config(folders, tmp_path / "id", iters=1, **cfg))
    last = train(config(folders, tmp_path / "id", iters=40, resume="auto", save_every=40, **cfg))
    assert set(last["losses"]) == {"content", "style", "id_pixel", "id_feature", "total"}
    assert last["losses"]["total"] == pytest.approx(last["losses"]["id_pixel"] + 0.1 * last["losses"]["id_feature"])
    assert pixel_error(last) < 0.7 * pixel_error(first)


def test_identity_paints_photos_at_strength_0_and_paintings_by_themselves_at_1(folders, encoder):
    # The fade decoder tells the two apart: a photo at strength 0 gets its own skips, a painting
    # in its own style at 1 is painted from relu4_1 alone, as the plain decoder paints it.
    photos, paintings = fixed_batch(folders, n=2)
    torch.manual_seed(0)
    fade = Decoder("fade")
    plain, skip = Decoder("plain"), Decoder("skip")
    for same_weights in (plain, skip):
        same_weights.load_state_dict(fade.state_dict())
    with torch.no_grad():
        got = decoded_identity_losses(model_of(encoder, fade), photos, paintings)
        own_photos, own_paintings = encoder(photos), encoder(paintings)
        by_itself = StyleTransferModel("quality", encoder, plain).paint(
            own_paintings, StyleStats.from_pairs(mean_std(t) for t in own_paintings))
        output = torch.cat([skip(own_photos), by_itself])
        images = torch.cat([photos, paintings])
        expected = identity_losses(encoder, output, images, encoder(images))
    for value, reference in zip(got, expected):
        torch.testing.assert_close(value, reference)

def test_without_identity_weights_no_identity_loss_is_computed(folders, tmp_path):
    state = train(config(folders, tmp_path / "plain", iters=1))
    assert set(state["losses"]) == {"content", "style", "total"}


def test_a_source_cap_draws_a_large_source_as_if_it_were_smaller(tmp_path):
    from stylize.training.data import EndlessSampler, capped_weights

    files = [Path(f"wesnoth_{i}.png") for i in range(8)] + [Path("krita_a.png"), Path("freecol_b.png")]
    weights = capped_weights(files, cap=0.2)  # wesnoth's 8 files count as 2 (0.2 of 10)
    assert weights.tolist() == [0.25] * 8 + [1.0, 1.0]
    sampler = iter(EndlessSampler(len(files), batch_size=4000, seed=3, weights=weights))
    picks = [next(sampler)[0] for _ in range(4000)]
    assert abs(sum(p < 8 for p in picks) / 4000 - 0.5) < 0.04  # half the draws, not 80 %


def test_gram_matrix_is_the_channels_co_occurrence_per_position():
    from stylize.training.losses import gram_matrix

    tap = torch.tensor([[1.0, 2.0], [0.0, 3.0]]).reshape(1, 2, 1, 2)  # 2 channels at 2 positions
    # [[1*1 + 2*2, 1*0 + 2*3], [.., 0*0 + 3*3]] / (2 channels * 2 positions)
    assert gram_matrix(tap)[0].tolist() == [[1.25, 1.5], [1.5, 2.25]]


def test_the_gram_loss_joins_the_total_when_weighted(folders, tmp_path):
    state = train(config(folders, tmp_path / "gram", iters=1, gram_weight=1000.0))
    losses = state["losses"]
    assert set(losses) == {"content", "style", "gram", "total"}
    assert losses["gram"] > 0
    assert losses["total"] == pytest.approx(losses["content"] + 10 * losses["style"] + 1000 * losses["gram"], rel=1e-5)


def test_a_warm_start_onto_the_attention_layer_trains_and_exports_a_decoder_that_uses_it(folders, tmp_path):
    train(config(folders, tmp_path / "adain", iters=1))
    export([newest_checkpoint(tmp_path / "adain")], tmp_path / "adain.safetensors")
    train(config(folders, tmp_path / "attention", iters=2, init=str(tmp_path / "adain.safetensors"),
                 style_layer="attention"))
    export([newest_checkpoint(tmp_path / "attention")], tmp_path / "attention.safetensors")
    meta = read_metadata(tmp_path / "attention.safetensors")
    assert meta["style_layer"] == "attention" and meta["iterations"] == 3
    assert meta["model"] == "decoder of the attention style layer (soft patch swap)"
    assert model_of(None, load_decoder(tmp_path / "attention.safetensors")).attention


def test_the_attention_layers_content_loss_asks_for_every_tap_the_decoder_is_handed(folders, encoder):
    content, style = fixed_batch(folders, n=2)
    torch.manual_seed(0)
    decoder = Decoder("skip", style_layer="attention")
    with torch.no_grad():
        losses, output = style_transfer_losses(model_of(encoder, decoder), content, style)
        handed = swap_taps(encoder(content), StyleMemory.of(encoder(style), decoder.reads), decoder.reads)
        expected = sum(F.mse_loss(got, want) for got, want in zip(encoder(output), handed))
    torch.testing.assert_close(losses["content"], expected)
