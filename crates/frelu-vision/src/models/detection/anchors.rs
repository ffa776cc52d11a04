//! Anchor boxes (torchvision's `AnchorGenerator`): at every cell of every feature level, one box
//! per (aspect ratio, size) of that level, centred on the cell's top-left corner in input
//! pixels, in the order (row, column, anchor) that the RPN head's outputs are flattened in.

use serde::{Deserialize, Serialize};

use super::boxes::BoxXyxy;

/// Sizes per feature level and the aspect ratios shared by every level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnchorConfig {
    /// Anchor sides (√area, in input pixels), one list per feature level, finest first.
    pub sizes: Vec<Vec<f32>>,
    /// Height ÷ width of the anchors.
    pub aspect_ratios: Vec<f32>,
}

impl AnchorConfig {
    /// Anchors per cell of `level`.
    pub fn per_cell(&self, level: usize) -> usize {
        self.sizes[level].len() * self.aspect_ratios.len()
    }

    /// The anchors of `level` centred on (0, 0): ratios outer, sizes inner, rounded to whole
    /// pixels as torchvision does.
    pub fn cell_anchors(&self, level: usize) -> Vec<BoxXyxy> {
        let mut out = Vec::with_capacity(self.per_cell(level));
        for &ratio in &self.aspect_ratios {
            let h_ratio = ratio.sqrt();
            let w_ratio = 1.0 / h_ratio;
            for &size in &self.sizes[level] {
                let (w, h) = (w_ratio * size, h_ratio * size);
                out.push([
                    (-w / 2.0).round(),
                    (-h / 2.0).round(),
                    (w / 2.0).round(),
                    (h / 2.0).round(),
                ]);
            }
        }
        out
    }

    /// Every anchor of an image of side `image_size` whose feature levels have the given
    /// `(height, width)`s: level by level, each in (row, column, anchor) order. The stride of a
    /// level is `image_size / height` (integer division, as torchvision).
    pub fn anchors(&self, image_size: usize, levels: &[(usize, usize)]) -> Vec<BoxXyxy> {
        let mut out = Vec::new();
        for (level, &(h, w)) in levels.iter().enumerate() {
            let (sy, sx) = ((image_size / h) as f32, (image_size / w) as f32);
            let cell = self.cell_anchors(level);
            for y in 0..h {
                for x in 0..w {
                    let (ox, oy) = (x as f32 * sx, y as f32 * sy);
                    out.extend(
                        cell.iter()
                            .map(|a| [a[0] + ox, a[1] + oy, a[2] + ox, a[3] + oy]),
                    );
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_follow_torchvisions_order_and_rounding() {
        let config = AnchorConfig {
            sizes: vec![vec![32.0], vec![64.0]],
            aspect_ratios: vec![0.5, 1.0, 2.0],
        };
        // torchvision: generate_anchors([32], [0.5, 1, 2]) =
        // [[-23, -11, 23, 11], [-16, -16, 16, 16], [-11, -23, 11, 23]].
        assert_eq!(
            config.cell_anchors(0),
            vec![
                [-23.0, -11.0, 23.0, 11.0],
                [-16.0, -16.0, 16.0, 16.0],
                [-11.0, -23.0, 11.0, 23.0]
            ]
        );
        let all = config.anchors(64, &[(4, 4), (2, 2)]);
        assert_eq!(all.len(), 4 * 4 * 3 + 2 * 2 * 3);
        // Level 0, row 1, column 2, anchor 1: shifted by (2·16, 1·16).
        assert_eq!(all[(4 + 2) * 3 + 1], [16.0, 0.0, 48.0, 32.0]);
        // Level 1 starts after level 0, stride 32.
        assert_eq!(all[48 + 3 + 1], [0.0, -32.0, 64.0, 32.0]);
    }
}
