//! What the slopes learned: per-layer statistics of a run's `slopes.json`, and its plots.

use std::path::Path;

use crate::error::Context;
use frelu::slopes::LayerSlopes;
use serde::{Deserialize, Serialize};

use super::stats::mean;

/// Mean, standard deviation, min and max of one slope over a layer's channels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Mean over channels.
    pub mean: f64,
    /// Standard deviation over channels (population: these are all the channels).
    pub std: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Summary {
    /// The summary of `values` (population standard deviation).
    pub fn of(values: &[f64]) -> Self {
        let m = mean(values);
        let var = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len().max(1) as f64;
        Self {
            mean: m,
            std: var.sqrt(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// Statistics of one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerStats {
    /// Where the layer is.
    pub path: String,
    /// Slope pairs in the layer (channels, or 1 when shared).
    pub channels: usize,
    /// Positive-side slope (`None` when fixed at 1).
    pub pos: Option<Summary>,
    /// Negative-side slope (`None` when fixed).
    pub neg: Option<Summary>,
    /// Share of channels with `neg < 0` (the negative side flips sign: a non-monotonic unit).
    pub share_neg_below_zero: f64,
    /// Share with `pos < 1` (positive inputs attenuated).
    pub share_pos_below_one: f64,
    /// Share nearly linear: `|pos − neg| < 0.1`.
    pub share_nearly_linear: f64,
    /// Share nearly dead on the positive side: `pos < 0.05`.
    pub share_nearly_dead: f64,
}

/// Statistics of one layer; a slope that is not learned counts at its fixed value (`pos` 1,
/// `neg` 0).
pub fn layer_stats(layer: &LayerSlopes) -> LayerStats {
    let n = layer
        .pos
        .as_ref()
        .or(layer.neg.as_ref())
        .map_or(0, Vec::len);
    let as_f64 = |v: &Option<Vec<f32>>, fixed: f64| -> Vec<f64> {
        v.as_ref()
            .map(|v| v.iter().map(|&x| x as f64).collect())
            .unwrap_or_else(|| vec![fixed; n])
    };
    let pos = as_f64(&layer.pos, 1.0);
    let neg = as_f64(&layer.neg, 0.0);
    let share = |f: &dyn Fn(f64, f64) -> bool| {
        pos.iter().zip(&neg).filter(|(p, q)| f(**p, **q)).count() as f64 / n.max(1) as f64
    };
    LayerStats {
        path: layer.path.clone(),
        channels: n,
        pos: layer.pos.as_ref().map(|_| Summary::of(&pos)),
        neg: layer.neg.as_ref().map(|_| Summary::of(&neg)),
        share_neg_below_zero: share(&|_, q| q < 0.0),
        share_pos_below_one: share(&|p, _| p < 1.0),
        share_nearly_linear: share(&|p, q| (p - q).abs() < 0.1),
        share_nearly_dead: share(&|p, _| p < 0.05),
    }
}

/// How far FReLU-family slopes moved from ReLU's (`pos` 1, `neg` 0), pooled over every
/// channel of every run given: one configuration's seeds in a comparison grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Movement {
    /// Runs pooled.
    pub runs: usize,
    /// Slope pairs pooled (channels of every layer of every run; 1 for a shared layer).
    pub channels: usize,
    /// `|pos − 1|` over the learned positive slopes (`None`: `pos` is fixed, e.g. PReLU).
    pub pos_from_one: Option<Summary>,
    /// `|neg|` over the learned negative slopes (`None`: `neg` is fixed).
    pub neg_from_zero: Option<Summary>,
    /// The learned negative slopes themselves (their range).
    pub neg: Option<Summary>,
}

/// The [`Movement`] of the slopes of these runs (each a `slopes.json`), or `None` when they
/// have no FReLU-family layer.
pub fn movement(runs: &[Vec<LayerSlopes>]) -> Option<Movement> {
    let layers = || runs.iter().flatten();
    let learned = |side: fn(&LayerSlopes) -> &Option<Vec<f32>>| {
        layers()
            .filter_map(|l| side(l).as_ref())
            .flatten()
            .map(|&v| v as f64)
            .collect::<Vec<f64>>()
    };
    let channels: usize = layers()
        .map(|l| l.pos.as_ref().or(l.neg.as_ref()).map_or(0, Vec::len))
        .sum();
    if channels == 0 {
        return None;
    }
    let summary = |values: Vec<f64>| (!values.is_empty()).then(|| Summary::of(&values));
    let pos = learned(|l| &l.pos);
    let neg = learned(|l| &l.neg);
    Some(Movement {
        runs: runs.len(),
        channels,
        pos_from_one: summary(pos.iter().map(|p| (p - 1.0).abs()).collect()),
        neg_from_zero: summary(neg.iter().map(|q| q.abs()).collect()),
        neg: summary(neg),
    })
}

/// One line of `slopes_history.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SlopeSnapshot {
    /// Epoch (0 = at initialisation).
    pub epoch: usize,
    /// Every FReLU-family layer's slopes.
    pub layers: Vec<LayerSlopes>,
    /// Every learnable activation layer's parameters, whatever its kind (absent in histories
    /// written before the learnable peers existed).
    #[serde(default)]
    pub learned: Vec<frelu::learned::LearnedLayer>,
}

/// Reads a run's slope history (`slopes_history.jsonl`), if it has one.
pub fn read_history(run: &Path) -> crate::Result<Vec<(usize, Vec<LayerSlopes>)>> {
    Ok(read_snapshots(run)?
        .into_iter()
        .map(|s| (s.epoch, s.layers))
        .collect())
}

/// Reads every snapshot of a run's history (`slopes_history.jsonl`), if it has one.
pub fn read_snapshots(run: &Path) -> crate::Result<Vec<SlopeSnapshot>> {
    let path = run.join(crate::run_files::SLOPE_HISTORY);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{} line {}: not a slope snapshot", path.display(), i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_and_shares_on_known_slopes() {
        let layer = LayerSlopes {
            path: "a".into(),
            pos: Some(vec![1.0, 0.5, 0.02, 1.5]),
            neg: Some(vec![-0.1, 0.45, 0.0, 0.2]),
        };
        let s = layer_stats(&layer);
        assert_eq!(s.channels, 4);
        let pos = s.pos.unwrap();
        assert!((pos.mean - 0.755).abs() < 1e-6);
        assert!((pos.min - 0.02).abs() < 1e-6 && (pos.max - 1.5).abs() < 1e-6);
        assert_eq!(s.share_neg_below_zero, 0.25);
        assert_eq!(s.share_pos_below_one, 0.5);
        // |0.5 − 0.45| and |0.02 − 0| are below 0.1.
        assert_eq!(s.share_nearly_linear, 0.5);
        assert_eq!(s.share_nearly_dead, 0.25);
        let prelu = layer_stats(&LayerSlopes {
            path: "b".into(),
            pos: None,
            neg: Some(vec![0.25, 0.25]),
        });
        assert!(prelu.pos.is_none());
        assert_eq!(prelu.share_pos_below_one, 0.0);
    }

    #[test]
    fn movement_pools_every_channel_of_every_run() {
        let frelu = |pos: Vec<f32>, neg: Vec<f32>| LayerSlopes {
            path: "a".into(),
            pos: Some(pos),
            neg: Some(neg),
        };
        let runs = vec![
            vec![frelu(vec![1.0, 1.5], vec![0.0, -0.25])],
            vec![
                frelu(vec![0.75], vec![0.5]),
                frelu(vec![1.25, 1.0], vec![0.0, 0.0]),
            ],
        ];
        let m = movement(&runs).unwrap();
        assert_eq!((m.runs, m.channels), (2, 5));
        // |pos − 1|: 0, 0.5, 0.25, 0.25, 0.
        let pos = m.pos_from_one.unwrap();
        assert!((pos.mean - 0.2).abs() < 1e-9 && pos.max == 0.5, "{pos:?}");
        // |neg|: 0, 0.25, 0.5, 0, 0.
        let neg = m.neg_from_zero.unwrap();
        assert!((neg.mean - 0.15).abs() < 1e-9 && neg.max == 0.5, "{neg:?}");
        let range = m.neg.unwrap();
        assert_eq!((range.min, range.max), (-0.25, 0.5));

        // PReLU: `pos` is fixed, so it has no distance; the channels still count.
        let prelu = vec![vec![LayerSlopes {
            path: "p".into(),
            pos: None,
            neg: Some(vec![0.25, 0.125]),
        }]];
        let m = movement(&prelu).unwrap();
        assert_eq!(m.channels, 2);
        assert!(m.pos_from_one.is_none());
        assert_eq!(m.neg_from_zero.unwrap().max, 0.25);
        // No FReLU-family layer (ReLU, or a peer with other parameters): nothing to report.
        assert!(movement(&[Vec::new(), Vec::new()]).is_none());
        assert!(movement(&[]).is_none());
    }
}
