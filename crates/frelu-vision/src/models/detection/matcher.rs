//! Matching predictions to ground truth by IoU and sampling a balanced minibatch of them
//! (torchvision's `Matcher` and `BalancedPositiveNegativeSampler`). Host-side: neither step
//! has a gradient.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// What one prediction (anchor or proposal) is matched to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// The ground-truth box of this index.
    Foreground(usize),
    /// Below the background threshold (or there is no ground truth).
    Background,
    /// Between the thresholds: left out of the loss.
    Ignored,
}

/// IoU thresholds of a matcher.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Matcher {
    /// IoU ≥ this is foreground.
    pub high: f32,
    /// IoU < this is background; in between is ignored.
    pub low: f32,
    /// Also match each ground-truth box to the predictions that overlap it most, when they fall
    /// below `high` (Faster R-CNN's low-quality matches).
    pub allow_low_quality: bool,
}

impl Matcher {
    /// Matches every prediction given `quality[g][p]`, the IoU of ground truth `g` with
    /// prediction `p` (`predictions` columns). A prediction's ground truth is its best
    /// (the first of ties). Low-quality matches are only made for ground truth that overlaps some
    /// prediction at all (torchvision also "matches" a box that overlaps nothing to every
    /// prediction's best box; here such a box is left unmatched).
    pub fn assign(&self, quality: &[Vec<f32>], predictions: usize) -> Vec<Match> {
        if quality.is_empty() {
            return vec![Match::Background; predictions];
        }
        let best: Vec<(usize, f32)> = (0..predictions)
            .map(|p| {
                let mut best = (0, quality[0][p]);
                for (g, row) in quality.iter().enumerate().skip(1) {
                    if row[p] > best.1 {
                        best = (g, row[p]);
                    }
                }
                best
            })
            .collect();
        let mut matches: Vec<Match> = best
            .iter()
            .map(|&(g, v)| {
                if v >= self.high {
                    Match::Foreground(g)
                } else if v < self.low {
                    Match::Background
                } else {
                    Match::Ignored
                }
            })
            .collect();
        if self.allow_low_quality {
            for row in quality {
                let top = row.iter().copied().fold(0.0f32, f32::max);
                if top <= 0.0 {
                    continue;
                }
                for (p, &v) in row.iter().enumerate() {
                    if v == top {
                        matches[p] = Match::Foreground(best[p].0);
                    }
                }
            }
        }
        matches
    }
}

/// Samples up to `per_image` matched predictions, at most `positive_fraction` of them
/// foreground, the rest background (fewer when there are not enough), uniformly at random.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sampler {
    /// Predictions per image in the loss.
    pub per_image: usize,
    /// Largest share of foreground among them.
    pub positive_fraction: f32,
}

impl Sampler {
    /// `(foreground, background)` indices into `matches`, each in increasing order.
    pub fn sample(&self, matches: &[Match], rng: &mut impl Rng) -> (Vec<usize>, Vec<usize>) {
        let pos: Vec<usize> = (0..matches.len())
            .filter(|&i| matches!(matches[i], Match::Foreground(_)))
            .collect();
        let neg: Vec<usize> = (0..matches.len())
            .filter(|&i| matches[i] == Match::Background)
            .collect();
        let num_pos = ((self.per_image as f32 * self.positive_fraction) as usize).min(pos.len());
        let num_neg = (self.per_image - num_pos).min(neg.len());
        fn pick<R: Rng + ?Sized>(from: &[usize], n: usize, rng: &mut R) -> Vec<usize> {
            let mut chosen: Vec<usize> = rand::seq::index::sample(rng, from.len(), n)
                .into_iter()
                .map(|i| from[i])
                .collect();
            chosen.sort_unstable();
            chosen
        }
        let pos = pick(&pos, num_pos, rng);
        let neg = pick(&neg, num_neg, rng);
        (pos, neg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const RPN: Matcher = Matcher {
        high: 0.7,
        low: 0.3,
        allow_low_quality: true,
    };

    #[test]
    fn thresholds_and_low_quality_matches() {
        // Two ground-truth boxes, five predictions.
        let quality = vec![
            vec![0.8, 0.5, 0.1, 0.0, 0.2],
            vec![0.1, 0.55, 0.2, 0.0, 0.6],
        ];
        let m = RPN.assign(&quality, 5);
        use Match::*;
        // p1 is between the thresholds but no gt's best; p4 is gt 1's best (0.6 < 0.7) and is
        // kept as a low-quality match.
        assert_eq!(
            m,
            vec![
                Foreground(0),
                Ignored,
                Background,
                Background,
                Foreground(1)
            ]
        );
        let strict = Matcher {
            allow_low_quality: false,
            ..RPN
        };
        assert_eq!(strict.assign(&quality, 5)[4], Ignored);
    }

    #[test]
    fn no_ground_truth_ties_and_boxes_that_overlap_nothing() {
        use Match::*;
        assert_eq!(RPN.assign(&[], 3), vec![Background; 3]);
        // Ties: both predictions at gt 0's best become its matches; a prediction equally good
        // for both gts goes to the first.
        let m = RPN.assign(&[vec![0.5, 0.5, 0.0], vec![0.5, 0.2, 0.0]], 3);
        assert_eq!(m, vec![Foreground(0), Foreground(0), Background]);
        // A ground truth overlapping nothing matches nothing.
        let m = RPN.assign(&[vec![0.0, 0.0]], 2);
        assert_eq!(m, vec![Background, Background]);
    }

    #[test]
    fn the_sampler_balances_seeds_and_copes_with_few_or_all_ignored() {
        use Match::*;
        let mut matches = vec![Background; 100];
        for i in 0..10 {
            matches[i * 7] = Foreground(0);
        }
        let sampler = Sampler {
            per_image: 16,
            positive_fraction: 0.25,
        };
        let (p, n) = sampler.sample(&matches, &mut StdRng::seed_from_u64(3));
        assert_eq!((p.len(), n.len()), (4, 12));
        assert!(p.iter().all(|&i| matches[i] != Background));
        assert!(n.iter().all(|&i| matches[i] == Background));
        // Same seed, same sample; another seed, another one.
        let again = sampler.sample(&matches, &mut StdRng::seed_from_u64(3));
        assert_eq!(again, (p.clone(), n.clone()));
        let other = sampler.sample(&matches, &mut StdRng::seed_from_u64(4));
        assert_ne!(other, (p, n));
        // Few positives: the rest are negatives.
        let (p, n) = sampler.sample(&matches[..8], &mut StdRng::seed_from_u64(0));
        assert_eq!((p.len(), n.len()), (2, 6));
        // All ignored: nothing to sample.
        let (p, n) = sampler.sample(&[Ignored; 5], &mut StdRng::seed_from_u64(0));
        assert!(p.is_empty() && n.is_empty());
    }
}
