//! Video action recognition data in the frame-folder layout that Something-Something v2 is
//! usually extracted to, TSN-style segment sampling, and a generated motion benchmark made of
//! Fashion-MNIST items whose class only time can tell.
//!
//! Layout: `ROOT/frames/<video_id>/000001.png …` (or `.jpg`), and list files
//! `ROOT/{train,val}.txt` with one `<video_id> <num_frames> <label>` line per video (the format
//! of the TSN/TSM repositories), plus an optional `ROOT/classes.txt` (one name per line).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};
use image::GrayImage;
use image::imageops::FilterType;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::error::DataError;
use super::{ImageSet, fashion_mnist};

/// One video of a list file.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoEntry {
    /// Folder of its frames.
    pub dir: PathBuf,
    /// Number of frames.
    pub frames: usize,
    /// Class index.
    pub label: usize,
}

/// A split of a frame-folder dataset.
#[derive(Clone, Debug)]
pub struct VideoList {
    /// The videos.
    pub videos: Vec<VideoEntry>,
    /// Class names (from `classes.txt`, else `class0`, `class1`, ...).
    pub classes: Vec<String>,
}

/// The path of frame `index` (0-based) of a video: `000001.png` or `.jpg`.
fn frame_path(dir: &Path, index: usize) -> Option<PathBuf> {
    ["png", "jpg", "jpeg"]
        .iter()
        .map(|ext| dir.join(format!("{:06}.{ext}", index + 1)))
        .find(|p| p.is_file())
}

impl VideoList {
    /// Reads `ROOT/SPLIT.txt` and checks every video: its folder exists, it has frames, all
    /// the frames it claims exist, and its label is a known class.
    pub fn load(root: &Path, split: &str) -> Result<Self, DataError> {
        let classes_path = root.join("classes.txt");
        let classes: Option<Vec<String>> = if classes_path.is_file() {
            let text = std::fs::read_to_string(&classes_path)
                .map_err(|e| DataError::io(&classes_path, e))?;
            Some(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect(),
            )
        } else {
            None
        };
        let list = root.join(format!("{split}.txt"));
        let text = std::fs::read_to_string(&list).map_err(|e| DataError::io(&list, e))?;
        let mut videos = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |m: String| DataError::format(&list, format!("line {}: {m}", n + 1));
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [id, frames, label] = parts[..] else {
                return Err(bad("expected `<video_id> <num_frames> <label>`".into()));
            };
            let frames: usize = frames
                .parse()
                .map_err(|_| bad(format!("'{frames}' is not a frame count")))?;
            let label: usize = label
                .parse()
                .map_err(|_| bad(format!("'{label}' is not a class index")))?;
            if frames == 0 {
                return Err(bad(format!("video {id} is empty (0 frames)")));
            }
            if let Some(classes) = &classes
                && label >= classes.len()
            {
                return Err(bad(format!(
                    "video {id} has label {label}, but classes.txt lists {} classes",
                    classes.len()
                )));
            }
            let dir = root.join("frames").join(id);
            if !dir.is_dir() {
                return Err(bad(format!("frame folder {} is missing", dir.display())));
            }
            if let Some(missing) = (0..frames).find(|&i| frame_path(&dir, i).is_none()) {
                return Err(bad(format!(
                    "video {id} claims {frames} frames but frame {:06} is missing in {}",
                    missing + 1,
                    dir.display()
                )));
            }
            videos.push(VideoEntry { dir, frames, label });
        }
        if videos.is_empty() {
            return Err(DataError::format(&list, "no videos listed"));
        }
        let num_classes = videos.iter().map(|v| v.label).max().unwrap_or(0) + 1;
        let classes =
            classes.unwrap_or_else(|| (0..num_classes).map(|i| format!("class{i}")).collect());
        Ok(Self { videos, classes })
    }
}

/// Which frames of a video of `frames` frames make its `segments` samples: TSN sampling. The
/// video is cut into equal segments; in training a random frame of each, at test the middle.
pub fn sample_segments<R: rand::Rng + ?Sized>(
    frames: usize,
    segments: usize,
    train: bool,
    rng: &mut R,
) -> Vec<usize> {
    let length = frames as f64 / segments as f64;
    (0..segments)
        .map(|s| {
            let start = s as f64 * length;
            let offset = if train && length > 1.0 {
                rng.random_range(0.0..length)
            } else {
                length / 2.0
            };
            ((start + offset) as usize).min(frames - 1)
        })
        .collect()
}

/// One sampled clip.
#[derive(Clone, Debug)]
pub struct Clip {
    /// `T × H × W` bytes (grey frames).
    pub frames: Vec<u8>,
    /// Segments.
    pub segments: usize,
    /// Frame side.
    pub size: usize,
    /// Class.
    pub label: usize,
}

/// A Burn dataset over a [`VideoList`]: TSN sampling, then the same augmentation (a random
/// crop of a zero-padded frame) for every frame of a clip.
pub struct VideoDataset {
    list: VideoList,
    segments: usize,
    size: usize,
    train: bool,
    crop_pad: usize,
    rng: Mutex<StdRng>,
}

impl VideoDataset {
    /// `segments` frames per clip, resized to `size`; `crop_pad > 0` adds a random crop of a
    /// frame padded by that many pixels in training (no flip: it would swap left and right).
    pub fn new(
        list: VideoList,
        segments: usize,
        size: usize,
        train: bool,
        crop_pad: usize,
        seed: u64,
    ) -> Self {
        Self {
            list,
            segments,
            size,
            train,
            crop_pad,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// Only the first `n` videos.
    pub fn limit(mut self, n: usize) -> Self {
        self.list.videos.truncate(n.max(1));
        self
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.list.classes.len()
    }
}

impl Dataset<Clip> for VideoDataset {
    fn get(&self, index: usize) -> Result<Clip, DatasetError> {
        let video = &self.list.videos[index];
        let (picks, dx, dy) = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            let picks = sample_segments(video.frames, self.segments, self.train, &mut *rng);
            let pad = if self.train { self.crop_pad as i64 } else { 0 };
            let shift = |rng: &mut StdRng| {
                if pad > 0 {
                    rng.random_range(-pad..=pad)
                } else {
                    0
                }
            };
            let dx = shift(&mut rng);
            let dy = shift(&mut rng);
            (picks, dx, dy)
        };
        let s = self.size;
        let mut frames = vec![0u8; self.segments * s * s];
        for (t, &f) in picks.iter().enumerate() {
            let path = frame_path(&video.dir, f).ok_or_else(|| {
                DatasetError::new(std::io::Error::other(format!(
                    "frame {} of {} disappeared",
                    f + 1,
                    video.dir.display()
                )))
            })?;
            let img = image::open(&path)
                .map_err(|e| {
                    DatasetError::new(std::io::Error::other(format!("{}: {e}", path.display())))
                })?
                .to_luma8();
            let img = if img.dimensions() == (s as u32, s as u32) {
                img
            } else {
                image::imageops::resize(&img, s as u32, s as u32, FilterType::Triangle)
            };
            let plane = &mut frames[t * s * s..(t + 1) * s * s];
            for y in 0..s as i64 {
                for x in 0..s as i64 {
                    let (sx, sy) = (x + dx, y + dy);
                    if sx >= 0 && sy >= 0 && sx < s as i64 && sy < s as i64 {
                        plane[(y * s as i64 + x) as usize] =
                            img.get_pixel(sx as u32, sy as u32).0[0];
                    }
                }
            }
        }
        Ok(Clip {
            frames,
            segments: self.segments,
            size: s,
            label: video.label,
        })
    }

    fn len(&self) -> usize {
        self.list.videos.len()
    }
}

/// A batch of clips.
#[derive(Clone, Debug)]
pub struct ClipBatch {
    /// `[N, T, 1, H, W]`, normalised.
    pub clips: Tensor<5>,
    /// `[N]` classes.
    pub targets: Tensor<1, Int>,
}

/// Builds [`ClipBatch`]es (pixels normalised with Fashion-MNIST's mean and std).
#[derive(Clone, Debug, Default)]
pub struct ClipBatcher;

impl Batcher<Clip, ClipBatch> for ClipBatcher {
    fn batch(&self, items: Vec<Clip>, device: &Device) -> ClipBatch {
        let (n, t, s) = (items.len(), items[0].segments, items[0].size);
        let scale = 1.0 / (255.0 * fashion_mnist::STD);
        let shift = fashion_mnist::MEAN / fashion_mnist::STD;
        let data: Vec<f32> = items
            .iter()
            .flat_map(|c| c.frames.iter().map(move |&p| p as f32 * scale - shift))
            .collect();
        let labels: Vec<i64> = items.iter().map(|c| c.label as i64).collect();
        ClipBatch {
            clips: Tensor::from_data(TensorData::new(data, [n, t, 1, s, s]), device),
            targets: Tensor::from_data(TensorData::new(labels, [n]), device),
        }
    }
}

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
    std::fs::create_dir_all(&frames_dir).map_err(|e| DataError::io(&frames_dir, e))?;
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
            std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
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
        std::fs::write(&path, list).map_err(|e| DataError::io(&path, e))?;
    }
    let path = out.join("classes.txt");
    std::fs::write(&path, MOTIONS.join("\n") + "\n").map_err(|e| DataError::io(&path, e))?;
    let path = out.join("benchmark.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(config).expect("serialisable"),
    )
    .map_err(|e| DataError::io(&path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn segment_sampling_is_spread_and_centred_at_test() {
        let mut rng = StdRng::seed_from_u64(0);
        assert_eq!(sample_segments(16, 4, false, &mut rng), vec![2, 6, 10, 14]);
        assert_eq!(
            sample_segments(8, 8, false, &mut rng),
            (0..8).collect::<Vec<_>>()
        );
        for _ in 0..50 {
            let picks = sample_segments(16, 4, true, &mut rng);
            for (s, &f) in picks.iter().enumerate() {
                assert!((4 * s..4 * s + 4).contains(&f), "{picks:?}");
            }
        }
        // Fewer frames than segments: frames repeat, never past the end.
        assert!(sample_segments(3, 8, true, &mut rng).iter().all(|&f| f < 3));
    }

    #[test]
    fn list_files_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        make_motion_benchmark(dir.path(), &tiny(2), &fashion_mnist::Source::Bundled).unwrap();
        let write = |text: &str| std::fs::write(dir.path().join("bad.txt"), text).unwrap();
        let err = |text: &str| {
            write(text);
            VideoList::load(dir.path(), "bad").unwrap_err().to_string()
        };
        assert!(err("train00000 9 0\n").contains("frame 000005 is missing"));
        assert!(err("train00000 0 0\n").contains("empty"));
        assert!(err("train00000 4 8\n").contains("classes.txt lists 8 classes"));
        assert!(err("nosuch 4 1\n").contains("is missing"));
        assert!(err("train00000 4\n").contains("expected"));
        assert!(err("\n").contains("no videos"));
        // Clips come out with every frame cropped the same way.
        let list = VideoList::load(dir.path(), "train").unwrap();
        let data = VideoDataset::new(list, 4, 32, true, 4, 0);
        let clip = data.get(0).unwrap();
        assert_eq!(clip.frames.len(), 4 * 32 * 32);
        let batch = ClipBatcher.batch(vec![clip.clone(), clip], &Device::flex());
        assert_eq!(batch.clips.dims(), [2, 4, 1, 32, 32]);
    }
}
