"""Study 4's two tables in docs/results.md, from the stored runs of this folder.

    python3 docs/runs/fmnist-mobilenet/tables.py

Reads summary.json (accuracy table) and runs/*/slopes.json of the finished runs (slope table).
"Before a depthwise conv + BN" are the stem's and pointwise blocks 0-11's FReLUs.
"""
import glob
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEDULE = {'relu': '—', 'frelu-joint': 'joint', 'frelu-alt': '`alternate:4:1:iter`'}
STEPS = {'relu': '3,752', 'frelu-joint': '3,752 (slopes on each)', 'frelu-alt': '3,002 (+750)'}


def signed(x):
    return f"{x:+.2f}".replace('-', '−')


def accuracy_table():
    summary = json.load(open(os.path.join(HERE, 'summary.json')))
    print("| config | schedule | final test acc (%) | Δ vs ReLU [95 % CI] | paired p | seeds 0 / 1 / 2 | weight steps (+ slope steps) |")
    print("|---|---|---:|---:|---:|---|---:|")
    for row in summary['rows']:
        m = row['metrics'][0]
        by_seed = dict(zip(row['seeds'], m['values']))
        seeds = ' / '.join(f"{by_seed[s]:.2f}" if s in by_seed else '…' for s in (0, 1, 2))
        std = f" ± {m['std']:.2f}" if m['std'] is not None else ''
        d = m['delta']
        if d and d['ci_low'] is not None:
            delta, p = f"{signed(d['mean'])} [{signed(d['ci_low'])}, {signed(d['ci_high'])}]", f"{d['p_value']:.3f}"
        elif d:
            delta, p = f"{signed(d['mean'])} (n = {d['n']})", '—'
        else:
            delta, p = '—', '—'
        name = row['name']
        print(f"| {name} | {SCHEDULE[name]} | {m['mean']:.2f}{std} | {delta} | {p} | {seeds} | {STEPS[name]} |")


def before_depthwise(path):
    m = re.search(r'blocks\.(\d+)\.pointwise', path)
    return 'stem' in path or bool(m and int(m.group(1)) < 12)


def slope_table():
    print("| config (seeds) | mean \\|pos − 1\\| | max \\|pos − 1\\| | mean \\|neg\\| | max \\|neg\\| | range of `neg` | before a depthwise conv + BN: min pos² + neg², mean \\|pos − 1\\| | elsewhere: min pos² + neg², mean \\|pos − 1\\| |")
    print("|---|---:|---:|---:|---:|---|---|---|")
    mean = lambda xs: sum(xs) / len(xs)
    for cfg in ['frelu-joint', 'frelu-alt']:
        pos, neg, seeds = [], [], []
        norm = {True: [], False: []}
        dpos = {True: [], False: []}
        for f in sorted(glob.glob(os.path.join(HERE, 'runs', f'{cfg}-s*', 'slopes.json'))):
            if not os.path.exists(os.path.join(os.path.dirname(f), 'summary.json')):
                continue  # unfinished run
            seeds.append(os.path.basename(os.path.dirname(f)).split('-s')[-1])
            for layer in json.load(open(f)):
                pos += layer['pos']
                neg += layer['neg']
                inv = before_depthwise(layer['path'])
                norm[inv] += [p * p + q * q for p, q in zip(layer['pos'], layer['neg'])]
                dpos[inv] += [abs(p - 1) for p in layer['pos']]
        line = (f"| {cfg} ({', '.join(seeds)}) | {mean([abs(p - 1) for p in pos]):.3f} | {max(abs(p - 1) for p in pos):.3f} "
                f"| {mean([abs(x) for x in neg]):.3f} | {max(map(abs, neg)):.3f} | [{min(neg):.2f}, {max(neg):.2f}] "
                f"| {min(norm[True]):.4f}, {mean(dpos[True]):.4f} | {min(norm[False]):.3f}, {mean(dpos[False]):.4f} |")
        print(line.replace('-', '−').replace('frelu−', 'frelu-'))


if __name__ == '__main__':
    accuracy_table()
    print()
    slope_table()
