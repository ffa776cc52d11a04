"""Study A of docs/preregistration.md (issue 30, item 3): an independent check of the table that
`frelu compare --aggregate-only` gives for a finished confirm grid, and the per-seed values the
results section lists beside it. Written before the 15-epoch grid had finished.

    python3 scripts/study_a.py docs/runs/confirm-15    # or docs/runs/confirm-2, results/...

Reads the grid's `grid.json` (rows and seeds, in the registered order) and each run's
`summary.json` (final test accuracy; its seed is checked against the folder's). Prints:
1. the registered contrasts, every row against `relu` paired by seed: mean difference, 95 %
   interval, paired t-test p, Holm over the grid's contrasts, TOST at +-0.15 pp (Holm over the
   same) and the verdict, through scipy (scripts/study_stats.py), to be compared with
   `frelu compare`'s own numbers;
2. the registered secondary re-tabulations where the grid has their rows, as
   `frelu compare --aggregate-only --reference R` computes them: every row against `frelu-joint`
   (for `frelu-alt`'s cost at equal steps) and against `frelu-alt` (for `frelu-matched`'s), Holm
   over each table's rows;
3. every row's mean and its per-seed values.
A grid with any run unfinished is reported as such, and nothing is analysed in part.
"""
import json
import os
import sys

from study_stats import holm, paired, verdict

REFERENCE = 'relu'
# Secondary references, each with the row it is registered for.
SECONDARY = [('frelu-joint', 'frelu-alt'), ('frelu-alt', 'frelu-matched')]


def load(grid):
    """(rows, seeds, {row: [final test acc per seed]}); exits when a run is unfinished."""
    spec = json.load(open(os.path.join(grid, 'grid.json')))['spec']
    rows, seeds = [r['name'] for r in spec['rows']], spec['seeds']
    accs, missing = {}, []
    for row in rows:
        accs[row] = []
        for seed in seeds:
            path = os.path.join(grid, 'runs', f'{row}-s{seed}', 'summary.json')
            if not os.path.exists(path):
                missing.append(f'{row}-s{seed}')
                continue
            summary = json.load(open(path))
            if summary['config']['seed'] != seed:
                sys.exit(f"{path}: seed {summary['config']['seed']}, not {seed}")
            accs[row].append(summary['final_test_acc'])
    if missing:
        sys.exit(f"{grid}: {len(missing)} of {len(rows) * len(seeds)} runs unfinished "
                 f"(first: {missing[0]}); the registration forbids a partial analysis")
    return rows, seeds, accs


def table(pairs, accs, title):
    results = [paired(accs[row], accs[ref]) for row, ref in pairs]
    p_holm = holm([r[2] for r in results])
    p_tost = holm([r[3] for r in results])
    print(f"{title} (Holm over the {len(pairs)})")
    print("| contrast | Δ test acc (pp) [95 % CI] | p | Holm p | TOST p (±0.15), Holm | verdict |")
    print("|---|---|---:|---:|---:|---|")
    for (row, ref), r, ph, pt in zip(pairs, results, p_holm, p_tost):
        print(f"| {row} − {ref} | {r[0]:+.2f} [{r[1][0]:+.2f}, {r[1][1]:+.2f}] | {r[2]:.5f} "
              f"| {ph:.5f} | {pt:.3f} | {verdict(r[0], ph, pt)} |")
    print()


def main(grid):
    rows, seeds, accs = load(grid)
    table([(row, REFERENCE) for row in rows if row != REFERENCE], accs, "Registered contrasts")
    for reference, row in SECONDARY:
        if reference in accs and row in accs:
            pairs = [(other, reference) for other in rows if other != reference]
            table(pairs, accs, f"Secondary, against {reference} (for {row}; not confirmatory)")
    print(f"Final test accuracy (%), seeds {' / '.join(str(s) for s in seeds)}")
    for row in rows:
        values = accs[row]
        print(f"- {row}: mean {sum(values) / len(values):.2f}; "
              + " / ".join(f"{a:.2f}" for a in values))


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'docs/runs/confirm-15')
