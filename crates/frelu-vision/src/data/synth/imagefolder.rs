//! A small generated image-folder dataset (for tests and for trying `--dataset imagefolder`).

use std::path::Path;

use image::RgbImage;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Writes a small image-folder dataset of coloured-shape images (for tests and the CLI demo
/// of `--dataset imagefolder`): `classes` classes × `per_class` images per split, PNG and JPEG
/// alternating, plus one corrupt file in the training split when `corrupt`.
pub fn write_synthetic(
    root: &Path,
    classes: usize,
    per_class: usize,
    size: u32,
    corrupt: bool,
) -> std::io::Result<()> {
    let mut rng = StdRng::seed_from_u64(7);
    for split in ["train", "val"] {
        for class in 0..classes {
            let dir = root.join(split).join(format!("class{class:02}"));
            std::fs::create_dir_all(&dir)?;
            for i in 0..per_class {
                // Class = a colour channel and a horizontal stripe position, with noise.
                let mut img = RgbImage::new(size, size + (i as u32 % 3) * 4);
                let stripe = (
                    class as u32 * size / classes as u32,
                    (class as u32 + 1) * size / classes as u32,
                );
                for (x, y, p) in img.enumerate_pixels_mut() {
                    let noise: u8 = rng.random_range(0..40);
                    let on = y >= stripe.0 && y < stripe.1;
                    let base = if on { 200 } else { 40 };
                    let mut px = [noise, noise, noise];
                    px[class % 3] = base + noise / 2;
                    let _ = x;
                    *p = image::Rgb(px);
                }
                let name = if i % 2 == 0 {
                    format!("img{i:03}.png")
                } else {
                    format!("img{i:03}.jpg")
                };
                img.save(dir.join(name)).map_err(std::io::Error::other)?;
            }
            if corrupt && split == "train" && class == 0 {
                std::fs::write(dir.join("broken.jpg"), b"this is not a jpeg")?;
            }
        }
    }
    Ok(())
}
