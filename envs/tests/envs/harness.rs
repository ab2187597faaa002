//! Shared helpers for the integration tests.

use std::path::PathBuf;

/// The folder of Gymnasium recordings, beside the workspace.
pub fn recordings_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/gymnasium"
    ))
}

/// Every `.jsonl` recording, sorted.
pub fn recordings() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(recordings_dir())
        .expect("shared/gymnasium beside the workspace")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
}

/// The first `n` lines of a recording, joined back into a string.
pub fn head(name: &str, n: usize) -> String {
    let text = std::fs::read_to_string(recordings_dir().join(name)).unwrap();
    text.lines().take(n).map(|l| format!("{l}\n")).collect()
}

/// Asserts at compile time that `T` can move to another thread.
pub fn assert_send<T: Send>() {}
