"""The fast model's phase-2 losses (stylize/training/fast.py): learning the teacher's paintings.

pixel:    L1 to the teacher's painting;
feature:  MSE to it at VGG-19's relu1_1 and relu2_1 (shallow taps: no pass through the deep layers);
content, style: the AdaIN paper's losses in VGG-19 (a whole pass and its backward), the style's
          statistics the style crop's or (style_target "teacher") those of the teacher's painting.
"""
import torch
import torch.nn.functional as F

from stylize.models.networks import RELU2_1
from stylize.models.style_layers import mean_std, stylize_taps
from stylize.training.losses import losses_of_taps

FEATURE_DEPTH = RELU2_1 + 1  # the feature loss's taps: relu1_1 and relu2_1


def teacher_losses(cfg, vgg, content, output, teacher, stats):
    """{name: loss} of phase 2 for the fast model's `output` and the teacher's painting of the same
    content crops (see the module's docstring); the weighted sum is `total`. `vgg` is VGG-19."""
    losses, total = {}, 0.0  # a term whose weight is 0 is not computed: its VGG pass would cost for nothing
    style_on_teacher = cfg.adain_weight and cfg.style_target == "teacher"
    if cfg.feature_weight or style_on_teacher:
        with torch.no_grad():  # one pass over the teacher's painting serves both terms
            teacher_taps = vgg(teacher, depth=4 if style_on_teacher else FEATURE_DEPTH)
    if cfg.feature_weight or cfg.adain_weight:  # one pass over the output serves both terms too
        output_taps = vgg(output, depth=4 if cfg.adain_weight else FEATURE_DEPTH)
    if cfg.pixel_weight:
        losses["pixel"] = F.l1_loss(output, teacher)
        total = total + cfg.pixel_weight * losses["pixel"]
    if cfg.feature_weight:
        losses["feature"] = sum(F.mse_loss(ours.float(), theirs.float())
                                for ours, theirs in zip(output_taps[:FEATURE_DEPTH], teacher_taps))
        total = total + cfg.feature_weight * losses["feature"]
    if cfg.adain_weight:
        style_stats = list(zip(stats.means, stats.stds))
        with torch.no_grad():
            target = stylize_taps(vgg(content), dict(enumerate(style_stats)), (3,))[3]
        if style_on_teacher:
            # what the teacher painted for this content is reachable; a style crop's own
            # statistics may not be (a sky under a crop of brushstrokes)
            style_stats = [mean_std(tap) for tap in teacher_taps]
        losses["content"], losses["style"] = losses_of_taps(output_taps, target, style_stats)
        total = total + cfg.adain_weight * (losses["content"] + cfg.style_weight * losses["style"])
    losses["total"] = total
    return losses
