//! In-process coalescing: the first request for a key leads (its upstream call runs in a task
//! of its own, so no client's disconnect cancels it), later identical requests join as
//! waiters. Every reader replays the flight's log from the start, so a waiter that joins
//! after chunks have gone out still gets every chunk; an upstream error ends every reader.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use switchyard_core::{ChatChunk, ChatResponse, Usd};
use tokio::sync::watch;

use super::key::KeyHash;
use crate::error::GatewayError;
use crate::pipeline::Meta;

#[derive(Clone)]
pub enum Head {
    Json {
        resp: Arc<ChatResponse>,
        meta: Meta,
        /// The answer came from another replica (or the store), not from this flight's leader.
        remote: bool,
        cost: Option<Usd>,
    },
    Stream {
        meta: Meta,
        remote: bool,
    },
    Failed {
        err: GatewayError,
        remote: bool,
    },
}

#[derive(Clone)]
pub enum End {
    /// `usage_chunk` is the leader's own final usage chunk (with its cost); `cost` what the
    /// answer cost, the saving of every waiter.
    Ok {
        usage_chunk: Option<ChatChunk>,
        cost: Option<Usd>,
    },
    Err(GatewayError),
}

#[derive(Default)]
struct State {
    head: Option<Head>,
    chunks: Vec<ChatChunk>,
    end: Option<End>,
}

pub struct Flight {
    state: Mutex<State>,
    tx: watch::Sender<u64>,
}

impl Flight {
    pub fn new() -> Arc<Flight> {
        Arc::new(Flight {
            state: Mutex::new(State::default()),
            tx: watch::channel(0).0,
        })
    }

    fn bump(&self) {
        self.tx.send_modify(|v| *v += 1);
    }

    pub fn set_head(&self, h: Head) {
        self.state.lock().head = Some(h);
        self.bump();
    }

    pub fn push(&self, c: ChatChunk) {
        self.state.lock().chunks.push(c);
        self.bump();
    }

    pub fn end(&self, e: End) {
        self.state.lock().end = Some(e);
        self.bump();
    }

    pub fn is_done(&self) -> bool {
        let s = self.state.lock();
        matches!(s.head, Some(Head::Failed { .. } | Head::Json { .. })) || s.end.is_some()
    }

    pub async fn head(&self) -> Head {
        let mut rx = self.tx.subscribe();
        loop {
            rx.borrow_and_update();
            if let Some(h) = self.state.lock().head.clone() {
                return h;
            }
            if rx.changed().await.is_err() {
                // The sender lives in `self`, so this cannot happen while we hold `self`.
                return Head::Failed {
                    err: GatewayError::new(
                        500,
                        "api_error",
                        "internal",
                        "coalesced flight vanished",
                    ),
                    remote: false,
                };
            }
        }
    }

    /// Chunks from index `from` on, and the end once every chunk has been read.
    pub async fn next(&self, from: usize) -> (Vec<ChatChunk>, Option<End>) {
        let mut rx = self.tx.subscribe();
        loop {
            rx.borrow_and_update();
            {
                let s = self.state.lock();
                if s.chunks.len() > from || s.end.is_some() {
                    let new = s.chunks[from.min(s.chunks.len())..].to_vec();
                    return (new, s.end.clone());
                }
            }
            if rx.changed().await.is_err() {
                return (
                    Vec::new(),
                    Some(End::Err(GatewayError::new(
                        500,
                        "api_error",
                        "internal",
                        "coalesced flight vanished",
                    ))),
                );
            }
        }
    }
}

/// The flights in progress, by exact key.
#[derive(Default)]
pub struct Flights {
    map: Mutex<HashMap<KeyHash, Arc<Flight>>>,
}

pub enum Join {
    Leader(Arc<Flight>, FlightGuard),
    Waiter(Arc<Flight>),
}

impl Flights {
    pub fn join(self: &Arc<Self>, key: KeyHash) -> Join {
        let mut m = self.map.lock();
        if let Some(f) = m.get(&key) {
            if !f.is_done() {
                return Join::Waiter(f.clone());
            }
        }
        let f = Flight::new();
        m.insert(key, f.clone());
        let guard = FlightGuard {
            flights: self.clone(),
            key,
            flight: f.clone(),
        };
        Join::Leader(f, guard)
    }

    pub fn in_flight(&self) -> usize {
        self.map.lock().len()
    }
}

/// Removes the flight from the table when its leader finishes (after the answer is stored,
/// so a request arriving next finds it in the cache).
pub struct FlightGuard {
    flights: Arc<Flights>,
    key: KeyHash,
    flight: Arc<Flight>,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut m = self.flights.map.lock();
        // A finished flight may already have been replaced by a newer one for the same key.
        if m.get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            m.remove(&self.key);
        }
    }
}
