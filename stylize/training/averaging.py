"""An exponential moving average of a trainer's weights (Polyak averaging, with torch's
AveragedModel), kept beside the weights and exported instead of them.

At batch 8 the weights wander around the minimum from step to step; their average sits nearer
it. Measured on the quality decoder (docs/training-log.md): single checkpoints 200 steps
apart swung by 0.04-0.06 in held-out style loss, and the mean of three scored lower than either
checkpoint alone.
"""
import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from stylize.errors import StylizeError


class WeightAverage:
    """The moving average of `modules` ({name: module}) with `decay` per step (0: none is kept).

    The first `update` copies the weights; `state` is {name: state dict} or None before it.
    """

    def __init__(self, modules, decay):
        if not 0 <= decay < 1:
            raise StylizeError(f"--ema-decay must be at least 0 and below 1, not {decay}")
        self.modules, self.decay, self.model = nn.ModuleDict(modules), decay, None

    def _model(self):
        return AveragedModel(self.modules, multi_avg_fn=get_ema_multi_avg_fn(self.decay))

    @torch.no_grad()
    def update(self):
        if not self.decay:
            return
        if self.model is None:
            self.model = self._model()
        self.model.update_parameters(self.modules)

    def state(self):
        if self.model is None:
            return None
        return {name: module.state_dict() for name, module in self.model.module.items()}

    def load(self, state):
        """Go on from a checkpoint's `state` (None: start at the next update)."""
        if state is None:
            return
        self.model = self._model()
        for name, module_state in state.items():
            self.model.module[name].load_state_dict(module_state)
        self.model.n_averaged.fill_(1)  # past the copy: the next update averages
