#!/usr/bin/env bash
# The outside pairs of the blind studies (benchmarks/judge.py): 5 photos x 5 paintings, none of
# them in training. Photos from Debian packages the training set does not use (palapeli-data,
# opencv-doc, lxqt-themes); paintings: Van Gogh's Starry Night (opencv-doc), two held-out Van
# Goghs and two held-out paintings from the training packages (scripts/build_dataset.py writes them).
#
#     bash scripts/build_judge_set.sh [OUT] [DATA]     # default OUT=judgeset, DATA=data
#
# writes OUT/content/*.jpg and OUT/style/*.jpg.
set -euo pipefail
OUT=${1:-judgeset}; DATA=${2:-data}
[ -d "$DATA/heldout/style" ] || { echo "build_judge_set: no $DATA/heldout/style: run scripts/build_dataset.py first" >&2; exit 2; }
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && apt-get download -q palapeli-data opencv-doc lxqt-themes >/dev/null && for deb in *.deb; do dpkg -x "$deb" x; done)
X=$WORK/x/usr/share
mkdir -p "$OUT/content" "$OUT/style"
cp "$X/palapeli/collection/castle-maintenon.jpg" "$OUT/content/castle.jpg"
cp "$X/palapeli/collection/cincinnati-bridge.jpg" "$OUT/content/bridge.jpg"
cp "$X/palapeli/collection/panther-chameleon-female.jpg" "$OUT/content/chameleon.jpg"
cp "$X/doc/opencv-doc/examples/data/building.jpg" "$OUT/content/building.jpg"
"$PYTHON" -c "import sys; from PIL import Image; Image.open(sys.argv[1]).convert('RGB').save(sys.argv[2], quality=95)" \
    "$X/lxqt/wallpapers/Valendas.png" "$OUT/content/valendas.jpg"
cp "$X/doc/opencv-doc/examples/data/starry_night.jpg" "$OUT/style/starry_night.jpg"
cp "$DATA/heldout/style/details_004.jpg" "$OUT/style/vangogh_a.jpg"
cp "$DATA/heldout/style/details_019.jpg" "$OUT/style/vangogh_b.jpg"
cp "$DATA/heldout-paintings/style/freecol_meet_natives.jpg" "$OUT/style/engraving.jpg"
cp "$DATA/heldout-paintings/style/wesnoth-story_trow_trow_story_06-Temple_in_the_Deep.jpg" "$OUT/style/temple.jpg"
echo "wrote 5 photos and 5 paintings under $OUT"
