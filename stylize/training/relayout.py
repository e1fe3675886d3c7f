"""Moving a trained fast decoder's convolutions between its blocks (`train-fast --init F --decoder-convs`).

The shipped decoder paints its dark contours in its 1/8-resolution block, where one pixel is
8 px of output; the VGG-shaped teacher has one convolution there and
four at 1/4. A 64-wide convolution at 1/4 costs the MACs of a 128-wide one at 1/8, so moving
convolutions from 1/8 to 1/4 costs nothing per frame. Training such a layout from nothing would
lose the CPU-hours in the file; instead the new decoder starts from the old one:
  * a block that keeps its count keeps its convolutions;
  * a block that grows keeps them and gets identity convolutions before its last one: their
    input is the previous convolution's ReLU, never negative, so the block computes what it did;
  * a block cut to one convolution gets that one fitted by least squares, on the teacher pool's
    crops, to what the old block's last convolution computed (`fit_cut_blocks`): the best a
    single convolution can do, which phase 2 then trains on;
  * the head's modulation rows follow their convolutions (zero for the new ones).
"""
from dataclasses import replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from stylize.errors import StylizeError
from stylize.models.fast import StyledDecoder
from stylize.models.style_layers import stylize_taps

BLOCKS = (3, 2, 1, 0)  # the decoder's blocks in the order it runs them (relu4_1's first)
RIDGE = 1e-3  # of the inputs' mean variance: keeps directions the data never moves at zero


def parse_layout(decoder_convs):
    """"a,b,c,d" (convolutions per decoder block, relu1_1's first) -> a tuple of four counts."""
    try:
        counts = tuple(int(n) for n in decoder_convs.split(","))
    except ValueError:
        counts = ()
    if len(counts) != 4 or min(counts) < 1:
        raise StylizeError(f"--decoder-convs takes four counts of at least 1, like 2,2,5,1, not {decoder_convs!r}")
    return counts


def relaid_shape(shape, decoder_convs):
    """`shape` with the decoder layout "a,b,c,d", if the old decoder can start it."""
    counts = parse_layout(decoder_convs)
    for block in BLOCKS:
        old, new = shape.decoder_convs[block], counts[block]
        if new > old and (old < 2 or shape.decoder_width(block) != shape.widths[block]):
            raise StylizeError(f"--decoder-convs: block {block} can grow only from two or more convolutions "
                               f"as wide as its tap, not from {old}")
        if 1 < new < old:
            raise StylizeError(f"--decoder-convs: block {block} can be cut to one convolution, not to {new}")
    return replace(shape, decoder_convs=counts)


def conv_plan(old_shape, new_shape):
    """Per convolution of the new decoder, in order: the old convolution it starts from (its
    index among the old decoder's convolutions) or None for an identity one; and the indices of
    the new convolutions to fit (`fit_cut_blocks`)."""
    plan, fits, start = [], [], 0
    for block in BLOCKS:
        old, new = old_shape.decoder_convs[block], new_shape.decoder_convs[block]
        last = start + old - 1
        if new < old:
            fits.append(len(plan))
            plan.append(last)
        else:
            plan += list(range(start, last)) + [None] * (new - old) + [last]
        start += old
    return plan, fits


def relay_decoder(old, new_shape):
    """A StyledDecoder of `new_shape` that starts from `old` (see the module's docstring), and the
    indices of its convolutions still to fit."""
    new = StyledDecoder(new_shape, old.head.hidden)
    plan, fits = conv_plan(old.shape, new_shape)
    old_rows, new_rows = modulation_rows(old), modulation_rows(new)
    head = old.head.state_dict()
    last = f"modulation.{len(old.head.modulation) - 1}"
    weight, bias = head[f"{last}.weight"], head[f"{last}.bias"]
    head[f"{last}.weight"] = torch.zeros(new_rows[-1].stop, weight.shape[1], dtype=weight.dtype)
    head[f"{last}.bias"] = torch.zeros(new_rows[-1].stop, dtype=bias.dtype)
    with torch.no_grad():
        for conv, source, rows in zip(convs_of(new), plan, new_rows):
            if source is None:
                conv.weight.zero_()
                conv.weight[:, :, 1, 1] = torch.eye(conv.out_channels)
                conv.bias.zero_()
                continue
            conv.load_state_dict(convs_of(old)[source].state_dict())
            head[f"{last}.weight"][rows] = weight[old_rows[source]]
            head[f"{last}.bias"][rows] = bias[old_rows[source]]
    new.head.load_state_dict(head)
    return new, fits


def convs_of(decoder):
    return [layer for layer in decoder.net if isinstance(layer, nn.Conv2d)]


def modulation_rows(decoder):
    """Per convolution, the slice of the head's last layer that holds its (gamma, beta)."""
    rows, offset = [], 0
    for width in decoder.head.conv_widths:
        rows.append(slice(offset, offset + 2 * width))
        offset += 2 * width
    return rows


@torch.no_grad()
def fit_cut_blocks(new, old, fits, student, pool, device, pairs=128, batch=16):
    """Fit each convolution in `fits` (in order) by ridge regression on the pool's first `pairs`
    crops: its 3x3 neighbourhoods in the new decoder -> the old block's last convolution's output
    (before modulation, which both apply alike). Returns each fit's unexplained share of variance."""
    plan, _ = conv_plan(old.shape, new.shape)
    residuals = []
    for index in fits:
        target_conv, conv = convs_of(old)[plan[index]], convs_of(new)[index]
        xtx = xty = yty = y_sum = rows = 0
        for start in range(0, min(pairs, len(pool)), batch):
            content, _, _, stats = pool.batch(torch.arange(start, min(start + batch, pairs, len(pool))), device)
            taps = student(content)
            seen = {}
            hooks = [conv.register_forward_hook(lambda m, args, out: seen.update(x=args[0])),
                     target_conv.register_forward_hook(lambda m, args, out: seen.update(y=out))]
            for decoder in (new, old):
                targets, modulation = decoder.condition(stats.means, stats.stds)
                decoder(stylize_taps(taps, targets, decoder.reads), modulation)
            for hook in hooks:
                hook.remove()
            x = F.unfold(seen["x"].float(), 3).transpose(1, 2).flatten(0, 1)  # its input is padded already
            x = torch.cat([x, torch.ones(len(x), 1, device=x.device)], dim=1).double()
            y = seen["y"].float().flatten(2).transpose(1, 2).flatten(0, 1).double()
            xtx, xty, yty = xtx + x.T @ x, xty + x.T @ y, yty + (y * y).sum(0)
            y_sum, rows = y_sum + y.sum(0), rows + len(y)
        variance = xtx.diagonal()[:-1] - xtx[-1, :-1] ** 2 / rows  # the last column is the bias's ones
        ridge = torch.diag(torch.cat([RIDGE * variance.mean().expand(len(variance)), variance.new_zeros(1)]))
        solution = torch.linalg.solve(xtx + ridge, xty)
        squared_error = yty - 2 * (solution * xty).sum(0) + (solution * (xtx @ solution)).sum(0)
        residuals.append((squared_error.sum() / (yty - y_sum ** 2 / rows).sum()).item())
        conv.weight.copy_(solution[:-1].T.reshape(conv.weight.shape).float())
        conv.bias.copy_(solution[-1].float())
    return residuals
