"""Study C of docs/preregistration.md (issue 30, item 4): the analysis fixed with the study, run
on its stored records once all four budgets have run.

    python3 scripts/study_c.py docs/runs        # reads docs/runs/mech-{2,4,8,15}/runs/*/

Per run it reads `summary.json` (final test accuracy, per-epoch test loss and accuracy) and
`train_eval.csv` (the training set in evaluation mode after each epoch). It prints:
1. the 7 primary contrasts (x100 - relu at 2, 4, 8, 15 epochs; frozen2 - relu at 4, 8, 15),
   paired by seed: mean difference, 95 % interval, paired t-test p, Holm over the 7, TOST at
   +-0.15 pp (Holm over the 7) and the verdict (better / worse / equivalent / undecided);
2. the overfitting reading: per budget, x100 - relu in the final evaluation-mode training loss
   (paired t, Holm over the 4), and whether the registered rule holds there;
3. the secondary contrasts frozen2 - x100 at 4, 8, 15 (Holm over the 3);
4. per budget and row, the per-epoch means over seeds of both splits' loss and accuracy;
5. every per-seed value.
A budget whose grid is not complete is reported as missing, never analysed in part.
"""
import csv
import json
import os
import sys

from study_stats import ALPHA, holm, paired, verdict

SEEDS = [300, 301, 302]
BUDGETS = [2, 4, 8, 15]
X100, FROZEN, RELU = 'frelu-joint-x100', 'frelu-x100-frozen2', 'relu'


def run(root, budget, row, seed):
    folder = os.path.join(root, f'mech-{budget}', 'runs', f'{row}-s{seed}')
    path = os.path.join(folder, 'summary.json')
    if not os.path.exists(path):
        return None
    summary = json.load(open(path))
    with open(os.path.join(folder, 'train_eval.csv')) as f:
        train_eval = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    return {'summary': summary, 'train_eval': train_eval}


def grid(root, budget, rows):
    runs = {(row, s): run(root, budget, row, s) for row in rows for s in SEEDS}
    return runs if all(runs.values()) else None


def final_acc(g, row):
    return [g[(row, s)]['summary']['final_test_acc'] for s in SEEDS]


def final_train_loss(g, row):
    return [g[(row, s)]['train_eval'][-1]['loss'] for s in SEEDS]


def main(root):
    grids = {}
    for b in BUDGETS:
        rows = [RELU, X100] + ([FROZEN] if b != 2 else [])
        grids[b] = grid(root, b, rows)
        if grids[b] is None:
            print(f"budget {b}: grid incomplete, not analysed")
    if not all(grids.values()):
        sys.exit("study C is not complete: no analysis (the registration forbids partial ones)")
    primary = [(b, X100) for b in BUDGETS] + [(b, FROZEN) for b in BUDGETS if b != 2]
    results = [paired(final_acc(grids[b], row), final_acc(grids[b], RELU)) for b, row in primary]
    p_holm = holm([r[2] for r in results])
    p_tost = holm([r[3] for r in results])
    print("| contrast | epochs | Δ test acc (pp) [95 % CI] | p | Holm p | TOST p (±0.15), Holm | verdict |")
    print("|---|---:|---|---:|---:|---:|---|")
    verdicts = {}
    for (b, row), r, ph, pt in zip(primary, results, p_holm, p_tost):
        v = verdict(r[0], ph, pt)
        verdicts[(b, row)] = v
        print(f"| {row} − relu | {b} | {r[0]:+.2f} [{r[1][0]:+.2f}, {r[1][1]:+.2f}] | {r[2]:.3f} "
              f"| {ph:.3f} | {pt:.3f} | {v} |")
    print()
    losses = [paired(final_train_loss(grids[b], X100), final_train_loss(grids[b], RELU))
              for b in BUDGETS]
    loss_holm = holm([r[2] for r in losses])
    print("| epochs | Δ train loss, eval mode (x100 − relu) [95 % CI] | p | Holm p | x100 verdict | overfitting reading |")
    print("|---:|---|---:|---:|---|---|")
    for b, r, ph in zip(BUDGETS, losses, loss_holm):
        worse = verdicts[(b, X100)] == 'worse'
        lower = r[0] < 0 and ph < ALPHA
        reading = 'supported' if worse and lower else ('not explained by overfitting' if worse else 'not supported: no deficit after correction')
        print(f"| {b} | {r[0]:+.4f} [{r[1][0]:+.4f}, {r[1][1]:+.4f}] | {r[2]:.3f} | {ph:.3f} "
              f"| {verdicts[(b, X100)]} | {reading} |")
    print()
    secondary = [paired(final_acc(grids[b], FROZEN), final_acc(grids[b], X100)) for b in BUDGETS[1:]]
    sec_holm = holm([r[2] for r in secondary])
    print("| contrast | epochs | Δ test acc (pp) [95 % CI] | p | Holm p (over 3) |")
    print("|---|---:|---|---:|---:|")
    for b, r, ph in zip(BUDGETS[1:], secondary, sec_holm):
        print(f"| frozen2 − x100 | {b} | {r[0]:+.2f} [{r[1][0]:+.2f}, {r[1][1]:+.2f}] | {r[2]:.3f} | {ph:.3f} |")
    print()
    for b in BUDGETS:
        rows = [RELU, X100] + ([FROZEN] if b != 2 else [])
        print(f"Budget {b} epochs, means over seeds {SEEDS}: train loss / test loss, train acc / test acc (eval mode)")
        print("| row | " + " | ".join(f"epoch {e}" for e in range(1, b + 1)) + " |")
        print("|---|" + "---|" * b)
        for row in rows:
            cells = []
            for e in range(b):
                runs = [grids[b][(row, s)] for s in SEEDS]
                tl = sum(r['train_eval'][e]['loss'] for r in runs) / 3
                vl = sum(r['summary']['epochs'][e]['test_loss'] for r in runs) / 3
                ta = sum(r['train_eval'][e]['accuracy'] for r in runs) / 3
                va = sum(r['summary']['epochs'][e]['test_acc'] for r in runs) / 3
                cells.append(f"{tl:.4f} / {vl:.4f}, {ta:.2f} / {va:.2f}")
            print(f"| {row} | " + " | ".join(cells) + " |")
        print()
    print("Per seed (final test acc, final eval-mode train loss), seeds " + ", ".join(map(str, SEEDS)))
    for b in BUDGETS:
        for row in [RELU, X100] + ([FROZEN] if b != 2 else []):
            acc = ' / '.join(f"{v:.2f}" for v in final_acc(grids[b], row))
            loss = ' / '.join(f"{v:.4f}" for v in final_train_loss(grids[b], row))
            print(f"- {b} epochs, {row}: {acc}; {loss}")


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'docs/runs')
