//! One record per line, each guarded by a checksum.
//!
//! ```text
//! <crc32, 8 hex digits> <json>\n                        snapshot lines
//! <crc32, 8 hex digits> <offset, 16 hex digits> <json>\n  journal lines
//! ```
//!
//! The checksum covers everything after its own space. A journal line also states the byte
//! offset it was written at, so a line read anywhere else proves that bytes were added or
//! removed before it. A line whose checksum does not match, or that is not the JSON expected,
//! is skipped and counted; the lines around it are unaffected. `cut -c10- | jq` reads a
//! snapshot by hand, `cut -c27- | jq` a journal segment.

use serde::Serialize;

/// Appends `record` as one framed line to `out`, stating `offset` if given.
pub(crate) fn encode(
    record: &impl Serialize,
    offset: Option<u64>,
    out: &mut Vec<u8>,
) -> serde_json::Result<()> {
    let start = out.len();
    out.extend_from_slice(b"00000000 ");
    if let Some(offset) = offset {
        out.extend_from_slice(format!("{offset:016x} ").as_bytes());
    }
    serde_json::to_writer(&mut *out, record)?;
    let crc = crc32fast::hash(&out[start + 9..]);
    out[start..start + 8].copy_from_slice(format!("{crc:08x}").as_bytes());
    out.push(b'\n');
    Ok(())
}

/// The stated offset (if any) and the JSON of a line whose checksum matches.
/// `None` if the checksum does not match or the framing is wrong. What the JSON says is for
/// the caller ([`crate::queue`]'s `read_op` and `read_record`) to decide.
pub(crate) fn frame(line: &[u8]) -> Option<(Option<u64>, &[u8])> {
    if line.len() < 10 || line[8] != b' ' {
        return None;
    }
    let expected = std::str::from_utf8(&line[..8])
        .ok()
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())?;
    let body = &line[9..];
    if crc32fast::hash(body) != expected {
        return None;
    }
    if body.first() == Some(&b'{') {
        return Some((None, body));
    }
    if body.len() < 18 || body[16] != b' ' {
        return None;
    }
    let offset = std::str::from_utf8(&body[..16])
        .ok()
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())?;
    Some((Some(offset), &body[17..]))
}
