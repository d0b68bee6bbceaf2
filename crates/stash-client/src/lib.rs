//! Stash's side of plexsync: the document Stash hands a plugin, and the GraphQL requests
//! plexsync makes back to Stash (a scene with the plugin's settings in one round trip, the
//! settings alone, scenes page by page, and a plugin task queued in Stash's job queue), over
//! HTTP or over HTTPS with Stash's own certificate trusted.
//!
//! ```no_run
//! # async fn demo() -> Result<(), stash_client::Error> {
//! use stash_client::{Input, Stash};
//!
//! let input = Input::parse(r#"{"server_connection": {"Scheme": "http", "Port": 9999}, "args": {"mode": "process"}}"#)?;
//! let stash = Stash::new(&input.server_connection, None)?;
//! let settings = stash.settings("plexsync").await?;
//! # let _ = settings; Ok(()) }
//! ```
//!
//! Stash's session cookie and API key are sent only to Stash, in headers marked sensitive;
//! no error message, `Debug` output or log line carries them.
#![forbid(unsafe_code)]

mod client;
mod error;
mod input;
mod scene;
mod tls;

pub use client::{ScenePage, Stash};
pub use error::Error;
pub use input::{Connection, Cookie, HookContext, Input};
pub use scene::{File, Named, Scene, Studio};
