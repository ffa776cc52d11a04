//! The one summary writer of every comparison grid: statistics over seeds, differences to the
//! reference paired by seed, Markdown / CSV / JSON tables and plots.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::report::EpochRow;
use super::spec::{GridRow, GridSpec, Metric, RunSummary};
use crate::analysis::plots::{self, BandSeries};
use crate::analysis::slopes::{Movement, read_history};
use crate::analysis::stats::{
    PairedDiff, Verdict, fixed, holm, mean, paired, paired_values, std_dev, tost,
};

/// A column of the table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricInfo {
    /// Key in CSV / JSON.
    pub key: String,
    /// Markdown header.
    pub header: String,
    /// Decimals.
    pub digits: usize,
    /// Whether the difference to the reference is shown.
    pub paired: bool,
}

/// One metric of one configuration over its seeds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetricResult {
    /// Value of each finished seed, in seed order.
    pub values: Vec<f64>,
    /// Mean over seeds.
    pub mean: f64,
    /// Sample standard deviation over seeds.
    pub std: f64,
    /// This minus the reference, paired by seed (paired metrics, rows other than the
    /// reference).
    pub delta: Option<PairedDiff>,
    /// `delta`'s p-value after Holm's adjustment over the rows of the grid (this metric).
    #[serde(default)]
    pub p_holm: Option<f64>,
    /// The equivalence test against the grid's margin (its first paired metric, when the grid
    /// declares one).
    #[serde(default)]
    pub equivalence: Option<Equivalence>,
    /// What the comparison says at level 0.05 after Holm's adjustment.
    #[serde(default)]
    pub verdict: Option<Verdict>,
}

/// The equivalence test (two one-sided paired t-tests) of a row's difference to the reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Equivalence {
    /// The margin: the difference is tested against ±margin.
    pub margin: f64,
    /// The larger of the two one-sided p-values.
    pub p: f64,
    /// `p` after Holm's adjustment over the rows of the grid.
    pub p_holm: f64,
}

/// One configuration of a finished grid.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RowResult {
    /// Name.
    pub name: String,
    /// Descriptive cells.
    pub labels: Vec<String>,
    /// Whether its activation learns parameters.
    pub learnable: bool,
    /// Seeds that finished.
    pub seeds: Vec<u64>,
    /// Seeds that failed.
    pub failed_seeds: Vec<u64>,
    /// Trainable parameters.
    pub params: usize,
    /// Parameters added over the reference.
    pub params_added: i64,
    /// One entry per metric, in [`GridSummary::metrics`] order.
    pub metrics: Vec<MetricResult>,
    /// Mean of the runs' time figure.
    pub seconds: f64,
    /// Mean and std over seeds of the test accuracy per epoch.
    pub test_acc_by_epoch: Vec<(f64, f64)>,
    /// Mean and std over seeds of the training loss per epoch.
    pub train_loss_by_epoch: Vec<(f64, f64)>,
    /// How far the FReLU-family slopes of its finished seeds moved from ReLU's (`None`: no
    /// such slopes, or summaries written before this existed).
    #[serde(default)]
    pub slopes: Option<Movement>,
}

/// A finished grid.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GridSummary {
    /// What was run.
    pub title: String,
    /// Headers of the descriptive cells.
    pub label_headers: Vec<String>,
    /// The reference configuration's name.
    pub reference: Option<String>,
    /// Header of the time column.
    pub seconds_header: String,
    /// The metric columns.
    pub metrics: Vec<MetricInfo>,
    /// One per configuration, in grid order.
    pub rows: Vec<RowResult>,
    /// Plot files.
    pub plots: Vec<PathBuf>,
}

fn by_epoch<S: RunSummary>(runs: &[(u64, S)], f: impl Fn(&EpochRow) -> f64) -> Vec<(f64, f64)> {
    let epochs = runs
        .iter()
        .map(|(_, r)| r.epochs().len())
        .min()
        .unwrap_or(0);
    (0..epochs)
        .map(|e| {
            let v: Vec<f64> = runs.iter().map(|(_, r)| f(&r.epochs()[e])).collect();
            (mean(&v), std_dev(&v))
        })
        .collect()
}

/// [`by_epoch`] for the grid's own rows; nothing for a row of runs made elsewhere.
fn own_curve<S: RunSummary>(
    row: &GridRow,
    runs: &[(u64, S)],
    f: impl Fn(&EpochRow) -> f64,
) -> Vec<(f64, f64)> {
    if row.runs_from.is_some() {
        Vec::new()
    } else {
        by_epoch(runs, f)
    }
}

/// The statistics of every row: `runs[row]` are its finished `(seed, summary)` pairs.
pub fn aggregate_rows<S: RunSummary>(
    spec: &GridSpec,
    runs: &[Vec<(u64, S)>],
    failed: &[Vec<u64>],
    metrics: &[Metric<S>],
) -> Vec<RowResult> {
    let reference = spec.reference.map(|r| &runs[r]);
    let reference_params = reference.and_then(|r| r.first()).map(|(_, s)| s.params());
    let first_paired = metrics.iter().position(|m| m.paired);
    let mut rows: Vec<RowResult> = spec
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mine = &runs[i];
            let metric_results = metrics
                .iter()
                .enumerate()
                .map(|(k, m)| {
                    let values: Vec<f64> = mine.iter().map(|(_, s)| (m.value)(s)).collect();
                    let pairs = match reference {
                        Some(r) if m.paired && spec.reference != Some(i) => {
                            Some(paired_values(r, mine, |s| (m.value)(s)))
                        }
                        _ => None,
                    }
                    .filter(|(a, _)| !a.is_empty());
                    let margin = spec.margin.filter(|_| first_paired == Some(k));
                    let equivalence = pairs.as_ref().zip(margin).map(|((a, b), margin)| {
                        let p = tost(a, b, margin);
                        Equivalence {
                            margin,
                            p,
                            p_holm: f64::NAN,
                        }
                    });
                    MetricResult {
                        mean: mean(&values),
                        std: std_dev(&values),
                        values,
                        delta: pairs.map(|(a, b)| paired(&a, &b)),
                        p_holm: None,
                        equivalence,
                        verdict: None,
                    }
                })
                .collect();
            let params = mine.first().map_or(0, |(_, s)| s.params());
            RowResult {
                name: row.name.clone(),
                labels: row.labels.clone(),
                learnable: row.learnable,
                seeds: mine.iter().map(|(s, _)| *s).collect(),
                failed_seeds: failed[i].clone(),
                params,
                params_added: reference_params.map_or(0, |p| params as i64 - p as i64),
                metrics: metric_results,
                seconds: mean(&mine.iter().map(|(_, s)| s.seconds()).collect::<Vec<_>>()),
                // Runs made elsewhere had their own epochs: not drawn beside the grid's.
                test_acc_by_epoch: own_curve(row, mine, |e| e.test_acc),
                train_loss_by_epoch: own_curve(row, mine, |e| e.train_loss),
                slopes: None,
            }
        })
        .collect();
    for k in 0..metrics.len() {
        adjust(&mut rows, k);
    }
    rows
}

/// Holm's adjustment of metric `k`'s comparisons over the rows (the t-tests, and the
/// equivalence tests apart), then each row's verdict.
fn adjust(rows: &mut [RowResult], k: usize) {
    let p: Vec<f64> = rows
        .iter()
        .map(|r| r.metrics[k].delta.as_ref().map_or(f64::NAN, |d| d.p_value))
        .collect();
    let equivalence: Vec<f64> = rows
        .iter()
        .map(|r| r.metrics[k].equivalence.as_ref().map_or(f64::NAN, |e| e.p))
        .collect();
    let (p, equivalence) = (holm(&p), holm(&equivalence));
    for (i, row) in rows.iter_mut().enumerate() {
        let result = &mut row.metrics[k];
        let Some(delta) = &result.delta else {
            continue;
        };
        result.p_holm = Some(p[i]);
        if let Some(e) = &mut result.equivalence {
            e.p_holm = equivalence[i];
        }
        result.verdict = Some(Verdict::of(delta.mean, p[i], equivalence[i]));
    }
}

impl GridSummary {
    /// A summary of `spec` with these rows (no plots yet).
    pub fn new<S>(spec: &GridSpec, metrics: &[Metric<S>], rows: Vec<RowResult>) -> Self {
        Self {
            title: spec.title.clone(),
            label_headers: spec.label_headers.clone(),
            reference: spec.reference.map(|r| spec.rows[r].name.clone()),
            seconds_header: spec.seconds_header.clone(),
            metrics: metrics
                .iter()
                .map(|m| MetricInfo {
                    key: m.key.into(),
                    header: m.header.into(),
                    digits: m.digits,
                    paired: m.paired,
                })
                .collect(),
            rows,
            plots: Vec::new(),
        }
    }

    /// The equivalence margin of metric `k`, if any row was tested against one.
    fn margin(&self, k: usize) -> Option<f64> {
        self.rows
            .iter()
            .find_map(|r| r.metrics.get(k)?.equivalence.as_ref().map(|e| e.margin))
    }

    /// The row of configuration `name`.
    pub fn row(&self, name: &str) -> Option<&RowResult> {
        self.rows.iter().find(|r| r.name == name)
    }

    /// The result of metric `key` in `row`.
    pub fn metric<'a>(&self, row: &'a RowResult, key: &str) -> Option<&'a MetricResult> {
        let i = self.metrics.iter().position(|m| m.key == key)?;
        row.metrics.get(i)
    }

    /// The table (Markdown), after the title line.
    pub fn markdown(&self) -> String {
        let reference = self.reference.as_deref().unwrap_or("reference");
        let mut headers: Vec<String> = vec!["config".into()];
        headers.extend(self.label_headers.iter().cloned());
        let labels = headers.len();
        headers.push("params (added)".into());
        for m in &self.metrics {
            headers.push(m.header.clone());
        }
        for (k, m) in self.metrics.iter().enumerate().filter(|(_, m)| m.paired) {
            headers.push(format!("Δ {} vs {reference} [95 % CI]", m.header));
            headers.push("paired p".into());
            headers.push("Holm p".into());
            if let Some(margin) = self.margin(k) {
                headers.push(format!("equivalence p (±{margin}), Holm"));
            }
            headers.push("verdict".into());
        }
        headers.push(self.seconds_header.clone());
        headers.push("seeds".into());
        let align: Vec<&str> = (0..headers.len())
            .map(|i| if i < labels { "---" } else { "---:" })
            .collect();
        let mut out = format!(
            "{}\n\n| {} |\n|{}|\n",
            self.title,
            headers.join(" | "),
            align.join("|")
        );
        for r in &self.rows {
            out.push_str(&format!("| {} |\n", self.markdown_cells(r).join(" | ")));
        }
        out.push_str(&self.slope_markdown());
        out
    }

    /// The table of how far each row's slopes moved (empty when no row has slopes).
    fn slope_markdown(&self) -> String {
        let rows: Vec<(&str, &Movement)> = self
            .rows
            .iter()
            .filter_map(|r| Some((r.name.as_str(), r.slopes.as_ref()?)))
            .collect();
        if rows.is_empty() {
            return String::new();
        }
        let mut out = String::from(
            "\nHow far the slopes moved from ReLU's (`pos` 1, `neg` 0): every channel of every \
             finished seed's `slopes.json`; \"fixed\": not learned.\n\n\
             | config | runs | channels | mean \\|pos − 1\\| | max \\|pos − 1\\| | mean \\|neg\\| | max \\|neg\\| | range of `neg` |\n\
             |---|---:|---:|---:|---:|---:|---:|---|\n",
        );
        let distance = |d: &Option<crate::analysis::slopes::Summary>| match d {
            Some(d) => [fixed(d.mean, 3), fixed(d.max, 3)],
            None => ["fixed".to_string(), "fixed".to_string()],
        };
        for (name, m) in rows {
            let [pos_mean, pos_max] = distance(&m.pos_from_one);
            let [neg_mean, neg_max] = distance(&m.neg_from_zero);
            let range = m.neg.as_ref().map_or("fixed".to_string(), |n| {
                format!("[{}, {}]", fixed(n.min, 2), fixed(n.max, 2))
            });
            out.push_str(&format!(
                "| {name} | {} | {} | {pos_mean} | {pos_max} | {neg_mean} | {neg_max} | {range} |\n",
                m.runs, m.channels
            ));
        }
        out
    }

    fn markdown_cells(&self, r: &RowResult) -> Vec<String> {
        let mut cells = vec![r.name.clone()];
        cells.extend(r.labels.iter().map(|l| {
            if l == "—" {
                l.clone()
            } else {
                format!("`{l}`")
            }
        }));
        cells.push(format!("{} ({:+})", r.params, r.params_added));
        for (m, v) in self.metrics.iter().zip(&r.metrics) {
            cells.push(match (v.mean.is_finite(), v.std.is_finite()) {
                (true, true) => format!("{} ± {}", fixed(v.mean, m.digits), fixed(v.std, m.digits)),
                _ => fixed(v.mean, m.digits),
            });
        }
        for (k, (m, v)) in self
            .metrics
            .iter()
            .zip(&r.metrics)
            .enumerate()
            .filter(|(_, (m, _))| m.paired)
        {
            let with_margin = self.margin(k).is_some();
            match &v.delta {
                Some(d) => {
                    cells.push(format!(
                        "{} [{}, {}]",
                        fixed(d.mean, m.digits),
                        fixed(d.ci_low, m.digits),
                        fixed(d.ci_high, m.digits)
                    ));
                    cells.push(fixed(d.p_value, 3));
                    cells.push(fixed(v.p_holm.unwrap_or(f64::NAN), 3));
                    if with_margin {
                        let e = v.equivalence.as_ref();
                        cells.push(fixed(e.map_or(f64::NAN, |e| e.p_holm), 3));
                    }
                    cells.push(v.verdict.map_or("—".into(), |v| v.to_string()));
                }
                None => {
                    let n = if with_margin { 5 } else { 4 };
                    cells.extend(std::iter::repeat_n("—".to_string(), n));
                }
            }
        }
        cells.push(fixed(r.seconds, 1));
        let failed = match r.failed_seeds.len() {
            0 => String::new(),
            n => format!(" ({n} failed)"),
        };
        cells.push(format!("{}{failed}", r.seeds.len()));
        cells
    }

    /// The table (CSV): mean, std and the paired difference of every metric.
    pub fn csv(&self) -> String {
        let mut header = vec!["config".to_string()];
        header.extend(self.label_headers.iter().map(|h| h.replace(',', ";")));
        header.extend(["params", "params_added", "seeds"].map(String::from));
        for m in &self.metrics {
            header.extend([format!("{}_mean", m.key), format!("{}_std", m.key)]);
            if m.paired {
                header.extend(
                    [
                        "delta",
                        "delta_ci_low",
                        "delta_ci_high",
                        "p_value",
                        "p_holm",
                        "tost_p",
                        "tost_p_holm",
                        "verdict",
                    ]
                    .map(|x| format!("{}_{x}", m.key)),
                );
            }
        }
        header.push("seconds".into());
        let mut out = header.join(",") + "\n";
        for r in &self.rows {
            let mut cells = vec![r.name.clone()];
            cells.extend(r.labels.iter().map(|l| l.replace(',', ";")));
            cells.extend([
                r.params.to_string(),
                r.params_added.to_string(),
                r.seeds.len().to_string(),
            ]);
            for (m, v) in self.metrics.iter().zip(&r.metrics) {
                cells.extend([format!("{:.4}", v.mean), format!("{:.4}", v.std)]);
                if m.paired {
                    let d = v.delta.as_ref();
                    let get = |f: fn(&PairedDiff) -> f64| d.map_or(f64::NAN, f);
                    cells.extend([
                        format!("{:.4}", get(|d| d.mean)),
                        format!("{:.4}", get(|d| d.ci_low)),
                        format!("{:.4}", get(|d| d.ci_high)),
                        format!("{:.5}", get(|d| d.p_value)),
                        format!("{:.5}", v.p_holm.unwrap_or(f64::NAN)),
                        format!("{:.5}", v.equivalence.as_ref().map_or(f64::NAN, |e| e.p)),
                        format!(
                            "{:.5}",
                            v.equivalence.as_ref().map_or(f64::NAN, |e| e.p_holm)
                        ),
                        v.verdict.map_or(String::new(), |v| v.to_string()),
                    ]);
                }
            }
            cells.push(format!("{:.2}", r.seconds));
            out.push_str(&(cells.join(",") + "\n"));
        }
        out
    }
}

fn band_series(rows: &[RowResult], pick: fn(&RowResult) -> &Vec<(f64, f64)>) -> Vec<BandSeries> {
    rows.iter()
        .filter(|r| pick(r).iter().any(|(m, _)| m.is_finite()))
        .map(|r| BandSeries {
            name: r.name.clone(),
            points: pick(r)
                .iter()
                .enumerate()
                .map(|(e, &(m, s))| ((e + 1) as f64, m, s))
                .collect(),
        })
        .collect()
}

/// Accuracy and loss curves of every row (mean ± std over seeds), the slope plots of the
/// first finished run (`first_runs[row]`) of every row whose activation learns, and those
/// runs' learned curves side by side (`learned_curves_all`).
pub fn plots(
    summary: &GridSummary,
    first_runs: &[Option<PathBuf>],
    dir: &Path,
) -> crate::Result<Vec<PathBuf>> {
    crate::fsio::create_dir(dir)?;
    let mut files = Vec::new();
    let acc = band_series(&summary.rows, |r| &r.test_acc_by_epoch);
    if !acc.is_empty() {
        files.extend(plots::band_chart(
            &dir.join("test_accuracy"),
            "test accuracy (mean ± std over seeds)",
            "epoch",
            "test accuracy (%)",
            &acc,
        )?);
    }
    let loss = band_series(&summary.rows, |r| &r.train_loss_by_epoch);
    if !loss.is_empty() {
        files.extend(plots::band_chart(
            &dir.join("train_loss"),
            "training loss (mean ± std over seeds)",
            "epoch",
            "train loss",
            &loss,
        )?);
    }
    let mut learned = Vec::new();
    for (row, run) in summary.rows.iter().zip(first_runs) {
        if let (true, Some(run)) = (row.learnable, run) {
            let run_learned = crate::analysis::learned::read(run)?;
            files.extend(slope_plots(&row.name, run, run_learned.as_ref(), dir)?);
            if let Some(l) = run_learned {
                learned.push((row.name.clone(), l));
            }
        }
    }
    if learned.len() > 1 {
        files.extend(crate::analysis::learned::comparison_plot(
            &dir.join("learned_curves_all"),
            &learned,
        )?);
    }
    Ok(files)
}

/// The slope plots of `run` and, when it has them, its `learned` curves.
fn slope_plots(
    name: &str,
    run: &Path,
    learned: Option<&crate::analysis::learned::Learned>,
    dir: &Path,
) -> crate::Result<Vec<PathBuf>> {
    let stem = |what: &str| dir.join(format!("{}_{what}", super::folder::clean_name(name)));
    let mut files = Vec::new();
    if let Some(learned) = learned {
        files.extend(crate::analysis::learned::curve_plot(
            &stem("learned_curves"),
            learned,
        )?);
    }
    let layers: Vec<frelu::slopes::LayerSlopes> =
        crate::fsio::read_json(&run.join(crate::run_files::SLOPES))?;
    if layers.is_empty() {
        return Ok(files);
    }
    files.extend(plots::slope_scatter(&stem("pos_vs_neg"), &layers)?);
    files.extend(plots::slope_distributions(
        &stem("slope_distributions"),
        &layers,
    )?);
    files.extend(plots::activation_curves(&stem("curves"), &layers)?);
    let history = read_history(run)?;
    if history.len() > 1 {
        files.extend(plots::slope_trajectories(&stem("trajectories"), &history)?);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Run(f64);

    impl RunSummary for Run {
        fn epochs(&self) -> &[EpochRow] {
            &[]
        }
        fn params(&self) -> usize {
            100
        }
        fn seconds(&self) -> f64 {
            1.0
        }
    }

    #[test]
    fn every_row_gets_holm_adjusted_p_an_equivalence_test_and_a_verdict() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../analysis/fixtures/stats_reference.json"))
                .unwrap();
        let values = |case: &str, side: &str| -> Vec<f64> {
            fixture["cases"][case][side]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let runs_of = |v: Vec<f64>| -> Vec<(u64, Run)> {
            v.into_iter()
                .enumerate()
                .map(|(seed, x)| (seed as u64, Run(x)))
                .collect()
        };
        let names = ["relu", "better", "equivalent", "undecided"];
        let spec = GridSpec {
            title: "t".into(),
            label_headers: vec!["activation".into()],
            rows: names
                .iter()
                .map(|n| crate::runs::spec::testing::row(n))
                .collect(),
            seeds: (0..10).collect(),
            reference: Some(0),
            seconds_header: "s".into(),
            margin: Some(0.15),
        };
        let runs = vec![
            runs_of(values("better", "a")),
            runs_of(values("better", "b")),
            runs_of(values("equivalent", "b")),
            runs_of(values("undecided", "b")),
        ];
        let metrics = [
            Metric {
                key: "final_acc",
                header: "acc",
                digits: 2,
                value: |r: &Run| r.0,
                paired: true,
            },
            Metric {
                key: "best_acc",
                header: "best",
                digits: 2,
                value: |r: &Run| r.0,
                paired: false,
            },
        ];
        let rows = aggregate_rows(&spec, &runs, &[vec![], vec![], vec![], vec![]], &metrics);
        let verdicts: Vec<Option<Verdict>> = rows.iter().map(|r| r.metrics[0].verdict).collect();
        assert_eq!(
            verdicts,
            [
                None,
                Some(Verdict::Better),
                Some(Verdict::Equivalent),
                Some(Verdict::Undecided)
            ]
        );
        // Holm over the three comparisons: the smallest p times 3, at least.
        let p: Vec<f64> = rows[1..]
            .iter()
            .map(|r| r.metrics[0].delta.as_ref().unwrap().p_value)
            .collect();
        let adjusted = holm(&p);
        for (r, a) in rows[1..].iter().zip(&adjusted) {
            assert_eq!(r.metrics[0].p_holm, Some(*a));
            assert!(
                r.metrics[0]
                    .equivalence
                    .as_ref()
                    .unwrap()
                    .p_holm
                    .is_finite()
            );
        }
        // The unpaired metric has none of it.
        assert!(rows[1].metrics[1].verdict.is_none() && rows[1].metrics[1].p_holm.is_none());
        let summary = GridSummary::new(&spec, &metrics, rows);
        let md = summary.markdown();
        assert!(
            md.contains("| Holm p | equivalence p (±0.15), Holm | verdict |"),
            "{md}"
        );
        let line = |name: &str| md.lines().find(|l| l.starts_with(&format!("| {name} |")));
        assert!(line("better").unwrap().contains("| better |"), "{md}");
        assert!(
            line("equivalent")
                .unwrap()
                .ends_with("| equivalent | 1.0 | 10 |"),
            "{md}"
        );
        assert!(
            line("relu").unwrap().contains("| — | — | — | — | — |"),
            "{md}"
        );
        let csv = summary.csv();
        assert!(
            csv.lines()
                .next()
                .unwrap()
                .contains("final_acc_tost_p_holm,final_acc_verdict")
        );
        assert!(
            csv.lines()
                .any(|l| l.starts_with("undecided,") && l.contains(",undecided,"))
        );
    }
}
