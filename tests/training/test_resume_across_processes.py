"""Every trainer resumed in a fresh process (another PYTHONHASHSEED) ends bit for bit where the
uninterrupted run ends: its random draws depend on the seed and the iteration only."""
import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import gradient_image

from stylize.training.seeds import seed_of

# Runs the configs given as JSON, one after another, in this process.
RUN = """
import json, sys
import torch
from stylize.training import config
torch.set_num_threads(1)
module, trainer, config_class, configs = json.loads(sys.argv[1])
Trainer = getattr(__import__(f"stylize.training.{module}", fromlist=[trainer]), trainer)
for cfg in configs:
    Trainer(getattr(config, config_class)(**cfg)).run()
"""
TRAINERS = {"decoder": ("decoder", "DecoderTrainer", "TrainConfig"),
            "fast": ("fast", "FastTrainer", "FastTrainConfig"), "bank": ("bank", "BankTrainer", "BankTrainConfig")}


def run_in_fresh_process(trainer, configs, hash_seed):
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    subprocess.run([sys.executable, "-c", RUN, json.dumps([*TRAINERS[trainer], configs])], env=env, check=True,
                   capture_output=True)


@pytest.fixture
def folders(tmp_path):
    for kind, seeds in (("content", range(3)), ("style", range(10, 13))):
        (tmp_path / kind).mkdir()
        for seed in seeds:
            gradient_image((44, 40), seed).save(tmp_path / kind / f"{seed}.png")
    return tmp_path


def configs(trainer, folders, decoder_file, out):
    """(the config of the whole run, checkpoint folder) of a few steps on tiny crops."""
    data = dict(content_dir=str(folders / "content"), batch_size=2, image_size=40, crop_size=32, workers=0,
                save_every=2, device="cpu", iters=4)
    if trainer == "decoder":
        return dict(**data, style_dir=str(folders / "style"), out=str(out), architecture="skip",
                    sample_every=100), out
    if trainer == "fast":  # phase 2 from iteration 1, so the resumed steps draw from the teacher pool
        return dict(**data, style_dir=str(folders / "style"), out=str(out), encoder_iters=1,
                    teacher=str(decoder_file), pool_size=6), out
    return dict(**data, styles=[str(folders / "style")], out=str(out / "bank.safetensors"), style_size=40,
                decoder=str(decoder_file), eval_images=1), out / "bank.checkpoints"


def tensors(value):
    """Every tensor in a checkpoint, by its path of keys."""
    if torch.is_tensor(value):
        yield "", value
    elif isinstance(value, dict):
        for key, item in value.items():
            for path, tensor in tensors(item):
                yield f"{key}/{path}", tensor
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            for path, tensor in tensors(item):
                yield f"{i}/{path}", tensor


@pytest.mark.parametrize("trainer", list(TRAINERS))
def test_a_run_resumed_in_another_process_equals_the_uninterrupted_run(trainer, folders, decoder_file, tmp_path):
    whole, straight = configs(trainer, folders, decoder_file, tmp_path / "straight")
    part, resumed = configs(trainer, folders, decoder_file, tmp_path / "resumed")
    run_in_fresh_process(trainer, [whole, {**part, "iters": 2}], hash_seed=1)
    run_in_fresh_process(trainer, [{**part, "resume": "auto"}], hash_seed=2)
    ours, theirs = (dict(tensors(torch.load(folder / "checkpoint_00000004.pt", weights_only=False)))
                    for folder in (resumed, straight))
    assert ours.keys() == theirs.keys()
    # the global generator's state is not compared: creating a DataLoader draws from it, once per
    # process, and no draw of the training reads it afterwards (the draws above are seeded per step)
    different = [path for path, tensor in ours.items()
                 if not path.startswith("rng") and not torch.equal(tensor, theirs[path])]
    assert not different


def test_seeds_take_integers_only():
    assert seed_of(0, 1, 2) == seed_of(0, 1, 2) != seed_of(0, 2, 1)
    with pytest.raises(TypeError):
        seed_of(0, "pool", 2)
