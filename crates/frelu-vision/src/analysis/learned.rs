//! What any learnable activation learned (PELU, APL, PAU, PWLU, ..., and FReLU too): per-layer
//! statistics of each parameter and how far it moved from initialisation, and the learned curves
//! `f(x)`, evaluated by rebuilding each layer from the run's `activation.json`
//! ([`frelu::learned::curves`]), so nothing here knows an activation's formula.

use std::path::{Path, PathBuf};

use frelu::ActivationConfig;
use frelu::learned::{LearnedLayer, curves};
use frelu::slopes::LayerSlopes;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::plots::{
    bounds, ensure_font, err, grid, panel_chart, panel_legend, panels_size, png_and_svg,
};
use super::slopes::{Summary, read_snapshots};
use crate::error::Context;
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::types::RangedCoordf64;

/// The file of a run with the learned parameters of its activations.
pub const LEARNED_FILE: &str = "activation.json";

/// Statistics of one parameter of one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamStats {
    /// The parameter's name (`a`, `beta`, `heights`, ...).
    pub name: String,
    /// Number of values.
    pub len: usize,
    /// Its final values.
    pub summary: Summary,
    /// Mean |final − initial| over its values (`None` without a history).
    pub mean_abs_change: Option<f64>,
}

/// Statistics of one learnable activation layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerParamStats {
    /// Where the layer is.
    pub path: String,
    /// Its type (`Pelu`, `Pau`, ...).
    pub kind: String,
    /// One entry per parameter.
    pub params: Vec<ParamStats>,
}

/// A run's activation, its learned layers at the end and, when the history has them, at
/// initialisation.
#[derive(Clone)]
pub struct Learned {
    /// The run's activation (from its `config.json`).
    pub config: ActivationConfig,
    /// The final parameters.
    pub last: Vec<LearnedLayer>,
    /// The parameters at initialisation (epoch 0 of the history), if recorded.
    pub first: Option<Vec<LearnedLayer>>,
}

/// Reads a run's learned activation parameters; `None` when the run's activation learns nothing.
/// FReLU runs written before `activation.json` existed are read from their `slopes.json` (and
/// their history's slopes).
pub fn read(run: &Path) -> crate::Result<Option<Learned>> {
    let path = run.join(LEARNED_FILE);
    let slopes_file = run.join(crate::run_files::SLOPES);
    let last: Vec<LearnedLayer> = if path.exists() {
        crate::fsio::read_json(&path)?
    } else if slopes_file.exists() {
        let slopes: Vec<LayerSlopes> = crate::fsio::read_json(&slopes_file)?;
        match from_slopes(&slopes) {
            Some(layers) => layers,
            None => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    if last.is_empty() {
        return Ok(None);
    }
    let settings: serde_json::Value = crate::fsio::read_json(&run.join(crate::run_files::CONFIG))?;
    let config: ActivationConfig = serde_json::from_value(settings["activation"].clone())
        .with_context(|| format!("{}: no activation in config.json", run.display()))?;
    let first = read_snapshots(run)?
        .into_iter()
        .find(|s| s.epoch == 0)
        .and_then(|s| {
            if s.learned.is_empty() {
                from_slopes(&s.layers)
            } else {
                Some(s.learned)
            }
        });
    Ok(Some(Learned {
        config,
        last,
        first,
    }))
}

/// FReLU-family slopes as learned layers; `None` if some layer has a fixed side or none is
/// there.
fn from_slopes(layers: &[LayerSlopes]) -> Option<Vec<LearnedLayer>> {
    let layers: Option<Vec<_>> = layers.iter().map(LayerSlopes::to_learned).collect();
    layers.filter(|l| !l.is_empty())
}

/// Per-layer statistics of every parameter, with the change from initialisation.
pub fn stats(learned: &Learned) -> Vec<LayerParamStats> {
    learned
        .last
        .iter()
        .map(|layer| {
            let start = learned
                .first
                .as_ref()
                .and_then(|f| f.iter().find(|l| l.path == layer.path));
            let params = layer
                .params
                .iter()
                .map(|p| {
                    let values: Vec<f64> = p.values.iter().map(|&v| v as f64).collect();
                    let change = start.and_then(|s| s.param(&p.name)).map(|s| {
                        let total: f64 = s
                            .values
                            .iter()
                            .zip(&p.values)
                            .map(|(a, b)| (b - a).abs() as f64)
                            .sum();
                        total / p.values.len().max(1) as f64
                    });
                    ParamStats {
                        name: p.name.clone(),
                        len: p.values.len(),
                        summary: Summary::of(&values),
                        mean_abs_change: change,
                    }
                })
                .collect();
            LayerParamStats {
                path: layer.path.clone(),
                kind: layer.kind.clone(),
                params,
            }
        })
        .collect()
}

/// The statistics as a Markdown table.
pub fn markdown(stats: &[LayerParamStats]) -> String {
    let mut out = String::from(
        "| layer | kind | parameter | values | mean ± std [min, max] | mean abs change from init |\n\
         |---|---|---|---:|---|---:|\n",
    );
    for layer in stats {
        for p in &layer.params {
            let s = &p.summary;
            let change = p
                .mean_abs_change
                .map_or("–".to_string(), |c| format!("{c:.4}"));
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.3} ± {:.3} [{:.3}, {:.3}] | {change} |\n",
                layer.path, layer.kind, p.name, p.len, s.mean, s.std, s.min, s.max
            ));
        }
    }
    out
}

/// Inputs at which curves are drawn: [−3, 3].
fn inputs() -> Vec<f32> {
    (0..=60).map(|i| -3.0 + 0.1 * i as f32).collect()
}

/// One panel: the layer, its final curves (one per channel) and the mean initial curve.
struct Panel {
    title: String,
    last: Vec<Vec<f32>>,
    first: Option<Vec<f32>>,
}

fn mean_curve(curves: &[Vec<f32>]) -> Vec<f32> {
    let n = curves.len().max(1) as f32;
    (0..curves.first().map_or(0, Vec::len))
        .map(|i| curves.iter().map(|c| c[i]).sum::<f32>() / n)
        .collect()
}

fn panels(learned: &Learned) -> crate::Result<Vec<Panel>> {
    let xs = inputs();
    let curve = |layer: &LearnedLayer| {
        curves(&learned.config, layer, &xs).map_err(|e| crate::Error::Plot(e.to_string()))
    };
    learned
        .last
        .iter()
        .map(|layer| {
            let first = match learned
                .first
                .as_ref()
                .and_then(|f| f.iter().find(|l| l.path == layer.path))
            {
                Some(start) => Some(mean_curve(&curve(start)?)),
                None => None,
            };
            Ok(Panel {
                title: layer.path.clone(),
                last: curve(layer)?,
                first,
            })
        })
        .collect()
}

/// `(x, f(x))` points of a curve evaluated at [`inputs`].
fn points(curve: &[f32]) -> Vec<(f64, f64)> {
    inputs()
        .iter()
        .zip(curve)
        .map(|(&x, &y)| (x as f64, y as f64))
        .collect()
}

/// The panels of a figure of curves on [−3, 3], one per item, in a near-square grid.
fn curve_areas<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    items: usize,
) -> crate::Result<Vec<DrawingArea<DB, Shift>>> {
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 16)).map_err(err)?;
    let (rows, cols) = grid(items);
    Ok(root.split_evenly((rows, cols)))
}

/// A panel whose y range fits every curve of `curves`.
fn fitted_chart<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    curves: impl Iterator<Item = &'b Vec<f32>>,
) -> crate::Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>> {
    let (y0, y1) = bounds(curves.flatten().map(|&v| v as f64));
    panel_chart(area, title, 3.0, (y0, y1))
}

/// The curve at initialisation, thin and dashed.
fn draw_initial<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    curve: &[f32],
    color: RGBAColor,
) -> crate::Result<()> {
    chart
        .draw_series(DashedLineSeries::new(
            points(curve),
            4,
            3,
            color.stroke_width(1),
        ))
        .map_err(err)?;
    Ok(())
}

fn draw_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    panels: &[Panel],
) -> crate::Result<()> {
    for (area, panel) in curve_areas(root, title, panels.len())?.iter().zip(panels) {
        let mut chart = fitted_chart(
            area,
            &panel.title,
            panel.last.iter().chain(panel.first.as_ref()),
        )?;
        // Up to 8 channels, evenly spaced, thin; their mean thick; the initial mean dashed.
        let step = panel.last.len().div_ceil(8).max(1);
        for (i, c) in panel.last.iter().step_by(step).enumerate() {
            let color = Palette99::pick(i).mix(0.6);
            chart
                .draw_series(LineSeries::new(points(c), color.stroke_width(1)))
                .map_err(err)?;
        }
        chart
            .draw_series(LineSeries::new(
                points(&mean_curve(&panel.last)),
                BLACK.stroke_width(2),
            ))
            .map_err(err)?;
        if let Some(first) = &panel.first {
            draw_initial(&mut chart, first, RED.mix(0.7))?;
        }
    }
    Ok(())
}

/// The learned curves of every layer: up to 8 channels (thin), their mean (thick black) and
/// the mean curve at initialisation (dashed red), as `STEM.png` and `STEM.svg`.
pub fn curve_plot(stem: &Path, learned: &Learned) -> crate::Result<Vec<PathBuf>> {
    let panels = panels(learned)?;
    let title = format!(
        "learned {} curves f(x) (dashed: at initialisation)",
        learned.config.name()
    );
    let size = panels_size(panels.len());
    png_and_svg!(stem, size, draw_panels(&title, &panels))
}

/// One run of a [`comparison_plot`]: its name, the mean learned curve of each layer and the
/// mean initial curve over all layers.
struct RunCurves {
    name: String,
    layers: Vec<Vec<f32>>,
    first: Option<Vec<f32>>,
}

fn run_curves(name: &str, learned: &Learned) -> crate::Result<RunCurves> {
    let panels = panels(learned)?;
    let firsts: Vec<Vec<f32>> = panels.iter().filter_map(|p| p.first.clone()).collect();
    Ok(RunCurves {
        name: format!("{name} ({})", learned.config.name()),
        layers: panels.iter().map(|p| mean_curve(&p.last)).collect(),
        first: (!firsts.is_empty()).then(|| mean_curve(&firsts)),
    })
}

fn draw_comparison<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    runs: &[RunCurves],
) -> crate::Result<()> {
    for (area, run) in curve_areas(root, title, runs.len())?.iter().zip(runs) {
        let mut chart = fitted_chart(area, &run.name, run.layers.iter().chain(run.first.as_ref()))?;
        if let Some(first) = &run.first {
            draw_initial(&mut chart, first, BLACK.mix(0.5))?;
        }
        for (i, curve) in run.layers.iter().enumerate() {
            let color = Palette99::pick(i);
            chart
                .draw_series(LineSeries::new(points(curve), color.stroke_width(2)))
                .map_err(err)?
                .label(format!("layer {}", i + 1))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 12, y)], color.stroke_width(2))
                });
        }
        panel_legend(&mut chart)?;
    }
    Ok(())
}

/// Several runs' learned activations side by side (e.g. FReLU and its learnable peers): one
/// panel per run, the mean learned curve of each layer in colour (layer 1, 2, … in the same
/// colours in every panel) and the mean initial curve dashed, as `STEM.png` and `STEM.svg`.
pub fn comparison_plot(stem: &Path, runs: &[(String, Learned)]) -> crate::Result<Vec<PathBuf>> {
    let runs = runs
        .iter()
        .map(|(name, learned)| run_curves(name, learned))
        .collect::<crate::Result<Vec<_>>>()?;
    let title = "learned activations f(x): mean curve per layer (dashed: at initialisation)";
    let size = panels_size(runs.len());
    png_and_svg!(stem, size, draw_comparison(title, &runs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use frelu::learned::LearnedParam;

    fn layer(path: &str, a: Vec<f32>, b: Vec<f32>) -> LearnedLayer {
        let param = |name: &str, values: Vec<f32>| LearnedParam {
            name: name.into(),
            shape: vec![values.len()],
            values,
        };
        LearnedLayer {
            path: path.into(),
            kind: "Pelu".into(),
            params: vec![param("a", a), param("b", b)],
        }
    }

    fn frelu_layer(path: &str, pos: f32, neg: f32) -> LearnedLayer {
        LayerSlopes {
            path: path.into(),
            pos: Some(vec![pos; 3]),
            neg: Some(vec![neg; 3]),
        }
        .to_learned()
        .unwrap()
    }

    #[test]
    fn old_frelu_runs_are_read_from_their_slopes() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        std::fs::write(run.join("config.json"), r#"{"activation": {"FRelu": {"pos_init": 1.0, "neg_init": 0.0, "shared": false, "fused": true}}}"#).unwrap();
        let slopes = vec![LayerSlopes {
            path: "acts.0".into(),
            pos: Some(vec![1.5, 0.5]),
            neg: Some(vec![0.1, 0.2]),
        }];
        crate::fsio::write_json(&run.join("slopes.json"), &slopes).unwrap();
        let learned = read(run).unwrap().unwrap();
        assert_eq!(learned.last[0].param("neg").unwrap().values, [0.1, 0.2]);
        let curves = run_curves("f", &learned).unwrap();
        assert!(
            (curves.layers[0][60] - 3.0).abs() < 1e-5,
            "{:?}",
            curves.layers
        );
        // PReLU's positive side is fixed: no learned-curve record can be made of it.
        let prelu = vec![LayerSlopes {
            pos: None,
            ..slopes[0].clone()
        }];
        crate::fsio::write_json(&run.join("slopes.json"), &prelu).unwrap();
        assert!(read(run).unwrap().is_none());
    }

    #[test]
    fn stats_report_values_and_change_from_init_and_curves_are_drawn() {
        let learned = Learned {
            config: "pelu:per=channel".parse().unwrap(),
            last: vec![layer("act", vec![1.5, 0.5], vec![1.0, 2.0])],
            first: Some(vec![layer("act", vec![1.0, 1.0], vec![1.0, 1.0])]),
        };
        let s = stats(&learned);
        let a = &s[0].params[0];
        assert_eq!((a.name.as_str(), a.len), ("a", 2));
        assert!((a.summary.mean - 1.0).abs() < 1e-9 && (a.summary.std - 0.5).abs() < 1e-9);
        assert_eq!(a.mean_abs_change, Some(0.5));
        assert_eq!(s[0].params[1].mean_abs_change, Some(0.5));
        assert!(markdown(&s).contains("| act | Pelu | a | 2 | 1.000 ± 0.500"));
        let dir = tempfile::tempdir().unwrap();
        let files = curve_plot(&dir.path().join("curves"), &learned).unwrap();
        for f in files {
            assert!(
                std::fs::metadata(&f).unwrap().len() > 1000,
                "{}",
                f.display()
            );
        }
        let frelu = Learned {
            config: "frelu".parse().unwrap(),
            last: vec![frelu_layer("a", 2.0, 0.5), frelu_layer("b", 1.0, 0.0)],
            first: Some(vec![frelu_layer("a", 1.0, 0.0), frelu_layer("b", 1.0, 0.0)]),
        };
        let frelu_curves = run_curves("f", &frelu).unwrap();
        // Layer a: f(x) = 2x above 0, 0.5x below; x = 3 is the last grid point, −3 the first.
        assert!((frelu_curves.layers[0][60] - 6.0).abs() < 1e-5);
        assert!((frelu_curves.layers[0][0] + 1.5).abs() < 1e-5);
        assert!((frelu_curves.first.as_ref().unwrap()[0]).abs() < 1e-6);
        let files = comparison_plot(
            &dir.path().join("all"),
            &[("p".into(), learned.clone()), ("f".into(), frelu)],
        )
        .unwrap();
        assert!(std::fs::metadata(&files[0]).unwrap().len() > 1000);
        // A snapshot that does not fit the run's activation is an error, not a wrong plot.
        let wrong = Learned {
            config: "pau".parse().unwrap(),
            ..learned
        };
        assert!(curve_plot(&dir.path().join("x"), &wrong).is_err());
    }
}
