//! One record per line, each guarded by a checksum: `<crc32 as 8 hex digits> <json>\n`.
//!
//! A line whose checksum does not match, or that is not the JSON expected, is skipped and
//! counted; the lines around it are unaffected. `cut -c10- | jq` reads a file by hand.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Appends `record` as one framed line to `out`.
pub(crate) fn encode(record: &impl Serialize, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let start = out.len();
    out.extend_from_slice(b"00000000 ");
    serde_json::to_writer(&mut *out, record)?;
    let crc = crc32fast::hash(&out[start + 9..]);
    out[start..start + 8].copy_from_slice(format!("{crc:08x}").as_bytes());
    out.push(b'\n');
    Ok(())
}

/// Decodes one line (without its newline); `None` if it is damaged or not a `T`.
pub(crate) fn decode<T: DeserializeOwned>(line: &[u8]) -> Option<T> {
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
    serde_json::from_slice(body).ok()
}
