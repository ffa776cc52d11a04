//! Video action recognition data in the frame-folder layout that Something-Something v2 is
//! usually extracted to, TSN-style segment sampling, and a generated motion benchmark made of
//! Fashion-MNIST items whose class only time can tell.
//!
//! Layout: `ROOT/frames/<video_id>/000001.png …` (or `.jpg`), and list files
//! `ROOT/{train,val}.txt` with one `<video_id> <num_frames> <label>` line per video (the format
//! of the TSN/TSM repositories), plus an optional `ROOT/classes.txt` (one name per line).

use std::path::{Path, PathBuf};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};
use image::imageops::FilterType;
use rand::RngExt;
use rand::rngs::StdRng;

use super::epochs::{EpochClock, item_rng};
use super::error::DataError;
use super::fashion_mnist;

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
    seed: u64,
    clock: EpochClock,
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
            seed,
            clock: EpochClock::default(),
        }
    }

    /// Draws the training sampling and crops from `(seed, epoch of clock, index)`.
    pub fn with_clock(mut self, clock: EpochClock) -> Self {
        self.clock = clock;
        self
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
            let mut rng = item_rng(self.seed, self.clock.get(), index);
            let picks = sample_segments(video.frames, self.segments, self.train, &mut rng);
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

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
        let tiny = crate::data::synth::MotionConfig {
            frames: 4,
            size: 32,
            train_clips: 8,
            val_clips: 8,
            seed: 2,
            ..Default::default()
        };
        crate::data::synth::make_motion_benchmark(
            dir.path(),
            &tiny,
            &fashion_mnist::Source::Bundled,
        )
        .unwrap();
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
