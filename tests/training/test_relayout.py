"""Moving a trained fast decoder's convolutions between blocks: exact where it grows, fitted where it is cut."""
from dataclasses import replace

import pytest
import torch

from stylize.errors import StylizeError
from stylize.models.fast import StyledDecoder
from stylize.models.networks import FAST, Encoder
from stylize.models.style_layers import stylize_taps
from stylize.training.relayout import conv_plan, convs_of, fit_cut_blocks, modulation_rows, relaid_shape, relay_decoder
from stylize.training.teacher_pool import TeacherPool, to_bytes

OLD = replace(FAST, decoder_convs=(2, 2, 2, 3))  # the shipped layout's kind: three convolutions at 1/8


def trained_looking(shape, seed=0):
    """A random StyledDecoder whose head modulates every convolution (as a trained one does)."""
    torch.manual_seed(seed)
    decoder = StyledDecoder(shape)
    torch.nn.init.normal_(decoder.head.modulation[-1].weight, std=0.05)
    torch.nn.init.normal_(decoder.head.modulation[-1].bias, std=0.05)
    return decoder


def random_styles(count, seed=1):
    g = torch.Generator().manual_seed(seed)
    means = [torch.rand(count, c, 1, 1, generator=g) for c in (64, 128, 256, 512)]
    stds = [torch.rand(count, c, 1, 1, generator=g) + 0.1 for c in (64, 128, 256, 512)]
    return means, stds


def paint(decoder, feats, means, stds):
    targets, modulation = decoder.condition(means, stds)
    return decoder(stylize_taps(feats, targets, decoder.reads), modulation)


def test_the_plan_keeps_each_blocks_convolutions_from_its_end():
    # old convolutions, in the decoder's order: 1/8: 0 1 2, 1/4: 3 4, 1/2: 5 6, full: 7 8
    plan, fits = conv_plan(OLD, replace(OLD, decoder_convs=(2, 2, 4, 1)))
    assert plan == [2, 3, None, None, 4, 5, 6, 7, 8] and fits == [0]
    assert conv_plan(OLD, OLD) == (list(range(9)), [])


def test_a_grown_block_paints_exactly_what_it_did():
    old = trained_looking(FAST)
    new, fits = relay_decoder(old, relaid_shape(FAST, "2,3,4,1"))
    assert fits == [] and len(convs_of(new)) == len(convs_of(old)) + 3
    torch.manual_seed(2)
    feats = [torch.randn(2, c, 32 // 2 ** i, 32 // 2 ** i) for i, c in enumerate(FAST.widths)]
    means, stds = random_styles(2)
    with torch.no_grad():
        torch.testing.assert_close(paint(new, feats, means, stds), paint(old, feats, means, stds), rtol=0, atol=1e-6)
    # the new convolutions' modulation rows are zero; the kept ones' are the old ones'
    weight, rows = new.head.modulation[-1].weight, modulation_rows(new)
    plan, _ = conv_plan(FAST, new.shape)
    for source, row in zip(plan, rows):
        expected = (torch.zeros_like(weight[row]) if source is None
                    else old.head.modulation[-1].weight[modulation_rows(old)[source]])
        assert torch.equal(weight[row], expected)


def test_a_cut_block_is_fitted_to_what_the_old_block_computed():
    """The old 1/8 block: two unmodulated identity convolutions, then its last. On features that
    are never negative the block is that last convolution alone, so the fit finds it: residual ~0."""
    old = trained_looking(OLD)
    with torch.no_grad():
        for conv, rows in zip(convs_of(old)[:2], modulation_rows(old)):
            conv.weight.zero_()
            conv.weight[:, :, 1, 1] = torch.eye(conv.out_channels)
            conv.bias.zero_()
            old.head.modulation[-1].weight[rows] = 0
            old.head.modulation[-1].bias[rows] = 0
        taps = old.head.taps  # every slim tap's AdaIN target: mean 6, std 1, so its features stay above 0
        taps.weight.zero_()
        halves = [torch.cat([torch.full((w,), 6.0), torch.zeros(w)]) for w in FAST.widths]
        taps.bias.copy_(torch.cat(halves))
    new, fits = relay_decoder(old, relaid_shape(OLD, "2,2,4,1"))
    torch.manual_seed(3)
    images = to_bytes(torch.rand(48, 3, 64, 64))  # noise: more 3x3 neighbourhoods at 1/8 (3,072) than weights
    means, stds = random_styles(48)
    pool = TeacherPool(images, images, images, tuple(m.flatten(1) for m in means),
                       tuple(s.flatten(1) for s in stds), {})
    residuals = fit_cut_blocks(new, old, fits, Encoder(FAST), pool, torch.device("cpu"), pairs=48, batch=16)
    assert len(residuals) == 1 and residuals[0] < 1e-3
    content = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        feats = Encoder(FAST)(content)
        torch.testing.assert_close(paint(new, feats, [m[:2] for m in means], [s[:2] for s in stds]),
                                   paint(old, feats, [m[:2] for m in means], [s[:2] for s in stds]), rtol=0, atol=0.02)


@pytest.mark.parametrize("layout, message", [
    ("2,2,5", "four counts of at least 1"), ("2,2,x,1", "four counts"), ("0,2,5,1", "four counts"),
    ("3,2,5,1", "block 0 can grow only from two or more"),
    ("2,2,5,2", "block 3 can be cut to one convolution, not to 2"),
])
def test_layouts_the_old_decoder_cannot_start_are_refused(layout, message):
    with pytest.raises(StylizeError, match=message):
        relaid_shape(replace(FAST, decoder_convs=(1, 2, 2, 3)), layout)
