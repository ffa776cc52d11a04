//! Per-image transforms on channel-major bytes: random crop with padding, horizontal flip,
//! normalisation.

use core::fmt;
use core::str::FromStr;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

/// `(x / 255 − mean[c]) / std[c]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    /// Per-channel mean (of pixel values scaled to [0, 1]).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation.
    pub std: Vec<f32>,
}

impl Normalize {
    /// A normalisation with per-channel `mean` and `std` (one value applies to all channels).
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Self {
        assert_eq!(mean.len(), std.len());
        assert!(std.iter().all(|&s| s > 0.0), "std must be positive");
        Self { mean, std }
    }

    /// Appends the normalised values of one `channels × h × w` image to `out`.
    pub fn extend(&self, pixels: &[u8], channels: usize, out: &mut Vec<f32>) {
        let plane = pixels.len() / channels;
        for c in 0..channels {
            let k = c.min(self.mean.len() - 1);
            let scale = 1.0 / (255.0 * self.std[k]);
            let shift = self.mean[k] / self.std[k];
            out.extend(
                pixels[c * plane..(c + 1) * plane]
                    .iter()
                    .map(|&p| p as f32 * scale - shift),
            );
        }
    }
}

/// Training-time augmentation: random crop after zero padding, and horizontal flip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Augment {
    /// Pad each side by this many pixels then crop back to the original size at a random
    /// offset (0 = no crop).
    pub crop_pad: usize,
    /// Flip horizontally with probability 1/2.
    pub flip: bool,
}

impl Augment {
    /// No augmentation.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether this does nothing.
    pub fn is_none(&self) -> bool {
        self.crop_pad == 0 && !self.flip
    }

    /// Writes the augmented image into `out` (resized to fit).
    pub fn apply<R: Rng + ?Sized>(
        &self,
        src: &[u8],
        channels: usize,
        height: usize,
        width: usize,
        rng: &mut R,
        out: &mut Vec<u8>,
    ) {
        let pad = self.crop_pad as i64;
        let (dy, dx) = if pad > 0 {
            (
                rng.random_range(-pad..=pad) as isize,
                rng.random_range(-pad..=pad) as isize,
            )
        } else {
            (0, 0)
        };
        let flip = self.flip && rng.random_bool(0.5);
        out.clear();
        out.resize(src.len(), 0);
        let (h, w) = (height as isize, width as isize);
        for c in 0..channels {
            let plane = c * height * width;
            for y in 0..h {
                let sy = y + dy;
                if sy < 0 || sy >= h {
                    continue;
                }
                for x in 0..w {
                    let sx = if flip { w - 1 - x } else { x } + dx;
                    if sx < 0 || sx >= w {
                        continue;
                    }
                    out[plane + (y * w + x) as usize] = src[plane + (sy * w + sx) as usize];
                }
            }
        }
    }
}

impl FromStr for Augment {
    type Err = super::ParseError;

    /// `none`, `flip`, `crop[:PAD]`, `crop[:PAD]+flip` (PAD defaults to 4).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut augment = Augment::none();
        if text.trim() == "none" {
            return Ok(augment);
        }
        for part in text.split('+').map(str::trim) {
            match part.split_once(':').unwrap_or((part, "")) {
                ("flip", "") => augment.flip = true,
                ("crop", "") => augment.crop_pad = 4,
                ("crop", pad) => {
                    augment.crop_pad = pad.parse().map_err(|_| {
                        super::ParseError(format!(
                            "augment '{text}': crop padding '{pad}' is not a whole number"
                        ))
                    })?
                }
                _ => {
                    return Err(super::ParseError(format!(
                        "unknown augmentation '{part}' in '{text}' (use none, flip, crop[:PAD], crop[:PAD]+flip)"
                    )));
                }
            }
        }
        Ok(augment)
    }
}

impl fmt::Display for Augment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.crop_pad, self.flip) {
            (0, false) => f.write_str("none"),
            (0, true) => f.write_str("flip"),
            (p, false) => write!(f, "crop:{p}"),
            (p, true) => write!(f, "crop:{p}+flip"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn parse_and_display() {
        for text in ["none", "flip", "crop:4", "crop:2+flip"] {
            assert_eq!(text.parse::<Augment>().unwrap().to_string(), text);
        }
        assert_eq!("crop".parse::<Augment>().unwrap().crop_pad, 4);
        assert!("rotate".parse::<Augment>().is_err());
        assert!("crop:x".parse::<Augment>().is_err());
    }

    #[test]
    fn flip_mirrors_rows() {
        let src: Vec<u8> = (0..6).collect(); // 1 channel, 2 × 3
        let augment = Augment {
            crop_pad: 0,
            flip: true,
        };
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen_flip = false;
        let mut seen_plain = false;
        let mut out = Vec::new();
        for _ in 0..32 {
            augment.apply(&src, 1, 2, 3, &mut rng, &mut out);
            if out == [2, 1, 0, 5, 4, 3] {
                seen_flip = true;
            } else {
                assert_eq!(out, src);
                seen_plain = true;
            }
        }
        assert!(seen_flip && seen_plain);
    }

    #[test]
    fn crop_shifts_within_padding_and_fills_zeros() {
        let src: Vec<u8> = (1..=16).collect(); // 1 × 4 × 4, no zeros
        let augment = Augment {
            crop_pad: 1,
            flip: false,
        };
        let mut rng = StdRng::seed_from_u64(7);
        let mut out = Vec::new();
        let mut shifted = false;
        for _ in 0..64 {
            augment.apply(&src, 1, 4, 4, &mut rng, &mut out);
            let zeros = out.iter().filter(|&&v| v == 0).count();
            // A shift of at most one pixel each way blanks at most one row and one column.
            assert!(zeros <= 7, "{out:?}");
            // Every kept value sits at most one pixel from where it was.
            for (i, &v) in out.iter().enumerate() {
                if v != 0 {
                    let (sy, sx) = ((v as usize - 1) / 4, (v as usize - 1) % 4);
                    let (y, x) = (i / 4, i % 4);
                    assert!(sy.abs_diff(y) <= 1 && sx.abs_diff(x) <= 1);
                }
            }
            shifted |= zeros > 0;
        }
        assert!(shifted);
    }

    #[test]
    fn normalize_per_channel() {
        let norm = Normalize::new(vec![0.0, 1.0], vec![1.0, 0.5]);
        let mut out = Vec::new();
        norm.extend(&[255, 0, 255, 0], 2, &mut out);
        assert_eq!(out, vec![1.0, 0.0, 0.0, -2.0]);
    }
}
