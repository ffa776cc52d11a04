//! What turns an image file into a model's input: the size, channels, normalisation and class
//! names of the data a run was trained on. Training writes it into the run folder
//! (`preprocess.json`) so that `frelu predict` needs nothing but the run.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use image::DynamicImage;
use image::imageops::FilterType;
use serde::{Deserialize, Serialize};

use super::error::DataError;
use super::image_folder::{resize_center_crop, to_chw};
use super::transforms::Normalize;

/// The file of a classification run with its preprocessing.
pub const PREPROCESS_FILE: &str = "preprocess.json";

/// The CIFAR-10 class names, in label order.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// How an image of another size is brought to the model's input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fit {
    /// Resized to exactly `height × width` (datasets of one image size: Fashion-MNIST, CIFAR);
    /// an image of that size is used as it is.
    Resize,
    /// The shorter side resized to the input size, then the centre cropped (image folders: the
    /// evaluation transform of training).
    ResizeCenterCrop,
}

/// A run's preprocessing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Channels the model takes (1: grayscale, 3: RGB).
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// The normalisation training applied.
    pub normalize: Normalize,
    /// How other sizes are fitted.
    pub fit: Fit,
    /// Class names in label order.
    pub classes: Vec<String>,
}

/// Image files named directly, and those inside named folders (PNG and JPEG, sorted by name),
/// in the order given. A path that is neither is an error.
pub fn image_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, DataError> {
    let is_image = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| DataError::io(path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_image(p))
                .collect();
            inside.sort();
            if inside.is_empty() {
                return Err(DataError::NotFound(format!(
                    "{} holds no .png, .jpg or .jpeg file",
                    path.display()
                )));
            }
            files.extend(inside);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(DataError::NotFound(format!(
                "{} is neither an image file nor a folder",
                path.display()
            )));
        }
    }
    Ok(files)
}

impl Preprocess {
    /// Checks a preprocessing read from a file (a hand-edited one may be inconsistent).
    pub fn check(&self) -> Result<(), String> {
        let n = &self.normalize;
        if !matches!(self.channels, 1 | 3) || self.height == 0 || self.width == 0 {
            return Err(format!(
                "input {}×{}×{} is not 1 or 3 channels of a non-empty size",
                self.channels, self.height, self.width
            ));
        }
        if n.mean.is_empty() || n.mean.len() != n.std.len() || n.std.iter().any(|&s| s <= 0.0) {
            return Err("the normalisation needs as many means as positive stds".into());
        }
        if self.classes.is_empty() {
            return Err("no class names".into());
        }
        Ok(())
    }

    /// Reads `path` and returns its `channels × height × width` bytes, as training saw them.
    pub fn load(&self, path: &Path) -> Result<Vec<u8>, DataError> {
        let image = image::ImageReader::open(path)
            .map_err(|e| DataError::io(path, e))?
            .with_guessed_format()
            .map_err(|e| DataError::io(path, e))?
            .decode()
            .map_err(|e| DataError::format(path, format!("not a readable image ({e})")))?;
        Ok(self.pixels(&image))
    }

    /// The `channels × height × width` bytes of a decoded image.
    pub fn pixels(&self, image: &DynamicImage) -> Vec<u8> {
        let (h, w) = (self.height, self.width);
        let rgb = match self.fit {
            Fit::ResizeCenterCrop => resize_center_crop(image, h),
            Fit::Resize if image.width() as usize == w && image.height() as usize == h => {
                image.to_rgb8()
            }
            Fit::Resize => image
                .resize_exact(w as u32, h as u32, FilterType::Triangle)
                .to_rgb8(),
        };
        if self.channels == 1 {
            DynamicImage::ImageRgb8(rgb).to_luma8().into_raw()
        } else {
            to_chw(&rgb)
        }
    }

    /// The normalised batch `[n, channels, height, width]` of images given as bytes.
    pub fn batch(&self, images: &[Vec<u8>], device: &Device) -> Tensor<4> {
        let mut values = Vec::new();
        for pixels in images {
            self.normalize.extend(pixels, self.channels, &mut values);
        }
        let shape = [images.len(), self.channels, self.height, self.width];
        Tensor::from_data(TensorData::new(values, shape), device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, RgbImage};

    fn gray() -> Preprocess {
        Preprocess {
            channels: 1,
            height: 4,
            width: 4,
            normalize: Normalize::new(vec![0.5], vec![0.25]),
            fit: Fit::Resize,
            classes: vec!["a".into(), "b".into()],
        }
    }

    #[test]
    fn an_image_of_the_input_size_keeps_its_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..16).map(|i| i * 15).collect();
        let path = dir.path().join("x.png");
        GrayImage::from_raw(4, 4, pixels.clone())
            .unwrap()
            .save(&path)
            .unwrap();
        let p = gray();
        assert_eq!(p.load(&path).unwrap(), pixels);
        let batch = p.batch(&[pixels], &Device::flex());
        assert_eq!(batch.dims(), [1, 1, 4, 4]);
        let first = batch.into_data().try_to_vec::<f32>().unwrap()[0];
        assert!((first - (0.0 - 0.5) / 0.25).abs() < 1e-6);
    }

    #[test]
    fn colour_images_become_channel_major_and_other_sizes_are_fitted() {
        let p = Preprocess {
            channels: 3,
            ..gray()
        };
        let image = RgbImage::from_fn(4, 4, |x, _| image::Rgb([10 * x as u8, 100, 200]));
        let pixels = p.pixels(&DynamicImage::ImageRgb8(image));
        assert_eq!(&pixels[..4], &[0, 10, 20, 30]);
        assert_eq!(&pixels[16..20], &[100; 4]);
        assert_eq!(&pixels[32..36], &[200; 4]);
        let big = DynamicImage::ImageRgb8(RgbImage::new(9, 7));
        assert_eq!(gray().pixels(&big).len(), 16);
    }

    #[test]
    fn unreadable_files_and_empty_folders_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.png");
        std::fs::write(&bad, b"not a png").unwrap();
        let err = gray().load(&bad).unwrap_err().to_string();
        assert!(
            err.contains("bad.png") && err.contains("not a readable image"),
            "{err}"
        );
        let err = image_files(&[dir.path().join("missing.png")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("neither an image file nor a folder")
        );
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let err = image_files(&[empty]).unwrap_err().to_string();
        assert!(err.contains("holds no .png"), "{err}");
        assert_eq!(image_files(&[dir.path().to_path_buf()]).unwrap(), [bad]);
    }
}
