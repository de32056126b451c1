#!/usr/bin/env bash
# GPU check of the reference transformer's training options (issue #18), one short script, ~5 min
# on one H200 (no network needed: torch, h5py, click, safetensors, scipy, tqdm, matplotlib there).
#
#   GT=build/gpu-gt bash benchmarks/gpu_check.sh            # from the repository root
#
# GT: a small GT folder (make one where facebench is installed:
#   python -c "from tests.baseline_helpers import make_gt; make_gt('build/gpu-gt', T=8, H=48, W=64)")
# 1. smoke: the same 4 steps (tiny, image-only, batch 4) as a plain process in fp32, under
#    torchrun (DDP over NCCL, 1 GPU) stopped at step 2 and resumed with --accumulate 2, and in
#    bf16; the loss trajectories are printed side by side; predict on the GPU in bf16.
# 2. bench: benchmarks/bench_train.py for tiny and base, fp32 vs bf16 (+ tiny compiled):
#    training samples/s, peak memory, inference frames/s at 512 px.
# Results land in $OUT (or build/gpu-check): smoke.txt, bench.txt, bench.json.
set -u -o pipefail
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
GT=${GT:-build/gpu-gt}
RES=${OUT:-build/gpu-check}
mkdir -p "$RES"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
RUNS=$(mktemp -d)
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
  common=(--gt "$GT" --config tiny --model-set prior=false --batch-size 4 --window 2 --log-every 1
          --device "$DEVICE" --warmup 2 --lr 1e-3)
  t0=$(date +%s)
  timeout 150 $PY -m facebench baseline train "${common[@]}" --out "$RUNS/plain" --steps 4 --precision fp32 \
    || echo "FAIL plain"
  timeout 150 $PY -m torch.distributed.run --standalone --nproc-per-node 1 -m facebench baseline train \
    "${common[@]}" --out "$RUNS/ddp" --steps 2 --checkpoint-every 2 --precision fp32 || echo "FAIL ddp"
  timeout 150 $PY -m torch.distributed.run --standalone --nproc-per-node 1 -m facebench baseline train \
    "${common[@]}" --out "$RUNS/ddp" --steps 4 --resume --accumulate 2 --precision fp32 || echo "FAIL ddp resume"
  timeout 150 $PY -m facebench baseline train "${common[@]}" --out "$RUNS/bf16" --steps 4 --precision bf16 \
    || echo "FAIL bf16"
  echo "smoke training: $(( $(date +%s) - t0 )) s"
  $PY - "$RUNS" <<'EOF'
import csv, json, sys
from pathlib import Path
runs = Path(sys.argv[1])
logs = {}
for name in ("plain", "ddp", "bf16"):
    try:
        with open(runs / name / "train_log.csv") as fh:
            logs[name] = {int(r["step"]): float(r["loss"]) for r in csv.DictReader(fh)}
        print(name, json.loads((runs / name / "checkpoint.json").read_text()).get("runtime"))
    except OSError as exc:
        print(name, "missing", exc)
for step in sorted(logs.get("plain", {})):
    print("step", step, *(f"{n}={logs[n].get(step, float('nan')):.6f}" for n in logs))
if "plain" in logs and "ddp" in logs:
    d = max(abs(logs["ddp"][s] / logs["plain"][s] - 1) for s in logs["plain"] if s in logs["ddp"])
    print(f"max relative loss difference ddp(resumed, accumulate 2) vs plain (TF32 on): {d:.2e}")
EOF
  timeout 120 $PY -m facebench baseline predict --gt "$GT" --out "$RUNS/preds" --checkpoint "$RUNS/ddp/checkpoint.safetensors" \
    --benchmark synth-v1 --device "$DEVICE" --precision bf16 && $PY -c "import json,sys; m=json.load(open(sys.argv[1])); print('predict meta:', m['device'], m['runtime_s_per_frame'], m['params']['precision'])" "$RUNS/preds/meta.json" \
    || echo "FAIL predict"
} 2>&1 | tee "$RES/smoke.txt"
if [ "${SKIP_BENCH:-0}" = 1 ]; then exit 0; fi
BENCH_ARGS=${BENCH_ARGS:---configs base,tiny --precisions fp32,bf16 --batch tiny=16,base=4 --steps 8 --warmup 3
  --infer-frames 64 --infer-batch 8 --compile-configs tiny}
# shellcheck disable=SC2086
timeout "${BENCH_TIMEOUT:-300}" $PY benchmarks/bench_train.py --devices "$DEVICE" $BENCH_ARGS --timeout 200 \
  --json "$RES/bench.json" 2>&1 | tee "$RES/bench.txt"
