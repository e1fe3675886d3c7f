"""Mixed precision for the trainers: which dtype autocast uses, and the gradient scaling it needs.

On CUDA: float16 with a gradient scaler (float16's range is too small for the gradients without
one). On the CPU: bfloat16, float32's range, so no scaler; it pays on CPUs with native bf16
(AVX512-BF16, AMX), where oneDNN runs the convolutions in it (a fast-model step on a Zen 4 EPYC:
1.0-1.1 against 1.7-1.8 s in float32), and is emulated, slowly, elsewhere. The losses'
statistics stay float32 (stylize.models.style_layers.mean_std).
"""
import torch


class MixedPrecision:
    def __init__(self, enabled, device):
        self.enabled, self.device_type = enabled, device.type
        self.dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda", enabled=enabled and device.type == "cuda")

    def autocast(self):
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.enabled)

    def step(self, loss, optimizers):
        """Backward pass of `loss` and a step of each optimizer (skipped by the scaler where the
        float16 gradients overflowed)."""
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        for optimizer in optimizers:
            self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self):
        return self.scaler.state_dict()

    def load_state_dict(self, state):
        if state:  # a checkpoint written without a scaler (or with it disabled) has none
            self.scaler.load_state_dict(state)
