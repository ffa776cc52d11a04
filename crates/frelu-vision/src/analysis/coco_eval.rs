//! Bounding-box detection metrics with COCO's semantics, as pycocotools' `COCOeval` defines
//! them: IoU thresholds 0.50:0.05:0.95, area ranges all / small (< 32²) / medium (32²–96²) /
//! large (> 96²), at most 100 detections per image, greedy matching by score, crowd regions
//! (a detection matched to one is ignored; IoU with a crowd region is intersection over the
//! detection's area), and 101-point interpolated precision.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::data::coco::{CocoDetection, CocoFile};

const AREA_RANGES: [(f64, f64); 4] = [
    (0.0, 1e10),
    (0.0, 32.0 * 32.0),
    (32.0 * 32.0, 96.0 * 96.0),
    (96.0 * 96.0, 1e10),
];
const MAX_DETS: usize = 100;

/// The summary numbers (−1 where undefined, as pycocotools prints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CocoMetrics {
    /// AP averaged over IoU 0.50:0.95.
    pub ap: f64,
    /// AP at IoU 0.50.
    pub ap50: f64,
    /// AP at IoU 0.75.
    pub ap75: f64,
    /// AP of small objects.
    pub ap_small: f64,
    /// AP of medium objects.
    pub ap_medium: f64,
    /// AP of large objects.
    pub ap_large: f64,
    /// AR at 100 detections per image (IoU 0.50:0.95).
    pub ar100: f64,
    /// AP (0.50:0.95) per category, by category id.
    pub per_class: Vec<(u64, String, f64)>,
}

fn iou(d: &[f64; 4], g: &[f64; 4], crowd: bool) -> f64 {
    let (dx2, dy2) = (d[0] + d[2], d[1] + d[3]);
    let (gx2, gy2) = (g[0] + g[2], g[1] + g[3]);
    let iw = (dx2.min(gx2) - d[0].max(g[0])).max(0.0);
    let ih = (dy2.min(gy2) - d[1].max(g[1])).max(0.0);
    let inter = iw * ih;
    let union = if crowd {
        d[2] * d[3]
    } else {
        d[2] * d[3] + g[2] * g[3] - inter
    };
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Per (image, category, area range): the matching results at every IoU threshold.
struct ImageEval {
    scores: Vec<f64>,
    /// `[threshold][detection]`: matched a non-ignored ground truth.
    matched: Vec<Vec<bool>>,
    /// `[threshold][detection]`: ignored (matched an ignored gt, or unmatched and out of range).
    ignored: Vec<Vec<bool>>,
    /// Non-ignored ground truths.
    num_gt: usize,
    /// Non-ignored ground truths matched, per threshold (for recall).
    gt_matched: Vec<usize>,
}

fn evaluate_image(
    gts: &[(&[f64; 4], f64, bool)],
    dts: &[(&[f64; 4], f64, f64)],
    range: (f64, f64),
    thresholds: &[f64],
) -> ImageEval {
    // Ground truths: (box, area, crowd); ignored when crowd or out of the area range.
    let mut g: Vec<(&[f64; 4], bool, bool)> = gts
        .iter()
        .map(|&(b, area, crowd)| (b, crowd || area < range.0 || area > range.1, crowd))
        .collect();
    // Non-ignored first (stable), as pycocotools.
    g.sort_by_key(|x| x.1);
    let mut d: Vec<(&[f64; 4], f64, f64)> = dts.to_vec();
    d.sort_by(|a, b| b.1.total_cmp(&a.1));
    d.truncate(MAX_DETS);
    let num_gt = g.iter().filter(|x| !x.1).count();
    let mut matched = Vec::new();
    let mut ignored = Vec::new();
    let mut gt_matched = Vec::new();
    for &t in thresholds {
        let mut gt_taken = vec![false; g.len()];
        let mut dt_match = vec![false; d.len()];
        let mut dt_ignore = vec![false; d.len()];
        for (di, dt) in d.iter().enumerate() {
            let mut best = t.min(1.0 - 1e-10);
            let mut m: Option<usize> = None;
            for (gi, gt) in g.iter().enumerate() {
                // A taken non-crowd gt cannot be matched again.
                if gt_taken[gi] && !gt.2 {
                    continue;
                }
                // Once matched to a real gt, stop at the first ignored one.
                if let Some(mi) = m
                    && !g[mi].1
                    && gt.1
                {
                    break;
                }
                let v = iou(dt.0, gt.0, gt.2);
                if v < best {
                    continue;
                }
                best = v;
                m = Some(gi);
            }
            if let Some(mi) = m {
                dt_ignore[di] = g[mi].1;
                dt_match[di] = true;
                gt_taken[mi] = true;
            } else {
                // Unmatched detections outside the area range are ignored.
                let area = dt.2;
                dt_ignore[di] = area < range.0 || area > range.1;
            }
        }
        gt_matched.push(
            g.iter()
                .zip(&gt_taken)
                .filter(|(gt, taken)| !gt.1 && **taken)
                .count(),
        );
        matched.push(
            dt_match
                .iter()
                .zip(&dt_ignore)
                .map(|(m, i)| *m && !*i)
                .collect(),
        );
        ignored.push(dt_ignore);
    }
    ImageEval {
        scores: d.iter().map(|x| x.1).collect(),
        matched,
        ignored,
        num_gt,
        gt_matched,
    }
}

/// 101-point interpolated AP of the pooled evaluations at threshold `t`, or −1 without
/// ground truth.
fn average_precision(evals: &[ImageEval], t: usize) -> f64 {
    let num_gt: usize = evals.iter().map(|e| e.num_gt).sum();
    if num_gt == 0 {
        return -1.0;
    }
    let mut dets: Vec<(f64, bool)> = Vec::new();
    for e in evals {
        for (k, &score) in e.scores.iter().enumerate() {
            if !e.ignored[t][k] {
                dets.push((score, e.matched[t][k]));
            }
        }
    }
    // Stable sort by descending score (pycocotools uses a mergesort).
    dets.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut recall = Vec::with_capacity(dets.len());
    let mut precision = Vec::with_capacity(dets.len());
    for &(_, is_tp) in &dets {
        if is_tp {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        recall.push(tp / num_gt as f64);
        precision.push(tp / (tp + fp));
    }
    for i in (1..precision.len()).rev() {
        if precision[i] > precision[i - 1] {
            precision[i - 1] = precision[i];
        }
    }
    let mut sum = 0.0;
    for r in 0..=100 {
        let threshold = r as f64 / 100.0;
        // First index with recall ≥ threshold (searchsorted, side = left).
        let index = recall.partition_point(|&x| x < threshold);
        if index < precision.len() {
            sum += precision[index];
        }
    }
    sum / 101.0
}

/// Boxes of one (image, category) pair: `(bbox, area, is_crowd)` for ground truth,
/// `(bbox, score, area)` for detections.
type PerImageClass<'a, T> = HashMap<(u64, u64), Vec<(&'a [f64; 4], f64, T)>>;

/// Mean of the defined values (COCO marks undefined ones −1); −1 when none is defined.
fn mean_defined(values: Vec<f64>) -> f64 {
    let defined: Vec<f64> = values.into_iter().filter(|&v| v > -1.0).collect();
    if defined.is_empty() {
        -1.0
    } else {
        defined.iter().sum::<f64>() / defined.len() as f64
    }
}

/// Every image evaluated per category and area range: `evals[category][area range][image]`.
fn evaluate_all(
    gt: &CocoFile,
    detections: &[CocoDetection],
    thresholds: &[f64],
) -> Vec<Vec<Vec<ImageEval>>> {
    let mut gts: PerImageClass<bool> = HashMap::new();
    for a in &gt.annotations {
        gts.entry((a.image_id, a.category_id)).or_default().push((
            &a.bbox,
            a.area(),
            a.iscrowd != 0,
        ));
    }
    let mut dts: PerImageClass<f64> = HashMap::new();
    for d in detections {
        dts.entry((d.image_id, d.category_id)).or_default().push((
            &d.bbox,
            d.score,
            d.bbox[2] * d.bbox[3],
        ));
    }
    let empty_g = Vec::new();
    let empty_d = Vec::new();
    gt.categories
        .iter()
        .map(|c| {
            AREA_RANGES
                .iter()
                .map(|&range| {
                    gt.images
                        .iter()
                        .map(|img| {
                            let g = gts.get(&(img.id, c.id)).unwrap_or(&empty_g);
                            // At most 100 per image and category, as pycocotools.
                            let d = dts.get(&(img.id, c.id)).unwrap_or(&empty_d);
                            evaluate_image(g, d, range, thresholds)
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Recall over all areas, averaged over thresholds and categories.
fn mean_recall(evals: &[Vec<Vec<ImageEval>>], thresholds: usize) -> f64 {
    mean_defined(
        evals
            .iter()
            .flat_map(|per_area| {
                (0..thresholds).map(|t| {
                    let images = &per_area[0];
                    let n: usize = images.iter().map(|e| e.num_gt).sum();
                    if n == 0 {
                        -1.0
                    } else {
                        images.iter().map(|e| e.gt_matched[t]).sum::<usize>() as f64 / n as f64
                    }
                })
            })
            .collect(),
    )
}

/// Evaluates `detections` against the ground truth of `gt` with COCO's semantics.
pub fn evaluate(gt: &CocoFile, detections: &[CocoDetection]) -> CocoMetrics {
    let thresholds: Vec<f64> = (0..10).map(|i| 0.5 + 0.05 * i as f64).collect();
    let evals = evaluate_all(gt, detections, &thresholds);
    // Mean over categories (and thresholds) of the defined APs.
    let ap_at = |area: usize, ts: &[usize]| {
        mean_defined(
            evals
                .iter()
                .flat_map(|per_area| ts.iter().map(|&t| average_precision(&per_area[area], t)))
                .collect(),
        )
    };
    let all: Vec<usize> = (0..thresholds.len()).collect();
    CocoMetrics {
        ap: ap_at(0, &all),
        ap50: ap_at(0, &[0]),
        ap75: ap_at(0, &[5]),
        ap_small: ap_at(1, &all),
        ap_medium: ap_at(2, &all),
        ap_large: ap_at(3, &all),
        ar100: mean_recall(&evals, thresholds.len()),
        per_class: gt
            .categories
            .iter()
            .zip(&evals)
            .map(|(c, per_area)| {
                let ap = mean_defined(
                    all.iter()
                        .map(|&t| average_precision(&per_area[0], t))
                        .collect(),
                );
                (c.id, c.name.clone(), ap)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::coco::{CocoAnnotation, CocoCategory, CocoImage};

    fn gt(boxes: &[(u64, [f64; 4], u8)]) -> CocoFile {
        CocoFile {
            images: vec![
                CocoImage {
                    id: 1,
                    file_name: "1.png".into(),
                    width: 200,
                    height: 200,
                },
                CocoImage {
                    id: 2,
                    file_name: "2.png".into(),
                    width: 200,
                    height: 200,
                },
            ],
            annotations: boxes
                .iter()
                .enumerate()
                .map(|(i, &(image_id, bbox, iscrowd))| CocoAnnotation {
                    id: i as u64 + 1,
                    image_id,
                    category_id: 1,
                    bbox,
                    area: None,
                    iscrowd,
                })
                .collect(),
            categories: vec![CocoCategory {
                id: 1,
                name: "thing".into(),
            }],
        }
    }

    fn det(image_id: u64, bbox: [f64; 4], score: f64) -> CocoDetection {
        CocoDetection {
            image_id,
            category_id: 1,
            bbox,
            score,
        }
    }

    const A: [f64; 4] = [10.0, 10.0, 40.0, 40.0];
    const B: [f64; 4] = [100.0, 100.0, 50.0, 50.0];

    #[test]
    fn perfect_detections_score_one() {
        let m = evaluate(
            &gt(&[(1, A, 0), (2, B, 0)]),
            &[det(1, A, 0.9), det(2, B, 0.8)],
        );
        assert_eq!((m.ap, m.ap50, m.ap75, m.ar100), (1.0, 1.0, 1.0, 1.0));
        // A is 40×40 (medium), B is 50×50 (medium): no small or large objects.
        assert_eq!((m.ap_small, m.ap_medium, m.ap_large), (-1.0, 1.0, -1.0));
        assert_eq!(m.per_class, vec![(1, "thing".to_string(), 1.0)]);
    }

    #[test]
    fn a_shifted_box_counts_only_below_its_iou() {
        // Shift A by 8 px in x: IoU = 32·40 / (2·1600 − 32·40) = 1280 / 1920 = 0.667.
        let shifted = [18.0, 10.0, 40.0, 40.0];
        let m = evaluate(&gt(&[(1, A, 0)]), &[det(1, shifted, 0.9)]);
        assert_eq!(m.ap50, 1.0);
        assert_eq!(m.ap75, 0.0);
        // Matched at IoU 0.50, 0.55, 0.60, 0.65: 4 thresholds of 10.
        assert!((m.ap - 0.4).abs() < 1e-12, "{m:?}");
    }

    #[test]
    fn a_duplicate_is_a_false_positive_after_the_true_one() {
        let m = evaluate(&gt(&[(1, A, 0)]), &[det(1, A, 0.9), det(1, A, 0.5)]);
        // Recall reaches 1 at the first detection: the duplicate only lowers precision after it.
        assert_eq!(m.ap, 1.0);
        // A false positive ranked before the true detection costs precision at every recall.
        let m = evaluate(
            &gt(&[(1, A, 0)]),
            &[det(1, [60.0, 60.0, 40.0, 40.0], 0.95), det(1, A, 0.5)],
        );
        assert!((m.ap - 0.5).abs() < 1e-12, "{m:?}");
    }

    #[test]
    fn a_missed_object_halves_recall() {
        let m = evaluate(&gt(&[(1, A, 0), (2, B, 0)]), &[det(1, A, 0.9)]);
        // Precision 1 on recall points 0.00..0.50: 51 of 101.
        assert!((m.ap - 51.0 / 101.0).abs() < 1e-12, "{m:?}");
        assert_eq!(m.ar100, 0.5);
    }

    #[test]
    fn detections_on_crowd_regions_are_ignored() {
        // The crowd region covers a detection that would otherwise be a false positive.
        let crowd = [90.0, 90.0, 100.0, 100.0];
        let m = evaluate(
            &gt(&[(1, A, 0), (2, crowd, 1)]),
            &[det(1, A, 0.9), det(2, [95.0, 95.0, 30.0, 30.0], 0.95)],
        );
        assert_eq!(m.ap, 1.0);
        // Without the crowd flag the same detection is a false positive ranked first, and the
        // crowd box becomes a missed object.
        let m = evaluate(
            &gt(&[(1, A, 0), (2, crowd, 0)]),
            &[det(1, A, 0.9), det(2, [95.0, 95.0, 30.0, 30.0], 0.95)],
        );
        assert!(m.ap < 0.5, "{m:?}");
    }

    #[test]
    fn area_ranges_split_objects_by_size() {
        let small = [0.0, 0.0, 20.0, 20.0];
        let large = [0.0, 0.0, 120.0, 120.0];
        let m = evaluate(&gt(&[(1, small, 0), (2, large, 0)]), &[det(1, small, 0.9)]);
        assert_eq!(m.ap_small, 1.0);
        assert_eq!(m.ap_large, 0.0);
        assert_eq!(m.ap_medium, -1.0);
    }
}
