//! The library operations a sync job needs.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use crate::config::{ConfigError, PlexConfig, redact};
use crate::edit::MetadataEdit;
use crate::error::{FailureKind, PlexError};
use crate::http::{Request, Transport};
use crate::model::{Envelope, Identity, Item, ItemList, Section, SectionList, ServerInfo};
use crate::walked::{Known, Walked};

/// A client for one Plex server. Cheap to clone; clones share connections.
#[derive(Clone, Debug)]
pub struct PlexClient {
    pub(crate) transport: std::sync::Arc<Transport>,
    walked: std::sync::Arc<Walked>,
}

/// An item found by its file, and the section it was found in.
///
/// The item is as the section listing shows it: Plex truncates tag lists there. Read it whole
/// with [`PlexClient::item`] before comparing it with anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The section.
    pub section: Section,
    /// The item.
    pub item: Item,
}

/// What an edit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The query pairs sent (after `type` and `id`); empty when Plex already matched and no
    /// request was made.
    pub sent: Vec<(String, String)>,
}

impl PlexClient {
    /// A client for the server `config` describes. Nothing is sent until a method is called.
    pub fn new(config: PlexConfig) -> Result<PlexClient, ConfigError> {
        Ok(PlexClient {
            transport: std::sync::Arc::new(Transport::new(config)?),
            walked: std::sync::Arc::default(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &PlexConfig {
        self.transport.config()
    }

    /// Sends a request and parses Plex's JSON answer.
    pub(crate) async fn fetch<T: DeserializeOwned>(
        &self,
        request: Request<'_>,
    ) -> Result<T, PlexError> {
        let shown = redact(&request.url);
        let body = self.transport.send(request).await?;
        parse(&body, &shown)
    }

    /// A GET of `path` with `query` and the read timeout, with the token, on a pooled
    /// connection.
    pub(crate) fn get(&self, path: &str, query: &[(&str, &str)]) -> Request<'static> {
        self.get_within(path, query, self.config().read_timeout)
    }

    /// [`PlexClient::get`] with its own timeout.
    pub(crate) fn get_within(
        &self,
        path: &str,
        query: &[(&str, &str)],
        timeout: Duration,
    ) -> Request<'static> {
        Request::new(Method::GET, self.url_with(path, query), timeout)
    }

    /// An authenticated GET with the read timeout.
    async fn get_library<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&'static str, String)],
    ) -> Result<T, PlexError> {
        self.fetch(self.get(path, query).with_headers(headers))
            .await
    }

    fn url_with(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.transport.url(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// The server's identity (`/identity`, which needs no token). A 404 there means the URL
    /// does not point at a Plex server: [`FailureKind::NotPlex`].
    pub async fn identity(&self) -> Result<Identity, PlexError> {
        let envelope: Envelope<Identity> = self
            .fetch(self.get("/identity", &[]).anonymous())
            .await
            .map_err(not_plex_if_missing)?;
        Ok(envelope.container)
    }

    /// The server's name and version, from `/` (which needs the token).
    pub async fn server_info(&self) -> Result<ServerInfo, PlexError> {
        self.server_info_within(self.config().read_timeout).await
    }

    /// [`PlexClient::server_info`], over within `timeout` whatever the server does.
    pub async fn server_info_within(&self, timeout: Duration) -> Result<ServerInfo, PlexError> {
        // On a connection of its own, like the health check it follows.
        let envelope: Envelope<ServerInfo> = self
            .fetch(self.get_within("/", &[], timeout).fresh())
            .await?;
        Ok(envelope.container)
    }

    /// The library sections. They change rarely: callers that look up many files pass them to
    /// [`PlexClient::find_by_file_in`] rather than fetch them for every lookup.
    pub async fn sections(&self) -> Result<Vec<Section>, PlexError> {
        let envelope: Envelope<SectionList> =
            self.get_library("/library/sections", &[], &[]).await?;
        Ok(envelope.container.directories)
    }

    /// One item, whole, by its rating key: every tag, the field locks, the files.
    pub async fn item(&self, rating_key: &str) -> Result<Item, PlexError> {
        let path = format!("/library/metadata/{}", encode_segment(rating_key));
        let envelope: Envelope<ItemList> = self.get_library(&path, &[], &[]).await?;
        envelope.container.items.into_iter().next().ok_or_else(|| {
            PlexError::new(
                FailureKind::NotFound,
                redact(&self.transport.url(&path)),
                format!("no item {rating_key}"),
            )
        })
    }

    /// [`PlexClient::find_by_file_in`] the sections as they are now (one more request).
    pub async fn find_by_file(&self, file: &str) -> Result<Located, PlexError> {
        let sections = self.sections().await?;
        self.find_by_file_in(&sections, file).await
    }

    /// The movie or episode whose `Media[].Part[].file` is exactly `file`, searching only those
    /// of `sections` whose folders contain it. Plex's `file` filter is tried first; as it may
    /// match loosely, every candidate is checked for an exact match, and if none matches the
    /// section is walked page by page. The item returned is as the listing shows it (or whole,
    /// when a recent walk found it).
    ///
    /// A walk is remembered for a minute, or until [`PlexClient::scan_folder`] scans that
    /// section: a file Plex does not have then costs one walk of its section, not one per
    /// lookup (in a section of 10,000 items a walk is 10,000 items listed).
    pub async fn find_by_file_in(
        &self,
        sections: &[Section],
        file: &str,
    ) -> Result<Located, PlexError> {
        self.find_for_sync(sections, file).await.map(|(l, _)| l)
    }

    /// [`PlexClient::find_by_file_in`], and whether the item found is whole (read by its
    /// rating key, as [`PlexClient::item`] reads it). A file a recent walk saw is read by its
    /// rating key at once, without the filtered search: one request that is also the read a
    /// sync needs ([`PlexClient::walk_sections`] makes such walks on purpose). An item that no
    /// longer has the file (moved since the walk) makes the walk forgotten and the search
    /// run.
    pub async fn find_for_sync(
        &self,
        sections: &[Section],
        file: &str,
    ) -> Result<(Located, bool), PlexError> {
        for section in sections.iter().filter(|s| s.contains(file)) {
            if let Known::At(rating_key) = self.walked.lookup(&section.key, file) {
                let item = self.item(&rating_key).await?;
                if item.files().any(|f| f == file) {
                    let section = section.clone();
                    return Ok((Located { section, item }, true));
                }
                self.walked.forget(&section.key);
            }
        }
        for section in sections.iter().filter(|s| s.contains(file)) {
            let Some(kind) = section.video_type() else {
                continue;
            };
            let path = format!("/library/sections/{}/all", encode_segment(&section.key));
            let kind = kind.to_string();
            let filtered: Envelope<ItemList> = self
                .get_library(&path, &[("type", &kind), ("file", file)], &[])
                .await?;
            if let Some(item) = exact(filtered.container.items, file) {
                return Ok((
                    Located {
                        section: section.clone(),
                        item,
                    },
                    false,
                ));
            }
            // A walk that saw the file was used above; one that did not answers for it.
            if self.walked.lookup(&section.key, file) == Known::Absent {
                continue;
            }
            if let Some(item) = self.walk(section, &kind, Some(file)).await? {
                return Ok((
                    Located {
                        section: section.clone(),
                        item,
                    },
                    false,
                ));
            }
        }
        Err(PlexError::new(
            FailureKind::NotFound,
            self.config().redacted_url(),
            "no movie or episode in Plex has that file",
        ))
    }

    /// Walks every video section of `sections` that no walk of the last minute covers, so
    /// that the lookups of a drain read their items by rating key at once
    /// ([`PlexClient::find_for_sync`]): a listing of the section in pages, instead of one
    /// search per job.
    pub async fn walk_sections(&self, sections: &[Section]) -> Result<(), PlexError> {
        for section in sections {
            let Some(kind) = section.video_type() else {
                continue;
            };
            if !self.walked.covers(&section.key) {
                self.walk(section, &kind.to_string(), None).await?;
            }
        }
        Ok(())
    }

    /// Lists `section` whole, page by page, and remembers its files; the item with `file`, if
    /// one is asked for and listed.
    async fn walk(
        &self,
        section: &Section,
        kind: &str,
        file: Option<&str>,
    ) -> Result<Option<Item>, PlexError> {
        let path = format!("/library/sections/{}/all", encode_segment(&section.key));
        let page = self.config().page_size;
        let mut start = 0u64;
        let mut files = HashMap::new();
        let mut found = None;
        loop {
            let headers = [
                ("x-plex-container-start", start.to_string()),
                ("x-plex-container-size", page.to_string()),
            ];
            let listing: Envelope<ItemList> =
                self.get_library(&path, &[("type", kind)], &headers).await?;
            let count = listing.container.items.len() as u64;
            let total = listing.container.total_size;
            for item in listing.container.items {
                for f in item.files() {
                    files.insert(f.to_owned(), item.rating_key.clone());
                }
                if found.is_none() && file.is_some_and(|file| item.files().any(|f| f == file)) {
                    found = Some(item);
                }
            }
            start += count;
            if count == 0 || total.is_some_and(|t| start >= t) || count < u64::from(page) {
                break;
            }
        }
        self.walked.remember(&section.key, files);
        Ok(found)
    }

    /// Makes `located` match `edit`: reads the item whole (a listing truncates its tags), and
    /// sends only the fields that differ, in one PUT, or nothing if none does.
    pub async fn apply_edit(
        &self,
        located: &Located,
        edit: &MetadataEdit,
    ) -> Result<Applied, PlexError> {
        let current = self.item(&located.item.rating_key).await?;
        let sent = edit.changes(&current);
        if !sent.is_empty() {
            self.send_edit(located, &sent).await?;
        }
        Ok(Applied { sent })
    }

    /// Sends one edit of `located` with the query `pairs` (as [`MetadataEdit::changes`] makes
    /// them), after `type` and `id`.
    pub async fn send_edit(
        &self,
        located: &Located,
        pairs: &[(String, String)],
    ) -> Result<(), PlexError> {
        let url = self.edit_url(located, pairs)?;
        self.transport
            .send(Request::new(Method::PUT, url, self.config().read_timeout))
            .await?;
        Ok(())
    }

    /// Asks Plex to scan one folder of a section (a partial scan), so that a file added there
    /// is found without waiting for Plex's own scan. Plex answers at once and scans in the
    /// background.
    pub async fn scan_folder(&self, section_key: &str, folder: &str) -> Result<(), PlexError> {
        // The scan may add files: what a walk of this section saw is out of date.
        self.walked.forget(section_key);
        let path = format!("/library/sections/{}/refresh", encode_segment(section_key));
        self.transport
            .send(self.get(&path, &[("path", folder)]))
            .await?;
        Ok(())
    }

    /// The URL of the edit request for `pairs`: `type` and `id` first, then the fields.
    pub(crate) fn edit_url(
        &self,
        located: &Located,
        pairs: &[(String, String)],
    ) -> Result<Url, PlexError> {
        let item = &located.item;
        let section = item.section_id.as_deref().unwrap_or(&located.section.key);
        let path = format!("/library/sections/{}/all", encode_segment(section));
        let mut url = self.transport.url(&path);
        let kind = item.type_number().ok_or_else(|| {
            PlexError::new(
                FailureKind::Rejected { status: 400 },
                redact(&url),
                format!("items of type {:?} cannot be edited", item.kind),
            )
        })?;
        url.query_pairs_mut()
            .append_pair("type", &kind.to_string())
            .append_pair("id", &item.rating_key)
            .extend_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Ok(url)
    }
}

/// A 404 from `/identity` means there is no Plex server at the URL.
pub(crate) fn not_plex_if_missing(e: PlexError) -> PlexError {
    if e.kind() == FailureKind::NotFound {
        PlexError::new(FailureKind::NotPlex, e.url(), e.detail())
    } else {
        e
    }
}

fn exact(items: Vec<Item>, file: &str) -> Option<Item> {
    items
        .into_iter()
        .find(|item| item.files().any(|f| f == file))
}

fn parse<T: DeserializeOwned>(body: &[u8], shown: &str) -> Result<T, PlexError> {
    serde_json::from_slice(body).map_err(|e| {
        PlexError::new(
            FailureKind::InvalidBody,
            shown,
            format!("not the JSON Plex sends: {e}"),
        )
    })
}

/// Percent-encodes one path segment.
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
