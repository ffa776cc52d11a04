#!/usr/bin/env bash
# Fast path against PyTorch on a noisy machine: alternates runs of PyTorch
# (scripts/pytorch_step.py) and `frelu bench`, ROUNDS times, and ends with PyTorch, so every
# bench run has a PyTorch run just before and just after it. Prints, per network, the ratio
# PyTorch ms / fast-path ms of every adjacent pair, and FReLU ÷ ReLU and fast ÷ Flex of every
# bench run (paired within the run).
#
# Usage: scripts/speed_rounds.sh [OUT_DIR]   (env: ROUNDS=3, MODELS=..., PATHS=flex,fast,fast-rust,
#        FRELU=path/to/frelu, REPEATS=15)
# Needs PyTorch (an outside reference only; nothing of the project's build or tests does).
set -euo pipefail
OUT=${1:-docs/runs/speed}
ROUNDS=${ROUNDS:-3}
MODELS=${MODELS:-simple-cnn,resnet20,mobilenet_v1_cifar}
PATHS=${PATHS:-flex,fast,fast-rust}
REPEATS=${REPEATS:-15}
FRELU=${FRELU:-target/release/frelu}
mkdir -p "$OUT"
torch() {
    python3 scripts/pytorch_step.py --models "$MODELS" --act relu --repeats "$REPEATS" \
        --out "$OUT/pytorch-$1.json" 2>&1 | grep -v -i numpy
}
for round in $(seq 1 "$ROUNDS"); do
    torch "$round"
    "$FRELU" bench --models "$MODELS" --no-peers --op-shapes none --paths "$PATHS" \
        --repeats "$REPEATS" --pytorch "$OUT/pytorch-$round.json" --out "$OUT/bench-$round.json" \
        > "$OUT/bench-$round.log" 2>&1
    echo "round $round: bench done"
done
torch $((ROUNDS + 1))
python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
torch = [{s["model"]: s["step_ms"] for s in json.load(open(f"{out}/pytorch-{r}.json"))["steps"]}
         for r in range(1, rounds + 2)]
bench = [json.load(open(f"{out}/bench-{r}.json")) for r in range(1, rounds + 1)]
models = list(torch[0])
print("| network, ReLU | fast ms (runs) | PyTorch ms (runs) | PyTorch ÷ fast, each adjacent pair"
      " | FReLU ÷ ReLU, fast | fast ÷ Flex speed-up |")
print("|---|---|---|---|---|---|")
for m in models:
    rows = [[s for s in b["steps"] if s["model"] == m and s["path"] == "fast"] for b in bench]
    fast = [next(s for s in r if s["variant"] == "Relu")["step_ms"] for r in rows]
    frelu = [next(s for s in r if s["variant"] == "FReluFused")["vs_relu"] for r in rows]
    flex = [next(s for s in r if s["variant"] == "Relu")["speedup_vs_flex"] for r in rows]
    pt = [t[m] for t in torch]
    pairs = [pt[i + d] / fast[i] for i in range(rounds) for d in (0, 1)]
    fmt = lambda xs, f: " / ".join(f.format(x) for x in xs if x is not None) or "–"
    print(f"| {m} | {fmt(fast, '{:.1f}')} | {fmt(pt, '{:.1f}')} | {min(pairs):.2f}–{max(pairs):.2f}× "
          f"(median {statistics.median(pairs):.2f}) | {fmt(frelu, '{:.3f}')} | {fmt(flex, '{:.2f}')} |")
PY
