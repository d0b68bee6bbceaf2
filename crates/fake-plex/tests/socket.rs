//! The fake's notification socket, through plexsync's own client: let in with the token in a
//! header, activities announced at both ends, closed when Plex stops, refused while it
//! migrates or with a wrong token.

use std::time::Duration;

use fake_plex::{Activity, FakePlex, Library, ServerPhase};
use plex_client::{ActivityEvent, Heard, PlexClient, PlexConfig, SocketError, Token};

fn client(plex: &FakePlex, token: &str) -> PlexClient {
    let config = PlexConfig::new(&plex.url(), Token::new(token).unwrap(), "socket-test")
        .unwrap()
        .connect_timeout(Duration::from_secs(2));
    PlexClient::new(config).unwrap()
}

async fn soon<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("in time")
}

#[tokio::test]
async fn activities_are_announced_at_both_ends_and_a_stop_closes_the_socket() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let mut socket = soon(client(&plex, plex.token()).notification_socket())
        .await
        .unwrap();
    assert!(
        plex.requests()
            .iter()
            .any(|r| r.path == "/:/websockets/notifications" && !r.query.contains(plex.token())),
        "the token goes in a header"
    );
    // The server counts it once the upgrade is through.
    for _ in 0..100 {
        if plex.notification_sockets() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(plex.notification_sockets(), 1);
    let id = plex.begin_activity(Activity::database_optimization(0));
    let started = soon(socket.next()).await.unwrap();
    let [
        Heard::Activity {
            event,
            id: got,
            kind,
            title,
        },
    ] = started.as_slice()
    else {
        panic!("{started:?}")
    };
    assert_eq!((*event, got), (ActivityEvent::Started, &id));
    assert!(Heard::holds_library(kind, title));
    // /activities lists it while it lasts.
    let listed = client(&plex, plex.token()).activities().await.unwrap();
    assert!(listed.iter().any(|a| a.uuid == id));
    plex.end_activity(&id);
    let ended = soon(socket.next()).await.unwrap();
    assert!(matches!(
        ended.as_slice(),
        [Heard::Activity {
            event: ActivityEvent::Ended,
            ..
        }]
    ));
    // A ping is answered, and reads as something heard.
    let _ = socket.heard_since_last();
    socket.ping().await.unwrap();
    plex.set_phase(ServerPhase::Refused).await;
    let closed = soon(socket.next()).await.unwrap_err();
    assert!(matches!(closed, SocketError::Closed { .. }), "{closed}");
    assert!(!closed.to_string().contains(plex.token()));
}

#[tokio::test]
async fn the_socket_is_refused_while_plex_migrates_with_a_wrong_token_or_when_nothing_listens() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let wrong = soon(client(&plex, "not-the-token").notification_socket())
        .await
        .unwrap_err();
    assert!(
        matches!(
            wrong,
            SocketError::Unavailable {
                status: Some(401),
                ..
            }
        ),
        "{wrong}"
    );
    assert!(!wrong.to_string().contains("not-the-token"));
    plex.set_phase(ServerPhase::Maintenance).await;
    let busy = soon(client(&plex, plex.token()).notification_socket())
        .await
        .unwrap_err();
    assert!(
        matches!(
            busy,
            SocketError::Unavailable {
                status: Some(503),
                ..
            }
        ),
        "{busy}"
    );
    plex.set_phase(ServerPhase::Refused).await;
    let gone = soon(client(&plex, plex.token()).notification_socket())
        .await
        .unwrap_err();
    assert!(matches!(gone, SocketError::Unreachable { .. }), "{gone}");
}
