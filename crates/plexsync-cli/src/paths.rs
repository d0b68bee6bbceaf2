//! The stable Plex client identifier, kept in a file of its own.
//!
//! Plex lists every new identifier as a new device, so the identifier must never change. A
//! reader that may write nothing (`health`) computes the same identifier a writer stores:
//! it is derived from the data directory, with a hash that does not change between versions.

use crate::config::Paths;

/// The identifier: the stored one, or the one that would be stored.
pub(crate) fn client_id(paths: &Paths) -> String {
    stored(paths).unwrap_or_else(|| derived(paths))
}

/// The stored identifier, if the file holds one.
fn stored(paths: &Paths) -> Option<String> {
    let text = std::fs::read_to_string(&paths.client_id).ok()?;
    let id = text.trim();
    (!id.is_empty() && id.len() <= 100 && id.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| id.to_owned())
}

/// Stores the identifier unless one is stored (a file that is empty or holds no identifier,
/// as a full disk may leave it, is written again), whole or not at all. Failing to store it
/// is not fatal: the same identifier is derived next time.
pub(crate) fn keep_client_id(paths: &Paths) {
    if stored(paths).is_some() {
        return;
    }
    let line = format!("{}\n", derived(paths));
    if let Err(e) = persist::write_file(&paths.client_id, line.as_bytes()) {
        tracing::debug!("the Plex client identifier was not stored: {e}");
    }
}

fn derived(paths: &Paths) -> String {
    let dir = std::fs::canonicalize(&paths.data_dir).unwrap_or_else(|_| paths.data_dir.clone());
    // FNV-1a: fixed for good, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in dir.to_string_lossy().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("plexsync-{hash:016x}")
}
