"""A grid's accuracy table with every seed's value, from its stored summary.json.

    python3 docs/runs/seed_table.py docs/runs/fmnist-converge-more [METRIC_KEY]

`frelu compare` writes mean ± std, the paired difference to the reference and p, but not the
value of each seed; docs/results.md shows them, so that a reader sees which seeds carry a
difference. METRIC_KEY defaults to the grid's first metric (final test accuracy).
"""
import json
import os
import sys


def signed(x):
    return f"{x:+.2f}".replace('-', '−')


def main(folder, key=None):
    summary = json.load(open(os.path.join(folder, 'summary.json')))
    keys = [m['key'] for m in summary['metrics']]
    i = keys.index(key) if key else 0
    seeds = sorted({s for row in summary['rows'] for s in row['seeds']})
    reference = summary['reference'] or 'reference'
    print(f"| config | {summary['metrics'][i]['header']}, {len(seeds)} seeds | Δ vs {reference} [95 % CI] "
          f"| paired p | seeds {' / '.join(map(str, seeds))} |")
    print("|---|---:|---:|---:|---|")
    for row in summary['rows']:
        m = row['metrics'][i]
        by_seed = dict(zip(row['seeds'], m['values']))
        values = ' / '.join(f"{by_seed[s]:.2f}" if s in by_seed else '…' for s in seeds)
        d = m['delta']
        if d and d['ci_low'] is not None:
            delta = f"{signed(d['mean'])} [{signed(d['ci_low'])}, {signed(d['ci_high'])}]"
            p = f"{d['p_value']:.3f}"
        else:
            delta, p = '—', '—'
        std = f" ± {m['std']:.2f}" if m['std'] is not None else ''
        print(f"| {row['name']} | {m['mean']:.2f}{std} | {delta} | {p} | {values} |")


if __name__ == '__main__':
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(*sys.argv[1:])
