//! What the soak does, decided up front from the seed: each slot's client
//! behaviour and the database fault schedule.

use std::time::Duration;

/// SplitMix64: small and seedable.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A generator of its own for stream `n` of `seed`.
    pub fn fork(seed: u64, n: u64) -> Self {
        let mut r = Self(seed ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next() % (hi - lo + 1)
    }
}

/// How a slot's client repeats its init with the same Idempotency-Key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// One init (repeated only when it gets a 503).
    No,
    /// A first attempt abandoned after this many milliseconds (a timed-out
    /// init, which the server may or may not have committed), then a retry.
    AfterTimeout(u64),
    /// Two identical inits at the same time.
    Concurrent,
}

/// One simulated user: init, then (unless abandoned) the PUT.
#[derive(Debug, Clone)]
pub struct Slot {
    pub index: usize,
    /// The Idempotency-Key, when this client sends one.
    pub key: Option<String>,
    pub repeat: Repeat,
    /// Initialised, never uploaded.
    pub abandoned: bool,
    pub size: usize,
    /// How long the user takes before starting (spreads the load over time,
    /// so the reaper is busy while the faults fire).
    pub think: Duration,
    /// Seed of this slot's body bytes and retry jitter.
    pub seed: u64,
}

impl Slot {
    /// Unique per slot, so rows can be counted per slot in the database.
    pub fn file_name(&self, run_seed: u64) -> String {
        let kind = if self.key.is_some() { 'k' } else { 'u' };
        format!("soak-{run_seed}-{kind}{}.wav", self.index)
    }

    pub fn body(&self) -> Vec<u8> {
        let mut r = Rng::new(self.seed);
        (0..self.size).map(|_| r.next() as u8).collect()
    }
}

/// `uploads` slots that upload and `abandoned` that do not, in a seeded
/// order. Half send an Idempotency-Key; of those, about a third abandon a
/// first attempt after a few milliseconds and a fifth send two at once.
pub fn slots(seed: u64, uploads: usize, abandoned: usize) -> Vec<Slot> {
    let total = uploads + abandoned;
    let mut order = Rng::fork(seed, 1);
    let mut is_abandoned: Vec<bool> = (0..total).map(|i| i < abandoned).collect();
    for i in (1..total).rev() {
        let j = order.range(0, i as u64) as usize;
        is_abandoned.swap(i, j);
    }
    (0..total)
        .map(|index| {
            let mut r = Rng::fork(seed, 1000 + index as u64);
            let keyed = r.chance(0.5);
            let repeat = match r.range(0, 99) {
                _ if !keyed => Repeat::No,
                0..35 => Repeat::AfterTimeout(r.range(1, 40)),
                35..55 => Repeat::Concurrent,
                _ => Repeat::No,
            };
            Slot {
                index,
                key: keyed.then(|| format!("soak-{seed}-{index}")),
                repeat,
                abandoned: is_abandoned[index],
                size: r.range(256, 8192) as usize,
                think: Duration::from_millis(r.range(0, 1000)),
                seed: r.next(),
            }
        })
        .collect()
}

/// `n` more uploads after the faults (keyed, no repeats), numbered from
/// `first`: the API must serve them without a restart.
pub fn recovery_slots(seed: u64, first: usize, n: usize) -> Vec<Slot> {
    (first..first + n)
        .map(|index| {
            let mut r = Rng::fork(seed, 1000 + index as u64);
            Slot {
                index,
                key: Some(format!("soak-{seed}-{index}")),
                repeat: Repeat::No,
                abandoned: false,
                size: r.range(256, 8192) as usize,
                think: Duration::ZERO,
                seed: r.next(),
            }
        })
        .collect()
}

/// A database fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFault {
    /// `pg_terminate_backend` on every backend of the stack's database.
    KillAll,
    /// The database refuses connections for this long (existing ones killed).
    Outage(Duration),
}

/// When (as a fraction of the slots done) each fault fires: four kills and
/// two outages of 3-5 s, spread over the run.
pub fn db_faults(seed: u64) -> Vec<(f64, DbFault)> {
    let mut when = Rng::fork(seed, 2);
    let mut length = Rng::fork(seed, 3);
    let mut at = |lo: u64, hi: u64| when.range(lo, hi) as f64 / 100.0;
    let mut outage = || DbFault::Outage(Duration::from_millis(length.range(3000, 5000)));
    let mut faults = vec![
        (at(5, 15), DbFault::KillAll),
        (at(20, 30), DbFault::KillAll),
        (at(32, 42), outage()),
        (at(50, 60), DbFault::KillAll),
        (at(62, 72), outage()),
        (at(75, 85), DbFault::KillAll),
    ];
    faults.sort_by(|a, b| a.0.total_cmp(&b.0));
    faults
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_fixed_by_the_seed() {
        let a = slots(7, 300, 40);
        assert_eq!(a.len(), 340);
        assert_eq!(a.iter().filter(|s| s.abandoned).count(), 40);
        let b = slots(7, 300, 40);
        assert!(a.iter().zip(&b).all(|(x, y)| x.key == y.key
            && x.repeat == y.repeat
            && x.abandoned == y.abandoned
            && x.body() == y.body()));
        assert!(a.iter().any(|s| s.repeat == Repeat::Concurrent));
        assert!(
            a.iter()
                .any(|s| matches!(s.repeat, Repeat::AfterTimeout(_)))
        );
        assert!(a.iter().any(|s| s.key.is_none()));
        assert_eq!(db_faults(7), db_faults(7));
        assert_eq!(db_faults(7).len(), 6);
    }
}
