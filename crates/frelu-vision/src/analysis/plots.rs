//! Plots as PNG and SVG. Text is drawn with the DejaVu Sans font compiled into the binary, so
//! no system font is needed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use frelu::slopes::LayerSlopes;

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

pub(crate) fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font, checked by the plot tests.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

pub(crate) fn err<E: std::fmt::Debug>(e: E) -> crate::Error {
    crate::Error::Plot(format!("{e:?}"))
}

/// Draws with `$draw(root, args...)` into `STEM.png` and `STEM.svg`; returns both paths.
macro_rules! png_and_svg {
    ($stem:expr, $size:expr, $draw:ident ( $($arg:expr),* )) => {{
        ensure_font();
        let stem: &Path = $stem;
        let png = stem.with_extension("png");
        let svg = stem.with_extension("svg");
        {
            let root = BitMapBackend::new(&png, $size).into_drawing_area();
            $draw(&root, $($arg),*)?;
            root.present().map_err(err)?;
        }
        {
            let root = SVGBackend::new(&svg, $size).into_drawing_area();
            $draw(&root, $($arg),*)?;
            root.present().map_err(err)?;
        }
        Ok::<Vec<PathBuf>, crate::Error>(vec![png, svg])
    }};
}
pub(crate) use png_and_svg;

/// A chart of `f(x)` on `[−half_width, half_width]` × `y` in one panel, its mesh drawn.
pub(crate) fn panel_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    half_width: f64,
    (y0, y1): (f64, f64),
) -> crate::Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 12))
        .margin(6)
        .x_label_area_size(22)
        .y_label_area_size(34)
        .build_cartesian_2d(-half_width..half_width, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 10))
        .x_labels(5)
        .y_labels(4)
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// The small legend of a curve panel, in its upper left corner.
pub(crate) fn panel_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
) -> crate::Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 9))
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(err)
}

/// One curve with an uncertainty band: `(x, mean, std)` points.
#[derive(Clone, Debug)]
pub struct BandSeries {
    /// Legend label.
    pub name: String,
    /// Points `(x, mean, std)`; a NaN std draws no band.
    pub points: Vec<(f64, f64, f64)>,
}

pub(crate) fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-3);
    (lo - pad, hi + pad)
}

fn draw_bands<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[BandSeries],
) -> crate::Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let (x0, x1) = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (y0, y1) = bounds(series.iter().flat_map(|s| {
        s.points.iter().flat_map(|&(_, m, sd)| {
            let sd = if sd.is_finite() { sd } else { 0.0 };
            [m - sd, m + sd]
        })
    }));
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let band: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| p.2.is_finite())
            .map(|&(x, m, sd)| (x, m + sd))
            .chain(
                s.points
                    .iter()
                    .rev()
                    .filter(|p| p.2.is_finite())
                    .map(|&(x, m, sd)| (x, m - sd)),
            )
            .collect();
        if band.len() >= 4 {
            chart
                .draw_series(std::iter::once(Polygon::new(
                    band,
                    color.mix(0.15).filled(),
                )))
                .map_err(err)?;
        }
        chart
            .draw_series(LineSeries::new(
                s.points.iter().map(|&(x, m, _)| (x, m)),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                s.points
                    .iter()
                    .map(|&(x, m, _)| Circle::new((x, m), 3, color.filled())),
            )
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 12))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Mean line ± standard-deviation band per series.
pub fn band_chart(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[BandSeries],
) -> crate::Result<Vec<PathBuf>> {
    png_and_svg!(
        stem,
        (900, 560),
        draw_bands(title, x_label, y_label, series)
    )
}

pub(crate) fn grid(n: usize) -> (usize, usize) {
    let cols = (n as f64).sqrt().ceil().max(1.0) as usize;
    (n.div_ceil(cols).max(1), cols)
}

/// Pixel size of a figure with one 260×220 panel per layer (plus the title).
pub(crate) fn panels_size(layers: usize) -> (u32, u32) {
    let (rows, cols) = grid(layers);
    (
        (cols as u32 * 260).max(500),
        (rows as u32 * 220 + 40).max(300),
    )
}

/// Values of a slope, or `fixed` repeated when it is not learned.
fn values(slopes: &Option<Vec<f32>>, fixed: f32, len: usize) -> Vec<f64> {
    match slopes {
        Some(v) => v.iter().map(|&x| x as f64).collect(),
        None => vec![fixed as f64; len],
    }
}

fn channel_count(layer: &LayerSlopes) -> usize {
    layer
        .pos
        .as_ref()
        .or(layer.neg.as_ref())
        .map_or(0, Vec::len)
}

/// One layer's panel of a per-layer figure, the layer and its slopes `pos`, `neg` (fixed
/// values where a slope is not learned).
type LayerPanel<'a, DB> = (DrawingArea<DB, Shift>, &'a LayerSlopes, Vec<f64>, Vec<f64>);

/// Clears `root`, titles it and splits it into one panel per layer.
fn layer_panels<'a, DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    layers: &'a [LayerSlopes],
) -> crate::Result<Vec<LayerPanel<'a, DB>>> {
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(err)?;
    let (rows, cols) = grid(layers.len());
    Ok(root
        .split_evenly((rows, cols))
        .into_iter()
        .zip(layers)
        .map(|(area, layer)| {
            let n = channel_count(layer);
            (
                area,
                layer,
                values(&layer.pos, 1.0, n),
                values(&layer.neg, 0.0, n),
            )
        })
        .collect())
}

fn draw_scatter<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    layers: &[LayerSlopes],
) -> crate::Result<()> {
    let title = "learned slopes per channel: pos (x) vs neg (y)";
    for (panel, layer, pos, neg) in layer_panels(root, title, layers)? {
        let (x0, x1) = bounds(pos.iter().copied().chain([0.0, 1.0]));
        let (y0, y1) = bounds(neg.iter().copied().chain([0.0]));
        let mut chart = ChartBuilder::on(&panel)
            .caption(&layer.path, ("sans-serif", 12))
            .margin(6)
            .x_label_area_size(22)
            .y_label_area_size(34)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 10))
            .x_labels(4)
            .y_labels(4)
            .draw()
            .map_err(err)?;
        // Reference: ReLU (pos = 1, neg = 0).
        chart
            .draw_series(std::iter::once(Cross::new(
                (1.0, 0.0),
                6,
                RED.stroke_width(2),
            )))
            .map_err(err)?;
        chart
            .draw_series(
                pos.iter()
                    .zip(&neg)
                    .map(|(&p, &q)| Circle::new((p, q), 2, BLUE.mix(0.6).filled())),
            )
            .map_err(err)?;
    }
    Ok(())
}

/// `pos` vs `neg` of every channel, one panel per layer (the red cross marks ReLU).
pub fn slope_scatter(stem: &Path, layers: &[LayerSlopes]) -> crate::Result<Vec<PathBuf>> {
    let size = panels_size(layers.len());
    png_and_svg!(stem, size, draw_scatter(layers))
}

fn draw_distributions<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    layers: &[LayerSlopes],
) -> crate::Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let all = layers.iter().flat_map(|l| {
        let n = channel_count(l);
        values(&l.pos, 1.0, n)
            .into_iter()
            .chain(values(&l.neg, 0.0, n))
    });
    let (y0, y1) = bounds(all);
    let mut chart = ChartBuilder::on(root)
        .caption("slope distributions per layer", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.5f64..(layers.len() as f64 - 0.5), y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("layer (input → output)")
        .y_desc("slope")
        .x_labels(layers.len().min(20))
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    for (i, layer) in layers.iter().enumerate() {
        let n = channel_count(layer);
        for (k, (vals, color)) in [
            (values(&layer.pos, 1.0, n), BLUE),
            (values(&layer.neg, 0.0, n), RED),
        ]
        .into_iter()
        .enumerate()
        {
            let offset = if k == 0 { -0.18 } else { 0.18 };
            // Deterministic jitter spreads the channels of a layer horizontally.
            chart
                .draw_series(vals.iter().enumerate().map(|(j, &v)| {
                    let jitter = ((j * 7919) % 97) as f64 / 97.0 * 0.24 - 0.12;
                    Circle::new((i as f64 + offset + jitter, v), 2, color.mix(0.5).filled())
                }))
                .map_err(err)?;
        }
    }
    chart
        .draw_series(std::iter::once(Circle::new((-10.0, 0.0), 3, BLUE.filled())))
        .map_err(err)?
        .label("pos")
        .legend(|(x, y)| Circle::new((x, y), 3, BLUE.filled()));
    chart
        .draw_series(std::iter::once(Circle::new((-10.0, 0.0), 3, RED.filled())))
        .map_err(err)?
        .label("neg")
        .legend(|(x, y)| Circle::new((x, y), 3, RED.filled()));
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 12))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Every channel's `pos` (blue) and `neg` (red), one column per layer.
pub fn slope_distributions(stem: &Path, layers: &[LayerSlopes]) -> crate::Result<Vec<PathBuf>> {
    let width = (layers.len() as u32 * 60 + 200).max(700);
    png_and_svg!(stem, (width, 520), draw_distributions(layers))
}

/// The channels whose curves are drawn: the extremes of `neg` and of `pos`.
fn featured_channels(pos: &[f64], neg: &[f64], k: usize) -> Vec<usize> {
    let mut picks = Vec::new();
    let argmin = |v: &[f64]| (0..v.len()).min_by(|&a, &b| v[a].total_cmp(&v[b]));
    let argmax = |v: &[f64]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b]));
    for c in [argmin(neg), argmax(neg), argmin(pos), argmax(pos)]
        .into_iter()
        .flatten()
    {
        if !picks.contains(&c) {
            picks.push(c);
        }
    }
    picks.truncate(k);
    picks
}

fn draw_curves<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    layers: &[LayerSlopes],
) -> crate::Result<()> {
    let title = "learned activation curves f(x) (dashed: ReLU)";
    for (panel, layer, pos, neg) in layer_panels(root, title, layers)? {
        let channels = featured_channels(&pos, &neg, 4);
        let ys = channels
            .iter()
            .flat_map(|&c| [2.0 * pos[c], -2.0 * neg[c]])
            .chain([0.0, 2.0]);
        let (y0, y1) = bounds(ys);
        let mut chart = panel_chart(&panel, &layer.path, 2.0, (y0, y1))?;
        chart
            .draw_series(DashedLineSeries::new(
                [(-2.0, 0.0), (0.0, 0.0), (2.0, 2.0)],
                4,
                3,
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(err)?;
        for (i, &c) in channels.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    [(-2.0, -2.0 * neg[c]), (0.0, 0.0), (2.0, 2.0 * pos[c])],
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(format!("ch {c}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], color));
        }
        panel_legend(&mut chart)?;
    }
    Ok(())
}

/// f(x) on [−2, 2] for up to four channels per layer (the extremes of each slope).
pub fn activation_curves(stem: &Path, layers: &[LayerSlopes]) -> crate::Result<Vec<PathBuf>> {
    let size = panels_size(layers.len());
    png_and_svg!(stem, size, draw_curves(layers))
}

/// Per-layer mean `pos` and mean `neg` over training (one snapshot per epoch, epoch 0 = init).
pub fn slope_trajectories(
    stem: &Path,
    history: &[(usize, Vec<LayerSlopes>)],
) -> crate::Result<Vec<PathBuf>> {
    let Some((_, first)) = history.first() else {
        return Err(crate::Error::Plot("no slope history to plot".into()));
    };
    let mut series = Vec::new();
    for (i, layer) in first.iter().enumerate() {
        for (side, pick) in [("pos", 0usize), ("neg", 1usize)] {
            let points: Vec<(f64, f64, f64)> = history
                .iter()
                .filter_map(|(epoch, layers)| {
                    let l = layers.get(i)?;
                    let v = if pick == 0 { &l.pos } else { &l.neg };
                    let v: Vec<f64> = v.as_ref()?.iter().map(|&x| x as f64).collect();
                    Some((
                        *epoch as f64,
                        super::stats::mean(&v),
                        super::stats::std_dev(&v),
                    ))
                })
                .collect();
            if !points.is_empty() {
                series.push(BandSeries {
                    name: format!("{} {side}", layer.path),
                    points,
                });
            }
        }
    }
    band_chart(
        stem,
        "slope trajectories (mean ± std over channels)",
        "epoch",
        "slope",
        &series,
    )
}

/// Draws an image (scaled ×3) with ground-truth boxes (green) and predictions (red, with class
/// name and score) into a PNG.
pub fn draw_detections(
    path: &Path,
    image: &image::RgbImage,
    ground_truth: &[([f32; 4], usize)],
    predictions: &[([f32; 4], usize, f32)],
    names: &[String],
) -> crate::Result<()> {
    ensure_font();
    let zoom = 3u32;
    let (w, h) = (image.width() * zoom, image.height() * zoom);
    let big = image::imageops::resize(image, w, h, image::imageops::FilterType::Nearest);
    let mut buffer = big.into_raw();
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
        let z = zoom as f32;
        let rect = |b: &[f32; 4]| {
            [
                ((b[0] * z) as i32, (b[1] * z) as i32),
                ((b[2] * z) as i32, (b[3] * z) as i32),
            ]
        };
        for (b, _) in ground_truth {
            root.draw(&Rectangle::new(rect(b), GREEN.stroke_width(2)))
                .map_err(err)?;
        }
        for (b, label, score) in predictions {
            let r = rect(b);
            root.draw(&Rectangle::new(r, RED.stroke_width(2)))
                .map_err(err)?;
            let name = names.get(*label).map_or("?", String::as_str);
            root.draw(&Text::new(
                format!("{name} {score:.2}"),
                (r[0].0 + 2, (r[0].1 - 14).max(0)),
                ("sans-serif", 13).into_font().color(&YELLOW),
            ))
            .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    image::RgbImage::from_raw(w, h, buffer)
        .ok_or_else(|| crate::Error::Plot("image buffer has the wrong size".into()))?
        .save(path)
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers() -> Vec<LayerSlopes> {
        (0..3)
            .map(|i| LayerSlopes {
                path: format!("blocks.{i}.act"),
                pos: Some(
                    (0..8)
                        .map(|c| 1.0 + 0.05 * c as f32 - 0.1 * i as f32)
                        .collect(),
                ),
                neg: Some((0..8).map(|c| -0.2 + 0.04 * c as f32).collect()),
            })
            .collect()
    }

    fn assert_valid(files: &[PathBuf]) {
        for file in files {
            let bytes = std::fs::read(file).unwrap();
            assert!(bytes.len() > 1000, "{} is too small", file.display());
            if file.extension().unwrap() == "png" {
                assert!(
                    bytes.starts_with(&[0x89, b'P', b'N', b'G']),
                    "{}",
                    file.display()
                );
                let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
                // Not a blank canvas: some pixels are not white.
                assert!(img.pixels().any(|p| p.0 != [255, 255, 255]));
            } else {
                let text = String::from_utf8(bytes).unwrap();
                assert!(text.starts_with("<svg") && text.contains("</svg>"));
                assert!(text.contains("<text"), "SVG without labels");
            }
        }
    }

    #[test]
    fn every_plot_writes_valid_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let layers = layers();
        let series = vec![
            BandSeries {
                name: "relu".into(),
                points: vec![(1.0, 80.0, 1.0), (2.0, 85.0, 0.5)],
            },
            BandSeries {
                name: "frelu".into(),
                points: vec![(1.0, 81.0, f64::NAN), (2.0, 86.0, f64::NAN)],
            },
        ];
        assert_valid(
            &band_chart(&dir.path().join("acc"), "accuracy", "epoch", "%", &series).unwrap(),
        );
        assert_valid(&slope_scatter(&dir.path().join("scatter"), &layers).unwrap());
        assert_valid(&slope_distributions(&dir.path().join("dist"), &layers).unwrap());
        assert_valid(&activation_curves(&dir.path().join("curves"), &layers).unwrap());
        let history = vec![(0, layers.clone()), (1, layers.clone()), (2, layers)];
        assert_valid(&slope_trajectories(&dir.path().join("traj"), &history).unwrap());
    }

    #[test]
    fn featured_channels_are_the_extremes() {
        let pos = [1.0, 2.0, 0.5, 1.1];
        let neg = [0.0, -0.3, 0.2, 0.1];
        assert_eq!(featured_channels(&pos, &neg, 4), vec![1, 2]);
    }
}
