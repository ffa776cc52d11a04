//! The protocols of `frelu compare`: built-in ones by name and protocol files (TOML / JSON),
//! each a base training configuration, the configurations of the grid and the seeds.

use std::path::{Path, PathBuf};

use crate::error::{Context, bail};
use frelu::ActivationConfig;
use frelu::schedule::{LrShape, Schedule, ScheduleConfig};
use serde::{Deserialize, Serialize};

use super::{DatasetKind, TrainConfig};
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
    /// The configurations, in table order.
    pub configs: Vec<RunSpec>,
    /// Seeds; every configuration runs with each.
    pub seeds: Vec<u64>,
    /// The configuration the others are compared with, paired by seed; `None`: the one named
    /// `relu` (if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The equivalence margin of the first paired metric (final test accuracy, in percentage
    /// points): the summary tests every row's difference to the reference against ±margin
    /// (two one-sided tests) and gives a verdict. `None`: no equivalence test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
}

/// Epochs of the `mobilenet` protocol: the longest budget whose run takes under about 40
/// minutes on this project's 2-core machine. Measured alone (docs/results.md): FReLU-alternate
/// `mobilenet_v1_cifar` α = 0.5 trains at 232 images/s, so a full Fashion-MNIST epoch with its
/// evaluation takes about 265 s and 8 epochs about 35 minutes.
pub const MOBILENET_EPOCHS: usize = 8;

/// Where the `trained-slopes` protocol takes its trained networks from: the ReLU runs of the
/// `converge` protocol in their default folder. `{seed}` in an `init_from` path of a protocol is
/// replaced by the run's seed.
pub const CONVERGED_RELU_RUNS: &str = "results/converge/runs/relu-s{seed}";

/// Learning rate of the `trained-slopes` protocol (constant): a tenth of the rate the converged
/// networks were trained at (0.01, cosine to 0), small enough not to undo their training.
pub const TRAINED_SLOPES_LR: f64 = 0.001;

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
    /// `quick`: full Fashion-MNIST, `simple-cnn`, 2 epochs, 3 seeds, 20 configurations: the
    /// standard ten and FReLU's peers ([`frelu::activation::peers`], each in its authors' form,
    /// trained jointly at the weights' learning rate without weight decay: no paper's recipe).
    pub fn quick() -> Self {
        let mut configs = standard_configs();
        configs.extend(
            frelu::activation::peers()
                .into_iter()
                .map(|name| spec(name, name, "joint")),
        );
        Self {
            name: "quick".into(),
            base: TrainConfig {
                epochs: 2,
                lr: 0.01,
                checkpoints: false,
                ..TrainConfig::default()
            },
            configs,
            seeds: vec![0, 1, 2],
            reference: None,
            margin: None,
        }
    }

    /// `converge`: full Fashion-MNIST, `simple-cnn`, 15 epochs (cosine to 0), 3 seeds: ReLU,
    /// PReLU, FReLU joint, FReLU alternate (`alternate:4:1:iter`, slope steps taken from the
    /// weights) and FReLU budget-matched (`matched:4:1`, slope steps added): does FReLU help a
    /// converged network, and does alternation cost the weights their updates?
    pub fn converge() -> Self {
        Self {
            name: "converge".into(),
            base: TrainConfig {
                epochs: 15,
                lr: 0.01,
                ..TrainConfig::default()
            },
            configs: vec![
                spec("relu", "relu", "joint"),
                spec("prelu", "prelu", "joint"),
                spec("frelu-joint", "frelu", "joint"),
                spec("frelu-alt", "frelu", "alternate:4:1:iter"),
                spec("frelu-matched", "frelu", "matched:4:1"),
            ],
            seeds: vec![0, 1, 2],
            reference: None,
            margin: None,
        }
    }

    /// `mobilenet`: the paper's largest gain, scaled to this machine: `mobilenet_v1_cifar`
    /// (MobileNetV1 with the CIFAR versions' stride-1 stem) at α = 0.5 on full Fashion-MNIST,
    /// ReLU vs FReLU joint vs FReLU alternate, 3 seeds, [`MOBILENET_EPOCHS`] epochs.
    pub fn mobilenet() -> Self {
        Self {
            name: "mobilenet".into(),
            base: TrainConfig {
                model: Architecture::MobileNetV1Cifar,
                width: 0.5,
                epochs: MOBILENET_EPOCHS,
                lr: 0.01,
                ..TrainConfig::default()
            },
            configs: vec![
                spec("relu", "relu", "joint"),
                spec("frelu-joint", "frelu", "joint"),
                spec("frelu-alt", "frelu", "alternate:4:1:iter"),
            ],
            seeds: vec![0, 1, 2],
            reference: None,
            margin: None,
        }
    }

    /// `slope-lr`: the `quick` budget (full Fashion-MNIST, `simple-cnn`, 2 epochs, 3 seeds) with
    /// FReLU trained jointly and by alternation at slope learning rates × 1, × 10 and × 100 the
    /// weights' (`--slope-lr-mult`), against ReLU: do the slopes learn too slowly to matter?
    pub fn slope_lr() -> Self {
        let mut configs = vec![spec("relu", "relu", "joint")];
        for mult in [1.0, 10.0, 100.0] {
            for (name, schedule) in [("joint", "joint"), ("alt", "alternate:4:1:iter")] {
                let mut config = spec(&format!("frelu-{name}-x{mult}"), "frelu", schedule);
                config.schedule.slope_lr_mult = mult;
                configs.push(config);
            }
        }
        Self {
            name: "slope-lr".into(),
            base: TrainConfig {
                epochs: 2,
                lr: 0.01,
                ..TrainConfig::default()
            },
            configs,
            seeds: vec![0, 1, 2],
            reference: None,
            margin: None,
        }
    }

    /// `trained-slopes`: do learned slopes improve an already-trained network? From each
    /// converged ReLU run of `converge` ([`CONVERGED_RELU_RUNS`], seeds 0–2), one epoch of full
    /// Fashion-MNIST at the constant rate [`TRAINED_SLOPES_LR`]: `relu` (the control: the ReLU
    /// network trained one more epoch), `frelu-slopes` (every ReLU swapped for FReLU — the same
    /// function at step 0 — and only the slopes trained, weights frozen), `frelu-slopes-x100`
    /// (the same with the slopes at 100× that rate) and `stats-only` (the same at slope rate 0:
    /// nothing learns, only BatchNorm's running statistics are re-estimated over the epoch, as
    /// they are in every other row — the part of their change that is not learning).
    pub fn trained_slopes() -> Self {
        let mut fast = spec("frelu-slopes-x100", "frelu", "slopes-only");
        fast.schedule.slope_lr_mult = 100.0;
        let mut still = spec("stats-only", "frelu", "slopes-only");
        still.schedule.slope_lr_mult = 0.0;
        Self {
            name: "trained-slopes".into(),
            base: TrainConfig {
                epochs: 1,
                lr: TRAINED_SLOPES_LR,
                lr_shape: LrShape::Constant,
                init_from: Some(PathBuf::from(CONVERGED_RELU_RUNS)),
                ..TrainConfig::default()
            },
            configs: vec![
                spec("relu", "relu", "joint"),
                spec("frelu-slopes", "frelu", "slopes-only"),
                fast,
                still,
            ],
            seeds: vec![0, 1, 2],
            reference: None,
            margin: None,
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
            reference: None,
            margin: None,
        }
    }

    /// `cifar100`: the `paper` protocol on CIFAR-100.
    pub fn cifar100() -> Self {
        let mut protocol = Self::paper();
        protocol.name = "cifar100".into();
        protocol.base.dataset = DatasetKind::Cifar100;
        protocol
    }

    /// The names of the built-in protocols.
    pub const NAMES: [&'static str; 7] = [
        "quick",
        "converge",
        "slope-lr",
        "trained-slopes",
        "mobilenet",
        "paper",
        "cifar100",
    ];

    /// A named protocol: one of [`Protocol::NAMES`] (`cifar10` is another name of `paper`).
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "quick" => Some(Self::quick()),
            "converge" => Some(Self::converge()),
            "slope-lr" => Some(Self::slope_lr()),
            "trained-slopes" => Some(Self::trained_slopes()),
            "mobilenet" => Some(Self::mobilenet()),
            "paper" | "cifar10" => Some(Self::paper()),
            "cifar100" => Some(Self::cifar100()),
            _ => None,
        }
    }

    /// A named protocol, or one read from a `.toml` or `.json` file (see [`ProtocolFile`]).
    pub fn load(name_or_path: &str) -> crate::Result<Self> {
        if let Some(p) = Self::named(name_or_path) {
            return Ok(p);
        }
        let path = Path::new(name_or_path);
        if !path.is_file() {
            bail!(
                "unknown protocol '{name_or_path}': use {}, or the path of a .toml or .json \
                 protocol file",
                Self::NAMES.join(", ")
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

    /// The training configuration of one run (`{seed}` in `init_from` replaced by its seed).
    pub fn run_config(&self, spec: &RunSpec, seed: u64) -> TrainConfig {
        TrainConfig {
            activation: spec.activation.clone(),
            schedule: spec.schedule.clone(),
            seed,
            init_from: self.init_from(seed),
            ..self.base.clone()
        }
    }

    /// The network the runs with `seed` start from, if the protocol starts from one.
    pub fn init_from(&self, seed: u64) -> Option<PathBuf> {
        let pattern = self.base.init_from.as_ref()?;
        Some(crate::runs::folder::for_seed(pattern, seed))
    }

    /// Checks the base settings and the shape of the grid (names, seeds).
    pub fn validate(&self) -> crate::Result<()> {
        let spec = self.grid_spec();
        if let Some(name) = &self.reference {
            crate::error::ensure!(
                spec.rows.iter().any(|r| &r.name == name),
                "reference '{name}' is not a configuration of protocol `{}` ({})",
                self.name,
                spec.rows
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        spec.validate()?;
        if let Some(margin) = self.margin {
            crate::error::ensure!(
                margin.is_finite() && margin > 0.0,
                "the equivalence margin of protocol `{}` must be a positive number of \
                 percentage points, got {margin}",
                self.name
            );
        }
        self.base.validate()?;
        // Every configuration as it will run, so that a bad row stops the grid before anything
        // is trained instead of failing when its turn comes.
        for config in &self.configs {
            let seed = self.seeds.first().copied().unwrap_or(0);
            self.run_config(config, seed).validate().map_err(|e| {
                crate::Error::Invalid(format!(
                    "configuration '{}' of protocol `{}`: {e}",
                    config.name, self.name
                ))
            })?;
        }
        Ok(())
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
/// init_from = "results/converge/runs/relu-s{seed}"   # optional: start every run from it
/// eval_train = true           # optional: the training set in evaluation mode after each epoch
/// seeds = [0, 1, 2]
/// reference = "relu"          # the row the others are compared with (default: `relu`)
/// margin = 0.15               # optional: equivalence margin of final accuracy, in pp
///
/// [[configs]]
/// name = "relu"
/// act = "relu"
///
/// [[configs]]
/// name = "frelu-alt"
/// act = "frelu"
/// schedule = "alternate:4:1:iter"   # the default; joint, frozen, alternate:K:M:UNIT
/// slope_lr_mult = 1.0
/// slope_wd_mult = 0.0               # optional: the activation's weight decay = this × wd
/// slopes_until = "2:epoch"          # optional: the slopes freeze after this
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
    init_from: Option<PathBuf>,
    eval_train: Option<bool>,
    seeds: Option<Vec<u64>>,
    reference: Option<String>,
    margin: Option<f64>,
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
    slope_wd_mult: Option<f64>,
    slopes_until: Option<String>,
}

impl ProtocolFile {
    /// The base settings: [`TrainConfig::default`] (without checkpoints) with the file's fields.
    fn base(&self) -> crate::Result<TrainConfig> {
        let mut base = TrainConfig {
            checkpoints: false,
            ..TrainConfig::default()
        };
        if let Some(d) = &self.dataset {
            base.dataset = d.parse()?;
        }
        base.data_dir = self.data.clone();
        if let Some(m) = &self.model {
            base.model = m.parse()?;
        }
        if let Some(v) = &self.lr_schedule {
            base.lr_shape = v.parse()?;
        }
        if let Some(v) = &self.augment {
            base.augment = Some(v.parse()?);
        }
        base.epochs = self.epochs.unwrap_or(base.epochs);
        base.batch_size = self.batch.unwrap_or(base.batch_size);
        base.lr = self.lr.unwrap_or(base.lr);
        base.momentum = self.momentum.unwrap_or(base.momentum);
        base.weight_decay = self.wd.unwrap_or(base.weight_decay);
        base.limit_train = self.limit_train;
        base.limit_test = self.limit_test;
        base.device = self.device.clone().unwrap_or(base.device);
        base.checkpoints = self.checkpoints.unwrap_or(base.checkpoints);
        base.init_from = self.init_from.clone();
        base.eval_train = self.eval_train.unwrap_or(base.eval_train);
        Ok(base)
    }

    fn into_protocol(self) -> crate::Result<Protocol> {
        let base = self.base()?;
        let configs = self
            .configs
            .into_iter()
            .map(|c| -> crate::Result<RunSpec> {
                let defaults = ScheduleConfig::default();
                let schedule: Schedule = match c.schedule.as_deref() {
                    Some(text) => text.parse()?,
                    None => defaults.schedule,
                };
                let activation: ActivationConfig = c
                    .act
                    .parse()
                    .with_context(|| format!("configuration '{}'", c.name))?;
                // An activation without learned parameters trains jointly whatever is asked.
                let schedule = if activation.is_learnable() {
                    schedule
                } else {
                    Schedule::Joint
                };
                Ok(RunSpec {
                    activation,
                    schedule: ScheduleConfig {
                        schedule,
                        warmup: c.warmup.as_deref().map(str::parse).transpose()?,
                        slope_lr_mult: c.slope_lr_mult.unwrap_or(defaults.slope_lr_mult),
                        slope_weight_decay: c.slope_wd.unwrap_or(defaults.slope_weight_decay),
                        slope_wd_mult: c.slope_wd_mult,
                        slopes_until: c.slopes_until.as_deref().map(str::parse).transpose()?,
                    },
                    name: c.name,
                })
            })
            .collect::<crate::Result<Vec<_>>>()?;
        let protocol = Protocol {
            name: self.name.unwrap_or_else(|| "custom".into()),
            base,
            configs,
            seeds: self.seeds.unwrap_or_else(|| vec![0]),
            reference: self.reference,
            margin: self.margin,
        };
        protocol.validate()?;
        Ok(protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_protocols_match_the_issue() {
        let quick = Protocol::quick();
        assert_eq!(quick.configs.len(), 20);
        assert_eq!(quick.seeds.len(), 3);
        assert_eq!(quick.base.epochs, 2);
        assert!(quick.base.limit_train.is_none());
        assert_eq!(quick.grid_spec().cells().len(), 60);
        let converge = Protocol::converge();
        assert_eq!((converge.base.epochs, converge.seeds.len()), (15, 3));
        assert_eq!(converge.base.lr_shape, LrShape::Cosine);
        assert_eq!(
            converge.configs[4].schedule.schedule.to_string(),
            "matched:4:1"
        );
        let slope = Protocol::slope_lr();
        assert_eq!((slope.configs.len(), slope.seeds.len()), (7, 3));
        assert_eq!(slope.base.epochs, quick.base.epochs);
        let mults: Vec<f64> = slope
            .configs
            .iter()
            .map(|c| c.schedule.slope_lr_mult)
            .collect();
        assert_eq!(mults, [1.0, 1.0, 1.0, 10.0, 10.0, 100.0, 100.0]);
        let trained = Protocol::trained_slopes();
        assert_eq!(
            (trained.base.epochs, trained.base.lr_shape),
            (1, LrShape::Constant)
        );
        assert_eq!(
            trained.run_config(&trained.configs[1], 2).init_from,
            Some(PathBuf::from("results/converge/runs/relu-s2"))
        );
        assert_eq!(trained.configs[1].schedule.schedule, Schedule::SlopesOnly);
        assert_eq!(trained.configs[2].schedule.slope_lr_mult, 100.0);
        assert_eq!(trained.configs[3].schedule.slope_lr_mult, 0.0);
        let paper = Protocol::paper();
        assert_eq!(paper.base.model, Architecture::CifarResNet { depth: 20 });
        assert!(paper.base.epochs >= 30 && paper.seeds.len() == 5);
        let err = Protocol::load("nope").unwrap_err().to_string();
        assert!(err.contains("unknown protocol"), "{err}");
        for name in Protocol::NAMES {
            assert!(err.contains(name), "{err}");
            assert!(Protocol::named(name).is_some(), "{name}");
        }
    }

    #[test]
    fn protocol_files_parse_and_report_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "name = \"mine\"\nepochs = 3\nseeds = [4, 5]\nlimit_train = 100\n\
             init_from = \"runs/base-s{seed}\"\n\
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
        assert_eq!(p.init_from(5), Some(PathBuf::from("runs/base-s5")));
        assert_eq!(
            p.grid_spec().reference,
            Some(0),
            "default reference: `relu`"
        );
        let with_reference = std::fs::read_to_string(&path)
            .unwrap()
            .replace("epochs = 3", "epochs = 3\nreference = \"f\"");
        std::fs::write(&path, &with_reference).unwrap();
        let p = Protocol::load(path.to_str().unwrap()).unwrap();
        assert_eq!(p.grid_spec().reference, Some(1));
        std::fs::write(
            &path,
            with_reference.replace("reference = \"f\"", "reference = \"g\""),
        )
        .unwrap();
        let err = crate::error::report(&Protocol::load(path.to_str().unwrap()).unwrap_err());
        assert!(
            err.contains("reference 'g' is not a configuration"),
            "{err}"
        );
        assert!(err.contains("(relu, f)"), "{err}");
        let json = dir.path().join("p.json");
        std::fs::write(&json, r#"{"configs": [{"name": "a", "act": "relux"}]}"#).unwrap();
        let err = crate::error::report(&Protocol::load(json.to_str().unwrap()).unwrap_err());
        assert!(err.contains("unknown activation 'relux'"), "{err}");
        std::fs::write(
            &json,
            r#"{"configs": [{"name": "a", "act": "relu"}, {"name": "a", "act": "gelu"}]}"#,
        )
        .unwrap();
        let err = crate::error::report(&Protocol::load(json.to_str().unwrap()).unwrap_err());
        assert!(err.contains("used twice"), "{err}");
        std::fs::write(&json, r#"{"epochz": 3, "configs": []}"#).unwrap();
        assert!(Protocol::load(json.to_str().unwrap()).is_err());
    }

    #[test]
    fn a_protocol_file_without_settings_takes_the_documented_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "[[configs]]\nname = \"relu\"\nact = \"relu\"\n\
             [[configs]]\nname = \"f\"\nact = \"frelu\"\n",
        )
        .unwrap();
        let p = Protocol::load(path.to_str().unwrap()).unwrap();
        let defaults = TrainConfig::default();
        // No `lr` in the file: the documented default (the CLI's --lr default is the same value,
        // checked in the CLI's tests), not a hidden other one.
        assert_eq!(p.base.lr, defaults.lr);
        assert_eq!(p.base.lr, 0.01);
        assert_eq!(p.base.epochs, defaults.epochs);
        assert_eq!(p.base.weight_decay, defaults.weight_decay);
        assert_eq!(p.configs[1].schedule, ScheduleConfig::default());
        assert_eq!(
            p.configs[1].schedule.schedule.to_string(),
            "alternate:4:1:iter"
        );
        // ReLU has nothing to alternate: it trains jointly.
        assert_eq!(p.configs[0].schedule.schedule, Schedule::Joint);
        assert_eq!(p.run_config(&p.configs[1], 3).lr, 0.01);
    }

    #[test]
    fn the_preregistered_protocols_load_and_validate() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocols");
        let fifteen = Protocol::load(dir.join("confirm-15.toml").to_str().unwrap()).unwrap();
        assert_eq!(fifteen.configs.len(), 8);
        assert_eq!(fifteen.seeds, (100..110).collect::<Vec<u64>>());
        assert_eq!(fifteen.margin, Some(0.15));
        assert_eq!(fifteen.base.epochs, 15);
        let apl = fifteen.configs.iter().find(|c| c.name == "apl").unwrap();
        assert_eq!(apl.schedule.slope_decay(5e-4), 1e-3);
        let pau = fifteen.configs.iter().find(|c| c.name == "pau").unwrap();
        assert_eq!(pau.activation.to_string(), "pau:version=a");
        let two = Protocol::load(dir.join("confirm-2.toml").to_str().unwrap()).unwrap();
        assert_eq!(two.configs.len(), 4);
        assert_eq!(two.base.epochs, 2);
        for lr in [0.005, 0.01, 0.02, 0.05] {
            let file = dir.join(format!("lr-{lr}.toml"));
            let grid = Protocol::load(file.to_str().unwrap()).unwrap();
            assert_eq!((grid.base.lr, grid.base.epochs), (lr, 15));
            assert_eq!(grid.seeds, [200, 201, 202]);
            assert_eq!(grid.configs[2].schedule.slope_lr_mult, 10.0);
        }
        for epochs in [2, 4, 8, 15] {
            let file = dir.join(format!("mech-{epochs}.toml"));
            let grid = Protocol::load(file.to_str().unwrap()).unwrap();
            assert_eq!((grid.base.epochs, grid.base.eval_train), (epochs, true));
            assert_eq!(grid.seeds, [300, 301, 302]);
            assert_eq!(grid.configs.len(), if epochs == 2 { 2 } else { 3 });
            assert!(
                grid.configs[1..]
                    .iter()
                    .all(|c| c.schedule.slope_lr_mult == 100.0)
            );
            if let Some(frozen) = grid.configs.get(2) {
                assert_eq!(frozen.schedule.slopes_until.unwrap().to_string(), "2:epoch");
            }
        }
    }
}
