#!/usr/bin/env python3
"""Reference numbers for the statistics of `frelu compare` (frelu_vision::analysis::stats),
computed by SciPy and statsmodels on fixed data, written as JSON for the Rust tests to compare
against (crates/frelu-vision/src/analysis/fixtures/stats_reference.json).

For each case (a reference sample `a` and a sample `b`, paired by position):
  * paired t-test of b - a (scipy.stats.ttest_rel): two-sided p;
  * 95 % interval of the mean difference (t quantile from scipy.stats.t.ppf);
  * TOST equivalence test at margin m: the larger of the one-sided p-values of
    H0: mean(b - a) <= -m (ttest_rel(b + m, a, alternative='greater')... written as
    ttest_rel(b, a - m, alternative='greater')) and H0: mean(b - a) >= m
    (ttest_rel(b, a + m, alternative='less'));
and over the cases together, Holm's adjustment of the two-sided p-values and of the TOST
p-values (statsmodels.stats.multitest.multipletests(method='holm')).

Only an outside reference: nothing of the build or the tests runs it.
Usage: python3 scripts/stats_reference.py > crates/frelu-vision/src/analysis/fixtures/stats_reference.json
"""

import json

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

MARGIN = 0.15
A = [90.52, 90.61, 90.48, 90.70, 90.55, 90.66, 90.59, 90.44, 90.63, 90.57]
CASES = {
    # name: b, paired with A
    "better": [90.81, 90.90, 90.70, 91.02, 90.77, 90.95, 90.88, 90.69, 90.91, 90.80],
    "worse": [90.31, 90.40, 90.35, 90.44, 90.29, 90.49, 90.41, 90.22, 90.38, 90.36],
    "equivalent": [90.55, 90.58, 90.50, 90.69, 90.57, 90.63, 90.62, 90.47, 90.60, 90.59],
    "undecided": [90.40, 90.95, 90.30, 91.01, 90.45, 90.80, 90.42, 90.79, 90.51, 90.75],
    "three_seeds": [90.70, 90.52, 90.66],
}


def case(b):
    a = np.array(A[: len(b)])
    b = np.array(b)
    d = b - a
    n = len(d)
    se = d.std(ddof=1) / np.sqrt(n)
    t_crit = stats.t.ppf(0.975, n - 1)
    p_lower = stats.ttest_rel(b, a - MARGIN, alternative="greater").pvalue
    p_upper = stats.ttest_rel(b, a + MARGIN, alternative="less").pvalue
    return {
        "a": a.tolist(),
        "b": b.tolist(),
        "mean": float(d.mean()),
        "ci_low": float(d.mean() - t_crit * se),
        "ci_high": float(d.mean() + t_crit * se),
        "p": float(stats.ttest_rel(b, a).pvalue),
        "tost_p": float(max(p_lower, p_upper)),
    }


results = {name: case(b) for name, b in CASES.items()}
names = list(results)
p_holm = multipletests([results[n]["p"] for n in names], method="holm")[1]
tost_holm = multipletests([results[n]["tost_p"] for n in names], method="holm")[1]
for name, p, t in zip(names, p_holm, tost_holm):
    results[name]["p_holm"] = float(p)
    results[name]["tost_p_holm"] = float(t)
print(json.dumps({"margin": MARGIN, "order": names, "cases": results}, indent=2))
