#!/usr/bin/env bash
# Submits a `frelu` grid to Slurm: a job array with one task per run, at most THROTTLE at once,
# and a job that aggregates once every task has ended. The arguments are the grid's command
# without `frelu`:
#     scripts/slurm/submit.sh compare --protocol quick --out results/quick
#     THROTTLE=8 scripts/slurm/submit.sh detect compare --data data/det --seeds 0,1,2 --out results/det
# Prints the two job ids. Watch it with `frelu status OUT` (or `squeue`). Environment: FRELU (the
# binary, default `frelu` on PATH; give an absolute path if the nodes' PATH lacks it), THROTTLE
# (default 8), SBATCH_ARGS (more sbatch options, e.g. "--partition=cpu --time=04:00:00").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
FRELU=${FRELU:-frelu}
THROTTLE=${THROTTLE:-8}
runs=$("$FRELU" "$@" --list-runs | wc -l)
if [ "$runs" -lt 1 ]; then
    echo "the grid has no runs" >&2
    exit 1
fi
# shellcheck disable=SC2086
array=$(sbatch --parsable ${SBATCH_ARGS:-} --array=0-$((runs - 1))%"$THROTTLE" \
    --export=ALL,FRELU="$FRELU" "$here/array.sbatch" "$@")
# shellcheck disable=SC2086
aggregate=$(sbatch --parsable ${SBATCH_ARGS:-} --dependency=afterany:"${array%%;*}" \
    --export=ALL,FRELU="$FRELU" "$here/aggregate.sbatch" "$@")
echo "array job ${array%%;*} ($runs runs, at most $THROTTLE at once); aggregation job ${aggregate%%;*}"
