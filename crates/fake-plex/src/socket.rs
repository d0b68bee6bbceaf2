//! Plex's notification socket, `/:/websockets/notifications`: a WebSocket that carries
//! notifications (activities starting, progressing and ending) as JSON text frames. The fake
//! lets in a client with the token (header or query, as Plex does), answers its pings, sends
//! what [`crate::FakePlex::begin_activity`] and `end_activity` announce, closes it when Plex
//! stops (refused, maintenance), and goes deaf while hung or unreachable.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::RecordedRequest;
use crate::ServerPhase;
use crate::server::{Body, Shared, lock, status_response};

/// Where the socket is.
pub(crate) const PATH: &str = "/:/websockets/notifications";

/// Whether `request` asks for the notification socket.
pub(crate) fn asked(request: &Request<Incoming>) -> bool {
    request.uri().path() == PATH
        && request
            .headers()
            .get(UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Answers a request for the socket: 101 and a socket served from then on, or what Plex
/// answers instead.
pub(crate) async fn open(shared: Arc<Shared>, mut request: Request<Incoming>) -> Response<Body> {
    let query = request.uri().query().unwrap_or("").to_owned();
    let recorded = RecordedRequest {
        method: request.method().to_string(),
        path: PATH.to_owned(),
        query: query.clone(),
    };
    lock(&shared.requests).push(recorded.clone());
    // A status injected for this path is what an older Plex or a proxy answers instead.
    let injected = lock(&shared.faults)
        .0
        .iter()
        .filter(|(target, _)| target(&recorded))
        .find_map(|(_, fault)| match fault {
            crate::Fault::Status(code) => Some(*code),
            _ => None,
        });
    if let Some(code) = injected {
        return status_response(code);
    }
    let phase = *shared.phase.borrow();
    match phase {
        ServerPhase::Maintenance => return status_response(503),
        ServerPhase::TokenRevoked => return status_response(401),
        ServerPhase::Silent => std::future::pending::<()>().await,
        ServerPhase::Refused
        | ServerPhase::Unreachable
        | ServerPhase::Starting
        | ServerPhase::Optimizing
        | ServerPhase::Slow
        | ServerPhase::Ready => {}
    }
    let header_token = request
        .headers()
        .get("x-plex-token")
        .and_then(|v| v.to_str().ok());
    let query_token = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "X-Plex-Token")
        .map(|(_, v)| v.into_owned());
    if header_token != Some(shared.token.as_str()) && query_token.as_deref() != Some(&shared.token)
    {
        return status_response(401);
    }
    let Some(key) = request.headers().get(SEC_WEBSOCKET_KEY) else {
        return status_response(400);
    };
    let accept = derive_accept_key(key.as_bytes());
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            serve(shared, TokioIo::new(upgraded)).await;
        }
    });
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// Counts an open socket for as long as it lives.
struct Open(Arc<Shared>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.sockets.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve<S>(shared: Arc<Shared>, io: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let socket = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    shared.sockets.fetch_add(1, Ordering::SeqCst);
    let _open = Open(shared.clone());
    let mut notes = shared.notify.subscribe();
    let mut phases = shared.phase.subscribe();
    let (mut sink, mut stream) = socket.split();
    loop {
        let phase = *phases.borrow_and_update();
        match phase {
            // Plex stopped: its sockets close with it.
            ServerPhase::Refused | ServerPhase::Maintenance => {
                let _ = sink.send(Message::Close(None)).await;
                return;
            }
            // Hung or cut off: nothing is read or answered until that is over.
            ServerPhase::Silent | ServerPhase::Unreachable => {
                if phases.changed().await.is_err() {
                    return;
                }
                continue;
            }
            ServerPhase::Starting
            | ServerPhase::Optimizing
            | ServerPhase::Slow
            | ServerPhase::TokenRevoked
            | ServerPhase::Ready => {}
        }
        tokio::select! {
            changed = phases.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            note = notes.recv() => match note {
                Ok(text) => {
                    if sink.send(Message::text(text)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            message = stream.next() => match message {
                Some(Ok(Message::Ping(payload))) => {
                    if sink.send(Message::Pong(payload)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
