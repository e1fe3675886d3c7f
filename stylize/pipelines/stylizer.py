"""The pipeline: PIL images in, PIL images out, over an Engine.

It owns what happens around the network: resizing and cropping, encoding a style (its colours
matched to a content image's for colour preservation), masks at the content's size, and batching
same-size content images. The data flow is one way: PIL image
-> tensor -> engine (encoder taps -> AdaIN -> decoder) -> tensor -> PIL image.
"""
import torch

from stylize.errors import StylizeError
from stylize.media.images import ImageProcessor
from stylize.models.registry import model_spec
from stylize.models.style_stats import stack_styles
from stylize.pipelines.color import match_color
from stylize.pipelines.engine import Engine
from stylize.pipelines.request import check_style_side


class Stylizer:
    """Stylises PIL images with one engine (one model on one device)."""

    def __init__(self, engine):
        self.engine = engine

    @classmethod
    def from_files(cls, model="quality", decoder_path=None, vgg_path=None, device="auto", precision="auto"):
        """Load a model: `quality` (VGG-19 + the shipped decoder, or `decoder_path`) or `fast`."""
        return cls(Engine.load(model, decoder_path, vgg_path, device, precision))

    def prepare_style(self, style, style_size=None, crop=False, like=None, should_stop=None):
        """PIL style image -> StyleStats, to reuse across many content images. style_size: its
        shorter side (None: the model's own). With `like` (a content tensor), the style's colours
        are matched to it first (colour preservation)."""
        side = check_style_side(model_spec(self.engine.model.name), style_size)
        style_t = ImageProcessor(side, crop).preprocess(style)
        if like is not None:
            style_t = match_color(style_t, like)
        return self.engine.style_stats(style_t, should_stop)

    def content_tensor(self, content, content_size=512, crop=False):
        """PIL content image -> the (3, H, W) tensor it is worked on as."""
        return ImageProcessor(content_size, crop).preprocess(content)

    def transfer(self, content, style, masks=None, alpha=1.0, content_size=512, crop=False, should_stop=None):
        """PIL content image + its style (StyleStats; with masks, one per mask) -> PIL image.

        masks: PIL images the size of the (unresized) content image, one per style.
        should_stop: checked between stages and tiles (see Engine.style_stats).
        """
        for mask in masks or ():
            if mask.size != content.size:
                raise StylizeError(f"mask is {mask.size[0]}x{mask.size[1]} but the content image is "
                                   f"{content.size[0]}x{content.size[1]}; masks must match the content size")
        processor = ImageProcessor(content_size, crop)
        mask_t = [processor.preprocess(m.convert("RGB"))[0] for m in masks] if masks else None
        return processor.postprocess(self.engine.stylize_tensor(processor.preprocess(content), style, mask_t, alpha,
                                                                should_stop))

    def transfer_batch(self, contents, style, alpha=1.0, content_size=512, crop=False):
        """Several PIL content images with one style (StyleStats) -> PIL images; those of the same
        (resized) size go through the network together."""
        processor = ImageProcessor(content_size, crop)
        tensors = [processor.preprocess(c) for c in contents]
        return [processor.postprocess(t) for t in stylize_by_size(self.engine, tensors, style, alpha)]


def stylize_by_size(engine, tensors, style, alpha=1.0, should_stop=None):
    """(3, H, W) tensors -> their stylised tensors, in order; those of one size go through the
    network as one batch (faster on a GPU). Images and video frames both batch here.

    style and alpha: one for all, or lists of one per tensor (a dataset's random pairs)."""
    results = [None] * len(tensors)
    by_size = {}
    for i, t in enumerate(tensors):
        by_size.setdefault(tuple(t.shape), []).append(i)
    for indices in by_size.values():
        group_style = stack_styles([style[i] for i in indices]) if isinstance(style, list) else style
        group_alpha = torch.tensor([alpha[i] for i in indices]) if isinstance(alpha, list) else alpha
        out = engine.stylize_tensor(torch.stack([tensors[i] for i in indices]), group_style, alpha=group_alpha,
                                    should_stop=should_stop)
        for i, image in zip(indices, out):
            results[i] = image
    return results
