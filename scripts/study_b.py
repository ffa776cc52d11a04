"""Study B of docs/preregistration.md (issue 30, item 5): the analysis fixed with the study, run
on its stored records once all four learning-rate grids have run.

    python3 scripts/study_b.py docs/runs        # reads docs/runs/lr-{0.005,0.01,0.02,0.05}/runs/*/

Per run it reads `summary.json` (final test accuracy; the run's own settings, checked against
the grid's rate and seed). It prints:
1. the 8 registered contrasts (frelu-joint - relu and frelu-joint-x10 - relu at each rate),
   paired by seed: mean difference, 95 % interval, paired t-test p, Holm over the 8, TOST at
   +-0.15 pp (Holm over the 8) and the verdict (better / worse / equivalent / undecided);
2. each row's best rate (highest mean final test accuracy over the seeds) and the best-rate
   FReLU rows against the best-rate ReLU, paired by seed (Holm over the 2);
3. the mean final test accuracy of every row at every rate, every per-seed value, and how far
   the FReLU rows' slopes moved from ReLU's (mean |pos - 1| and mean |neg| over every channel of
   the rate's 3 runs, from their `slopes.json`).
A grid that is not complete is reported as missing, and nothing is analysed in part.
"""
import json
import os
import sys

from study_stats import holm, paired, verdict

SEEDS = [200, 201, 202]
RATES = ['0.005', '0.01', '0.02', '0.05']
RELU = 'relu'
FRELU = ['frelu-joint', 'frelu-joint-x10']
ROWS = [RELU] + FRELU


def final_acc(root, rate, row, seed):
    """The run's final test accuracy, or None when it has not finished."""
    path = os.path.join(root, f'lr-{rate}', 'runs', f'{row}-s{seed}', 'summary.json')
    if not os.path.exists(path):
        return None
    summary = json.load(open(path))
    config = summary['config']
    if abs(config['lr'] - float(rate)) > 1e-12 or config['seed'] != seed:
        sys.exit(f"{path}: lr {config['lr']} seed {config['seed']}, not the grid's {rate}, {seed}")
    return summary['final_test_acc']


def load(root):
    """{rate: {row: [acc per seed]}} for the complete grids; exits when any is incomplete."""
    grids, missing = {}, []
    for rate in RATES:
        accs = {row: [final_acc(root, rate, row, s) for s in SEEDS] for row in ROWS}
        todo = [f'{row}-s{s}' for row in ROWS for s, a in zip(SEEDS, accs[row]) if a is None]
        if todo:
            missing.append(f"lr {rate}: {len(todo)} of {len(ROWS) * len(SEEDS)} runs missing")
        grids[rate] = accs
    if missing:
        sys.exit("study B is not complete, no analysis (the registration forbids partial ones):\n"
                 + "\n".join(missing))
    return grids


def slope_movement(root, rate, row):
    """(mean |pos - 1|, mean |neg|) over every channel of the row's runs at that rate."""
    pos, neg = [], []
    for seed in SEEDS:
        path = os.path.join(root, f'lr-{rate}', 'runs', f'{row}-s{seed}', 'slopes.json')
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: the run finished without its learned slopes")
        for layer in json.load(open(path)):
            pos += [abs(p - 1.0) for p in layer['pos']]
            neg += [abs(n) for n in layer['neg']]
    return mean(pos), mean(neg)


def interval(r):
    return f"{r[0]:+.2f} [{r[1][0]:+.2f}, {r[1][1]:+.2f}]"


def mean(xs):
    return sum(xs) / len(xs)


def main(root):
    grids = load(root)
    contrasts = [(rate, row) for rate in RATES for row in FRELU]
    results = [paired(grids[rate][row], grids[rate][RELU]) for rate, row in contrasts]
    p_holm = holm([r[2] for r in results])
    p_tost = holm([r[3] for r in results])
    print("| contrast | weights' lr | Δ test acc (pp) [95 % CI] | p | Holm p (over 8) "
          "| TOST p (±0.15), Holm | verdict |")
    print("|---|---:|---|---:|---:|---:|---|")
    for (rate, row), r, ph, pt in zip(contrasts, results, p_holm, p_tost):
        print(f"| {row} − relu | {rate} | {interval(r)} | {r[2]:.3f} | {ph:.3f} | {pt:.3f} "
              f"| {verdict(r[0], ph, pt)} |")
    print()
    best = {row: max(RATES, key=lambda rate: mean(grids[rate][row])) for row in ROWS}
    at_best = {row: grids[best[row]][row] for row in ROWS}
    tuned = [paired(at_best[row], at_best[RELU]) for row in FRELU]
    tuned_holm = holm([r[2] for r in tuned])
    print("Best rate per row (on the test set, as registered): "
          + ", ".join(f"{row} {best[row]}" for row in ROWS))
    print("| contrast, each at its best rate | Δ test acc (pp) [95 % CI] | p | Holm p (over 2) |")
    print("|---|---|---:|---:|")
    for row, r, ph in zip(FRELU, tuned, tuned_holm):
        print(f"| {row} ({best[row]}) − relu ({best[RELU]}) | {interval(r)} | {r[2]:.3f} "
              f"| {ph:.3f} |")
    print()
    print(f"Final test accuracy (%), mean over seeds {SEEDS} (per seed in brackets), and how far "
          "the slopes moved (mean over every channel of the 3 runs)")
    print("| weights' lr | " + " | ".join(ROWS) + " | mean \\|pos − 1\\|, joint / ×10 "
          "| mean \\|neg\\|, joint / ×10 |")
    print("|---:|" + "---|" * len(ROWS) + "---:|---:|")
    for rate in RATES:
        cells = [f"{mean(grids[rate][row]):.2f} ({' / '.join(f'{a:.2f}' for a in grids[rate][row])})"
                 for row in ROWS]
        moved = [slope_movement(root, rate, row) for row in FRELU]
        cells.append(' / '.join(f'{m[0]:.3f}' for m in moved))
        cells.append(' / '.join(f'{m[1]:.3f}' for m in moved))
        print(f"| {rate} | " + " | ".join(cells) + " |")


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'docs/runs')
