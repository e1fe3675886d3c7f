#!/usr/bin/env bash
# A model's GPU recipe: at most 9 minutes of one CUDA GPU, warm-started from the shipped file,
# exported as one file at the end.
#
#   python scripts/pack_data.py data data-256                # once, here: ~30 MiB of 256 px JPEGs
#   [MODEL=fast] scripts/train_gpu.sh [PACKED_DATA] [OUT_DIR]  # there: needs the package's requirements
#
# PACKED_DATA defaults to data-256; OUT_DIR (default $OUT, the device tool's return folder, else
# runs/gpu) gets the model's file (attention_decoder.safetensors or fast.safetensors), the run's last
# checkpoint and its logs. Both recipes use the paper's 256 px crops, a batch of 64 that fills a
# large card, channels_last, 8 decoding workers, and a clean stop with a checkpoint after 8
# minutes (TIME_LIMIT) of steps.
#   MODEL=quality (default): the attention decoder with style weight 5 and the identity losses
#     (photos at strength 0 and paintings as their own style must come back: pixel L1 x 50, VGG-19
#     x 1) of the CPU run, lr 2e-4
#     ramped over 100 steps (the exported file holds no Adam moments), fp16 autocast with a gradient
#     scaler (AMP).
#   MODEL=fast: the teacher pool (POOL pairs, default 8192) painted by the shipped quality model
#     on the GPU first, inside the time limit; then the head and decoder learn from it, with the
#     AdaIN losses in VGG-19 at weight ADAIN (default 1), the style loss aimed at the teacher's
#     statistics, the style weight (75), anchor, identity losses (pixel x 50, relu1_1/relu2_1 x 5)
#     and learning rate of the shipped file's CPU run, float32.
# The knobs exist for a test on the CPU with a tiny step count: DEVICE, TIME_LIMIT, ITERS, BATCH,
# WORKERS, STYLE_WEIGHT, ID_PIXEL, ID_FEATURE, POOL, ADAIN, PYTHON, and AMP (empty: float32; bf16
# is emulated, and slow, on AVX2-only CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-data-256}
out=${2:-${OUT:-runs/gpu}}
python=${PYTHON:-python}
model=${MODEL:-quality}
common=(--content-dir "$data/content" --style-dir "$data/style" --out "$out/run" --device "${DEVICE:-cuda}"
        --batch-size "${BATCH:-64}" --crop-size 256 --image-size 256
        --workers "${WORKERS:-8}" --time-limit "${TIME_LIMIT:-480}" --save-every 500)
steps=${ITERS:-1000000}
mkdir -p "$out"
case "$model" in
  quality)
    file=attention_decoder.safetensors export=(--half)
    "$python" -m stylize.cli.main train "${common[@]}" --iters "$steps" --init weights/attention_decoder.safetensors \
        --architecture skip --style-layer attention ${AMP---amp} --style-weight "${STYLE_WEIGHT:-5}" --lr 2e-4 \
        --warmup 100 --sample-every 500 \
        --identity-pixel-weight "${ID_PIXEL:-50}" --identity-feature-weight "${ID_FEATURE:-1}" ;;
  fast)
    file=fast.safetensors export=()
    # train-fast counts iterations on from the file's
    start=$("$python" -c "from stylize.models.weights import read_metadata as r; print(r('weights/fast.safetensors')['iterations'])")
    "$python" -m stylize.cli.main train-fast "${common[@]}" --iters $((start + steps)) --init weights/fast.safetensors \
        --encoder-iters 0 --pool-size "${POOL:-8192}" --adain-weight "${ADAIN:-1}" --style-target teacher \
        --style-weight "${STYLE_WEIGHT:-75}" --pixel-weight 10 --feature-weight 5 --finetune-encoder --lr 1.5e-4 \
        --identity-pixel-weight "${ID_PIXEL:-50}" --identity-feature-weight "${ID_FEATURE:-5}" ;;
  *) echo "MODEL must be quality or fast, not $model" >&2; exit 2 ;;
esac
checkpoint=$(ls "$out"/run/checkpoint_*.pt | tail -n 1)
"$python" -m stylize.cli.main export "$checkpoint" "$out/$file" "${export[@]}"
echo "wrote $out/$file from $checkpoint"
