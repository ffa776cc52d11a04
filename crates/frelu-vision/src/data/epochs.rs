//! Randomness that depends on the epoch number only, so that a run resumed after epoch k sees
//! exactly the data order and augmentations the uninterrupted run saw in epochs k+1, k+2, ...
//!
//! Burn's own shuffling advances one random generator per epoch, which a resumed run cannot
//! replay without iterating the data. Here an [`EpochClock`] is shared by
//! - [`EpochLoader`], the training loader: each `iter()` starts the next epoch and sets the clock
//!   (and reseeds the device, for dropout);
//! - [`EpochShuffled`], the dataset wrapper whose order is a permutation drawn from
//!   `(seed, epoch)`;
//! - the datasets and batchers that augment: they draw from `(seed, epoch, item)` or reseed
//!   per epoch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderBuilder, DataLoaderIterator};
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// The epoch (0-based: the number of finished epochs) a training loader is in.
#[derive(Clone, Debug, Default)]
pub struct EpochClock(Arc<AtomicU64>);

impl EpochClock {
    /// The current epoch.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Sets the current epoch.
    pub fn set(&self, epoch: u64) {
        self.0.store(epoch, Ordering::SeqCst);
    }
}

/// SplitMix64: a well-mixed 64-bit hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The seed of `epoch` of a run seeded with `seed`.
pub fn epoch_seed(seed: u64, epoch: u64) -> u64 {
    mix(seed ^ mix(epoch.wrapping_add(1)))
}

/// The random generator of item `index` in `epoch`.
pub fn item_rng(seed: u64, epoch: u64, index: usize) -> StdRng {
    StdRng::seed_from_u64(mix(epoch_seed(seed, epoch) ^ mix(index as u64)))
}

/// The batches of a budget-matched epoch (`matched:K:M`): every weight batch of the
/// epoch's order once, and after every `K` of them `M` batches of their own for the slope steps
/// (drawn from a second order of the same epoch). Every batch is full: the last weight batch
/// is completed with the first items of the order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatchedPlan {
    /// Items per batch.
    pub batch_size: usize,
    /// Weight steps per cycle.
    pub weights: u64,
    /// Slope steps per cycle.
    pub slopes: u64,
}

impl MatchedPlan {
    /// Weight batches of an epoch of `items` items.
    fn batches(&self, items: usize) -> u64 {
        items.div_ceil(self.batch_size.max(1)) as u64
    }

    /// Items an epoch of `items` items becomes.
    pub fn len(&self, items: usize) -> usize {
        frelu::schedule::matched_steps(self.weights, self.slopes, self.batches(items)) as usize
            * self.batch_size
    }
}

/// The orders of one epoch: `(epoch, order, second order of the slope batches)`.
type EpochOrders = (u64, Arc<Vec<usize>>, Arc<Vec<usize>>);

/// A dataset in an order drawn anew each epoch from `(seed, epoch)`.
pub struct EpochShuffled<D> {
    inner: D,
    seed: u64,
    clock: EpochClock,
    order: Mutex<Option<EpochOrders>>,
    plan: Option<MatchedPlan>,
}

impl<D> EpochShuffled<D> {
    /// `inner` shuffled per epoch of `clock`.
    pub fn new(inner: D, seed: u64, clock: EpochClock) -> Self {
        Self {
            inner,
            seed,
            clock,
            order: Mutex::new(None),
            plan: None,
        }
    }

    /// Lays each epoch out as a budget-matched epoch (see [`MatchedPlan`]).
    pub fn with_plan(mut self, plan: Option<MatchedPlan>) -> Self {
        self.plan = plan;
        self
    }

    /// The epoch's order, and the second order the slope batches draw from.
    fn orders(&self, len: usize) -> (Arc<Vec<usize>>, Arc<Vec<usize>>) {
        let epoch = self.clock.get();
        let mut cache = self.order.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((e, order, extra)) = cache.as_ref()
            && *e == epoch
        {
            return (order.clone(), extra.clone());
        }
        let draw = |seed: u64| {
            let mut order: Vec<usize> = (0..len).collect();
            order.shuffle(&mut StdRng::seed_from_u64(seed));
            Arc::new(order)
        };
        let order = draw(epoch_seed(self.seed, epoch));
        let extra = match self.plan {
            Some(_) => draw(epoch_seed(self.seed ^ 0x5EED_51DE, epoch)),
            None => Arc::new(Vec::new()),
        };
        *cache = Some((epoch, order.clone(), extra.clone()));
        (order, extra)
    }

    /// The item of the inner dataset at position `index` of the epoch.
    fn source(&self, index: usize, len: usize) -> Option<usize> {
        let (order, extra) = self.orders(len);
        let Some(plan) = self.plan else {
            return order.get(index).copied();
        };
        if len == 0 {
            return None;
        }
        let bs = plan.batch_size;
        let (batch, offset) = ((index / bs) as u64, index % bs);
        let slot =
            frelu::schedule::matched_slot(plan.weights, plan.slopes, plan.batches(len), batch);
        Some(match slot {
            Ok(b) => order[(b as usize * bs + offset) % len],
            Err(b) => extra[(b as usize * bs + offset) % len],
        })
    }
}

impl<I, D: Dataset<I>> Dataset<I> for EpochShuffled<D> {
    fn get(&self, index: usize) -> Result<I, DatasetError> {
        let len = self.inner.len();
        let original = self.source(index, len).ok_or_else(|| {
            DatasetError::new(std::io::Error::other(format!(
                "index {index} out of a dataset of {}",
                self.len()
            )))
        })?;
        self.inner.get(original)
    }

    fn len(&self) -> usize {
        match self.plan {
            Some(plan) => plan.len(self.inner.len()),
            None => self.inner.len(),
        }
    }
}

/// A training loader that starts epoch `k` (and sets its clock) on its `k`-th `iter()`, from a
/// chosen first epoch on: a run resumed after `k` finished epochs starts at `k`.
pub struct EpochLoader<O> {
    inner: Arc<dyn DataLoader<O>>,
    clock: EpochClock,
    next: AtomicU64,
    seed: u64,
    device: Option<Device>,
}

impl<O: 'static> EpochLoader<O> {
    /// Wraps `inner` (built without burn's own shuffling, over an [`EpochShuffled`] dataset
    /// sharing `clock`); the first `iter()` is epoch `first_epoch`.
    pub fn wrap(
        inner: Arc<dyn DataLoader<O>>,
        clock: EpochClock,
        seed: u64,
        first_epoch: u64,
    ) -> Arc<dyn DataLoader<O>> {
        Arc::new(Self {
            inner,
            clock,
            next: AtomicU64::new(first_epoch),
            seed,
            device: None,
        })
    }

    fn with_inner(
        &self,
        inner: Arc<dyn DataLoader<O>>,
        device: Option<Device>,
    ) -> Arc<dyn DataLoader<O>> {
        Arc::new(Self {
            inner,
            clock: self.clock.clone(),
            next: AtomicU64::new(self.next.load(Ordering::SeqCst)),
            seed: self.seed,
            device,
        })
    }
}

impl<O: 'static> DataLoader<O> for EpochLoader<O> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<O> + 'a> {
        let epoch = self.next.fetch_add(1, Ordering::SeqCst);
        self.clock.set(epoch);
        if let Some(device) = &self.device {
            // Dropout and other random layers draw from the device's generator.
            device.seed(epoch_seed(self.seed, epoch));
        }
        self.inner.iter()
    }

    fn num_items(&self) -> usize {
        self.inner.num_items()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<O>> {
        self.with_inner(self.inner.to_device(device), Some(device.clone()))
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<O>> {
        self.with_inner(self.inner.slice(start, end), self.device.clone())
    }
}

/// What the two loaders of a run share.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoaderOptions {
    /// Images (or clips) per batch.
    pub batch_size: usize,
    /// Loader threads.
    pub workers: usize,
    /// The run's seed: the training order of every epoch is drawn from it.
    pub seed: u64,
    /// Epochs a resumed run has finished (0 for a new run).
    pub first_epoch: u64,
    /// `Some((K, M))` lays each epoch out for a budget-matched schedule (see [`MatchedPlan`]).
    pub matched: Option<(u64, u64)>,
}

/// What a loader's items and batches must be (burn's data loaders move them across threads).
pub trait LoaderItem: Send + Sync + Clone + std::fmt::Debug + 'static {}
impl<T: Send + Sync + Clone + std::fmt::Debug + 'static> LoaderItem for T {}

/// The training loader of a run: `dataset` in an order drawn per epoch, batched by `batcher`
/// (which shares `clock` if it augments), starting after the epochs a resumed run has
/// finished.
pub fn training_loader<I: LoaderItem, O: Send + Clone + std::fmt::Debug + 'static>(
    batcher: impl Batcher<I, O> + 'static,
    dataset: impl Dataset<I> + 'static,
    clock: EpochClock,
    options: &LoaderOptions,
) -> Arc<dyn DataLoader<O>> {
    let plan = options.matched.map(|(weights, slopes)| MatchedPlan {
        batch_size: options.batch_size,
        weights,
        slopes,
    });
    let shuffled = EpochShuffled::new(dataset, options.seed, clock.clone()).with_plan(plan);
    let inner = eval_loader(batcher, shuffled, options);
    EpochLoader::wrap(inner, clock, options.seed, options.first_epoch)
}

/// The evaluation loader of a run: `dataset` in its order, batched by `batcher`.
pub fn eval_loader<I: LoaderItem, O: Send + Clone + std::fmt::Debug + 'static>(
    batcher: impl Batcher<I, O> + 'static,
    dataset: impl Dataset<I> + 'static,
    options: &LoaderOptions,
) -> Arc<dyn DataLoader<O>> {
    DataLoaderBuilder::new(batcher)
        .batch_size(options.batch_size)
        .num_workers(options.workers)
        .build(dataset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::data::dataset::InMemDataset;

    #[test]
    fn a_matched_epoch_shows_every_item_to_the_weights_once() {
        let clock = EpochClock::default();
        let plan = MatchedPlan {
            batch_size: 4,
            weights: 2,
            slopes: 1,
        };
        let data = EpochShuffled::new(InMemDataset::new((0..10).collect::<Vec<u32>>()), 3, clock)
            .with_plan(Some(plan));
        // 10 items = 3 weight batches (the last completed from the start), 2 slope batches.
        assert_eq!(data.len(), 5 * 4);
        let items: Vec<u32> = (0..data.len()).map(|i| data.get(i).unwrap()).collect();
        let batches: Vec<&[u32]> = items.chunks(4).collect();
        // Batches 0, 1 weights, 2 slopes, 3 weights, 4 slopes.
        let weight_items: Vec<u32> = [0, 1, 3]
            .iter()
            .flat_map(|&b| batches[b].to_vec())
            .collect();
        let mut seen = weight_items[..10].to_vec();
        seen.sort_unstable();
        assert_eq!(
            seen,
            (0..10).collect::<Vec<_>>(),
            "each item once: {weight_items:?}"
        );
        assert_eq!(
            &weight_items[10..],
            &weight_items[..2],
            "completed from the start"
        );
        assert!(batches[2].iter().chain(batches[4]).all(|&x| x < 10));
    }

    #[test]
    fn the_order_depends_on_the_epoch_only() {
        let clock = EpochClock::default();
        let data = EpochShuffled::new(
            InMemDataset::new((0..50).collect::<Vec<u32>>()),
            7,
            clock.clone(),
        );
        let read = |d: &EpochShuffled<InMemDataset<u32>>| -> Vec<u32> {
            (0..d.len()).map(|i| d.get(i).unwrap()).collect()
        };
        let first = read(&data);
        clock.set(1);
        let second = read(&data);
        assert_ne!(first, second);
        let mut sorted = second.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>(), "a permutation");
        // Another dataset at epoch 1 directly (a resumed run) sees the same order.
        let resumed = EpochShuffled::new(
            InMemDataset::new((0..50).collect::<Vec<u32>>()),
            7,
            EpochClock::default(),
        );
        resumed.clock.set(1);
        assert_eq!(read(&resumed), second);
        clock.set(0);
        assert_eq!(read(&data), first);
        use rand::RngExt;
        let draw = |e, i| item_rng(1, e, i).random::<u64>();
        assert_eq!(draw(0, 3), draw(0, 3));
        assert_ne!(draw(0, 3), draw(1, 3));
        assert_ne!(draw(0, 3), draw(0, 4));
    }
}
