//! The Plex Media Server HTTP client for plexsync: a staged deep health check, the library
//! lookups and metadata edits a sync job needs, and a class for every failure.
//!
//! ```no_run
//! use plex_client::{PlexClient, PlexConfig, Token};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let token = Token::new("your-x-plex-token")?;
//! let config = PlexConfig::new("http://localhost:32400", token, "persisted-client-uuid")?;
//! let plex = PlexClient::new(config)?;
//!
//! let report = plex.check_health().await;
//! if report.healthy {
//!     // Sections change rarely: fetch them once for many lookups.
//!     let sections = plex.sections().await?;
//!     let found = plex.find_by_file_in(&sections, "/data/Movies/Interstate 60 (2002).mkv").await?;
//!     // A listing truncates tags: compare against the whole item.
//!     let item = plex.item(&found.item.rating_key).await?;
//!     println!("{} is item {}", item.title.unwrap_or_default(), item.rating_key);
//! } else if let Some(failure) = &report.failure {
//!     println!("Plex is not healthy: {failure} ({:?})", failure.class());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Scope
//!
//! This is the only crate in plexsync that speaks HTTP. It asks for JSON, sends the token only
//! in the `X-Plex-Token` header, identifies itself with a stable client identifier, verifies
//! TLS certificates unless told otherwise, and caps response bodies. Every failure is a
//! [`PlexError`] with a [`FailureKind`] and exactly one [`ErrorClass`]: server down,
//! transient, not found or permanent. No message, `Debug` output or URL it prints carries the
//! token.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod config;
mod edit;
mod error;
mod health;
mod http;
mod model;
mod survey;
mod walked;
mod watch;

pub use client::{Applied, Located, PlexClient};
pub use config::{ConfigError, PlexConfig, Token};
pub use edit::{Field, MetadataEdit, apply_pairs, is_date};
pub use error::{ErrorClass, FailureKind, PlexError};
pub use health::{HealthReport, Stage, StageResult};
pub use model::{Identity, Item, Location, Media, Part, Section, ServerInfo};
pub use survey::{Activity, ButlerWindow, Release};
pub use watch::{ActivityEvent, Heard, NotificationSocket, SocketError};
