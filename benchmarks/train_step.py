"""Images per second of one decoder training step, from a naive step to the one `stylize train` runs.

    python benchmarks/train_step.py [--batch-size 8] [--crop-size 128] [--steps 3] [--architecture skip]

Each variant adds one change to the previous one:
  naive          eager float32, contiguous tensors, autograd through every encoder pass and into
                 the encoder's own weights (what a first implementation does);
  frozen         encoder weights frozen, content/style passes under no_grad (stylize.training.decoder);
  channels_last  + channels_last tensors and weights (oneDNN's preferred layout);
  bf16           + bfloat16 autocast (`stylize train --amp` on CPU).
Prints the median seconds per step over --steps steps after one warm-up step, and the losses of
the first step (the same weights and batch for every variant, so the losses show what bf16 costs).
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from stylize.models.networks import RELU4_1, Decoder
from stylize.models.style_layers import AdaIN, mean_std
from stylize.models.style_transfer import StyleTransferModel
from stylize.models.weights import load_encoder
from stylize.training.decoder import style_transfer_losses


def naive_losses(encoder, decoder, content, style):
    content_taps, style_taps = encoder(content), encoder(style)  # autograd records both passes
    style_stats = [mean_std(t) for t in style_taps]
    levels = decoder.reads
    targets = list(content_taps)
    for level in levels:
        targets[level] = AdaIN()(content_taps[level], *style_stats[level])
    output = decoder([t.detach() for t in targets])
    output_taps = encoder(output)
    content_loss = F.mse_loss(output_taps[RELU4_1], targets[RELU4_1].detach())
    style_loss = sum(F.mse_loss(m, sm.detach()) + F.mse_loss(s, ss.detach())
                     for (m, s), (sm, ss) in zip((mean_std(t) for t in output_taps), style_stats))
    return content_loss, style_loss


def run(variant, args, content, style, decoder_state):
    encoder = load_encoder()
    decoder = Decoder(args.architecture)
    decoder.load_state_dict(decoder_state)
    if variant == "naive":
        encoder.requires_grad_(True)
        losses_fn = naive_losses
    else:
        losses_fn = lambda e, d, c, s: tuple(  # noqa: E731
            style_transfer_losses(StyleTransferModel("quality", e, d), c, s)[0].values())
    if variant in ("channels_last", "bf16"):
        encoder, decoder = encoder.to(memory_format=torch.channels_last), decoder.to(memory_format=torch.channels_last)
        content, style = content.to(memory_format=torch.channels_last), style.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-4)
    times, first = [], None
    for _ in range(args.steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant == "bf16"):
            content_loss, style_loss = losses_fn(encoder, decoder, content, style)
        loss = content_loss + 10 * style_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
        first = first or (content_loss.item(), style_loss.item())
    return statistics.median(times[1:]), first


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--architecture", default="skip", choices=Decoder.ARCHITECTURES)
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    content = torch.rand(args.batch_size, 3, args.crop_size, args.crop_size, generator=g)
    style = torch.rand(args.batch_size, 3, args.crop_size, args.crop_size, generator=g)
    torch.manual_seed(0)
    decoder_state = Decoder(args.architecture).state_dict()
    print(f"batch {args.batch_size}, {args.crop_size} px crops, {args.architecture} decoder, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'variant':14} {'s/step':>7} {'images/s':>9} {'content loss':>13} {'style loss':>11}")
    for variant in ("naive", "frozen", "channels_last", "bf16"):
        seconds, (c, s) = run(variant, args, content, style, decoder_state)
        print(f"{variant:14} {seconds:7.2f} {args.batch_size / seconds:9.2f} {c:13.4f} {s:11.4f}", flush=True)


if __name__ == "__main__":
    main()
