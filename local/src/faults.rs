//! Seeded fault injection for S3 notification delivery
//! (`--notification-faults`): some notifications are lost, some arrive late,
//! some arrive two or three times, as S3 and Lambda's async invocation may
//! do. The same seed gives the same sequence of decisions.

use std::str::FromStr;
use std::time::Duration;

/// The `--notification-faults` setting: `seed=N,drop=P,delay=P,dup=P,max-delay-ms=N`
/// (probabilities in 0..=1; every part optional; `max-delay-ms` default 3000).
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationFaults {
    pub seed: u64,
    /// Probability that a notification is never delivered.
    pub drop: f64,
    /// Probability that a notification is delivered late.
    pub delay: f64,
    /// Probability that a notification is delivered 2 or 3 times.
    pub duplicate: f64,
    /// Upper bound of an injected delay.
    pub max_delay: Duration,
}

impl Default for NotificationFaults {
    fn default() -> Self {
        Self {
            seed: 1,
            drop: 0.0,
            delay: 0.0,
            duplicate: 0.0,
            max_delay: Duration::from_millis(3000),
        }
    }
}

impl FromStr for NotificationFaults {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let mut f = Self::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or(format!("expected KEY=VALUE, got {part:?}"))?;
            let v = v.trim();
            let int = || {
                v.parse::<u64>()
                    .map_err(|_| format!("{k} must be a non-negative integer, got {v:?}"))
            };
            let rate = || {
                v.parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .ok_or(format!("{k} must be a probability in 0..=1, got {v:?}"))
            };
            match k.trim() {
                "seed" => f.seed = int()?,
                "drop" => f.drop = rate()?,
                "delay" => f.delay = rate()?,
                "dup" | "duplicate" => f.duplicate = rate()?,
                "max-delay-ms" => f.max_delay = Duration::from_millis(int()?.min(600_000)),
                other => {
                    return Err(format!(
                        "unknown key {other:?} (expected seed, drop, delay, dup, max-delay-ms)"
                    ));
                }
            }
        }
        Ok(f)
    }
}

/// What happens to one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Never delivered.
    Drop,
    /// Delivered once per entry, each copy after its delay (the first entry
    /// is the original; more entries are redeliveries).
    Deliver(Vec<Duration>),
}

impl Plan {
    /// No fault: one delivery, now.
    pub fn once() -> Self {
        Plan::Deliver(vec![Duration::ZERO])
    }
}

/// Draws one [`Plan`] per notification, in arrival order.
#[derive(Debug, Clone)]
pub struct Injector {
    faults: NotificationFaults,
    rng: SplitMix64,
}

impl Injector {
    pub fn new(faults: NotificationFaults) -> Self {
        let rng = SplitMix64(faults.seed);
        Self { faults, rng }
    }

    /// The next notification's fate.
    pub fn plan(&mut self) -> Plan {
        let f = &self.faults;
        let max_ms = f.max_delay.as_millis() as u64;
        if self.rng.chance(f.drop) {
            return Plan::Drop;
        }
        let first = if self.rng.chance(f.delay) {
            Duration::from_millis(self.rng.range(max_ms / 10, max_ms))
        } else {
            Duration::ZERO
        };
        let mut copies = vec![first];
        if self.rng.chance(f.duplicate) {
            let extra = 1 + self.rng.range(0, 1);
            for _ in 0..extra {
                copies.push(Duration::from_millis(self.rng.range(0, max_ms)));
            }
        }
        Plan::Deliver(copies)
    }
}

/// One JSON log line per injected fault (`event = "notification_fault"`,
/// `fault` = `drop`, `delay` or `duplicate`), with the decoded object key.
pub fn log(plan: &Plan, key: &str) {
    match plan {
        Plan::Drop => {
            tracing::warn!(
                event = "notification_fault",
                fault = "drop",
                key,
                "fault injection: notification lost"
            );
        }
        Plan::Deliver(copies) => {
            if let Some(first) = copies.first().filter(|d| !d.is_zero()) {
                let delay_ms = first.as_millis() as u64;
                tracing::info!(
                    event = "notification_fault",
                    fault = "delay",
                    delay_ms,
                    key,
                    "fault injection: notification delayed"
                );
            }
            if copies.len() > 1 {
                let copies = copies.len();
                tracing::info!(
                    event = "notification_fault",
                    fault = "duplicate",
                    copies,
                    key,
                    "fault injection: notification delivered more than once"
                );
            }
        }
    }
}

/// SplitMix64: small, seedable, good enough to pick faults.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next() % (hi - lo + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_spec_and_rejects_bad_ones() {
        let f: NotificationFaults = "seed=7, drop=0.05,delay=0.2,dup=0.1,max-delay-ms=500"
            .parse()
            .unwrap();
        assert_eq!(
            f,
            NotificationFaults {
                seed: 7,
                drop: 0.05,
                delay: 0.2,
                duplicate: 0.1,
                max_delay: Duration::from_millis(500)
            }
        );
        assert_eq!(
            "".parse::<NotificationFaults>().unwrap(),
            NotificationFaults::default()
        );
        for bad in [
            "drop=2",
            "drop=-0.1",
            "seed=x",
            "loss=0.1",
            "drop",
            "delay=NaN",
        ] {
            assert!(bad.parse::<NotificationFaults>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_at_about_the_rates_asked() {
        let f: NotificationFaults = "seed=42,drop=0.1,delay=0.2,dup=0.3,max-delay-ms=1000"
            .parse()
            .unwrap();
        let plans = |f: &NotificationFaults| {
            let mut i = Injector::new(f.clone());
            (0..2000).map(|_| i.plan()).collect::<Vec<_>>()
        };
        let a = plans(&f);
        assert_eq!(a, plans(&f));
        let drops = a.iter().filter(|p| **p == Plan::Drop).count();
        let copies: Vec<&Vec<Duration>> = a
            .iter()
            .filter_map(|p| match p {
                Plan::Deliver(c) => Some(c),
                Plan::Drop => None,
            })
            .collect();
        let dups = copies.iter().filter(|c| c.len() > 1).count();
        let delayed = copies.iter().filter(|c| !c[0].is_zero()).count();
        assert!((150..250).contains(&drops), "{drops}");
        assert!((440..640).contains(&dups), "{dups}");
        assert!((260..460).contains(&delayed), "{delayed}");
        assert!(copies.iter().all(|c| c.len() <= 3));
        assert!(
            copies
                .iter()
                .flat_map(|c| c.iter())
                .all(|d| d.as_millis() <= 1000)
        );
        let other = NotificationFaults { seed: 43, ..f };
        assert_ne!(a, plans(&other));
    }

    #[test]
    fn no_faults_means_one_delivery_now() {
        let mut i = Injector::new(NotificationFaults::default());
        assert!((0..100).all(|_| i.plan() == Plan::once()));
    }
}
