//! Plex's notification socket, `/:/websockets/notifications`: the WebSocket Plex pushes
//! notifications on (what Tautulli and python-plexapi's `AlertListener` listen to). The token
//! goes in the `X-Plex-Token` header, never in the URL. plexsync reads the activity
//! notifications (a scan, a database optimisation starting and ending) and the socket's own
//! life: a socket that closes, or stops answering pings, is a sign that Plex went away.

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::PlexClient;

/// Where the socket is.
const PATH: &str = "/:/websockets/notifications";

/// An open notification socket.
#[derive(Debug)]
pub struct NotificationSocket {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    url: String,
    /// Whether a frame (a pong included) came since [`NotificationSocket::heard_since_last`]
    /// was last asked.
    heard: bool,
}

/// Why the socket could not be opened, or stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SocketError {
    /// Nothing answered: refused, unresolved, or no connection in time.
    #[error("Plex at {url} did not answer: {why}")]
    Unreachable {
        /// Where, safe to print.
        url: String,
        /// What happened.
        why: String,
    },
    /// Plex answered, but not with the socket: an older Plex, a proxy that does not pass
    /// WebSockets on, an `https` URL (plexsync opens the socket over plain HTTP only), or a
    /// Plex not ready to (503).
    #[error("Plex at {url} does not open its notification socket here: {why}")]
    Unavailable {
        /// Where, safe to print.
        url: String,
        /// What it answered.
        why: String,
        /// The HTTP status, if it answered with one.
        status: Option<u16>,
    },
    /// The socket closed, or broke.
    #[error("Plex's notification socket at {url} closed: {why}")]
    Closed {
        /// Where, safe to print.
        url: String,
        /// Why, as far as known.
        why: String,
    },
}

/// One thing the socket said that plexsync cares about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    /// An activity started, progressed or ended.
    Activity {
        /// What happened to it.
        event: ActivityEvent,
        /// Plex's id for it.
        id: String,
        /// Its kind, e.g. `library.update.section`.
        kind: String,
        /// What Plex calls it, e.g. `Scanning Movies`.
        title: String,
    },
}

/// What happened to an activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivityEvent {
    /// It began.
    Started,
    /// It progressed.
    Updated,
    /// It is over.
    Ended,
}

impl Heard {
    /// Whether it is about a database optimisation, which holds Plex's library: requests that
    /// need it wait or time out until it is over. How Plex names that activity is not in any
    /// public capture; plexsync takes one whose kind or title speaks of optimising the
    /// database as one (a media optimisation, `media.optimize`, transcodes files and holds
    /// nothing).
    pub fn holds_library(kind: &str, title: &str) -> bool {
        let about = format!("{kind} {title}").to_ascii_lowercase();
        about.contains("database") && (about.contains("optimiz") || about.contains("optimis"))
    }
}

impl PlexClient {
    /// Opens Plex's notification socket, within the connect timeout.
    ///
    /// # Errors
    ///
    /// [`SocketError::Unreachable`] if nothing answered, [`SocketError::Unavailable`] if Plex
    /// answered without opening it (an `https` URL is one: the socket is opened over plain
    /// HTTP only).
    pub async fn notification_socket(&self) -> Result<NotificationSocket, SocketError> {
        let config = self.transport.config();
        let url = config.redacted_url();
        let mut target = self.transport.url(PATH);
        let unavailable = |why: String, status: Option<u16>| SocketError::Unavailable {
            url: url.clone(),
            why,
            status,
        };
        if target.scheme() != "http" {
            return Err(unavailable(
                "the socket is opened over plain http only".into(),
                None,
            ));
        }
        let _ = target.set_scheme("ws");
        let mut request = target
            .as_str()
            .into_client_request()
            .map_err(|e| unavailable(e.to_string(), None))?;
        let headers = request.headers_mut();
        for (name, value) in self.transport.headers() {
            headers.insert(name, value.clone());
        }
        headers.insert("x-plex-token", self.transport.token().clone());
        let opened = tokio::time::timeout(
            config.connect_timeout,
            tokio_tungstenite::connect_async(request),
        )
        .await;
        match opened {
            Err(_) => Err(SocketError::Unreachable {
                url,
                why: format!("no answer within {:?}", config.connect_timeout),
            }),
            Ok(Ok((socket, _))) => Ok(NotificationSocket {
                socket,
                url,
                heard: true,
            }),
            Ok(Err(tungstenite::Error::Http(response))) => {
                let status = response.status().as_u16();
                Err(unavailable(format!("HTTP {status}"), Some(status)))
            }
            Ok(Err(tungstenite::Error::Io(e))) => Err(SocketError::Unreachable {
                url,
                why: e.kind().to_string(),
            }),
            Ok(Err(e)) => Err(unavailable(e.to_string(), None)),
        }
    }
}

impl NotificationSocket {
    /// What the socket says next that plexsync cares about (other frames are read and
    /// passed over).
    ///
    /// # Errors
    ///
    /// [`SocketError::Closed`] once it closed or broke.
    pub async fn next(&mut self) -> Result<Vec<Heard>, SocketError> {
        loop {
            let closed = |why: String| SocketError::Closed {
                url: self.url.clone(),
                why,
            };
            let frame = self.socket.next().await;
            self.heard |= matches!(frame, Some(Ok(_)));
            match frame {
                None => return Err(closed("the connection ended".into())),
                Some(Err(e)) => return Err(closed(e.to_string())),
                Some(Ok(Message::Close(_))) => return Err(closed("Plex closed it".into())),
                Some(Ok(Message::Text(text))) => {
                    let heard = parse(text.as_str());
                    if !heard.is_empty() {
                        return Ok(heard);
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Sends a ping: an answer (read by [`NotificationSocket::next`]) says the server is
    /// alive; none within a while says it is not.
    ///
    /// # Errors
    ///
    /// [`SocketError::Closed`] if it could not be sent.
    pub async fn ping(&mut self) -> Result<(), SocketError> {
        self.socket
            .send(Message::Ping(Vec::new().into()))
            .await
            .map_err(|e| SocketError::Closed {
                url: self.url.clone(),
                why: e.to_string(),
            })
    }

    /// Whether anything, a pong included, has come since the last call.
    pub fn heard_since_last(&mut self) -> bool {
        std::mem::take(&mut self.heard)
    }
}

#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "NotificationContainer")]
    container: Container,
}

#[derive(Deserialize)]
struct Container {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(rename = "ActivityNotification", default)]
    activities: Vec<ActivityNotification>,
}

#[derive(Deserialize)]
struct ActivityNotification {
    #[serde(default)]
    event: String,
    #[serde(default)]
    uuid: String,
    #[serde(rename = "Activity", default)]
    activity: Option<ActivityBody>,
}

#[derive(Default, Deserialize)]
struct ActivityBody {
    #[serde(default)]
    uuid: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    title: String,
}

/// The activity notifications in one text frame; nothing for any other frame, or one that
/// does not parse.
pub(crate) fn parse(text: &str) -> Vec<Heard> {
    let Ok(frame) = serde_json::from_str::<Frame>(text) else {
        return Vec::new();
    };
    if frame.container.kind != "activity" {
        return Vec::new();
    }
    frame
        .container
        .activities
        .into_iter()
        .filter_map(|n| {
            let event = match n.event.as_str() {
                "started" => ActivityEvent::Started,
                "updated" => ActivityEvent::Updated,
                "ended" => ActivityEvent::Ended,
                _ => return None,
            };
            let body = n.activity.unwrap_or_default();
            let id = if n.uuid.is_empty() { body.uuid } else { n.uuid };
            (!id.is_empty()).then_some(Heard::Activity {
                event,
                id,
                kind: body.kind,
                title: body.title,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn activity_frames_are_read_and_the_others_passed_over() {
        let frames: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../tests/data/notification-activity.json")).unwrap();
        let heard: Vec<Vec<Heard>> = frames.iter().map(|f| parse(&f.to_string())).collect();
        let scan = |event| {
            vec![Heard::Activity {
                event,
                id: "3e3f8a4c-1c3b-4f0e-9d61-5b8c2f5a1d20".into(),
                kind: "library.update.section".into(),
                title: "Scanning Movies".into(),
            }]
        };
        assert_eq!(heard[0], scan(ActivityEvent::Started));
        assert_eq!(heard[1], scan(ActivityEvent::Updated));
        assert_eq!(heard[2], scan(ActivityEvent::Ended));
        assert!(heard[3].is_empty() && heard[4].is_empty());
    }

    #[test]
    fn only_a_database_optimisation_holds_the_library() {
        assert!(Heard::holds_library(
            "database.optimize",
            "Optimizing database"
        ));
        assert!(Heard::holds_library("butler", "Optimising Database"));
        assert!(!Heard::holds_library("media.optimize", "Optimizing"));
        assert!(!Heard::holds_library(
            "library.update.section",
            "Scanning Movies"
        ));
        assert!(!Heard::holds_library(
            "database.backup",
            "Backing up database"
        ));
    }

    proptest! {
        /// Whatever a frame holds, reading it never panics, and only an activity frame with
        /// a known event and an id says anything.
        #[test]
        fn any_frame_is_read_without_panicking(text in ".{0,200}") {
            let heard = parse(&text);
            prop_assert!(heard.is_empty() || text.contains("activity"));
        }

        #[test]
        fn activity_frames_of_any_content_keep_their_ids(
            event in prop_oneof![Just("started"), Just("updated"), Just("ended"), Just("other")],
            id in "[a-z0-9-]{0,12}",
            kind in ".{0,20}",
            title in ".{0,20}",
        ) {
            let frame = serde_json::json!({"NotificationContainer": {"type": "activity",
                "ActivityNotification": [{"event": event, "uuid": id,
                    "Activity": {"type": kind, "title": title}}]}});
            let heard = parse(&frame.to_string());
            if event == "other" || id.is_empty() {
                prop_assert!(heard.is_empty());
            } else {
                prop_assert_eq!(heard.len(), 1);
                let Heard::Activity { id: got, kind: k, title: t, .. } = &heard[0];
                prop_assert_eq!(got, &id);
                prop_assert_eq!(k, &kind);
                prop_assert_eq!(t, &title);
            }
        }
    }
}
