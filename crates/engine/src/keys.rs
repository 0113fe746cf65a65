//! Key pools: several keys per provider. A key that gets 429 cools down for the upstream's
//! retry-after (or a default), so the next request uses another key; a key that gets 401/403
//! is dead until the config is reloaded. When no key is usable the provider is exhausted,
//! which is a distinct, clear error.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use switchyard_core::Secret;

#[derive(Debug)]
pub struct KeyPool {
    keys: Vec<KeySlot>,
    next: AtomicUsize,
    epoch: Instant,
}

#[derive(Debug)]
struct KeySlot {
    secret: Secret,
    dead: AtomicBool,
    /// Milliseconds since `epoch` until which this key rests after a 429.
    cool_until_ms: AtomicU64,
}

/// Why no key could be picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysExhausted {
    /// Every key was rejected by the upstream (401/403).
    AllDead,
    /// Every live key is cooling down after a 429; the soonest is usable after this long.
    AllCooling(Duration),
    /// Live keys exist but the circuit breaker of each one's deployment is open.
    BreakersOpen,
}

impl KeyPool {
    pub fn new(keys: Vec<Secret>) -> Self {
        KeyPool {
            keys: keys
                .into_iter()
                .map(|secret| KeySlot {
                    secret,
                    dead: AtomicBool::new(false),
                    cool_until_ms: AtomicU64::new(0),
                })
                .collect(),
            next: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Round-robin over usable keys. `Ok(None)` for a keyless provider.
    pub fn pick(&self) -> Result<Option<(usize, Secret)>, KeysExhausted> {
        self.pick_with(|_| Some(()))
            .map(|o| o.map(|(i, s, ())| (i, s)))
    }

    /// Round-robin over usable keys that `admit` also accepts (the deployment's circuit
    /// breaker); `admit` is called only for live, rested keys, at most once each, and its
    /// token is returned with the key. `Ok(None)` for a keyless provider.
    pub fn pick_with<P>(
        &self,
        mut admit: impl FnMut(usize) -> Option<P>,
    ) -> Result<Option<(usize, Secret, P)>, KeysExhausted> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        let now = self.now_ms();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.keys.len();
        let mut soonest: Option<u64> = None;
        let mut refused = false;
        for i in 0..n {
            let idx = (start + i) % n;
            let k = &self.keys[idx];
            if k.dead.load(Ordering::Relaxed) {
                continue;
            }
            let until = k.cool_until_ms.load(Ordering::Relaxed);
            if until > now {
                soonest = Some(soonest.map_or(until, |s| s.min(until)));
                continue;
            }
            match admit(idx) {
                Some(p) => return Ok(Some((idx, k.secret.clone(), p))),
                None => refused = true,
            }
        }
        match soonest {
            Some(until) => Err(KeysExhausted::AllCooling(Duration::from_millis(
                until - now,
            ))),
            None if refused => Err(KeysExhausted::BreakersOpen),
            None => Err(KeysExhausted::AllDead),
        }
    }

    pub fn mark_dead(&self, idx: usize) {
        if let Some(k) = self.keys.get(idx) {
            k.dead.store(true, Ordering::Relaxed);
        }
    }

    pub fn cool_down(&self, idx: usize, d: Duration) {
        if let Some(k) = self.keys.get(idx) {
            let until = self.now_ms() + u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2);
            k.cool_until_ms.fetch_max(until, Ordering::Relaxed);
        }
    }

    /// (usable, cooling, dead) counts, for `/v1/models` and metrics.
    pub fn status(&self) -> (usize, usize, usize) {
        self.status_ms(self.now_ms())
    }

    /// [`KeyPool::status`] at `now`: a routing decision reads the clock once for all its
    /// candidates instead of once per pool.
    pub fn status_at(&self, now: Instant) -> (usize, usize, usize) {
        let ms = now.saturating_duration_since(self.epoch).as_millis();
        self.status_ms(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    fn status_ms(&self, now: u64) -> (usize, usize, usize) {
        let mut s = (0, 0, 0);
        for k in &self.keys {
            if k.dead.load(Ordering::Relaxed) {
                s.2 += 1;
            } else if k.cool_until_ms.load(Ordering::Relaxed) > now {
                s.1 += 1;
            } else {
                s.0 += 1;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_cools_and_dies() {
        let p = KeyPool::new(vec![Secret::new("a"), Secret::new("b")]);
        let (i1, _) = p.pick().unwrap().unwrap();
        let (i2, _) = p.pick().unwrap().unwrap();
        assert_ne!(i1, i2);
        p.cool_down(0, Duration::from_secs(60));
        for _ in 0..4 {
            assert_eq!(p.pick().unwrap().unwrap().0, 1);
        }
        p.mark_dead(1);
        assert!(matches!(p.pick(), Err(KeysExhausted::AllCooling(_))));
        p.mark_dead(0);
        assert_eq!(p.pick(), Err(KeysExhausted::AllDead));
        assert_eq!(KeyPool::new(vec![]).pick(), Ok(None));
    }

    #[test]
    fn pick_with_skips_refused_keys_and_says_why() {
        let p = KeyPool::new(vec![Secret::new("a"), Secret::new("b")]);
        for _ in 0..4 {
            let (i, _, ()) = p.pick_with(|i| (i == 1).then_some(())).unwrap().unwrap();
            assert_eq!(i, 1);
        }
        assert_eq!(
            p.pick_with(|_| None::<()>).err(),
            Some(KeysExhausted::BreakersOpen)
        );
        p.mark_dead(0);
        p.mark_dead(1);
        assert_eq!(
            p.pick_with(|_| Some(())).err(),
            Some(KeysExhausted::AllDead)
        );
    }
}
