//! `frelu predict` on PNG files of Fashion-MNIST test images gives the classes the run's own
//! test evaluation gives those images.

use std::process::Command;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::tensor::Device;
use frelu_vision::data::{Augment, ImageBatcher, ImageDataset, Normalize, fashion_mnist};
use frelu_vision::tasks::classify::predict::{Prediction, Predictor};

const FRELU: &str = env!("CARGO_BIN_EXE_frelu");

/// Sets every float parameter to 0 (so that a reload has to bring every value back).
struct Zero;
impl burn::module::ModuleMapper for Zero {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<burn::tensor::Tensor<D>>,
    ) -> burn::module::Param<burn::tensor::Tensor<D>> {
        param.map(|t| t.zeros_like())
    }
}

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

    // `frelu export`: ONNX with one node per layer, and safetensors that burn-store reads
    // back into the same function.
    let status = Command::new(FRELU)
        .arg("export")
        .arg(&run)
        .status()
        .unwrap();
    assert!(status.success());
    let onnx = std::fs::read(run.join("model.onnx")).unwrap();
    let nodes = frelu_vision::export::onnx::node_count(&onnx).unwrap();
    // 4 × (Conv, PRelu) + 2 MaxPool + Flatten + Gemm (the 7×7 resize is the identity).
    assert_eq!(nodes, 12);
    let weights = dir.path().join("w.safetensors");
    let status = Command::new(FRELU)
        .args(["export", "--format", "safetensors", "--out"])
        .arg(&weights)
        .arg(&run)
        .status()
        .unwrap();
    assert!(status.success());
    let fresh = Predictor::load(&run, &device).unwrap().net.map(&mut Zero);
    let mut store = burn::store::SafetensorsStore::from_file(&weights);
    let mut reloaded = fresh;
    burn::store::ModuleSnapshot::load_from(&mut reloaded, &mut store).unwrap();
    let x = predictor
        .preprocess
        .batch(&[test.get(0).unwrap().pixels], &device);
    reloaded
        .forward(x.clone())
        .into_data()
        .assert_eq(&predictor.net.forward(x).into_data(), true);

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
