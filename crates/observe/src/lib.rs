//! Observability for the gateway, all fed from `RequestRecord` after a request completes so
//! nothing here sits on the request path:
//!
//! - [`log`]: the request log (bounded queue, batched writer, spill file when the store stalls).
//! - [`store`]: SQLite (default) and PostgreSQL stores with migrations, retention and aggregates.
//! - [`metrics`]: Prometheus text metrics with bounded label sets.
//! - [`otlp`]: OTLP/HTTP JSON trace export with GenAI semantic-convention attributes.
//! - [`report`]: spend, tokens, latency percentiles and savings from the log (`switchyard report`).
//! - [`ui`]: the `/ui` dashboard and its JSON API.

pub mod config;
pub mod log;
pub mod metrics;
pub mod otlp;
pub mod report;
pub mod spill;
pub mod store;
pub mod ui;

pub use config::{StoreConfig, StoreTarget, TelemetryConfig};
pub use log::{LogCounters, RequestLog};
pub use metrics::{Metrics, metrics_router};
pub use store::{
    AggQuery, AggRow, DeferredStore, GroupBy, PgStore, SqliteStore, Store, StoreError, open_store,
};
pub use ui::{UiState, ui_router};
