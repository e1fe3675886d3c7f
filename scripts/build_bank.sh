#!/usr/bin/env bash
# Build the shipped style bank from paintings of the default training set (data/, made by
# scripts/build_dataset.py), on the AdaIN decoder (the bank also keeps the paintings, from which
# attention models paint). Names are the file names below.
#     scripts/build_bank.sh [ITERS]
set -euo pipefail
cd "$(dirname "$0")/.."
iters="${1:-300}"
styles="$(mktemp -d)"
trap 'rm -rf "$styles"' EXIT
cp data/style/details_002.jpg "$styles/tanguy.jpg"           # Van Gogh, Portrait of Pere Tanguy
cp data/style/details_007.jpg "$styles/harvest.jpg"          # Van Gogh, The Harvest
cp data/style/details_008.jpg "$styles/night_cafe.jpg"       # Van Gogh, The Night Cafe
cp data/style/details_012.jpg "$styles/cafe_terrace.jpg"     # Van Gogh, Cafe Terrace at Night
cp data/style/details_015.jpg "$styles/auvers_church.jpg"    # Van Gogh, The Church at Auvers
cp data/style/wesnoth_landscape-mountains-02.jpg "$styles/mountains.jpg"  # Battle for Wesnoth story art
cp data/style/plasma_Autumn.jpg "$styles/autumn.jpg"         # KDE Plasma wallpaper "Autumn"
cp data/style/freecol_pocahontas.jpg "$styles/pocahontas.jpg"  # oil portrait of Pocahontas (FreeCol's founding fathers)
cp data/style/wesnoth-story_httt_arrival_of_the_heir.jpg "$styles/heir.jpg"  # Wesnoth "Heir to the Throne" story art
.venv/bin/stylize train-bank --styles "$styles" --content-dir data/content --eval-content-dir data/heldout/content \
    --out weights/style_bank.safetensors --iters "$iters" --batch-size 4 --crop-size 128 --save-every 50
