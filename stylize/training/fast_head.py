"""How train-fast's phase 2 starts: from a model file (`load_init`), with the head's tap targets
fitted to the slim encoder's own statistics (`fit_head`), and old optimiser states split the way
the trainer's groups are now (`split_head_group`)."""
import logging

import torch
from safetensors.torch import load_file

from stylize.errors import StylizeError
from stylize.models.fast import StyledDecoder
from stylize.models.networks import FAST, Encoder, NetworkShape
from stylize.models.style_layers import mean_std
from stylize.models.weights import load_fast, read_metadata

log = logging.getLogger(__name__)
# The tap fit's ridge penalty per style crop, on standardised codes: on 2,073 crops of our
# paintings, R² on held-out paintings was flat from 1 to 100 in all (best near 10; training log).
RIDGE_PER_CROP = 0.005


def load_init(path):
    """(slim encoder, StyledDecoder, whether its head is trained) from a fast model file: this
    design's, or a first-design file (a slim encoder and skip decoder, no head)."""
    meta = read_metadata(path)  # a missing or unreadable file: one clear error
    state = load_file(str(path))
    if any(key.startswith("decoder.head.") for key in state):
        return *load_fast(path), True
    shape = NetworkShape.from_dict(meta.get("shape", FAST.as_dict()))
    encoder, decoder = Encoder(shape), StyledDecoder(shape)
    try:
        encoder.load_state_dict({k[8:]: v.float() for k, v in state.items() if k.startswith("encoder.")})
        decoder.net.load_state_dict({k[8:]: v.float() for k, v in state.items() if k.startswith("decoder.")})
    except RuntimeError as e:
        raise StylizeError(f"{path} is not a fast model file: {str(e).splitlines()[-1].strip()}") from None
    decoder.metadata = meta
    return encoder, decoder, False


@torch.no_grad()
def fit_head(head, student, pool, device, batch=64):
    """Standardise the head's code on the pool's styles, then fit its tap targets by ridge
    regression to the slim encoder's own statistics (mean, log std) of the pool's style crops."""
    codes, targets = [], []
    for start in range(0, len(pool), batch):
        indices = torch.arange(start, min(start + batch, len(pool)))
        _, style, _, stats = pool.batch(indices, device)
        codes.append(head.raw_code(stats.means, stats.stds))
        own = [mean_std(t) for t in student(style)]
        targets.append(torch.cat([torch.cat([m.flatten(1), s.flatten(1).log()], dim=1) for m, s in own], dim=1))
    codes, targets = torch.cat(codes), torch.cat(targets)
    head.code_shift.copy_(codes.mean(0))
    head.code_scale.copy_(codes.std(0).clamp_min(1e-3))
    x = torch.cat([(codes - head.code_shift) / head.code_scale, torch.ones(len(codes), 1, device=device)], dim=1)
    penalty = RIDGE_PER_CROP * len(codes) * torch.eye(x.shape[1], device=device)
    solution = torch.linalg.solve(x.T @ x + penalty, x.T @ targets)
    # the solution's columns are per tap (means, log stds); the head's outputs are too
    head.taps.weight.copy_(solution[:-1].T)
    head.taps.bias.copy_(solution[-1])
    explained = 1 - ((x @ solution - targets) ** 2).sum() / ((targets - targets.mean(0)) ** 2).sum()
    log.info("fitted the head's tap targets on %d style crops: R² %.3f", len(codes), explained.item())


def split_head_group(optimizer_state, taps):
    """A decoder optimiser's state with the head's parameters in two groups, its first `taps`
    parameters (the tap targets, StyleHead's order) then the modulation: older checkpoints held
    the head in one group."""
    groups = optimizer_state["param_groups"]
    if len(groups) != 2:
        return optimizer_state
    head = groups[1]
    return {**optimizer_state, "param_groups": [groups[0], {**head, "params": head["params"][:taps]},
                                                {**head, "params": head["params"][taps:]}]}
