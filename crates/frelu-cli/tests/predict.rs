//! `frelu predict` on PNG files of Fashion-MNIST test images gives the classes the run's own
//! test evaluation gives those images.

use std::process::Command;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::Device;
use frelu_vision::data::{Augment, ImageBatcher, ImageDataset, Normalize, fashion_mnist};
use frelu_vision::tasks::classify::predict::{Prediction, Predictor};

const FRELU: &str = env!("CARGO_BIN_EXE_frelu");

#[test]
fn predict_gives_the_classes_of_the_runs_own_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let status = Command::new(FRELU)
        .args([
            "train",
            "--act",
            "frelu",
            "--epochs",
            "1",
            "--limit-train",
            "2048",
        ])
        .args(["--limit-test", "64", "-q", "--out"])
        .arg(&run)
        .status()
        .unwrap();
    assert!(status.success());

    // Twelve test images as PNG files, and their classes through the evaluation path of
    // training (the test set's items, the evaluation batcher, the saved model).
    let source = fashion_mnist::locate(None).unwrap();
    let test = ImageDataset::new(fashion_mnist::load(&source, false).unwrap().take(12));
    let pngs = dir.path().join("pngs");
    std::fs::create_dir(&pngs).unwrap();
    let mut items = Vec::new();
    for i in 0..test.len() {
        let item = test.get(i).unwrap();
        let file = pngs.join(format!("img{i:02}.png"));
        image::GrayImage::from_raw(28, 28, item.pixels.clone())
            .unwrap()
            .save(&file)
            .unwrap();
        items.push(item);
    }
    let device = Device::flex();
    let normalize = Normalize::new(vec![fashion_mnist::MEAN], vec![fashion_mnist::STD]);
    let batch = ImageBatcher::new(normalize, Augment::none(), 0).batch(items, &device);
    let predictor = Predictor::load(&run, &device).unwrap();
    let logits = predictor.net.forward(batch.images);
    let expected: Vec<usize> = logits
        .argmax(1)
        .try_into_vec_as::<i64>()
        .unwrap()
        .into_iter()
        .map(|c| c as usize)
        .collect();

    let output = Command::new(FRELU)
        .args(["predict", "--json", "--top-k", "2"])
        .arg(&run)
        .arg(&pngs)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let predictions: Vec<Prediction> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(predictions.len(), 12);
    let got: Vec<usize> = predictions.iter().map(|p| p.top[0].class).collect();
    assert_eq!(got, expected);
    for p in &predictions {
        assert_eq!(p.top.len(), 2);
        assert!(p.top[0].probability >= p.top[1].probability);
        assert_eq!(p.top[0].name, fashion_mnist::CLASSES[p.top[0].class]);
    }
    // The table names each file and its classes.
    let table = Command::new(FRELU)
        .arg("predict")
        .arg(&run)
        .arg(pngs.join("img00.png"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("img00.png") && text.contains(fashion_mnist::CLASSES[got[0]]));

    // An unreadable image is a clear error naming it; nothing is printed for the others.
    std::fs::write(pngs.join("broken.png"), b"not an image").unwrap();
    let output = Command::new(FRELU)
        .arg("predict")
        .arg(&run)
        .arg(&pngs)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("broken.png") && stderr.contains("not a readable image"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
