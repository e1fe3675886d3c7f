#!/usr/bin/env bash
# The default decoder's GPU recipe: at most 9 minutes of one CUDA GPU, warm-started from the
# shipped decoder, exported as one fp16 file at the end.
#
#   python scripts/pack_data.py data data-256       # once, here: ~30 MiB of 256 px JPEGs
#   scripts/train_gpu.sh [PACKED_DATA] [OUT_DIR]     # there: needs the package's requirements
#
# PACKED_DATA defaults to data-256; OUT_DIR (default $OUT, the device tool's return folder, else
# runs/gpu) gets adain_decoder.safetensors, the run's last checkpoint, samples and TensorBoard log.
# The recipe: style weight 25 (the CPU run's), the paper's 256 px crops, a batch of 64 that
# fills a large card (lr scaled to 2e-4, ramped over 100 steps since the exported file holds no
# Adam moments), fp16 autocast with a gradient scaler, channels_last (stylize train's layout),
# 8 decoding workers, and a clean stop with a checkpoint after 8 minutes of steps. The knobs
# exist for a test on the CPU with a tiny step count: DEVICE, TIME_LIMIT, ITERS, BATCH, WORKERS,
# STYLE_WEIGHT, PYTHON, and AMP (empty: float32; bf16 is emulated, and slow, on AVX2-only CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-data-256}
out=${2:-${OUT:-runs/gpu}}
python=${PYTHON:-python}
mkdir -p "$out"
"$python" -m stylize.cli.main train --content-dir "$data/content" --style-dir "$data/style" --out "$out/run" \
    --init weights/adain_decoder.safetensors --architecture skip --device "${DEVICE:-cuda}" ${AMP---amp} \
    --batch-size "${BATCH:-64}" --crop-size 256 --image-size 256 --lr 2e-4 --warmup 100 \
    --style-weight "${STYLE_WEIGHT:-25}" --workers "${WORKERS:-8}" --time-limit "${TIME_LIMIT:-480}" \
    --iters "${ITERS:-1000000}" --save-every 500 --sample-every 500
checkpoint=$(ls "$out"/run/checkpoint_*.pt | tail -n 1)
"$python" -m stylize.cli.main export "$checkpoint" "$out/adain_decoder.safetensors" --half
echo "wrote $out/adain_decoder.safetensors from $checkpoint"
