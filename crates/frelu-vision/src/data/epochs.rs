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

/// A dataset in an order drawn anew each epoch from `(seed, epoch)`.
pub struct EpochShuffled<D> {
    inner: D,
    seed: u64,
    clock: EpochClock,
    order: Mutex<Option<(u64, Arc<Vec<usize>>)>>,
}

impl<D> EpochShuffled<D> {
    /// `inner` shuffled per epoch of `clock`.
    pub fn new(inner: D, seed: u64, clock: EpochClock) -> Self {
        Self {
            inner,
            seed,
            clock,
            order: Mutex::new(None),
        }
    }

    fn order(&self, len: usize) -> Arc<Vec<usize>> {
        let epoch = self.clock.get();
        let mut cache = self.order.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((e, order)) = cache.as_ref()
            && *e == epoch
        {
            return order.clone();
        }
        let mut order: Vec<usize> = (0..len).collect();
        order.shuffle(&mut StdRng::seed_from_u64(epoch_seed(self.seed, epoch)));
        let order = Arc::new(order);
        *cache = Some((epoch, order.clone()));
        order
    }
}

impl<I, D: Dataset<I>> Dataset<I> for EpochShuffled<D> {
    fn get(&self, index: usize) -> Result<I, DatasetError> {
        let order = self.order(self.inner.len());
        let original = *order.get(index).ok_or_else(|| {
            DatasetError::new(std::io::Error::other(format!(
                "index {index} out of a dataset of {}",
                order.len()
            )))
        })?;
        self.inner.get(original)
    }

    fn len(&self) -> usize {
        self.inner.len()
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

/// The training loader of a run: `dataset` in an order drawn per epoch, batched by `batcher`
/// (which shares `clock` if it augments), starting at epoch `first_epoch` (the epochs a resumed
/// run has finished).
pub fn training_loader<I, O, B, D>(
    batcher: B,
    dataset: D,
    batch_size: usize,
    workers: usize,
    seed: u64,
    clock: EpochClock,
    first_epoch: u64,
) -> Arc<dyn DataLoader<O>>
where
    I: Send + Sync + Clone + std::fmt::Debug + 'static,
    O: Send + Clone + std::fmt::Debug + 'static,
    B: Batcher<I, O> + 'static,
    D: Dataset<I> + 'static,
{
    let inner = DataLoaderBuilder::new(batcher)
        .batch_size(batch_size)
        .num_workers(workers)
        .build(EpochShuffled::new(dataset, seed, clock.clone()));
    EpochLoader::wrap(inner, clock, seed, first_epoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::data::dataset::InMemDataset;

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
