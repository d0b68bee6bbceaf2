//! `plexsync run`'s watch on Plex while nothing fails: its notification socket kept open,
//! or, where the socket cannot be opened (an older Plex, a proxy that does not pass
//! WebSockets on, an `https` URL), a light look at `/identity` every few minutes. What it
//! hears goes to the engine through the clock, as notices.

use std::time::Duration;

use engine::{Notice, WatchVia};
use plex_client::{ActivityEvent, Heard, NotificationSocket, PlexClient, SocketError};

use crate::clock::Notices;

/// How often the socket is pinged; nothing heard between two pings is a socket gone quiet.
const PING_EVERY: Duration = Duration::from_secs(20);
/// Reconnecting after a socket is lost: the first wait, and the longest.
const RECONNECT_FIRST: Duration = Duration::from_secs(1);
const RECONNECT_CAP: Duration = Duration::from_secs(10);
/// The light check's interval, where the socket cannot be opened.
const LIGHT_EVERY: Duration = Duration::from_secs(180);

/// Watches Plex until the process ends.
pub(crate) async fn watch(client: PlexClient, notices: Notices) {
    let mut wait = RECONNECT_FIRST;
    loop {
        match client.notification_socket().await {
            Ok(socket) => {
                wait = RECONNECT_FIRST;
                notices.send(Notice::Connected {
                    via: WatchVia::Socket,
                });
                announce_ongoing(&client, &notices).await;
                let why = listen(socket, &notices).await;
                tracing::debug!("watch: {why}");
                // Lost once, whatever the attempts to reconnect meet.
                notices.send(Notice::Lost);
            }
            // Plex answered without the socket, and not because it is busy starting: it will
            // not open one. Fall back to the light check for good.
            Err(SocketError::Unavailable { status, why, .. }) if status != Some(503) => {
                tracing::info!(
                    "Plex's notification socket is not available ({why}); watching it with a light check of /identity every {} min instead",
                    LIGHT_EVERY.as_secs() / 60
                );
                light(&client, &notices).await;
                return;
            }
            Err(e) => tracing::debug!("watch: {e}"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RECONNECT_CAP);
    }
}

/// Reads the socket until it closes or goes quiet; says why it stopped.
async fn listen(mut socket: NotificationSocket, notices: &Notices) -> String {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            heard = socket.next() => match heard {
                Ok(all) => all.into_iter().for_each(|h| pass_on(h, notices)),
                Err(e) => return e.to_string(),
            },
            _ = ping.tick() => {
                if !socket.heard_since_last() {
                    return format!("nothing heard on the socket for {} s", PING_EVERY.as_secs());
                }
                if let Err(e) = socket.ping().await {
                    return e.to_string();
                }
            }
        }
    }
}

fn pass_on(heard: Heard, notices: &Notices) {
    let Heard::Activity {
        event,
        id,
        kind,
        title,
    } = heard;
    match event {
        ActivityEvent::Started => notices.send(Notice::Activity {
            optimising: Heard::holds_library(&kind, &title),
            id,
            title,
        }),
        ActivityEvent::Ended => notices.send(Notice::ActivityEnded { id }),
        ActivityEvent::Updated => {}
    }
}

/// A socket opened in the middle of an optimisation hears only its end: ask what is going on.
async fn announce_ongoing(client: &PlexClient, notices: &Notices) {
    let Ok(Ok(list)) = tokio::time::timeout(Duration::from_secs(5), client.activities()).await
    else {
        return;
    };
    for activity in list {
        if Heard::holds_library(&activity.kind, &activity.title) && !activity.uuid.is_empty() {
            notices.send(Notice::Activity {
                id: activity.uuid,
                title: activity.title,
                optimising: true,
            });
        }
    }
}

/// The light check: `/identity` every few minutes, a notice when the answer changes.
async fn light(client: &PlexClient, notices: &Notices) {
    let mut connected = false;
    loop {
        let answers = client.identity().await.is_ok();
        if answers && !connected {
            notices.send(Notice::Connected {
                via: WatchVia::Light,
            });
        } else if !answers && connected {
            notices.send(Notice::Lost);
        }
        connected = answers;
        tokio::time::sleep(LIGHT_EVERY).await;
    }
}
