import torch

from stylize.errors import StylizeError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def pick_device(name="auto"):
    """'auto' is CUDA when a GPU is visible, else the CPU; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise StylizeError("device 'cuda' requested but no CUDA GPU is available (use --device cpu or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise StylizeError(f"unknown device {name!r}; expected one of {', '.join(DEVICE_CHOICES)}") from None
