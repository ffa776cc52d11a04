#!/usr/bin/env bash
# Copies a grid's records (no weights, no checkpoints) from its results folder into docs/runs,
# so that they outlive the checkout: results/ is not committed, and a grid that runs across
# sessions continues from them (copy the folder back to results/ and rerun its command; a run
# with summary.json is finished and skipped, the rest are trained).
#
# Usage: scripts/keep_records.sh results/GRID [docs/runs/GRID]
# Copies the grid's grid.json and summary.{md,csv,json} (where present) and, per run folder,
# config.json, metrics.csv, slopes.json, summary.json, train_eval.csv, failed.json (where
# present). Prints how many runs are finished. Commit the destination afterwards.
set -euo pipefail
SRC=${1:?usage: scripts/keep_records.sh results/GRID [docs/runs/GRID]}
SRC=${SRC%/}
DST=${2:-docs/runs/$(basename "$SRC")}
[ -d "$SRC/runs" ] || { echo "error: $SRC has no runs/ folder (not a grid's results)" >&2; exit 1; }
mkdir -p "$DST/runs"
for f in grid.json summary.md summary.csv summary.json; do
    [ -f "$SRC/$f" ] && cp "$SRC/$f" "$DST/"
done
finished=0 total=0
for run in "$SRC"/runs/*/; do
    name=$(basename "$run")
    total=$((total + 1))
    mkdir -p "$DST/runs/$name"
    for f in config.json metrics.csv slopes.json summary.json train_eval.csv failed.json; do
        [ -f "$run/$f" ] && cp "$run/$f" "$DST/runs/$name/"
    done
    [ -f "$run/summary.json" ] && finished=$((finished + 1))
done
echo "$DST: $finished of $total runs finished"
