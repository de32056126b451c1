#!/usr/bin/env bash
# Rebuild a committed leaderboard (synth-v1 or synth-v2) from scratch:
#   prepare synth-v1 GT -> facebench predict (every shipped method) -> evaluate -> leaderboard publish.
# Usage: [BENCH=synth-v2] benchmarks/make_leaderboard.sh [WORK_DIR] [LEADERBOARD_DIR]
#   BENCH            benchmark to rebuild: synth-v1 (default) or synth-v2
#   WORK_DIR         scratch folder for the GT and predictions (default: build/leaderboard)
#   LEADERBOARD_DIR  where the tables and results/{benchmark}/*.json go (default: leaderboards)
# Every step is a documented facebench command; nothing is downloaded.
set -euo pipefail

WORK=${1:-build/leaderboard}
BOARD=${2:-leaderboards}
FB=${FACEBENCH:-facebench}
BENCH=${BENCH:-synth-v1}
# landmark-fit needs the landmarks extra (MediaPipe; `make` installs it).  Every shipped transformer
# checkpoint is scored everywhere: `transformer` (tiny: landmark-fit prior per frame, domain-randomised
# ICT renders; needs the landmarks extra too), `transformer-ict` (tiny-ict, the previous tiny: rig
# prior, ICT subjects) and `transformer-head` (tiny-head, procedural facebench-head subjects); each
# one's canonical maps are converted to the benchmark's template through the shipped correspondence.
# transformer-frame is `tiny` with a window of one frame: the per-frame row the temporal metrics
# (canonical jitter, depth flicker, track jitter) compare the windowed transformer with.
METHODS=(transformer transformer-frame transformer-ict transformer-head mean-depth-plane template-frontal landmark-fit)

mkdir -p "$WORK"
GT="$WORK/gt/$BENCH"

echo "== prepare $BENCH -> $GT"
$FB prepare "$BENCH" --out "$GT"

results=()
for method in "${METHODS[@]}"; do
    preds="$WORK/preds/$method"
    out="$BOARD/results/$BENCH/$method.json"   # committed next to the table (traceable by sha256)
    mkdir -p "$(dirname "$out")"
    echo "== $method: predict -> $preds"
    rm -rf "$preds"
    $FB predict "$method" --gt "$GT" --out "$preds"
    echo "== $method: evaluate -> $out"
    $FB evaluate --preds "$preds" --gt "$GT" --benchmark "$BENCH" --out "$out"
    results+=("$out")
done

echo "== publish -> $BOARD/"
# A fresh GT manifest may differ from the one the committed table was made with;
# start the table over so it holds exactly this run's methods.
rm -f "$BOARD/$BENCH"-v*.csv "$BOARD/$BENCH"-v*.md "$BOARD/$BENCH"-v*.png
$FB leaderboard publish "${results[@]}" --out "$BOARD"
$FB leaderboard show "$BENCH" --dir "$BOARD"
