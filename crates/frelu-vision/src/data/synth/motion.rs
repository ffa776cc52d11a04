//! The generated motion benchmark: Fashion-MNIST items whose class only time can tell (the
//! direction or kind of their motion), written in the frame-folder layout of `data::video`.

use std::path::Path;

use image::GrayImage;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::data::{DataError, ImageSet, fashion_mnist};

/// The motions of the benchmark; the class index is the position in this list.
pub const MOTIONS: [&str; 8] = [
    "moving left",
    "moving right",
    "moving up",
    "moving down",
    "approaching",
    "receding",
    "rotating clockwise",
    "rotating anticlockwise",
];

/// Options of the generated motion benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MotionConfig {
    /// Frames per clip.
    pub frames: usize,
    /// Frame side.
    pub size: u32,
    /// Training clips (items from Fashion-MNIST's training split).
    pub train_clips: usize,
    /// Validation clips (items from its test split).
    pub val_clips: usize,
    /// Seed: the same seed gives the same files.
    pub seed: u64,
    /// Distractors per clip: smaller items (16–24 % of the frame) drifting in random
    /// directions, so that a model must follow the large item to name the motion. 0 (the
    /// default) gives the plain benchmark.
    #[serde(default)]
    pub distractors: usize,
    /// Amplitude of uniform pixel noise added to every frame (0–255 units; 0 = none).
    #[serde(default)]
    pub noise: f64,
    /// Scales the motion (travel, zoom range, rotation): below 1 the motion is subtler.
    #[serde(default = "one")]
    pub motion_scale: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            frames: 8,
            size: 64,
            train_clips: 2400,
            val_clips: 480,
            seed: 0,
            distractors: 0,
            noise: 0.0,
            motion_scale: 1.0,
        }
    }
}

/// A distractor of a clip: its item, size, start and drift over the clip (pixels).
struct Distractor {
    item: GrayImage,
    side: f64,
    start: (f64, f64),
    drift: (f64, f64),
}

/// Renders `item` scaled to `side` and rotated by `angle` (radians, clockwise on screen),
/// centred at `(cx, cy)`, into `canvas` (pixelwise max).
fn stamp(canvas: &mut GrayImage, item: &GrayImage, side: f64, angle: f64, cx: f64, cy: f64) {
    let (w, h) = canvas.dimensions();
    let (cos, sin) = (angle.cos(), angle.sin());
    let scale = 28.0 / side;
    let reach = side * 0.75;
    let (x0, x1) = (
        (cx - reach).floor().max(0.0) as u32,
        ((cx + reach).ceil() as u32).min(w),
    );
    let (y0, y1) = (
        (cy - reach).floor().max(0.0) as u32,
        ((cy + reach).ceil() as u32).min(h),
    );
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            // Inverse rotation then scaling into the 28×28 source.
            let u = (cos * dx + sin * dy) * scale + 14.0;
            let v = (-sin * dx + cos * dy) * scale + 14.0;
            if u < 0.0 || v < 0.0 || u >= 27.0 || v >= 27.0 {
                continue;
            }
            let (iu, iv) = (u as u32, v as u32);
            let (fu, fv) = (u - iu as f64, v - iv as f64);
            let at = |a: u32, b: u32| item.get_pixel(a, b).0[0] as f64;
            let value = at(iu, iv) * (1.0 - fu) * (1.0 - fv)
                + at(iu + 1, iv) * fu * (1.0 - fv)
                + at(iu, iv + 1) * (1.0 - fu) * fv
                + at(iu + 1, iv + 1) * fu * fv;
            let p = canvas.get_pixel_mut(x, y);
            p.0[0] = p.0[0].max(value.round() as u8);
        }
    }
}

/// One clip of class `motion` for item `item`; distractors (if any) are drawn from `items`.
/// The main item's parameters are drawn first, so a clip with distractors or noise shows the
/// same main item moving the same way as the plain clip of the same seed.
fn render_clip(
    item: &GrayImage,
    items: &ImageSet,
    motion: usize,
    config: &MotionConfig,
    rng: &mut StdRng,
) -> Vec<GrayImage> {
    let s = config.size as f64;
    let t = config.frames as f64;
    let steps = (t - 1.0).max(1.0);
    let k = config.motion_scale;
    let base = rng.random_range(0.30..0.42) * s;
    let travel = rng.random_range(0.30..0.45) * s * k;
    let (cx, cy) = (
        rng.random_range(0.45..0.55) * s,
        rng.random_range(0.45..0.55) * s,
    );
    let angle0: f64 = rng.random_range(-0.3..0.3);
    let spin: f64 = rng.random_range(0.12..0.2) * k;
    // Zoom between 22 % and 50 % of the frame, narrowed around 36 % when `k` < 1.
    let (lo, hi) = (
        0.22 * s + (1.0 - k) * 0.14 * s,
        0.5 * s - (1.0 - k) * 0.14 * s,
    );
    let distractors: Vec<Distractor> = (0..config.distractors)
        .map(|_| {
            let index = rng.random_range(0..items.len());
            let heading: f64 = rng.random_range(0.0..std::f64::consts::TAU);
            let speed = rng.random_range(0.0..0.3) * s;
            Distractor {
                item: GrayImage::from_raw(28, 28, items.image(index).to_vec()).expect("28×28"),
                side: rng.random_range(0.16..0.24) * s,
                start: (
                    rng.random_range(0.15..0.85) * s,
                    rng.random_range(0.15..0.85) * s,
                ),
                drift: (speed * heading.cos(), speed * heading.sin()),
            }
        })
        .collect();
    (0..config.frames)
        .map(|f| {
            let p = f as f64 / steps;
            let (mut x, mut y, mut side, mut angle) = (cx, cy, base, angle0);
            // Translations run through the centre, from −travel/2 to +travel/2.
            let along = travel * (p - 0.5);
            match motion {
                0 => x -= along,
                1 => x += along,
                2 => y -= along,
                3 => y += along,
                4 => side = lo + (hi - lo) * p,
                5 => side = hi - (hi - lo) * p,
                6 => angle += spin * 2.0 * std::f64::consts::PI * p,
                _ => angle -= spin * 2.0 * std::f64::consts::PI * p,
            }
            let mut canvas = GrayImage::new(config.size, config.size);
            for d in &distractors {
                let (dx, dy) = (d.start.0 + d.drift.0 * p, d.start.1 + d.drift.1 * p);
                stamp(&mut canvas, &d.item, d.side, 0.0, dx, dy);
            }
            stamp(&mut canvas, item, side, angle, x, y);
            if config.noise > 0.0 {
                for pixel in canvas.pixels_mut() {
                    let value = pixel.0[0] as f64 + rng.random_range(-config.noise..=config.noise);
                    pixel.0[0] = value.round().clamp(0.0, 255.0) as u8;
                }
            }
            canvas
        })
        .collect()
}

/// Writes the benchmark into `out` (frames, `train.txt`, `val.txt`, `classes.txt`,
/// `benchmark.json`). Classes are balanced; the item of each clip is random.
pub fn make_motion_benchmark(
    out: &Path,
    config: &MotionConfig,
    source: &fashion_mnist::Source,
) -> Result<(), DataError> {
    if config.frames < 2 || config.size < 16 {
        return Err(DataError::InvalidOption(
            "need at least 2 frames of at least 16 pixels".into(),
        ));
    }
    if !(config.noise.is_finite() && (0.0..=255.0).contains(&config.noise)) {
        return Err(DataError::InvalidOption(format!(
            "the noise amplitude must be in 0–255, not {}",
            config.noise
        )));
    }
    if !(config.motion_scale.is_finite() && config.motion_scale > 0.0 && config.motion_scale <= 1.0)
    {
        return Err(DataError::InvalidOption(format!(
            "the motion scale must be in (0, 1], not {}",
            config.motion_scale
        )));
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    let frames_dir = out.join("frames");
    std::fs::create_dir_all(&frames_dir)
        .map_err(|e| DataError::io_during("create", &frames_dir, e))?;
    for (split, train, count) in [
        ("train", true, config.train_clips),
        ("val", false, config.val_clips),
    ] {
        let items: ImageSet = fashion_mnist::load(source, train)?;
        let mut list = String::new();
        for n in 0..count {
            let motion = n % MOTIONS.len();
            let index = rng.random_range(0..items.len());
            let item = GrayImage::from_raw(28, 28, items.image(index).to_vec()).expect("28×28");
            let id = format!("{split}{n:05}");
            let dir = frames_dir.join(&id);
            std::fs::create_dir_all(&dir).map_err(|e| DataError::io_during("create", &dir, e))?;
            for (f, frame) in render_clip(&item, &items, motion, config, &mut rng)
                .iter()
                .enumerate()
            {
                let path = dir.join(format!("{:06}.png", f + 1));
                frame
                    .save(&path)
                    .map_err(|e| DataError::format(&path, e.to_string()))?;
            }
            list.push_str(&format!("{id} {} {motion}\n", config.frames));
        }
        let path = out.join(format!("{split}.txt"));
        std::fs::write(&path, list).map_err(|e| DataError::io_during("write", &path, e))?;
    }
    let path = out.join("classes.txt");
    std::fs::write(&path, MOTIONS.join("\n") + "\n")
        .map_err(|e| DataError::io_during("write", &path, e))?;
    super::write_settings(out, config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::video::VideoList;
    use image::Luma;

    fn tiny(seed: u64) -> MotionConfig {
        MotionConfig {
            frames: 4,
            size: 32,
            train_clips: 8,
            val_clips: 8,
            seed,
            ..MotionConfig::default()
        }
    }

    #[test]
    fn generator_is_deterministic_and_loads_back() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        make_motion_benchmark(a.path(), &tiny(1), &fashion_mnist::Source::Bundled).unwrap();
        make_motion_benchmark(b.path(), &tiny(1), &fashion_mnist::Source::Bundled).unwrap();
        for file in [
            "train.txt",
            "frames/train00003/000002.png",
            "frames/val00007/000004.png",
        ] {
            assert_eq!(
                std::fs::read(a.path().join(file)).unwrap(),
                std::fs::read(b.path().join(file)).unwrap(),
                "{file}"
            );
        }
        let list = VideoList::load(a.path(), "train").unwrap();
        assert_eq!(list.videos.len(), 8);
        assert_eq!(list.classes.len(), 8);
        assert_eq!(
            list.videos.iter().map(|v| v.label).collect::<Vec<_>>(),
            (0..8).collect::<Vec<_>>()
        );
    }

    #[test]
    fn motions_move_the_item_as_named() {
        let config = MotionConfig {
            frames: 8,
            size: 64,
            ..tiny(0)
        };
        let item = GrayImage::from_pixel(28, 28, Luma([200]));
        let mut rng = StdRng::seed_from_u64(5);
        let centroid = |img: &GrayImage| {
            let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
            for (x, y, p) in img.enumerate_pixels() {
                let v = p.0[0] as f64;
                sx += x as f64 * v;
                sy += y as f64 * v;
                n += v;
            }
            (sx / n, sy / n, n)
        };
        let items = fashion_mnist::load(&fashion_mnist::Source::Bundled, false).unwrap();
        let mut clip = |m| render_clip(&item, &items, m, &config, &mut rng);
        let (l, r) = (clip(0), clip(1));
        assert!(centroid(&l[7]).0 < centroid(&l[0]).0 - 10.0);
        assert!(centroid(&r[7]).0 > centroid(&r[0]).0 + 10.0);
        let (up, down) = (clip(2), clip(3));
        assert!(centroid(&up[7]).1 < centroid(&up[0]).1 - 10.0);
        assert!(centroid(&down[7]).1 > centroid(&down[0]).1 + 10.0);
        let (near, far) = (clip(4), clip(5));
        assert!(centroid(&near[7]).2 > 2.0 * centroid(&near[0]).2);
        assert!(centroid(&far[7]).2 < 0.5 * centroid(&far[0]).2);
    }

    #[test]
    fn distractors_and_noise_leave_the_main_motion_as_it_was() {
        let items = fashion_mnist::load(&fashion_mnist::Source::Bundled, true).unwrap();
        let item = GrayImage::from_raw(28, 28, items.image(0).to_vec()).unwrap();
        let render = |config: &MotionConfig| {
            render_clip(&item, &items, 1, config, &mut StdRng::seed_from_u64(9))
        };
        let plain = render(&tiny(0));
        let lit = |img: &GrayImage| img.pixels().filter(|p| p.0[0] > 0).count();
        // Distractors are drawn under the same main item: every plain pixel is still there
        // (frames combine by maximum) and more pixels are lit.
        let busy = render(&MotionConfig {
            distractors: 3,
            ..tiny(0)
        });
        for (a, b) in plain.iter().zip(&busy) {
            assert!(a.pixels().zip(b.pixels()).all(|(p, q)| p.0[0] <= q.0[0]));
            assert!(lit(b) > lit(a));
        }
        // Noise stays within its amplitude and reaches the empty background.
        let noisy = render(&MotionConfig {
            noise: 12.0,
            ..tiny(0)
        });
        for (a, b) in plain.iter().zip(&noisy) {
            assert!(
                a.pixels()
                    .zip(b.pixels())
                    .all(|(p, q)| (p.0[0] as i32 - q.0[0] as i32).abs() <= 12)
            );
            assert!(lit(b) > lit(a));
        }
        // A smaller motion scale moves the item less.
        let centre_x = |img: &GrayImage| {
            let (sx, n) = img
                .enumerate_pixels()
                .fold((0.0, 0.0), |(sx, n), (x, _, p)| {
                    (sx + x as f64 * p.0[0] as f64, n + p.0[0] as f64)
                });
            sx / n
        };
        let travel = |clip: &[GrayImage]| centre_x(&clip[3]) - centre_x(&clip[0]);
        let subtle = render(&MotionConfig {
            motion_scale: 0.5,
            ..tiny(0)
        });
        assert!(travel(&subtle) > 0.0 && travel(&subtle) < 0.7 * travel(&plain));
        // Out-of-range options are refused with a message.
        let dir = tempfile::tempdir().unwrap();
        for bad in [
            MotionConfig {
                noise: -1.0,
                ..tiny(0)
            },
            MotionConfig {
                motion_scale: 0.0,
                ..tiny(0)
            },
        ] {
            let err = make_motion_benchmark(dir.path(), &bad, &fashion_mnist::Source::Bundled)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("invalid option"), "{err}");
        }
    }
}
