//! Key pools: several keys per provider.
//!
//! - **429**: OpenAI, Anthropic and Gemini limit each model separately, so a 429 rests the
//!   (key, upstream model) pair for the upstream's retry-after (or a default); the same key
//!   keeps serving the provider's other models, and the next request for that model uses
//!   another key.
//! - **401/403**: the key leaves rotation for a back-off (default 60 s, doubling to 15 min,
//!   `[providers.X] dead_key_backoff` / `dead_key_backoff_max`). When it runs out, one request
//!   probes the key (the others keep skipping it); a success revives it, another rejection
//!   doubles the back-off. A transient 401 or a key the operator fixed recovers without a
//!   restart; a reload with a changed key list builds a fresh pool.
//!
//! When no key is usable for a model the provider is exhausted, which is a distinct, clear
//! error. The state lives in this process: replicas learn of a bad or throttled key on their
//! own (the `[state]` store holds the cache, not key health).

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use switchyard_core::Secret;

/// First back-off of a rejected key before it is probed again.
pub const DEAD_KEY_BACKOFF: Duration = Duration::from_secs(60);
/// Longest back-off of a key rejected again and again.
pub const DEAD_KEY_BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);

#[derive(Debug)]
pub struct KeyPool {
    keys: Vec<KeySlot>,
    next: AtomicUsize,
    epoch: Instant,
    /// Back-off of a rejected key, first and longest (ms); set from config on every build.
    backoff_ms: AtomicU64,
    backoff_max_ms: AtomicU64,
}

#[derive(Debug)]
struct KeySlot {
    secret: Secret,
    /// 401/403s since the key last worked; 0 = in rotation.
    strikes: AtomicU32,
    /// Milliseconds since `epoch` until which a rejected key stays out; after it, the request
    /// that claims the probe moves it forward by another back-off.
    dead_until_ms: AtomicU64,
    /// Rests after a 429, by upstream model: (model, ms since `epoch`).
    cooling: Mutex<Vec<(Box<str>, u64)>>,
    /// The latest end of any rest in `cooling`: past it, pick skips the lock.
    cool_max_ms: AtomicU64,
}

/// Why no key could be picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysExhausted {
    /// Every key was rejected by the upstream (401/403); the next probe is due after this long.
    AllDead(Duration),
    /// Every live key is cooling down for this model after a 429; the soonest is usable after
    /// this long.
    AllCooling(Duration),
    /// Live keys exist but the circuit breaker of each one's deployment is open.
    BreakersOpen,
}

/// (usable, cooling, dead) key counts for one model.
pub type KeyStatus = (usize, usize, usize);

impl KeyPool {
    pub fn new(keys: Vec<Secret>) -> Self {
        KeyPool {
            keys: keys
                .into_iter()
                .map(|secret| KeySlot {
                    secret,
                    strikes: AtomicU32::new(0),
                    dead_until_ms: AtomicU64::new(0),
                    cooling: Mutex::new(Vec::new()),
                    cool_max_ms: AtomicU64::new(0),
                })
                .collect(),
            next: AtomicUsize::new(0),
            epoch: Instant::now(),
            backoff_ms: AtomicU64::new(ms(DEAD_KEY_BACKOFF)),
            backoff_max_ms: AtomicU64::new(ms(DEAD_KEY_BACKOFF_MAX)),
        }
    }

    /// Set the back-off of rejected keys (first, longest); keys already out keep their date.
    pub fn set_dead_backoff(&self, first: Duration, max: Duration) {
        self.backoff_ms.store(ms(first).max(1), Ordering::Relaxed);
        self.backoff_max_ms
            .store(ms(max).max(ms(first)).max(1), Ordering::Relaxed);
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn now_ms(&self) -> u64 {
        ms(self.epoch.elapsed())
    }

    fn at_ms(&self, now: Instant) -> u64 {
        ms(now.saturating_duration_since(self.epoch))
    }

    /// The back-off after `strikes` rejections in a row: doubling from the first, capped.
    fn backoff(&self, strikes: u32) -> u64 {
        let first = self.backoff_ms.load(Ordering::Relaxed);
        let max = self.backoff_max_ms.load(Ordering::Relaxed);
        first
            .saturating_mul(1u64 << strikes.saturating_sub(1).min(32))
            .min(max)
    }

    /// Round-robin over keys usable for `model`. `Ok(None)` for a keyless provider.
    pub fn pick(&self, model: &str) -> Result<Option<(usize, Secret)>, KeysExhausted> {
        self.pick_with(model, |_| Some(()))
            .map(|o| o.map(|(i, s, ())| (i, s)))
    }

    /// Round-robin over keys usable for `model` that `admit` also accepts (the deployment's
    /// circuit breaker); `admit` is called only for live, rested keys, at most once each, and
    /// its token is returned with the key. A rejected key whose back-off ran out is returned
    /// to one caller only (the probe). `Ok(None)` for a keyless provider.
    pub fn pick_with<P>(
        &self,
        model: &str,
        mut admit: impl FnMut(usize) -> Option<P>,
    ) -> Result<Option<(usize, Secret, P)>, KeysExhausted> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        let now = self.now_ms();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.keys.len();
        let mut soonest_cool: Option<u64> = None;
        let mut soonest_probe: Option<u64> = None;
        let mut refused = false;
        for i in 0..n {
            let idx = (start + i) % n;
            let k = &self.keys[idx];
            let strikes = k.strikes.load(Ordering::Relaxed);
            let dead_until = k.dead_until_ms.load(Ordering::Relaxed);
            if strikes > 0 && dead_until > now {
                soonest_probe = Some(soonest_probe.map_or(dead_until, |s| s.min(dead_until)));
                continue;
            }
            if let Some(until) = k.cooling_for(model, now) {
                soonest_cool = Some(soonest_cool.map_or(until, |s| s.min(until)));
                continue;
            }
            let Some(p) = admit(idx) else {
                refused = true;
                continue;
            };
            // A probe: claim it, so concurrent requests keep skipping the key meanwhile.
            if strikes > 0 {
                let next = now + self.backoff(strikes);
                let claimed = k
                    .dead_until_ms
                    .compare_exchange(dead_until, next, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok();
                if !claimed {
                    continue; // another request probes it; `p` is dropped, releasing the permit
                }
            }
            return Ok(Some((idx, k.secret.clone(), p)));
        }
        match (soonest_cool, soonest_probe) {
            (Some(until), _) => Err(KeysExhausted::AllCooling(Duration::from_millis(
                until - now,
            ))),
            _ if refused => Err(KeysExhausted::BreakersOpen),
            (None, Some(until)) => Err(KeysExhausted::AllDead(Duration::from_millis(
                until.saturating_sub(now),
            ))),
            // Only a probe claimed by someone else between our reads: the key is busy.
            (None, None) => Err(KeysExhausted::AllDead(Duration::ZERO)),
        }
    }

    /// The upstream rejected key `idx` (401/403): out of rotation for the next back-off.
    pub fn mark_dead(&self, idx: usize) {
        if let Some(k) = self.keys.get(idx) {
            let strikes = k.strikes.fetch_add(1, Ordering::Relaxed).saturating_add(1);
            let until = self.now_ms() + self.backoff(strikes);
            k.dead_until_ms.store(until, Ordering::Relaxed);
        }
    }

    /// A call with key `idx` succeeded: a rejected key being probed is back in rotation.
    pub fn mark_ok(&self, idx: usize) {
        if let Some(k) = self.keys.get(idx) {
            if k.strikes.load(Ordering::Relaxed) > 0 {
                k.strikes.store(0, Ordering::Relaxed);
                k.dead_until_ms.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Key `idx` got a 429 for `model`: rest that pair for `d`.
    pub fn cool_down(&self, idx: usize, model: &str, d: Duration) {
        if let Some(k) = self.keys.get(idx) {
            let now = self.now_ms();
            let until = now.saturating_add(ms(d));
            let mut cooling = k.cooling.lock();
            cooling.retain(|(_, u)| *u > now);
            match cooling.iter_mut().find(|(m, _)| &**m == model) {
                Some((_, u)) => *u = (*u).max(until),
                None => cooling.push((model.into(), until)),
            }
            k.cool_max_ms.fetch_max(until, Ordering::Relaxed);
        }
    }

    /// (usable, cooling, dead) counts for `model`, for `/v1/models` and metrics. A rejected
    /// key due for its probe counts as usable: a request may use it.
    pub fn status(&self, model: &str) -> KeyStatus {
        self.status_ms(model, self.now_ms())
    }

    /// [`KeyPool::status`] at `now`: a routing decision reads the clock once for all its
    /// candidates instead of once per pool.
    pub fn status_at(&self, model: &str, now: Instant) -> KeyStatus {
        self.status_ms(model, self.at_ms(now))
    }

    fn status_ms(&self, model: &str, now: u64) -> KeyStatus {
        let mut s = (0, 0, 0);
        for k in &self.keys {
            if k.is_dead(now) {
                s.2 += 1;
            } else if k.cooling_for(model, now).is_some() {
                s.1 += 1;
            } else {
                s.0 += 1;
            }
        }
        s
    }

    /// Keys out of rotation after a 401/403 at `now`, and how long until the soonest probe.
    pub fn dead_at(&self, now: Instant) -> (usize, Option<Duration>) {
        let now = self.at_ms(now);
        let dead = self.keys.iter().filter(|k| k.is_dead(now));
        let soonest = dead
            .clone()
            .map(|k| k.dead_until_ms.load(Ordering::Relaxed))
            .min();
        (
            dead.count(),
            soonest.map(|u| Duration::from_millis(u.saturating_sub(now))),
        )
    }
}

impl KeySlot {
    fn is_dead(&self, now: u64) -> bool {
        self.strikes.load(Ordering::Relaxed) > 0 && self.dead_until_ms.load(Ordering::Relaxed) > now
    }

    /// When `model`'s rest on this key ends, if it is resting at `now`.
    fn cooling_for(&self, model: &str, now: u64) -> Option<u64> {
        if self.cool_max_ms.load(Ordering::Relaxed) <= now {
            return None;
        }
        self.cooling
            .lock()
            .iter()
            .find(|(m, u)| &**m == model && *u > now)
            .map(|(_, u)| *u)
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2)
}

/// A provider none of whose keys is usable right now (every one rejected with 401/403 and
/// waiting for its probe), as `/ready` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyOutage {
    pub provider: String,
    pub keys: usize,
    /// Until the soonest key is probed again.
    pub next_probe_ms: u64,
}

impl crate::runtime::Engine {
    /// Every provider with keys but none usable, and whether any provider can still serve.
    pub fn key_outages(&self) -> (Vec<KeyOutage>, bool) {
        let now = Instant::now();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let mut serving = false;
        for m in &self.models {
            if !seen.insert(m.provider_name.as_str()) {
                continue;
            }
            let (dead, probe) = m.keys.dead_at(now);
            if m.keys.is_empty() || dead < m.keys.len() {
                serving = true;
                continue;
            }
            out.push(KeyOutage {
                provider: m.provider_name.clone(),
                keys: m.keys.len(),
                next_probe_ms: probe.map_or(0, ms),
            });
        }
        (out, serving)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> KeyPool {
        KeyPool::new((0..n).map(|i| Secret::new(format!("k{i}"))).collect())
    }

    #[test]
    fn rotates_cools_and_dies() {
        let p = pool(2);
        let (i1, _) = p.pick("m").unwrap().unwrap();
        let (i2, _) = p.pick("m").unwrap().unwrap();
        assert_ne!(i1, i2);
        p.cool_down(0, "m", Duration::from_secs(60));
        for _ in 0..4 {
            assert_eq!(p.pick("m").unwrap().unwrap().0, 1);
        }
        p.mark_dead(1);
        assert!(matches!(p.pick("m"), Err(KeysExhausted::AllCooling(_))));
        p.mark_dead(0);
        assert!(
            matches!(p.pick("m"), Err(KeysExhausted::AllDead(d)) if d > Duration::from_secs(50))
        );
        assert_eq!(KeyPool::new(vec![]).pick("m"), Ok(None));
    }

    /// Rate limits are per model: a 429 for one model leaves the key usable for the others.
    #[test]
    fn a_rate_limit_rests_the_key_for_that_model_only() {
        let p = pool(1);
        p.cool_down(0, "sonnet", Duration::from_secs(45));
        assert!(
            matches!(p.pick("sonnet"), Err(KeysExhausted::AllCooling(d)) if d > Duration::from_secs(40))
        );
        assert_eq!(p.pick("haiku").unwrap().unwrap().0, 0);
        assert_eq!(p.status("sonnet"), (0, 1, 0));
        assert_eq!(p.status("haiku"), (1, 0, 0));
        // A shorter rest does not shorten a longer one; another model's rest is separate.
        p.cool_down(0, "sonnet", Duration::from_millis(1));
        p.cool_down(0, "haiku", Duration::ZERO);
        assert!(p.pick("sonnet").is_err());
        assert!(p.pick("haiku").is_ok());
    }

    #[test]
    fn pick_with_skips_refused_keys_and_says_why() {
        let p = pool(2);
        for _ in 0..4 {
            let (i, _, ()) = p
                .pick_with("m", |i| (i == 1).then_some(()))
                .unwrap()
                .unwrap();
            assert_eq!(i, 1);
        }
        assert_eq!(
            p.pick_with("m", |_| None::<()>).err(),
            Some(KeysExhausted::BreakersOpen)
        );
        p.mark_dead(0);
        p.mark_dead(1);
        assert!(matches!(
            p.pick_with("m", |_| Some(())).err(),
            Some(KeysExhausted::AllDead(_))
        ));
    }

    /// A rejected key is probed by one request once its back-off runs out; a success revives
    /// it, another rejection doubles the back-off up to the cap.
    #[test]
    fn a_rejected_key_is_probed_after_its_backoff_and_revived() {
        let p = pool(1);
        p.set_dead_backoff(Duration::from_millis(30), Duration::from_millis(50));
        assert_eq!(p.backoff(1), 30);
        assert_eq!(p.backoff(2), 50);
        p.mark_dead(0);
        assert_eq!(p.status("m"), (0, 0, 1));
        assert!(matches!(p.pick("m"), Err(KeysExhausted::AllDead(_))));
        std::thread::sleep(Duration::from_millis(40));
        // Due for a probe: counted usable, handed to exactly one caller.
        assert_eq!(p.status("m"), (1, 0, 0));
        assert_eq!(p.pick("m").unwrap().unwrap().0, 0);
        assert!(matches!(p.pick("m"), Err(KeysExhausted::AllDead(_))));
        // The probe is rejected again: out for the doubled (capped) back-off.
        p.mark_dead(0);
        std::thread::sleep(Duration::from_millis(35));
        assert!(p.pick("m").is_err(), "50 ms back-off, not 30");
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(p.pick("m").unwrap().unwrap().0, 0);
        p.mark_ok(0);
        for _ in 0..3 {
            assert_eq!(p.pick("m").unwrap().unwrap().0, 0);
        }
        assert_eq!(p.status("m"), (1, 0, 0));
        assert_eq!(p.dead_at(Instant::now()), (0, None));
    }
}
