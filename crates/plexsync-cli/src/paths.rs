//! The stable Plex client identifier, kept in a file of its own.
//!
//! Plex lists every new identifier as a new device, so the identifier must never change. A
//! reader that may write nothing (`health`) computes the same identifier a writer stores:
//! it is derived from the data directory, with a hash that does not change between versions.

use std::io::Write;

use crate::config::Paths;

/// The identifier: the stored one, or the one that would be stored.
pub(crate) fn client_id(paths: &Paths) -> String {
    match std::fs::read_to_string(&paths.client_id) {
        Ok(text) => {
            let id = text.trim();
            if !id.is_empty() && id.len() <= 100 && id.bytes().all(|b| b.is_ascii_graphic()) {
                return id.to_owned();
            }
            derived(paths)
        }
        Err(_) => derived(paths),
    }
}

/// Stores the identifier if none is stored yet (mode 0600). Failing to store it is not
/// fatal: the same identifier is derived next time.
pub(crate) fn keep_client_id(paths: &Paths) {
    if paths.client_id.exists() {
        return;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    if let Ok(mut file) = options.open(&paths.client_id) {
        let _ = writeln!(file, "{}", derived(paths));
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
