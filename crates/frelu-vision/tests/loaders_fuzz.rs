//! Property tests of every loader: a valid small file, corrupted at random (truncated at a random
//! offset, random bytes flipped — often in the header and counts —, numbers of the JSON changed),
//! must load as an error or as a valid dataset: never a panic, never a label out of range, never
//! a zero-sized image.

use std::path::{Path, PathBuf};

use burn::data::dataset::Dataset;
use frelu_vision::data::cifar::{Cifar, read_cifar_file, write_cifar_file};
use frelu_vision::data::coco::{CocoDataset, CocoFile};
use frelu_vision::data::fashion_mnist::Source;
use frelu_vision::data::idx::{read_idx_pair, write_idx};
use frelu_vision::data::image_folder::{FolderTransform, ImageFolder, ImageFolderDataset};
use frelu_vision::data::synth::{
    BenchmarkConfig, MotionConfig, make_benchmark, make_motion_benchmark, write_synthetic,
};
use frelu_vision::data::video::VideoList;
use frelu_vision::data::{ImageSet, idx};
use frelu_vision::tasks::classify::protocol::Protocol;
use proptest::prelude::*;
use serde_json::Value;

/// A corruption of a byte string.
#[derive(Clone, Debug)]
enum Damage {
    /// Keep this fraction of the bytes.
    Truncate(f64),
    /// Set bytes at these positions (as fractions of the header, or of the file) to values.
    Flip(Vec<(bool, f64, u8)>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0.0..1.0f64).prop_map(Damage::Truncate),
        prop::collection::vec((any::<bool>(), 0.0..1.0f64, any::<u8>()), 1..6)
            .prop_map(Damage::Flip),
    ]
}

/// Applies `damage`; `header` bytes at the start are where flips land half of the time.
fn apply(bytes: &[u8], damage: &Damage, header: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match damage {
        Damage::Truncate(keep) => out.truncate((bytes.len() as f64 * keep) as usize),
        Damage::Flip(flips) => {
            for &(in_header, at, value) in flips {
                let span = if in_header {
                    header.min(out.len())
                } else {
                    out.len()
                };
                if span > 0 {
                    let i = ((span as f64 * at) as usize).min(span - 1);
                    out[i] = value;
                }
            }
        }
    }
    out
}

fn check_set(set: &ImageSet) {
    assert!(!set.is_empty() && set.height > 0 && set.width > 0 && set.channels > 0);
    assert!(set.labels.iter().all(|&l| (l as usize) < set.num_classes));
    assert_eq!(
        set.pixels.len(),
        set.len() * set.channels * set.height * set.width
    );
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn idx_files(image_damage in damage(), label_damage in damage(), gzip in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = (dir.path().join("i.idx"), dir.path().join("l.idx"));
        let pixels: Vec<u8> = (0..5 * 6 * 4).map(|i| i as u8).collect();
        write_idx(&images, &[5, 6, 4], &pixels, gzip).unwrap();
        write_idx(&labels, &[5], &[0, 3, 9, 1, 2], gzip).unwrap();
        // Damage the raw (decompressed) bytes: headers and counts are in the first 16.
        let raw_images = std::fs::read(&images).unwrap();
        let raw_labels = std::fs::read(&labels).unwrap();
        let header = if gzip { 32 } else { 16 };
        std::fs::write(&images, apply(&raw_images, &image_damage, header)).unwrap();
        std::fs::write(&labels, apply(&raw_labels, &label_damage, header)).unwrap();
        if let Ok(set) = read_idx_pair(&images, &labels, 10) {
            check_set(&set);
        }
    }

    #[test]
    fn idx_files_of_any_shape(count in 0usize..4, rows in 0usize..5, cols in 0usize..5,
                              labels in prop::collection::vec(0u8..12, 0..5)) {
        // Well-formed files whose counts and sizes may be zero or disagree.
        let dir = tempfile::tempdir().unwrap();
        let (images, label_path) = (dir.path().join("i.idx"), dir.path().join("l.idx"));
        write_idx(&images, &[count, rows, cols], &vec![7; count * rows * cols], false).unwrap();
        write_idx(&label_path, &[labels.len()], &labels, false).unwrap();
        if let Ok(set) = read_idx_pair(&images, &label_path, 10) {
            check_set(&set);
        }
    }

    #[test]
    fn idx_headers_parsed_from_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        // Arbitrary bytes, including counts that claim huge files.
        let _ = idx::parse_idx_bytes(bytes, Path::new("x.idx"));
    }

    #[test]
    fn cifar_binaries(kind in prop_oneof![Just(Cifar::Ten), Just(Cifar::Hundred)], d in damage()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.bin");
        let images: Vec<u8> = (0..3 * 3072).map(|i| (i * 7) as u8).collect();
        write_cifar_file(&path, kind, &images, &[1, 7, 4]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, apply(&bytes, &d, 2)).unwrap();
        if let Ok(set) = read_cifar_file(&path, kind) {
            check_set(&set);
        }
    }

    #[test]
    fn image_folders(file in 0usize..6, d in damage()) {
        let dir = tempfile::tempdir().unwrap();
        write_synthetic(dir.path(), 2, 3, 16, false).unwrap();
        let mut files = image_files(&dir.path().join("val"));
        files.sort();
        let victim = &files[file % files.len()];
        let bytes = std::fs::read(victim).unwrap();
        std::fs::write(victim, apply(&bytes, &d, 32)).unwrap();
        let train = ImageFolder::scan(&dir.path().join("train"), None).unwrap();
        let val = ImageFolder::scan(&dir.path().join("val"), Some(&train.classes)).unwrap();
        let classes = val.classes.len();
        if val.check_readable().is_ok() {
            let data = ImageFolderDataset::new(val, FolderTransform::Eval, 8, 0);
            for i in 0..data.len() {
                if let Ok(item) = data.get(i) {
                    prop_assert!(item.label < classes);
                    prop_assert_eq!(item.pixels.len(), 3 * 8 * 8);
                }
            }
        }
    }

    #[test]
    fn coco_json(edits in prop::collection::vec((0.0..1.0f64, -1e4..1e6f64), 1..5), bytes in damage()) {
        let (root, text) = coco_fixture();
        let mut value: Value = serde_json::from_str(&text).unwrap();
        for (at, new) in edits {
            edit_number(&mut value, at, new);
        }
        let edited = serde_json::to_string(&value).unwrap();
        let damaged = String::from_utf8_lossy(&apply(edited.as_bytes(), &bytes, 0)).into_owned();
        for text in [edited, damaged] {
            let Ok(file) = serde_json::from_str::<CocoFile>(&text) else { continue };
            if let Ok(data) = CocoDataset::new(file, &root.join("train"), Path::new("x.json")) {
                for i in 0..data.file.images.len() {
                    let (boxes, labels) = data.targets(i);
                    prop_assert!(labels.iter().all(|&l| l < data.num_classes()));
                    prop_assert!(boxes.iter().flatten().all(|v| v.is_finite()));
                }
            }
        }
    }

    #[test]
    fn video_list_files(d in damage()) {
        let root = video_fixture();
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&root, dir.path());
        let list = dir.path().join("train.txt");
        let bytes = std::fs::read(&list).unwrap();
        std::fs::write(&list, apply(&bytes, &d, 40)).unwrap();
        if let Ok(videos) = VideoList::load(dir.path(), "train") {
            prop_assert!(!videos.videos.is_empty());
            for v in &videos.videos {
                prop_assert!(v.label < videos.classes.len() && v.frames > 0);
            }
        }
    }

    #[test]
    fn protocol_files(d in damage()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        let valid = "name = \"p\"\nepochs = 2\nlr = 0.05\nseeds = [0, 1]\nlimit_train = 100\n\
                     [[configs]]\nname = \"relu\"\nact = \"relu\"\n\
                     [[configs]]\nname = \"f\"\nact = \"frelu:0.1\"\nschedule = \"alternate:2:1:iter\"\n";
        std::fs::write(&path, apply(valid.as_bytes(), &d, 40)).unwrap();
        if let Ok(protocol) = Protocol::load(path.to_str().unwrap()) {
            prop_assert!(protocol.validate().is_ok());
            prop_assert!(!protocol.configs.is_empty() && !protocol.seeds.is_empty());
        }
    }
}

fn image_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(image_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Sets the number found at fraction `at` of a depth-first walk of `value` to `new`.
fn edit_number(value: &mut Value, at: f64, new: f64) {
    fn count(v: &Value) -> usize {
        match v {
            Value::Number(_) => 1,
            Value::Array(items) => items.iter().map(count).sum(),
            Value::Object(map) => map.values().map(count).sum(),
            _ => 0,
        }
    }
    fn set(v: &mut Value, target: &mut usize, new: &Value) -> bool {
        match v {
            Value::Number(_) if *target == 0 => {
                *v = new.clone();
                true
            }
            Value::Number(_) => {
                *target -= 1;
                false
            }
            Value::Array(items) => items.iter_mut().any(|x| set(x, target, new)),
            Value::Object(map) => map.values_mut().any(|x| set(x, target, new)),
            _ => false,
        }
    }
    let n = count(value);
    if n == 0 {
        return;
    }
    let replacement = if new.fract() == 0.0 && new >= 0.0 {
        serde_json::json!(new as u64)
    } else {
        serde_json::json!(new)
    };
    let mut target = ((n as f64 * at) as usize).min(n - 1);
    set(value, &mut target, &replacement);
}

/// A small generated COCO split (made once per process) and its annotation text.
fn coco_fixture() -> (PathBuf, String) {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let root = ROOT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let config = BenchmarkConfig {
            canvas: 48,
            min_size: 12,
            max_size: 24,
            max_items: 2,
            train_images: 4,
            val_images: 2,
            ..BenchmarkConfig::default()
        };
        make_benchmark(&dir, &config, &Source::Bundled).unwrap();
        dir
    });
    let text = std::fs::read_to_string(root.join("annotations/instances_train.json")).unwrap();
    (root.clone(), text)
}

/// A small generated motion benchmark (made once per process).
fn video_fixture() -> PathBuf {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let config = MotionConfig {
            frames: 3,
            size: 16,
            train_clips: 6,
            val_clips: 2,
            ..MotionConfig::default()
        };
        make_motion_benchmark(&dir, &config, &Source::Bundled).unwrap();
        dir
    })
    .clone()
}
