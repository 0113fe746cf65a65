//! Shared by the calibration examples (`mod common;`): where the routing data lives.
#![allow(dead_code, reason = "each example uses a different subset")]

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

/// `rel` under [`data_dir`], or `None` after saying the example is skipped because it is missing.
#[expect(clippy::print_stdout, reason = "the examples report on stdout")]
pub fn data_file(rel: &str) -> Option<PathBuf> {
    let path = data_dir().join(rel);
    if path.exists() {
        return Some(path);
    }
    println!(
        "skipped: {} not found (set SWITCHYARD_ROUTING_DATA)",
        path.display()
    );
    None
}
