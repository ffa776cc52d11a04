//! COCO-format detection data: `instances_*.json` (images, annotations with `bbox` = `[x, y, w,
//! h]`, categories, `iscrowd`) next to its image folder, validated on load; and the COCO
//! *results* format (`image_id`, `category_id`, `bbox`, `score`) that any COCO tool scores.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::DataError;

/// One image entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CocoImage {
    /// Unique id.
    pub id: u64,
    /// File name, relative to the image folder.
    pub file_name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// One object annotation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CocoAnnotation {
    /// Unique id.
    pub id: u64,
    /// The image it belongs to.
    pub image_id: u64,
    /// Its category.
    pub category_id: u64,
    /// `[x, y, width, height]`, pixels, top-left origin.
    pub bbox: [f64; 4],
    /// Object area (segmentation area in COCO; the box area when absent).
    #[serde(default)]
    pub area: Option<f64>,
    /// 1 for a crowd region (matched detections there are ignored).
    #[serde(default)]
    pub iscrowd: u8,
}

impl CocoAnnotation {
    /// The area used for COCO's small / medium / large ranges.
    pub fn area(&self) -> f64 {
        self.area.unwrap_or(self.bbox[2] * self.bbox[3])
    }
}

/// One category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CocoCategory {
    /// Unique id (need not be contiguous).
    pub id: u64,
    /// Name.
    pub name: String,
}

/// The content of an `instances_*.json` file (fields other than these are ignored).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CocoFile {
    /// Images.
    pub images: Vec<CocoImage>,
    /// Annotations.
    pub annotations: Vec<CocoAnnotation>,
    /// Categories.
    pub categories: Vec<CocoCategory>,
}

/// One detection in COCO's results format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CocoDetection {
    /// Image id.
    pub image_id: u64,
    /// Category id (the dataset's, not a contiguous index).
    pub category_id: u64,
    /// `[x, y, width, height]` in the original image's pixels.
    pub bbox: [f64; 4],
    /// Confidence.
    pub score: f64,
}

/// A validated COCO dataset: annotations file + image folder.
#[derive(Clone, Debug)]
pub struct CocoDataset {
    /// The annotations.
    pub file: CocoFile,
    /// Folder of the images.
    pub image_dir: PathBuf,
    /// Category id → contiguous label `0..K`, in the order of `categories`.
    pub labels: HashMap<u64, usize>,
    /// Annotation indices of each image (same order as `file.images`).
    pub per_image: Vec<Vec<usize>>,
}

impl CocoDataset {
    /// Reads and validates `annotations`, with images in `image_dir`.
    pub fn load(annotations: &Path, image_dir: &Path) -> Result<Self, DataError> {
        let text =
            std::fs::read_to_string(annotations).map_err(|e| DataError::io(annotations, e))?;
        let file: CocoFile = serde_json::from_str(&text)
            .map_err(|e| DataError::format(annotations, format!("not COCO json: {e}")))?;
        Self::new(file, image_dir, annotations)
    }

    /// Checks that every image file exists and that its real size is the `width` × `height`
    /// the annotations say (boxes and training targets are in those pixels). Reads headers
    /// only. The error names the file.
    pub fn check_images(&self) -> Result<(), DataError> {
        for image in &self.file.images {
            let path = self.image_dir.join(&image.file_name);
            let (w, h) = image::ImageReader::open(&path)
                .map_err(|e| DataError::io(&path, e))?
                .with_guessed_format()
                .map_err(|e| DataError::io(&path, e))?
                .into_dimensions()
                .map_err(|e| DataError::format(&path, format!("cannot read the image: {e}")))?;
            if (w, h) != (image.width, image.height) {
                return Err(DataError::format(
                    &path,
                    format!(
                        "is {w}×{h} pixels but the annotations give image {} as {}×{}",
                        image.id, image.width, image.height
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Validates an already parsed file; `source` names it in errors.
    pub fn new(file: CocoFile, image_dir: &Path, source: &Path) -> Result<Self, DataError> {
        let bad = |message: String| DataError::format(source, message);
        if file.categories.is_empty() {
            return Err(bad("no categories".into()));
        }
        let mut labels = HashMap::new();
        for (i, c) in file.categories.iter().enumerate() {
            if labels.insert(c.id, i).is_some() {
                return Err(bad(format!("category id {} appears twice", c.id)));
            }
        }
        let mut image_index = HashMap::new();
        for (i, image) in file.images.iter().enumerate() {
            if image_index.insert(image.id, i).is_some() {
                return Err(bad(format!("image id {} appears twice", image.id)));
            }
            if image.width == 0 || image.height == 0 {
                return Err(bad(format!("image {} has a zero size", image.id)));
            }
        }
        let mut seen = HashSet::new();
        let mut per_image = vec![Vec::new(); file.images.len()];
        for (k, a) in file.annotations.iter().enumerate() {
            if !seen.insert(a.id) {
                return Err(bad(format!("annotation id {} appears twice", a.id)));
            }
            let Some(&i) = image_index.get(&a.image_id) else {
                return Err(bad(format!(
                    "annotation {} refers to image {}, which is not in `images`",
                    a.id, a.image_id
                )));
            };
            if !labels.contains_key(&a.category_id) {
                return Err(bad(format!(
                    "annotation {} has category {}, which is not in `categories`",
                    a.id, a.category_id
                )));
            }
            let [x, y, w, h] = a.bbox;
            let image = &file.images[i];
            if !a.bbox.iter().all(|v| v.is_finite()) || w <= 0.0 || h <= 0.0 {
                return Err(bad(format!(
                    "annotation {} has an invalid bbox {:?} (need finite x, y and w, h > 0)",
                    a.id, a.bbox
                )));
            }
            if x + w <= 0.0 || y + h <= 0.0 || x >= image.width as f64 || y >= image.height as f64 {
                return Err(bad(format!(
                    "annotation {} bbox {:?} lies outside its {}×{} image",
                    a.id, a.bbox, image.width, image.height
                )));
            }
            per_image[i].push(k);
        }
        Ok(Self {
            file,
            image_dir: image_dir.to_path_buf(),
            labels,
            per_image,
        })
    }

    /// The first `n` images and their annotations only.
    pub fn take(&self, n: usize) -> Self {
        let n = n.min(self.file.images.len());
        let images = self.file.images[..n].to_vec();
        let keep: std::collections::HashSet<u64> = images.iter().map(|i| i.id).collect();
        let file = CocoFile {
            images,
            annotations: self
                .file
                .annotations
                .iter()
                .filter(|a| keep.contains(&a.image_id))
                .cloned()
                .collect(),
            categories: self.file.categories.clone(),
        };
        Self::new(file, &self.image_dir, Path::new("<subset>")).expect("a subset stays valid")
    }

    /// Number of categories.
    pub fn num_classes(&self) -> usize {
        self.file.categories.len()
    }

    /// The category id of contiguous label `label`.
    pub fn category_id(&self, label: usize) -> u64 {
        self.file.categories[label].id
    }

    /// The non-crowd boxes `[x1, y1, x2, y2]` (clipped to the image) and labels of image `i`.
    pub fn targets(&self, i: usize) -> (Vec<[f32; 4]>, Vec<usize>) {
        let image = &self.file.images[i];
        let (w, h) = (image.width as f64, image.height as f64);
        self.per_image[i]
            .iter()
            .map(|&k| &self.file.annotations[k])
            .filter(|a| a.iscrowd == 0)
            .map(|a| {
                let [x, y, bw, bh] = a.bbox;
                (
                    [
                        x.clamp(0.0, w) as f32,
                        y.clamp(0.0, h) as f32,
                        (x + bw).clamp(0.0, w) as f32,
                        (y + bh).clamp(0.0, h) as f32,
                    ],
                    self.labels[&a.category_id],
                )
            })
            .unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> CocoFile {
        CocoFile {
            images: vec![CocoImage {
                id: 7,
                file_name: "a.png".into(),
                width: 100,
                height: 50,
            }],
            annotations: vec![
                CocoAnnotation {
                    id: 1,
                    image_id: 7,
                    category_id: 3,
                    bbox: [90.0, 10.0, 20.0, 10.0],
                    area: None,
                    iscrowd: 0,
                },
                CocoAnnotation {
                    id: 2,
                    image_id: 7,
                    category_id: 5,
                    bbox: [0.0, 0.0, 10.0, 10.0],
                    area: Some(40.0),
                    iscrowd: 1,
                },
            ],
            categories: vec![
                CocoCategory {
                    id: 5,
                    name: "b".into(),
                },
                CocoCategory {
                    id: 3,
                    name: "a".into(),
                },
            ],
        }
    }

    #[test]
    fn loads_maps_categories_and_clips_boxes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("instances.json");
        std::fs::write(&path, serde_json::to_string(&file()).unwrap()).unwrap();
        let data = CocoDataset::load(&path, dir.path()).unwrap();
        assert_eq!(data.num_classes(), 2);
        assert_eq!(data.labels[&3], 1);
        assert_eq!(data.category_id(0), 5);
        let (boxes, labels) = data.targets(0);
        // The crowd region is not a training target; the box is clipped to the image.
        assert_eq!(boxes, vec![[90.0, 10.0, 100.0, 20.0]]);
        assert_eq!(labels, vec![1]);
        assert_eq!(data.file.annotations[1].area(), 40.0);
        assert_eq!(data.file.annotations[0].area(), 200.0);
    }

    #[test]
    fn rejects_inconsistent_files_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let check = |f: CocoFile, expected: &str| {
            let err = CocoDataset::new(f, dir.path(), Path::new("x.json"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err}");
        };
        let mut f = file();
        f.annotations[0].image_id = 8;
        check(f, "refers to image 8");
        let mut f = file();
        f.annotations[0].category_id = 9;
        check(f, "category 9, which is not");
        let mut f = file();
        f.annotations[0].bbox = [1.0, 1.0, 0.0, 5.0];
        check(f, "invalid bbox");
        let mut f = file();
        f.annotations[0].bbox = [200.0, 1.0, 5.0, 5.0];
        check(f, "outside its 100×50 image");
        let mut f = file();
        f.images.push(f.images[0].clone());
        check(f, "image id 7 appears twice");
        let mut f = file();
        f.categories.clear();
        check(f, "no categories");
        let path = dir.path().join("broken.json");
        std::fs::write(&path, "{\"images\": [").unwrap();
        let err = CocoDataset::load(&path, dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not COCO json"), "{err}");
    }
}
