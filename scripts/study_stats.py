"""The statistics shared by the pre-registered studies' analyses (scripts/study_b.py,
scripts/study_c.py): paired differences through scipy's ttest_rel, as scripts/stats_reference.py
computes them for `frelu compare`'s tests, Holm's adjustment and the registered verdict rule.
"""
from scipy import stats

MARGIN = 0.15
ALPHA = 0.05


def paired(a, b, margin=MARGIN):
    """Mean of a - b, its 95 % interval, the two-sided paired t p and the TOST p at +-margin: the
    scipy calls of scripts/stats_reference.py (ttest_rel; TOST as its two one-sided ttest_rel)."""
    d = [x - y for x, y in zip(a, b)]
    mean = sum(d) / len(d)
    if len(set(d)) == 1:  # no spread: the t statistics are undefined
        return mean, (mean, mean), 0.0 if mean else 1.0, 0.0 if abs(mean) < margin else 1.0
    test = stats.ttest_rel(a, b)
    interval = test.confidence_interval(0.95)
    p_tost = max(stats.ttest_rel(a, [y - margin for y in b], alternative='greater').pvalue,
                 stats.ttest_rel(a, [y + margin for y in b], alternative='less').pvalue)
    return mean, (interval.low, interval.high), test.pvalue, p_tost


def holm(ps):
    """Holm's step-down adjustment of the p-values `ps`, in their order."""
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    adjusted, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


def verdict(mean, p_holm, p_tost_holm):
    """The registered rule: better / worse when the Holm-adjusted t-test rejects, equivalent when
    the Holm-adjusted TOST does, undecided otherwise."""
    if p_holm < ALPHA:
        return 'better' if mean > 0 else 'worse'
    return 'equivalent' if p_tost_holm < ALPHA else 'undecided'
