//! What `plexsync doctor` asks Plex beyond health: what it is busy with (`/activities`), its
//! scheduled-maintenance window (`/:/prefs`), a page of a section, and whether the token may
//! edit.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{Located, PlexClient, encode_segment};
use crate::error::{FailureKind, PlexError};
use crate::http::Request;
use crate::model::{Envelope, Item, ItemList, Section};

/// Something Plex is doing, as `/activities` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Plex's id for it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    /// Its kind, e.g. `library.update.section` (a scan).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// What Plex calls it.
    #[serde(default)]
    pub title: String,
    /// More detail.
    #[serde(default)]
    pub subtitle: String,
    /// Percent done.
    #[serde(default)]
    pub progress: Option<u32>,
}

/// Plex's scheduled-maintenance (Butler) window: hours of the server's day, `start` to `end`
/// (it may wrap past midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ButlerWindow {
    /// `ButlerStartHour`.
    pub start: u8,
    /// `ButlerEndHour`.
    pub end: u8,
    /// Whether Plex reported the hours (otherwise they are its defaults, 2 to 5).
    pub reported: bool,
}

impl ButlerWindow {
    /// Whether `hour` (0-23, the server's local time) is inside the window.
    pub fn contains(&self, hour: u8) -> bool {
        if self.start <= self.end {
            (self.start..self.end).contains(&hour)
        } else {
            hour >= self.start || hour < self.end
        }
    }
}

/// A Plex release waiting to be installed, as `/updater/status` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Its version.
    #[serde(default)]
    pub version: String,
    /// Where the update stands (e.g. `available`, `downloaded`).
    #[serde(default)]
    pub state: String,
}

#[derive(Deserialize)]
struct ReleaseList {
    #[serde(rename = "Release", default)]
    releases: Vec<Release>,
}

#[derive(Deserialize)]
struct ActivityList {
    #[serde(rename = "Activity", default)]
    activities: Vec<Activity>,
}

#[derive(Deserialize)]
struct SettingList {
    #[serde(rename = "Setting", default)]
    settings: Vec<Setting>,
}

#[derive(Deserialize)]
struct Setting {
    id: String,
    #[serde(default)]
    value: serde_json::Value,
}

impl PlexClient {
    /// What Plex is doing: scans, optimisations, database work.
    pub async fn activities(&self) -> Result<Vec<Activity>, PlexError> {
        let envelope: Envelope<ActivityList> = self.fetch(self.get("/activities", &[])).await?;
        Ok(envelope.container.activities)
    }

    /// A release Plex has found and not installed, as it last checked (this asks Plex for no
    /// new check: that would be a request that changes something).
    pub async fn update_waiting(&self) -> Result<Option<Release>, PlexError> {
        let envelope: Envelope<ReleaseList> = self.fetch(self.get("/updater/status", &[])).await?;
        Ok(envelope.container.releases.into_iter().next())
    }

    /// How far Plex's clock is ahead of this machine's (negative: behind), from the `Date`
    /// header of the last answer; to the second at best. `None` before any answer had one.
    pub fn clock_offset(&self) -> Option<i64> {
        let (server, local) = self.transport.server_clock()?;
        let ms = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        };
        Some(ms(server) - ms(local))
    }

    /// The scheduled-maintenance window from Plex's preferences (2 to 5 when unset).
    pub async fn butler_window(&self) -> Result<ButlerWindow, PlexError> {
        let envelope: Envelope<SettingList> = self.fetch(self.get("/:/prefs", &[])).await?;
        let hour = |id: &str| {
            envelope
                .container
                .settings
                .iter()
                .find(|s| s.id == id)
                .and_then(|s| match &s.value {
                    serde_json::Value::Number(n) => n.as_u64(),
                    serde_json::Value::String(t) => t.parse().ok(),
                    _ => None,
                })
                .and_then(|h| u8::try_from(h).ok())
                .filter(|h| *h < 24)
        };
        Ok(match (hour("ButlerStartHour"), hour("ButlerEndHour")) {
            (Some(start), Some(end)) => ButlerWindow {
                start,
                end,
                reported: true,
            },
            _ => ButlerWindow {
                start: 2,
                end: 5,
                reported: false,
            },
        })
    }

    /// The first `size` movies or episodes of `section` and how many it holds (`None` for a
    /// section plexsync does not sync).
    pub async fn section_page(
        &self,
        section: &Section,
        size: u32,
    ) -> Result<Option<(Vec<Item>, u64)>, PlexError> {
        let Some(kind) = section.video_type() else {
            return Ok(None);
        };
        let path = format!("/library/sections/{}/all", encode_segment(&section.key));
        let headers = [
            ("x-plex-container-start", "0".to_owned()),
            ("x-plex-container-size", size.to_string()),
        ];
        let kind = kind.to_string();
        let listing: Envelope<ItemList> = self
            .fetch(self.get(&path, &[("type", &kind)]).with_headers(&headers))
            .await?;
        let items = listing.container.items;
        let total = listing.container.total_size.unwrap_or(items.len() as u64);
        Ok(Some((items, total)))
    }

    /// Whether the token may edit: an edit of `located` that changes no field (Plex is sent
    /// only the item's type and id). `Ok(false)` when Plex refuses it.
    pub async fn can_edit(&self, located: &Located) -> Result<bool, PlexError> {
        let url = self.edit_url(located, &[])?;
        match self
            .transport
            .send(Request::new(Method::PUT, url, self.config().read_timeout))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == FailureKind::Unauthorized => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ButlerWindow;

    #[test]
    fn a_window_may_wrap_past_midnight() {
        let night = ButlerWindow {
            start: 2,
            end: 5,
            reported: false,
        };
        assert!(night.contains(2) && night.contains(4));
        assert!(!night.contains(5) && !night.contains(1));
        let wrap = ButlerWindow {
            start: 23,
            end: 3,
            reported: true,
        };
        assert!(wrap.contains(23) && wrap.contains(0) && wrap.contains(2));
        assert!(!wrap.contains(3) && !wrap.contains(22));
    }
}
