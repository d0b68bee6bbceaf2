//! Servers that misbehave at the connection level, written by hand on loopback because no
//! well-behaved mock can: one that closes idle keep-alive connections without saying so, one
//! that cuts a body short. And what `/identity` answers say about the URL.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use plex_client::{FailureKind, PlexClient, PlexConfig, Stage, Token};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "s3cr3t-t0ken";
const IDENTITY: &str =
    r#"{"MediaContainer":{"size":0,"machineIdentifier":"abc","version":"1.40.0"}}"#;
const SECTIONS: &str = r#"{"MediaContainer":{"size":0,"Directory":[]}}"#;

fn client(addr: std::net::SocketAddr) -> PlexClient {
    let config = PlexConfig::new(
        &format!("http://{addr}"),
        Token::new(TOKEN).unwrap(),
        "test",
    )
    .unwrap();
    PlexClient::new(config).unwrap()
}

/// Reads one request's head; `None` when the peer closed.
async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut first = String::new();
    if reader.read_line(&mut first).await.ok()? == 0 {
        return None;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            return Some(first);
        }
    }
}

fn body_for(request_line: &str) -> (&'static str, &'static str) {
    if request_line.contains("/identity") {
        ("200 OK", IDENTITY)
    } else if request_line.contains("/library/sections") {
        ("200 OK", SECTIONS)
    } else {
        ("404 Not Found", "")
    }
}

/// A server that answers the first request on every connection, announcing keep-alive, and
/// closes the connection without a word when a second request comes on it: what a server
/// with a short idle timeout does to a client that reuses a pooled connection. Counts the
/// connections it accepted.
async fn closes_idle_connections() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut reader = BufReader::new(socket);
                let Some(first) = read_request(&mut reader).await else {
                    return;
                };
                let (status, body) = body_for(&first);
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: keep-alive\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if reader.get_mut().write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
                // The second request on this connection gets nothing: the socket closes.
                let _ = read_request(&mut reader).await;
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn a_server_that_drops_idle_connections_is_still_healthy() {
    let (addr, _) = closes_idle_connections().await;
    let plex = client(addr);
    for round in 0..20 {
        let report = plex.check_health().await;
        assert!(report.healthy, "round {round}: {report:?}");
    }
}

#[tokio::test]
async fn a_get_on_a_connection_the_server_closed_is_sent_again_on_a_new_one() {
    let (addr, accepted) = closes_idle_connections().await;
    let plex = client(addr);
    for round in 0..20 {
        plex.sections()
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        plex.identity()
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    // Every request ended on a connection of its own, some after a failed reuse.
    assert!(accepted.load(Ordering::SeqCst) >= 40);
}

/// Serves one fixed answer to every request: `head` then `body`, then closes.
async fn answering(head: String, body: Vec<u8>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let (head, body) = (head.clone(), body.clone());
            tokio::spawn(async move {
                let mut reader = BufReader::new(socket);
                if read_request(&mut reader).await.is_none() {
                    return;
                }
                let socket = reader.get_mut();
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_body_cut_short_is_a_lost_connection() {
    let body = &SECTIONS.as_bytes()[..10];
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        SECTIONS.len()
    );
    let plex = client(answering(head, body.to_vec()).await);
    let err = plex.sections().await.unwrap_err();
    assert_eq!(err.kind(), FailureKind::ConnectionLost, "{err}");
    assert_eq!(err.class(), plex_client::ErrorClass::Outage);
}

#[tokio::test]
async fn no_identity_means_no_plex_at_that_url() {
    let head = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_owned();
    let plex = client(answering(head, Vec::new()).await);
    let report = plex.check_health().await;
    assert!(!report.healthy);
    assert_eq!(report.reached, Some(Stage::Connect));
    let failure = report.failure.unwrap();
    assert_eq!(failure.kind(), FailureKind::NotPlex);
    assert!(failure.is_configuration());
    let message = failure.to_string();
    assert!(
        message.contains("there is no Plex server at this URL"),
        "{message}"
    );
    assert!(message.contains("not an outage"), "{message}");
    assert_eq!(
        plex.identity().await.unwrap_err().kind(),
        FailureKind::NotPlex
    );
}

#[tokio::test]
async fn a_401_to_a_request_without_the_token_is_not_the_token_refused() {
    let head = "HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Basic realm=\"proxy\"\r\ncontent-length: 0\r\n\r\n"
        .to_owned();
    let plex = client(answering(head, Vec::new()).await);
    let failure = plex.check_health().await.failure.unwrap();
    assert_eq!(failure.kind(), FailureKind::AuthenticationRequired);
    assert!(failure.is_configuration());
    let message = failure.to_string();
    assert!(message.contains("something in front of Plex"), "{message}");
    assert!(!message.contains("token was refused"), "{message}");
    // With the token, a 401 is the token refused.
    let err = plex.sections().await.unwrap_err();
    assert_eq!(err.kind(), FailureKind::Unauthorized);
    assert!(err.to_string().contains("the Plex token was refused"));
}

#[tokio::test]
async fn retry_after_comes_with_a_503_too() {
    let head = "HTTP/1.1 503 Service Unavailable\r\nretry-after: 30\r\ncontent-length: 0\r\n\r\n"
        .to_owned();
    let plex = client(answering(head, Vec::new()).await);
    let err = plex.sections().await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert!(err.to_string().contains("it asked for 30 s"), "{err}");
}
