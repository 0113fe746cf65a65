//! Shared by the calibration examples (`mod common;`): where the routing data lives.

use std::path::PathBuf;

/// `SWITCHYARD_ROUTING_DATA`, else `../shared/routing-data` beside the repository.
pub fn data_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_ROUTING_DATA").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/routing-data"
            ))
        },
        PathBuf::from,
    )
}
