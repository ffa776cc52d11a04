//! Boxes without a model: IoU, the box coder of R-CNN's regression targets, clipping, and
//! class-wise non-maximum suppression. Every box is `[x1, y1, x2, y2]` in input pixels.

/// A box `[x1, y1, x2, y2]`.
pub type BoxXyxy = [f32; 4];

/// One decoded detection, in letterboxed pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// `[x1, y1, x2, y2]`.
    pub bbox: BoxXyxy,
    /// Contiguous class label.
    pub label: usize,
    /// Score (a probability).
    pub score: f32,
}

/// Area of a box (0 for an empty one).
pub fn area(b: &BoxXyxy) -> f32 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

/// Intersection over union of two boxes (0 when their union is empty).
pub fn iou(a: &BoxXyxy, b: &BoxXyxy) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// The IoU of every `a` (rows) with every `b` (columns).
pub fn iou_matrix(a: &[BoxXyxy], b: &[BoxXyxy]) -> Vec<Vec<f32>> {
    a.iter()
        .map(|x| b.iter().map(|y| iou(x, y)).collect())
        .collect()
}

/// Clips a box to an image of `width × height`.
pub fn clip(b: &BoxXyxy, width: f32, height: f32) -> BoxXyxy {
    [
        b[0].clamp(0.0, width),
        b[1].clamp(0.0, height),
        b[2].clamp(0.0, width),
        b[3].clamp(0.0, height),
    ]
}

/// Whether both sides of a box are at least `min_size`.
pub fn is_large_enough(b: &BoxXyxy, min_size: f32) -> bool {
    b[2] - b[0] >= min_size && b[3] - b[1] >= min_size
}

/// Greedy non-maximum suppression within groups: keeps, by decreasing score, each box that
/// overlaps no kept box of its group by more than `threshold` IoU. Returns the kept indices,
/// best first (torchvision's `batched_nms`; ties keep the earlier box).
pub fn batched_nms(
    boxes: &[BoxXyxy],
    scores: &[f32],
    groups: &[usize],
    threshold: f32,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]).then(i.cmp(&j)));
    let mut kept: Vec<usize> = Vec::new();
    for i in order {
        if kept
            .iter()
            .all(|&k| groups[k] != groups[i] || iou(&boxes[k], &boxes[i]) <= threshold)
        {
            kept.push(i);
        }
    }
    kept
}

/// Class-wise greedy non-maximum suppression of detections, best first.
pub fn nms(detections: Vec<Detection>, threshold: f32) -> Vec<Detection> {
    let boxes: Vec<BoxXyxy> = detections.iter().map(|d| d.bbox).collect();
    let scores: Vec<f32> = detections.iter().map(|d| d.score).collect();
    let labels: Vec<usize> = detections.iter().map(|d| d.label).collect();
    batched_nms(&boxes, &scores, &labels, threshold)
        .into_iter()
        .map(|i| detections[i].clone())
        .collect()
}

/// R-CNN's box coder (torchvision's `BoxCoder`): a box relative to a reference box as
/// `(wx·dx/w, wy·dy/h, ww·log(w'/w), wh·log(h'/h))`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoxCoder {
    /// `(wx, wy, ww, wh)`: (1, 1, 1, 1) in the RPN, (10, 10, 5, 5) in the box head.
    pub weights: [f32; 4],
}

/// The largest log-scale a decoded box may grow by: log(1000 / 16), torchvision's clamp.
pub const BBOX_XFORM_CLIP: f32 = 4.135_166_6;

fn centre_form(b: &BoxXyxy) -> [f32; 4] {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    [b[0] + 0.5 * w, b[1] + 0.5 * h, w, h]
}

impl BoxCoder {
    /// The regression target that moves `reference` onto `target`.
    pub fn encode(&self, target: &BoxXyxy, reference: &BoxXyxy) -> [f32; 4] {
        let [wx, wy, ww, wh] = self.weights;
        let [rx, ry, rw, rh] = centre_form(reference);
        let [tx, ty, tw, th] = centre_form(target);
        [
            wx * (tx - rx) / rw,
            wy * (ty - ry) / rh,
            ww * (tw / rw).ln(),
            wh * (th / rh).ln(),
        ]
    }

    /// The box that `deltas` make of `reference` (sizes clamped at [`BBOX_XFORM_CLIP`]).
    pub fn decode(&self, deltas: &[f32; 4], reference: &BoxXyxy) -> BoxXyxy {
        let [wx, wy, ww, wh] = self.weights;
        let [rx, ry, rw, rh] = centre_form(reference);
        let (dx, dy) = (deltas[0] / wx, deltas[1] / wy);
        let dw = (deltas[2] / ww).min(BBOX_XFORM_CLIP);
        let dh = (deltas[3] / wh).min(BBOX_XFORM_CLIP);
        let (cx, cy) = (dx * rw + rx, dy * rh + ry);
        let (w, h) = (dw.exp() * rw, dh.exp() * rh);
        [cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coder_round_trips_and_clamps_growth() {
        for weights in [[1.0; 4], [10.0, 10.0, 5.0, 5.0]] {
            let coder = BoxCoder { weights };
            let reference = [10.0, 20.0, 40.0, 80.0];
            for target in [[12.0, 18.0, 50.0, 70.0], [0.5, 0.5, 3.0, 90.0], reference] {
                let deltas = coder.encode(&target, &reference);
                let back = coder.decode(&deltas, &reference);
                for (a, b) in back.iter().zip(target) {
                    assert!((a - b).abs() < 1e-4, "{back:?} vs {target:?}");
                }
            }
            assert_eq!(coder.encode(&reference, &reference), [0.0; 4]);
        }
        // A huge log-scale is clamped: the box grows by at most 1000/16.
        let coder = BoxCoder { weights: [1.0; 4] };
        let b = coder.decode(&[0.0, 0.0, 50.0, 0.0], &[0.0, 0.0, 16.0, 16.0]);
        assert!(((b[2] - b[0]) - 1000.0).abs() < 0.1, "{b:?}");
    }

    #[test]
    fn iou_of_known_pairs() {
        assert_eq!(iou(&[0.0, 0.0, 2.0, 2.0], &[1.0, 0.0, 3.0, 2.0]), 2.0 / 6.0);
        assert_eq!(iou(&[0.0, 0.0, 1.0, 1.0], &[2.0, 2.0, 3.0, 3.0]), 0.0);
        // Degenerate boxes have no overlap and no NaN.
        assert_eq!(iou(&[1.0, 1.0, 1.0, 1.0], &[1.0, 1.0, 1.0, 1.0]), 0.0);
        assert_eq!(
            clip(&[-5.0, 2.0, 70.0, 9.0], 64.0, 8.0),
            [0.0, 2.0, 64.0, 8.0]
        );
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes_per_class() {
        let d = |x: f32, label, score| Detection {
            bbox: [x, 0.0, x + 10.0, 10.0],
            label,
            score,
        };
        let kept = nms(
            vec![
                d(0.0, 0, 0.5),
                d(1.0, 0, 0.9),
                d(1.0, 1, 0.8),
                d(30.0, 0, 0.1),
            ],
            0.5,
        );
        assert_eq!(kept, vec![d(1.0, 0, 0.9), d(1.0, 1, 0.8), d(30.0, 0, 0.1)]);
        // Equal scores: the earlier box wins, whatever the sort does.
        let tie = batched_nms(
            &[[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]],
            &[0.5, 0.5],
            &[0, 0],
            0.5,
        );
        assert_eq!(tie, vec![0]);
    }
}
