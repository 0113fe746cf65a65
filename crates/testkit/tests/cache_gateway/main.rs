//! The response cache and request coalescing, end to end through a gateway and the
//! simulator: exact hits, TTL and Cache-Control, tenant isolation, near-duplicate hits and
//! the near-miss guard, coalescing of 100 concurrent requests (JSON and streamed), errors
//! and disconnects in a flight, and two gateways sharing Redis (skipped without REDIS_URL).
//! (`cfg(test)` on the modules lets clippy treat their helpers as test code.)

#[cfg(test)]
mod coalesce;
#[cfg(test)]
mod common;
#[cfg(test)]
mod exact;
#[cfg(test)]
mod redis;
#[cfg(test)]
mod semantic;
