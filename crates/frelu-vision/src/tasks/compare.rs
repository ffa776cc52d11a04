//! `frelu compare`: a grid of activations × schedules × seeds, resumable and crash-safe, then
//! aggregated into `summary.{md,csv,json}` and plots.
//!
//! Layout of an output folder:
//! ```text
//! OUT/protocol.json            the protocol (a rerun with another protocol is refused)
//! OUT/runs/CONFIG-sSEED/       one `frelu train` run each; finished when summary.json exists
//! OUT/summary.md|csv|json      the comparison
//! OUT/plots/*.png|svg          accuracy and loss curves, slope plots of the slope configs
//! ```
//! A run folder without `summary.json` is an interrupted run: it is deleted and started again.
//! A run that failed (a diverging loss, say) leaves `failed.json` and is not retried.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use frelu::ActivationConfig;
use frelu::schedule::{LrShape, Schedule, ScheduleConfig};
use serde::{Deserialize, Serialize};

use super::classify::{self, DatasetKind, RunOptions, TrainConfig, TrainSummary, write_json};
use crate::analysis::plots::{self, BandSeries};
use crate::analysis::slopes::read_history;
use crate::analysis::stats::{PairedDiff, mean, paired_by_seed, std_dev};
use crate::data::Augment;
use crate::models::Architecture;

/// One configuration of the grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// A unique name, used for folders and tables (e.g. `frelu-alt`).
    pub name: String,
    /// The activation.
    pub activation: ActivationConfig,
    /// The slope schedule.
    pub schedule: ScheduleConfig,
}

/// A comparison protocol: a base training configuration, the configurations and the seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    /// Name.
    pub name: String,
    /// Settings shared by every run (its activation, schedule and seed are replaced).
    pub base: TrainConfig,
    /// The configurations, in table order. The first named `relu` is the reference.
    pub configs: Vec<RunSpec>,
    /// Seeds; every configuration runs with each.
    pub seeds: Vec<u64>,
}

fn spec(name: &str, activation: &str, schedule: &str) -> RunSpec {
    RunSpec {
        name: name.into(),
        activation: activation.parse().expect("valid activation"),
        schedule: ScheduleConfig::new(schedule.parse().expect("valid schedule")),
    }
}

fn standard_configs() -> Vec<RunSpec> {
    vec![
        spec("relu", "relu", "joint"),
        spec("lrelu", "lrelu", "joint"),
        spec("prelu", "prelu", "joint"),
        spec("elu", "elu", "joint"),
        spec("selu", "selu", "joint"),
        spec("swish", "swish", "joint"),
        spec("mish", "mish", "joint"),
        spec("gelu", "gelu", "joint"),
        spec("frelu-alt", "frelu", "alternate:4:1:iter"),
        spec("frelu-joint", "frelu", "joint"),
    ]
}

impl Protocol {
    /// `quick`: full Fashion-MNIST, `simple-cnn`, 2 epochs, 3 seeds, 10 configurations.
    pub fn quick() -> Self {
        Self {
            name: "quick".into(),
            base: TrainConfig {
                epochs: 2,
                lr: 0.01,
                checkpoints: false,
                ..TrainConfig::default()
            },
            configs: standard_configs(),
            seeds: vec![0, 1, 2],
        }
    }

    /// `paper`: CIFAR-10 (binary version, `--data`), ResNet-20, 30 epochs, 5 seeds, SGD 0.1
    /// with cosine annealing, pad-4 crop + flip — meant for a GPU or a long run.
    pub fn paper() -> Self {
        let mut configs = standard_configs();
        configs.push(spec("frelu-frozen", "frelu", "frozen"));
        Self {
            name: "paper".into(),
            base: TrainConfig {
                dataset: DatasetKind::Cifar10,
                model: Architecture::CifarResNet { depth: 20 },
                epochs: 30,
                lr: 0.1,
                lr_shape: LrShape::Cosine,
                weight_decay: 5e-4,
                augment: Some(Augment {
                    crop_pad: 4,
                    flip: true,
                }),
                checkpoints: true,
                ..TrainConfig::default()
            },
            configs,
            seeds: vec![0, 1, 2, 3, 4],
        }
    }

    /// `cifar100`: the `paper` protocol on CIFAR-100.
    pub fn cifar100() -> Self {
        let mut protocol = Self::paper();
        protocol.name = "cifar100".into();
        protocol.base.dataset = DatasetKind::Cifar100;
        protocol
    }

    /// A named protocol: `quick`, `paper`, `cifar100`.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "quick" => Some(Self::quick()),
            "paper" | "cifar10" => Some(Self::paper()),
            "cifar100" => Some(Self::cifar100()),
            _ => None,
        }
    }

    /// A named protocol, or one read from a `.toml` or `.json` file (see [`ProtocolFile`]).
    pub fn load(name_or_path: &str) -> anyhow::Result<Self> {
        if let Some(p) = Self::named(name_or_path) {
            return Ok(p);
        }
        let path = Path::new(name_or_path);
        if !path.is_file() {
            bail!(
                "unknown protocol '{name_or_path}': use quick, paper, cifar100, or the path of a \
                 .toml or .json protocol file"
            );
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file: ProtocolFile = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?
        } else {
            toml::from_str(&text).with_context(|| format!("{}", path.display()))?
        };
        file.into_protocol()
            .with_context(|| format!("protocol file {}", path.display()))
    }

    /// Every run, seed after seed (so that the paired comparisons grow evenly).
    pub fn runs(&self) -> Vec<(RunSpec, u64)> {
        self.seeds
            .iter()
            .flat_map(|&seed| self.configs.iter().map(move |c| (c.clone(), seed)))
            .collect()
    }

    /// The folder name of a run.
    pub fn run_name(spec: &RunSpec, seed: u64) -> String {
        let clean: String = spec
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{clean}-s{seed}")
    }

    /// The training configuration of one run.
    pub fn run_config(&self, spec: &RunSpec, seed: u64) -> TrainConfig {
        TrainConfig {
            activation: spec.activation.clone(),
            schedule: spec.schedule.clone(),
            seed,
            ..self.base.clone()
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.configs.is_empty(),
            "the protocol has no configurations"
        );
        anyhow::ensure!(!self.seeds.is_empty(), "the protocol has no seeds");
        let mut names: Vec<&str> = self.configs.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            bail!("configuration name '{}' is used twice", w[0]);
        }
        self.base.validate()
    }
}

/// A protocol as a user writes it (TOML or JSON). Every field but `configs` is optional:
///
/// ```toml
/// name = "my-grid"
/// dataset = "fashion-mnist"   # fashion-mnist | cifar10 | cifar100
/// data = "/data"              # like --data
/// model = "simple-cnn"
/// epochs = 2
/// batch = 128
/// lr = 0.01
/// lr_schedule = "cosine"
/// momentum = 0.9
/// wd = 5e-4
/// limit_train = 10000
/// seeds = [0, 1, 2]
///
/// [[configs]]
/// name = "relu"
/// act = "relu"
///
/// [[configs]]
/// name = "frelu-alt"
/// act = "frelu"
/// schedule = "alternate:4:1:iter"
/// slope_lr_mult = 1.0
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolFile {
    name: Option<String>,
    dataset: Option<String>,
    data: Option<PathBuf>,
    model: Option<String>,
    epochs: Option<usize>,
    batch: Option<usize>,
    lr: Option<f64>,
    lr_schedule: Option<String>,
    momentum: Option<f64>,
    wd: Option<f64>,
    augment: Option<String>,
    limit_train: Option<usize>,
    limit_test: Option<usize>,
    device: Option<String>,
    checkpoints: Option<bool>,
    seeds: Option<Vec<u64>>,
    configs: Vec<ConfigEntry>,
}

/// One `[[configs]]` entry of a [`ProtocolFile`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigEntry {
    name: String,
    act: String,
    schedule: Option<String>,
    warmup: Option<String>,
    slope_lr_mult: Option<f64>,
    slope_wd: Option<bool>,
}

impl ProtocolFile {
    fn into_protocol(self) -> anyhow::Result<Protocol> {
        let mut base = TrainConfig {
            checkpoints: false,
            ..TrainConfig::default()
        };
        if let Some(d) = self.dataset {
            base.dataset = d.parse().map_err(anyhow::Error::msg)?;
        }
        base.data_dir = self.data;
        if let Some(m) = self.model {
            base.model = m.parse().map_err(anyhow::Error::msg)?;
        }
        if let Some(v) = self.epochs {
            base.epochs = v;
        }
        if let Some(v) = self.batch {
            base.batch_size = v;
        }
        if let Some(v) = self.lr {
            base.lr = v;
        }
        if let Some(v) = self.lr_schedule {
            base.lr_shape = v.parse()?;
        }
        if let Some(v) = self.momentum {
            base.momentum = v;
        }
        if let Some(v) = self.wd {
            base.weight_decay = v;
        }
        if let Some(v) = self.augment {
            base.augment = Some(v.parse().map_err(anyhow::Error::msg)?);
        }
        base.limit_train = self.limit_train;
        base.limit_test = self.limit_test;
        if let Some(v) = self.device {
            base.device = v;
        }
        if let Some(v) = self.checkpoints {
            base.checkpoints = v;
        }
        let configs = self
            .configs
            .into_iter()
            .map(|c| -> anyhow::Result<RunSpec> {
                let schedule: Schedule = c.schedule.as_deref().unwrap_or("joint").parse()?;
                Ok(RunSpec {
                    activation: c
                        .act
                        .parse()
                        .with_context(|| format!("configuration '{}'", c.name))?,
                    schedule: ScheduleConfig {
                        schedule,
                        warmup: c.warmup.as_deref().map(str::parse).transpose()?,
                        slope_lr_mult: c.slope_lr_mult.unwrap_or(1.0),
                        slope_weight_decay: c.slope_wd.unwrap_or(false),
                    },
                    name: c.name,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let protocol = Protocol {
            name: self.name.unwrap_or_else(|| "custom".into()),
            base,
            configs,
            seeds: self.seeds.unwrap_or_else(|| vec![0]),
        };
        protocol.validate()?;
        Ok(protocol)
    }
}

/// A run that did not finish normally.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunFailure {
    /// The error.
    pub error: String,
}

/// Runs the grid into `out`, skipping finished runs, then aggregates. `log` receives the
/// progress lines.
pub fn run_grid(
    protocol: &Protocol,
    out: &Path,
    quiet_runs: bool,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<Comparison> {
    protocol.validate()?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let protocol_path = out.join("protocol.json");
    if protocol_path.exists() {
        let text = std::fs::read_to_string(&protocol_path)?;
        let existing: Protocol = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a protocol file", protocol_path.display()))?;
        if &existing != protocol {
            bail!(
                "{} holds results of a different protocol ('{}'); use another --out, or delete \
                 the folder to start over",
                out.display(),
                existing.name
            );
        }
    } else {
        write_json(&protocol_path, protocol)?;
    }

    let runs = protocol.runs();
    let names: Vec<String> = runs
        .iter()
        .map(|(spec, seed)| Protocol::run_name(spec, *seed))
        .collect();
    let started = Instant::now();
    run_resumable(
        &out.join("runs"),
        &names,
        |i, dir| {
            let (spec, seed) = &runs[i];
            let summary = classify::train(
                &protocol.run_config(spec, *seed),
                dir,
                &RunOptions {
                    quiet: quiet_runs,
                    label: names[i].clone(),
                },
            )?;
            Ok(format!(
                "{}, {}: test accuracy {:.2}% ({:.0} s)",
                spec.activation,
                spec.schedule.schedule,
                summary.final_test_acc,
                summary.total_seconds
            ))
        },
        log,
    )?;
    let comparison = aggregate(out)?;
    log(&format!(
        "all {} runs done in {}; summary in {}",
        names.len(),
        hms(started.elapsed().as_secs_f64()),
        out.join("summary.md").display()
    ));
    Ok(comparison)
}

/// The `summary.json` of every seed's run (`run_dir(seed)`) that has one; an unreadable one
/// is reported on stderr and left out, so that one damaged file does not hide the others.
pub fn read_summaries<T: serde::de::DeserializeOwned>(
    seeds: &[u64],
    run_dir: impl Fn(u64) -> PathBuf,
) -> Vec<(u64, T)> {
    seeds
        .iter()
        .filter_map(|&seed| {
            let path = run_dir(seed).join("summary.json");
            let text = std::fs::read_to_string(&path).ok()?;
            match serde_json::from_str(&text) {
                Ok(summary) => Some((seed, summary)),
                Err(e) => {
                    eprintln!("warning: {} is unreadable ({e}); left out", path.display());
                    None
                }
            }
        })
        .collect()
}

/// Runs `run(i, dir)` for every name whose folder `runs_dir/NAME` is not finished, in order,
/// logging progress (run i of n, elapsed, ETA). A folder is finished when it holds
/// `summary.json` (success) or `failed.json` (a failure, not retried); a folder with neither is
/// an interrupted run and is cleared first. `run` returns a one-line result for the log.
pub fn run_resumable(
    runs_dir: &Path,
    names: &[String],
    mut run: impl FnMut(usize, &Path) -> anyhow::Result<String>,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    std::fs::create_dir_all(runs_dir)
        .with_context(|| format!("cannot create {}", runs_dir.display()))?;
    let finished = |name: &str| {
        let dir = runs_dir.join(name);
        dir.join("summary.json").is_file() || dir.join("failed.json").is_file()
    };
    let total = names.len();
    let started = Instant::now();
    let mut done_here = 0usize;
    for (i, name) in names.iter().enumerate() {
        let dir = runs_dir.join(name);
        if finished(name) {
            log(&format!(
                "[{}/{total}] {name}: finished earlier, skipped",
                i + 1
            ));
            continue;
        }
        if dir.exists() {
            log(&format!(
                "[{}/{total}] {name}: interrupted earlier, restarting",
                i + 1
            ));
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let remaining = names[i..].iter().filter(|n| !finished(n)).count();
        let eta = if done_here > 0 {
            format!(
                ", ETA {}",
                hms(elapsed / done_here as f64 * remaining as f64)
            )
        } else {
            String::new()
        };
        log(&format!(
            "[{}/{total}] {name} — elapsed {}{eta}",
            i + 1,
            hms(elapsed)
        ));
        match run(i, &dir) {
            Ok(line) => log(&format!("    {line}")),
            Err(error) => {
                let error = format!("{error:#}");
                log(&format!("    FAILED: {error}"));
                std::fs::create_dir_all(&dir)?;
                write_json(&dir.join("failed.json"), &RunFailure { error })?;
            }
        }
        done_here += 1;
    }
    Ok(())
}

fn hms(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// One configuration of a finished comparison.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfigResult {
    /// Name.
    pub name: String,
    /// Activation string.
    pub activation: String,
    /// Schedule string.
    pub schedule: String,
    /// Seeds that finished.
    pub seeds: Vec<u64>,
    /// Seeds that failed.
    pub failed_seeds: Vec<u64>,
    /// Learned activation parameters added over ReLU.
    pub params_added: usize,
    /// Final test accuracy of each finished seed, %.
    pub final_acc: Vec<f64>,
    /// Mean final test accuracy, %.
    pub final_acc_mean: f64,
    /// Standard deviation over seeds.
    pub final_acc_std: f64,
    /// Mean of each seed's best-epoch test accuracy, %.
    pub best_acc_mean: f64,
    /// Final accuracy minus ReLU's, paired by seed (percentage points).
    pub delta_vs_relu: Option<PairedDiff>,
    /// Mean seconds per epoch.
    pub seconds_per_epoch: f64,
    /// Mean test accuracy per epoch (over seeds).
    pub test_acc_by_epoch: Vec<(f64, f64)>,
    /// Mean train loss per epoch (over seeds).
    pub train_loss_by_epoch: Vec<(f64, f64)>,
}

/// The aggregated comparison.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Comparison {
    /// The protocol.
    pub protocol: Protocol,
    /// One entry per configuration, in protocol order.
    pub configs: Vec<ConfigResult>,
    /// Plot files.
    pub plots: Vec<PathBuf>,
}

fn by_epoch(
    runs: &[&TrainSummary],
    f: impl Fn(&super::report::EpochRow) -> f64,
) -> Vec<(f64, f64)> {
    let epochs = runs.iter().map(|r| r.epochs.len()).min().unwrap_or(0);
    (0..epochs)
        .map(|e| {
            let v: Vec<f64> = runs.iter().map(|r| f(&r.epochs[e])).collect();
            (mean(&v), std_dev(&v))
        })
        .collect()
}

/// Reads every run of `out` and writes `summary.{md,csv,json}` and the plots.
pub fn aggregate(out: &Path) -> anyhow::Result<Comparison> {
    let protocol: Protocol = serde_json::from_str(
        &std::fs::read_to_string(out.join("protocol.json"))
            .with_context(|| format!("{} is not a comparison folder", out.display()))?,
    )?;
    let mut summaries: Vec<Vec<(u64, TrainSummary)>> = Vec::new();
    let mut failures: Vec<Vec<u64>> = Vec::new();
    for spec in &protocol.configs {
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        for &seed in &protocol.seeds {
            let dir = out.join("runs").join(Protocol::run_name(spec, seed));
            let path = dir.join("summary.json");
            if path.is_file() {
                let s: TrainSummary = serde_json::from_str(&std::fs::read_to_string(&path)?)
                    .with_context(|| format!("{}", path.display()))?;
                ok.push((seed, s));
            } else if dir.join("failed.json").is_file() {
                failed.push(seed);
            }
        }
        summaries.push(ok);
        failures.push(failed);
    }
    let reference = protocol.configs.iter().position(|c| c.name == "relu");
    let relu_params = reference
        .and_then(|r| summaries[r].first().map(|(_, s)| s.params))
        .unwrap_or(0);

    let mut configs = Vec::new();
    for (i, spec) in protocol.configs.iter().enumerate() {
        let runs: Vec<&TrainSummary> = summaries[i].iter().map(|(_, s)| s).collect();
        let final_acc: Vec<f64> = runs.iter().map(|s| s.final_test_acc).collect();
        let best: Vec<f64> = runs.iter().map(|s| s.best_test_acc).collect();
        let seconds: Vec<f64> = runs.iter().map(|s| s.seconds_per_epoch).collect();
        let delta = match reference {
            Some(r) if r != i => paired_by_seed(&summaries[r], &summaries[i], |s| s.final_test_acc),
            _ => None,
        };
        configs.push(ConfigResult {
            name: spec.name.clone(),
            activation: spec.activation.to_string(),
            schedule: if spec.activation.has_slopes() {
                spec.schedule.schedule.to_string()
            } else {
                "—".into()
            },
            seeds: summaries[i].iter().map(|(s, _)| *s).collect(),
            failed_seeds: failures[i].clone(),
            params_added: runs
                .first()
                .map_or(0, |s| s.params.saturating_sub(relu_params)),
            final_acc_mean: mean(&final_acc),
            final_acc_std: std_dev(&final_acc),
            final_acc,
            best_acc_mean: mean(&best),
            delta_vs_relu: delta,
            seconds_per_epoch: mean(&seconds),
            test_acc_by_epoch: by_epoch(&runs, |r| r.test_acc),
            train_loss_by_epoch: by_epoch(&runs, |r| r.train_loss),
        });
    }

    let plots_dir = out.join("plots");
    std::fs::create_dir_all(&plots_dir)?;
    let mut plot_files = Vec::new();
    let curves = |pick: fn(&ConfigResult) -> &Vec<(f64, f64)>| -> Vec<BandSeries> {
        configs
            .iter()
            .filter(|c| !pick(c).is_empty())
            .map(|c| BandSeries {
                name: c.name.clone(),
                points: pick(c)
                    .iter()
                    .enumerate()
                    .map(|(e, &(m, s))| ((e + 1) as f64, m, s))
                    .collect(),
            })
            .collect()
    };
    let acc = curves(|c| &c.test_acc_by_epoch);
    if !acc.is_empty() {
        plot_files.extend(plots::band_chart(
            &plots_dir.join("test_accuracy"),
            "test accuracy (mean ± std over seeds)",
            "epoch",
            "test accuracy (%)",
            &acc,
        )?);
        plot_files.extend(plots::band_chart(
            &plots_dir.join("train_loss"),
            "training loss (mean ± std over seeds)",
            "epoch",
            "train loss",
            &curves(|c| &c.train_loss_by_epoch),
        )?);
    }
    // Slope plots of the first finished seed of every configuration with learned slopes.
    for (i, spec) in protocol.configs.iter().enumerate() {
        if !spec.activation.has_slopes() {
            continue;
        }
        let Some((seed, _)) = summaries[i].first() else {
            continue;
        };
        let run = out.join("runs").join(Protocol::run_name(spec, *seed));
        let layers: Vec<frelu::slopes::LayerSlopes> =
            serde_json::from_str(&std::fs::read_to_string(run.join("slopes.json"))?)?;
        if layers.is_empty() {
            continue;
        }
        let stem = |what: &str| plots_dir.join(format!("{}_{what}", spec.name));
        plot_files.extend(plots::slope_scatter(&stem("pos_vs_neg"), &layers)?);
        plot_files.extend(plots::slope_distributions(
            &stem("slope_distributions"),
            &layers,
        )?);
        plot_files.extend(plots::activation_curves(&stem("curves"), &layers)?);
        let history = read_history(&run)?;
        if history.len() > 1 {
            plot_files.extend(plots::slope_trajectories(&stem("trajectories"), &history)?);
        }
    }

    let comparison = Comparison {
        protocol,
        configs,
        plots: plot_files,
    };
    std::fs::write(out.join("summary.md"), comparison.markdown())?;
    std::fs::write(out.join("summary.csv"), comparison.csv())?;
    write_json(&out.join("summary.json"), &comparison)?;
    Ok(comparison)
}

fn num(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "—".into()
    }
}

impl Comparison {
    /// The summary table (Markdown).
    pub fn markdown(&self) -> String {
        let p = &self.protocol;
        let mut out = format!(
            "Protocol `{}`: {} on {}, {} epochs, batch {}, SGD lr {} ({}), momentum {}, \
             weight decay {}, seeds {:?}.\n\n",
            p.name,
            p.base.model,
            p.base.dataset,
            p.base.epochs,
            p.base.batch_size,
            p.base.lr,
            p.base.lr_shape,
            p.base.momentum,
            p.base.weight_decay,
            p.seeds
        );
        out.push_str(
            "| config | activation | schedule | params added | final test acc (%) | best-epoch acc (%) | Δ vs ReLU (pp) [95 % CI] | paired p | s/epoch | seeds |\n\
             |---|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for c in &self.configs {
            let delta = match &c.delta_vs_relu {
                Some(d) => format!(
                    "{} [{}, {}]",
                    num(d.mean, 2),
                    num(d.ci_low, 2),
                    num(d.ci_high, 2)
                ),
                None => "—".into(),
            };
            let p_value = c
                .delta_vs_relu
                .as_ref()
                .map_or("—".into(), |d| num(d.p_value, 3));
            let failed = if c.failed_seeds.is_empty() {
                String::new()
            } else {
                format!(" ({} failed)", c.failed_seeds.len())
            };
            out.push_str(&format!(
                "| {} | `{}` | `{}` | {} | {} ± {} | {} | {} | {} | {} | {}{} |\n",
                c.name,
                c.activation,
                c.schedule,
                c.params_added,
                num(c.final_acc_mean, 2),
                num(c.final_acc_std, 2),
                num(c.best_acc_mean, 2),
                delta,
                p_value,
                num(c.seconds_per_epoch, 1),
                c.seeds.len(),
                failed
            ));
        }
        out
    }

    /// The summary table (CSV).
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "config,activation,schedule,params_added,seeds,final_acc_mean,final_acc_std,best_acc_mean,delta_vs_relu,delta_ci_low,delta_ci_high,p_value,seconds_per_epoch\n",
        );
        for c in &self.configs {
            let (d, lo, hi, p) = c
                .delta_vs_relu
                .as_ref()
                .map_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN), |d| {
                    (d.mean, d.ci_low, d.ci_high, d.p_value)
                });
            out.push_str(&format!(
                "{},{},{},{},{},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.5},{:.2}\n",
                c.name,
                c.activation,
                c.schedule,
                c.params_added,
                c.seeds.len(),
                c.final_acc_mean,
                c.final_acc_std,
                c.best_acc_mean,
                d,
                lo,
                hi,
                p,
                c.seconds_per_epoch
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Protocol {
        Protocol {
            name: "tiny".into(),
            base: TrainConfig {
                epochs: 1,
                batch_size: 32,
                limit_train: Some(96),
                limit_test: Some(64),
                workers: 0,
                checkpoints: false,
                ..TrainConfig::default()
            },
            configs: vec![
                spec("relu", "relu", "joint"),
                spec("frelu-alt", "frelu", "alternate:1:1:iter"),
            ],
            seeds: vec![0, 1],
        }
    }

    #[test]
    fn named_protocols_match_the_issue() {
        let quick = Protocol::quick();
        assert_eq!(quick.configs.len(), 10);
        assert_eq!(quick.seeds.len(), 3);
        assert_eq!(quick.base.epochs, 2);
        assert!(quick.base.limit_train.is_none());
        assert_eq!(quick.runs().len(), 30);
        let paper = Protocol::paper();
        assert_eq!(paper.base.model, Architecture::CifarResNet { depth: 20 });
        assert!(paper.base.epochs >= 30 && paper.seeds.len() == 5);
        assert!(
            Protocol::load("nope")
                .unwrap_err()
                .to_string()
                .contains("unknown protocol")
        );
    }

    #[test]
    fn protocol_files_parse_and_report_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "name = \"mine\"\nepochs = 3\nseeds = [4, 5]\nlimit_train = 100\n\
             [[configs]]\nname = \"relu\"\nact = \"relu\"\n\
             [[configs]]\nname = \"f\"\nact = \"frelu:0.1\"\nschedule = \"alternate:2:1:iter\"\nslope_lr_mult = 0.5\n",
        )
        .unwrap();
        let p = Protocol::load(path.to_str().unwrap()).unwrap();
        assert_eq!(
            (p.name.as_str(), p.base.epochs, p.seeds.clone()),
            ("mine", 3, vec![4, 5])
        );
        assert_eq!(p.configs[1].schedule.slope_lr_mult, 0.5);
        let json = dir.path().join("p.json");
        std::fs::write(&json, r#"{"configs": [{"name": "a", "act": "relux"}]}"#).unwrap();
        let err = format!("{:#}", Protocol::load(json.to_str().unwrap()).unwrap_err());
        assert!(err.contains("unknown activation 'relux'"), "{err}");
        std::fs::write(
            &json,
            r#"{"configs": [{"name": "a", "act": "relu"}, {"name": "a", "act": "gelu"}]}"#,
        )
        .unwrap();
        let err = format!("{:#}", Protocol::load(json.to_str().unwrap()).unwrap_err());
        assert!(err.contains("used twice"), "{err}");
        std::fs::write(&json, r#"{"epochz": 3, "configs": []}"#).unwrap();
        assert!(Protocol::load(json.to_str().unwrap()).is_err());
    }

    #[test]
    fn an_interrupted_grid_finishes_without_redoing_finished_runs() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let protocol = tiny();
        // Simulate a first session that finished two runs and was killed in the third.
        for (spec, seed) in protocol.runs().into_iter().take(2) {
            let run = out.join("runs").join(Protocol::run_name(&spec, seed));
            classify::train(
                &protocol.run_config(&spec, seed),
                &run,
                &RunOptions {
                    quiet: true,
                    label: String::new(),
                },
            )
            .unwrap();
        }
        write_json(&out.join("protocol.json"), &protocol).unwrap();
        let interrupted = out
            .join("runs")
            .join(Protocol::run_name(&protocol.configs[0], 1));
        std::fs::create_dir_all(&interrupted).unwrap();
        std::fs::write(interrupted.join("metrics.csv"), "half a file").unwrap();
        let finished = out.join("runs/relu-s0/summary.json");
        let before = std::fs::metadata(&finished).unwrap().modified().unwrap();

        let mut lines = Vec::new();
        let comparison =
            run_grid(&protocol, out, true, &mut |l| lines.push(l.to_string())).unwrap();
        let text = lines.join("\n");
        assert_eq!(
            text.matches("finished earlier, skipped").count(),
            2,
            "{text}"
        );
        assert_eq!(
            text.matches("interrupted earlier, restarting").count(),
            1,
            "{text}"
        );
        assert_eq!(
            std::fs::metadata(&finished).unwrap().modified().unwrap(),
            before
        );
        assert!(interrupted.join("summary.json").is_file());

        assert_eq!(comparison.configs.len(), 2);
        assert!(comparison.configs.iter().all(|c| c.seeds == vec![0, 1]));
        assert!(comparison.configs[0].delta_vs_relu.is_none());
        let delta = comparison.configs[1].delta_vs_relu.as_ref().unwrap();
        assert_eq!(delta.n, 2);
        let expected = mean(&[
            comparison.configs[1].final_acc[0] - comparison.configs[0].final_acc[0],
            comparison.configs[1].final_acc[1] - comparison.configs[0].final_acc[1],
        ]);
        assert!((delta.mean - expected).abs() < 1e-9);
        assert_eq!(comparison.configs[1].params_added, 2 * (32 + 32 + 64 + 64));
        for file in [
            "summary.md",
            "summary.csv",
            "summary.json",
            "plots/test_accuracy.png",
            "plots/frelu-alt_pos_vs_neg.svg",
        ] {
            assert!(out.join(file).is_file(), "{file}");
        }
        // A second call has nothing left to run; another protocol is refused.
        let mut again = Vec::new();
        run_grid(&protocol, out, true, &mut |l| again.push(l.to_string())).unwrap();
        assert_eq!(again.iter().filter(|l| l.contains("skipped")).count(), 4);
        let mut other = protocol.clone();
        other.seeds = vec![7];
        let err = run_grid(&other, out, true, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("different protocol"), "{err}");
    }
}
