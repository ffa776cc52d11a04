//! Budget-matched schedules (`matched:K:M`): the arithmetic that lays an epoch's weight batches
//! and slope steps out.

/// Optimiser steps per epoch of a budget-matched schedule (`matched:K:M`) whose epoch has
/// `batches` weight batches: every `K` of them (and the remainder) followed by `M` slope steps.
pub fn matched_steps(weights: u64, slopes: u64, batches: u64) -> u64 {
    batches + slopes * batches.div_ceil(weights.max(1))
}

/// The number of weight batches of a budget-matched epoch of `steps` steps (the inverse of
/// [`matched_steps`]; the largest `B` whose epoch fits in `steps`).
pub fn matched_batches(weights: u64, slopes: u64, steps: u64) -> u64 {
    let mut batches = steps * weights / (weights + slopes).max(1);
    while matched_steps(weights, slopes, batches + 1) <= steps {
        batches += 1;
    }
    while batches > 0 && matched_steps(weights, slopes, batches) > steps {
        batches -= 1;
    }
    batches
}

/// Where step `local` (counted from the start of its epoch) of a budget-matched epoch with
/// `batches` weight batches falls: `Ok(i)` for the `i`-th weight step, `Err(j)` for the `j`-th
/// slope step of the epoch.
pub fn matched_slot(weights: u64, slopes: u64, batches: u64, local: u64) -> Result<u64, u64> {
    let cycle = weights + slopes;
    let full = batches / weights;
    let (c, r) = (local / cycle, local % cycle);
    let weights_here = if c < full {
        weights
    } else {
        batches - full * weights
    };
    if r < weights_here {
        Ok(c * weights + r)
    } else {
        Err(c * slopes + (r - weights_here))
    }
}
