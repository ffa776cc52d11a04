//! Statistics for comparing configurations over seeds: mean, sample standard deviation, paired
//! differences with a Student-t 95 % interval and a two-sided paired t-test, Holm's adjustment
//! over the comparisons of a grid, an equivalence test (two one-sided tests) against a declared
//! margin, and the verdict they give together. Checked against SciPy and statsmodels on fixed
//! data (`scripts/stats_reference.py`, `fixtures/stats_reference.json`).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Arithmetic mean (NaN for no values).
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample standard deviation (n − 1 denominator; NaN for fewer than two values).
pub fn std_dev(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return f64::NAN;
    }
    let m = mean(values);
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
}

/// A paired comparison of `b − a` over matched samples (here: seeds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedDiff {
    /// Number of pairs.
    pub n: usize,
    /// Mean of the differences.
    pub mean: f64,
    /// Lower end of the 95 % confidence interval of the mean difference.
    pub ci_low: f64,
    /// Upper end of the 95 % confidence interval.
    pub ci_high: f64,
    /// Two-sided p-value of the paired t-test (H0: mean difference = 0).
    pub p_value: f64,
}

/// Paired difference `b[i] − a[i]` with a t interval and a paired t-test. With one pair, or
/// with identical differences, the interval and p-value are undefined (NaN) unless all the
/// differences are zero (then p = 1).
pub fn paired(a: &[f64], b: &[f64]) -> PairedDiff {
    assert_eq!(a.len(), b.len(), "paired samples must have the same length");
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    let n = diffs.len();
    let m = mean(&diffs);
    let sd = std_dev(&diffs);
    if n < 2 || sd.is_nan() {
        return PairedDiff {
            n,
            mean: m,
            ci_low: f64::NAN,
            ci_high: f64::NAN,
            p_value: f64::NAN,
        };
    }
    if sd == 0.0 {
        let p = if m == 0.0 { 1.0 } else { 0.0 };
        return PairedDiff {
            n,
            mean: m,
            ci_low: m,
            ci_high: m,
            p_value: p,
        };
    }
    let se = sd / (n as f64).sqrt();
    let t_dist = StudentsT::new(0.0, 1.0, (n - 1) as f64).expect("valid degrees of freedom");
    let t_crit = t_dist.inverse_cdf(0.975);
    let t = m / se;
    let p_value = 2.0 * (1.0 - t_dist.cdf(t.abs()));
    PairedDiff {
        n,
        mean: m,
        ci_low: m - t_crit * se,
        ci_high: m + t_crit * se,
        p_value,
    }
}

/// The significance level of the verdicts.
pub const ALPHA: f64 = 0.05;

/// Holm's step-down adjustment of the p-values `p` of a family of tests: sorted ascending, the
/// k-th (from 0) is multiplied by `m − k`, kept monotone and capped at 1. Entries that are not
/// finite (comparisons that could not be made) are not tests: they stay NaN and do not count in
/// `m`.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| p[i].is_finite()).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let m = order.len();
    let mut adjusted = vec![f64::NAN; p.len()];
    let mut running = 0.0f64;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// The equivalence test of the paired difference `b − a` against `±margin`: two one-sided
/// paired t-tests (H0: mean ≤ −margin, H0: mean ≥ +margin), and their larger p-value. Below α
/// the difference lies within the margin (the 1 − 2α interval is inside it). NaN where the
/// differences give no interval (one pair, or all equal and not both bounds clear).
pub fn tost(a: &[f64], b: &[f64], margin: f64) -> f64 {
    assert_eq!(a.len(), b.len(), "paired samples must have the same length");
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    let n = diffs.len();
    let (m, sd) = (mean(&diffs), std_dev(&diffs));
    if n < 2 || !sd.is_finite() || !margin.is_finite() || margin <= 0.0 {
        return f64::NAN;
    }
    if sd == 0.0 {
        return if m.abs() < margin { 0.0 } else { 1.0 };
    }
    let se = sd / (n as f64).sqrt();
    let t_dist = StudentsT::new(0.0, 1.0, (n - 1) as f64).expect("valid degrees of freedom");
    let p_lower = 1.0 - t_dist.cdf((m + margin) / se);
    let p_upper = t_dist.cdf((m - margin) / se);
    p_lower.max(p_upper)
}

/// What a row's comparison with the reference says, at level [`ALPHA`] after Holm's adjustment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Higher than the reference: the paired t-test rejects equality.
    Better,
    /// Lower than the reference.
    Worse,
    /// Within the declared margin: the equivalence test rejects a difference of the margin or
    /// more.
    Equivalent,
    /// Neither: more seeds, or a wider margin, would be needed to say.
    Undecided,
}

impl Verdict {
    /// From the mean difference (higher is better), the Holm-adjusted p of the t-test and of the
    /// equivalence test (NaN where none was made).
    pub fn of(mean: f64, p_holm: f64, equivalence_p_holm: f64) -> Verdict {
        if p_holm < ALPHA {
            if mean > 0.0 {
                Verdict::Better
            } else {
                Verdict::Worse
            }
        } else if equivalence_p_holm < ALPHA {
            Verdict::Equivalent
        } else {
            Verdict::Undecided
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Equivalent => "equivalent",
            Verdict::Undecided => "undecided",
        })
    }
}

/// The values `(reference, run)` of `metric` over the seeds both have, in `runs`' order.
pub fn paired_values<T>(
    reference: &[(u64, T)],
    runs: &[(u64, T)],
    metric: impl Fn(&T) -> f64,
) -> (Vec<f64>, Vec<f64>) {
    runs.iter()
        .filter_map(|(seed, run)| {
            reference
                .iter()
                .find(|(r, _)| r == seed)
                .map(|(_, r)| (metric(r), metric(run)))
        })
        .unzip()
}

/// The paired difference `metric(run) − metric(reference run)` over the seeds that both
/// `reference` and `runs` have (`(seed, run)` pairs); `None` when they share no seed.
pub fn paired_by_seed<T>(
    reference: &[(u64, T)],
    runs: &[(u64, T)],
    metric: impl Fn(&T) -> f64,
) -> Option<PairedDiff> {
    let (a, b) = paired_values(reference, runs, metric);
    (!a.is_empty()).then(|| paired(&a, &b))
}

/// `v` with `decimals` decimals, or "—" when it is not finite (undefined, e.g. one seed).
pub fn fixed(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "—".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_std_on_known_values() {
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(mean(&v), 5.0);
        // Sample variance 32/7.
        assert!((std_dev(&v) - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert!(std_dev(&[1.0]).is_nan());
        assert!(mean(&[]).is_nan());
    }

    /// SciPy's and statsmodels' numbers on fixed data (`scripts/stats_reference.py`).
    #[test]
    fn t_test_holm_and_equivalence_match_scipy_and_statsmodels() {
        let reference: serde_json::Value =
            serde_json::from_str(include_str!("fixtures/stats_reference.json")).unwrap();
        let margin = reference["margin"].as_f64().unwrap();
        let order: Vec<&str> = reference["order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let values = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let close = |what: &str, ours: f64, theirs: &serde_json::Value| {
            let theirs = theirs.as_f64().unwrap();
            assert!(
                (ours - theirs).abs() < 1e-7,
                "{what}: {ours} vs scipy {theirs}"
            );
        };
        let (mut ps, mut tosts) = (Vec::new(), Vec::new());
        for name in &order {
            let case = &reference["cases"][name];
            let (a, b) = (values(&case["a"]), values(&case["b"]));
            let d = paired(&a, &b);
            close(&format!("{name} mean"), d.mean, &case["mean"]);
            close(&format!("{name} ci_low"), d.ci_low, &case["ci_low"]);
            close(&format!("{name} ci_high"), d.ci_high, &case["ci_high"]);
            close(&format!("{name} p"), d.p_value, &case["p"]);
            let t = tost(&a, &b, margin);
            close(&format!("{name} tost"), t, &case["tost_p"]);
            ps.push(d.p_value);
            tosts.push(t);
        }
        let (p_holm, tost_holm) = (holm(&ps), holm(&tosts));
        let mut verdicts = Vec::new();
        for (i, name) in order.iter().enumerate() {
            let case = &reference["cases"][name];
            close(&format!("{name} p_holm"), p_holm[i], &case["p_holm"]);
            close(
                &format!("{name} tost_holm"),
                tost_holm[i],
                &case["tost_p_holm"],
            );
            let mean = case["mean"].as_f64().unwrap();
            verdicts.push(Verdict::of(mean, p_holm[i], tost_holm[i]).to_string());
        }
        // The cases are named for what they are.
        assert_eq!(
            verdicts,
            ["better", "worse", "equivalent", "undecided", "undecided"]
        );
    }

    #[test]
    fn holm_skips_comparisons_that_were_not_made() {
        let adjusted = holm(&[0.01, f64::NAN, 0.04, 0.03]);
        // Three tests: 0.01·3, then max(0.03, 0.03·2), then max(0.06, 0.04·1).
        assert!((adjusted[0] - 0.03).abs() < 1e-12);
        assert!(adjusted[1].is_nan());
        assert!((adjusted[3] - 0.06).abs() < 1e-12);
        assert!((adjusted[2] - 0.06).abs() < 1e-12);
        assert!(holm(&[]).is_empty());
        // One pair gives no equivalence test; a margin of 0 neither.
        assert!(tost(&[1.0], &[1.0], 0.1).is_nan());
        assert!(tost(&[1.0, 2.0], &[1.1, 2.3], 0.0).is_nan());
    }

    #[test]
    fn paired_t_test_matches_a_hand_computation() {
        // Differences 1, 2, 3: mean 2, sd 1, se 1/√3, t = 2√3 ≈ 3.4641 with 2 df.
        // t_{0.975, 2} = 4.302653; two-sided p = 0.07418.
        let a = [10.0, 20.0, 30.0];
        let b = [11.0, 22.0, 33.0];
        let d = paired(&a, &b);
        assert_eq!(d.n, 3);
        assert!((d.mean - 2.0).abs() < 1e-12);
        let half = 4.302_652_729 / 3f64.sqrt();
        assert!((d.ci_low - (2.0 - half)).abs() < 1e-6, "{d:?}");
        assert!((d.ci_high - (2.0 + half)).abs() < 1e-6, "{d:?}");
        assert!((d.p_value - 0.074_180).abs() < 1e-5, "{d:?}");
    }

    #[test]
    fn paired_degenerate_cases() {
        let d = paired(&[1.0], &[2.0]);
        assert!(d.ci_low.is_nan() && d.p_value.is_nan());
        assert_eq!(d.mean, 1.0);
        let same = paired(&[1.0, 2.0], &[1.0, 2.0]);
        assert_eq!(same.p_value, 1.0);
        let shifted = paired(&[1.0, 2.0], &[2.0, 3.0]);
        assert_eq!(
            (shifted.ci_low, shifted.ci_high, shifted.p_value),
            (1.0, 1.0, 0.0)
        );
    }

    #[test]
    fn table_cells_show_undefined_values_as_a_dash() {
        assert_eq!(fixed(1.23456, 2), "1.23");
        assert_eq!(fixed(f64::NAN, 2), "—");
        let one_seed = paired(&[1.0], &[2.5]);
        assert_eq!(fixed(one_seed.ci_low, 2), "—");
        let d = paired(&[10.0, 20.0, 30.0], &[11.0, 22.0, 33.0]);
        assert_eq!(
            [d.mean, d.ci_low, d.ci_high, d.p_value].map(|v| fixed(v, 2)),
            ["2.00", "-0.48", "4.48", "0.07"]
        );
    }

    #[test]
    fn paired_by_seed_pairs_matching_seeds_only() {
        let reference = [(0, 90.0), (1, 91.0), (2, 92.0)];
        // Seed 3 has no reference run; seed 1 is missing from the runs.
        let runs = [(2, 93.0), (0, 90.5), (3, 50.0)];
        let d = paired_by_seed(&reference, &runs, |&x| x).unwrap();
        assert_eq!(d.n, 2);
        assert!((d.mean - 0.75).abs() < 1e-12, "{d:?}");
        assert!(paired_by_seed(&reference, &[(7, 1.0)], |&x| x).is_none());
    }
}
