//! Which batches have a live runner in this process, and the shutdown signal they obey.
//!
//! A line whose upstream call has been made is billed, so a runner must not be dropped while
//! such a line is in flight: its answer would never be written and the next process would run
//! (and pay for) the line again. On shutdown the gateway therefore calls [`Runners::drain`]:
//! runners stop taking new lines, finish the ones in flight, write their answers, and end;
//! lines never started stay unanswered for the next process. The set of runners and the
//! stopping flag share one `watch` channel, so that claiming and stopping are one atomic step
//! (no runner can be claimed after `stop`) and waiting for "no runner left" needs no polling.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Debug, Default)]
struct State {
    ids: BTreeSet<String>,
    stopping: bool,
}

pub struct Runners {
    state: watch::Sender<State>,
    /// Lines answered after `stop`, i.e. lines that were in flight when shutdown began.
    drained: AtomicU64,
}

/// Held by a batch's one runner; dropping it (also by a panic) frees the batch.
pub struct Claim<'a> {
    runners: &'a Runners,
    id: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.runners.state.send_modify(|s| {
            s.ids.remove(&self.id);
        });
    }
}

/// What a drain achieved.
#[derive(Debug, PartialEq, Eq)]
pub struct Drained {
    /// Lines that were in flight when shutdown began and were answered and written.
    pub lines: u64,
    /// Batches whose runner was still busy at the deadline: their in-flight lines were
    /// abandoned, and the next process runs (and pays for) them again.
    pub abandoned: Vec<String>,
}

impl Default for Runners {
    fn default() -> Self {
        Runners {
            state: watch::Sender::new(State::default()),
            drained: AtomicU64::new(0),
        }
    }
}

impl Runners {
    /// The claim when the caller became this batch's one runner; `None` when another runner
    /// has it or shutdown has begun (the next process runs the batch).
    pub fn claim(&self, id: &str) -> Option<Claim<'_>> {
        let claimed = self
            .state
            .send_if_modified(|s| !s.stopping && s.ids.insert(id.to_owned()));
        claimed.then(|| Claim {
            runners: self,
            id: id.to_owned(),
        })
    }

    /// Shutdown has begun: runners take no new line.
    pub fn stopping(&self) -> bool {
        self.state.borrow().stopping
    }

    /// Resolves once shutdown has begun (at once if it already has).
    pub async fn stopped(&self) {
        let mut rx = self.state.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = rx.wait_for(|s| s.stopping).await;
    }

    /// Counts one line answered after shutdown began.
    pub fn drained_one(&self) {
        self.drained.fetch_add(1, Ordering::Relaxed);
    }

    /// Stops every runner (and any later claim), then waits until none is left or
    /// `deadline` passes.
    pub async fn drain(&self, deadline: Instant) -> Drained {
        self.state.send_modify(|s| s.stopping = true);
        let mut rx = self.state.subscribe();
        let _ = tokio::time::timeout_at(deadline, rx.wait_for(|s| s.ids.is_empty())).await;
        Drained {
            lines: self.drained.load(Ordering::Relaxed),
            abandoned: self.state.borrow().ids.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn one_runner_per_batch_and_a_dropped_claim_frees_it() {
        let r = Runners::default();
        let a = r.claim("batch_a");
        assert!(a.is_some());
        assert!(
            r.claim("batch_a").is_none(),
            "a second runner for the same batch"
        );
        assert!(
            r.claim("batch_b").is_some(),
            "another batch has its own runner"
        );
        drop(a);
        assert!(
            r.claim("batch_a").is_some(),
            "the claim was released on drop"
        );
    }

    #[tokio::test]
    async fn nothing_is_claimed_once_stopping() {
        let r = Runners::default();
        assert!(!r.stopping());
        let d = r.drain(soon(0)).await;
        assert_eq!(
            d,
            Drained {
                lines: 0,
                abandoned: vec![]
            }
        );
        assert!(r.stopping());
        assert!(
            r.claim("batch_a").is_none(),
            "a runner started during shutdown"
        );
        // Already stopped: resolves at once.
        tokio::time::timeout(Duration::from_secs(1), r.stopped())
            .await
            .expect("stopped resolves after stop");
    }

    #[tokio::test]
    async fn drain_waits_for_the_runners_and_counts_their_lines() {
        let r = std::sync::Arc::new(Runners::default());
        let runner = {
            let r = r.clone();
            tokio::spawn(async move {
                let _claim = r.claim("batch_a").expect("claimed");
                r.stopped().await;
                // The line in flight when shutdown began finishes and is written.
                tokio::time::sleep(Duration::from_millis(50)).await;
                r.drained_one();
            })
        };
        // Let the runner claim before the drain starts.
        while !r.state.borrow().ids.contains("batch_a") {
            tokio::task::yield_now().await;
        }
        let d = r.drain(soon(5_000)).await;
        assert_eq!(
            d,
            Drained {
                lines: 1,
                abandoned: vec![]
            }
        );
        runner.await.expect("runner ends");
    }

    #[tokio::test]
    async fn drain_gives_up_at_the_deadline_and_names_the_batch() {
        let r = Runners::default();
        let _stuck = r.claim("batch_stuck").expect("claimed");
        let started = std::time::Instant::now();
        let d = r.drain(soon(100)).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(d.abandoned, ["batch_stuck"]);
        assert_eq!(d.lines, 0);
    }
}
