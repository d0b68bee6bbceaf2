//! Misbehaviour generated at random, met by plexsync's real client: every kept-alive
//! connection closed under it, and a server that hangs at any stage of a health check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_plex::{FakePlex, Fault, Library, Options};
use plex_client::{MetadataEdit, PlexClient, PlexConfig, Token};
use proptest::prelude::*;

fn client(plex: &FakePlex, health: Duration) -> PlexClient {
    let config = PlexConfig::new(&plex.url(), Token::new(plex.token()).unwrap(), "faults")
        .unwrap()
        .read_timeout(Duration::from_secs(20))
        .health_deadline(health);
    PlexClient::new(config).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

const FILES: [&str; 2] = [
    "/data/Movies/Sintel (2010).mkv",
    "/data/Movies/Big Buck Bunny (2008).mkv",
];

#[derive(Clone, Copy, Debug)]
enum Op {
    Sections,
    Identity,
    Find(usize),
    Edit(usize, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Sections),
        Just(Op::Identity),
        (0..FILES.len()).prop_map(Op::Find),
        (0..FILES.len(), any::<u8>()).prop_map(|(f, n)| Op::Edit(f, n)),
    ]
}

async fn perform(client: &PlexClient, op: Op) -> Result<(), plex_client::PlexError> {
    match op {
        Op::Sections => client.sections().await.map(drop),
        Op::Identity => client.identity().await.map(drop),
        Op::Find(f) => client.find_by_file(FILES[f]).await.map(drop),
        Op::Edit(f, n) => {
            let located = client.find_by_file(FILES[f]).await?;
            let edit = MetadataEdit {
                title: Some(format!("Title {n}")),
                ..MetadataEdit::default()
            };
            client.apply_edit(&located, &edit).await.map(drop)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// A server that closes kept-alive connections after a random idle time, and requests
    /// that come after random pauses, some shorter than it and some longer, so that some
    /// reuse a connection the server is closing at that very moment: every request succeeds.
    /// (The pauses are real: an idle timeout is a real server's timer.)
    #[test]
    fn every_request_survives_a_server_that_closes_idle_connections(
        idle_ms in 1u64..15,
        steps in proptest::collection::vec((op(), 0u64..20), 1..25),
    ) {
        let runtime = runtime();
        runtime.block_on(async {
            let options = Options {
                idle_timeout: Some(Duration::from_millis(idle_ms)),
                ..Options::default()
            };
            let plex = FakePlex::start_with(Library::demo(), options).await.unwrap();
            let client = client(&plex, Duration::from_secs(2));
            for (op, pause_ms) in steps {
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                let result = perform(&client, op).await;
                prop_assert!(result.is_ok(), "{:?} after {} ms idle ({} ms timeout): {:?}", op, pause_ms, idle_ms, result);
            }
            Ok(())
        })?;
    }

    /// Whatever the client asks, in any order, on a server that closes every kept-alive
    /// connection as it is reused: every request succeeds, sent once more on a new
    /// connection, GETs and edits alike.
    #[test]
    fn every_request_survives_a_server_that_closes_reused_connections(
        ops in proptest::collection::vec(op(), 1..25),
    ) {
        let runtime = runtime();
        runtime.block_on(async {
            let plex = FakePlex::start(Library::demo()).await.unwrap();
            plex.inject(Fault::DropReused);
            let client = client(&plex, Duration::from_secs(2));
            for op in ops {
                let result = perform(&client, op).await;
                prop_assert!(result.is_ok(), "{:?}: {:?}", op, result);
            }
            Ok(())
        })?;
    }

    /// A server that hangs at any one request of a health check (the connection's first
    /// answer, `/identity`, the library, the server's name): the whole check, the server's
    /// name included, is over within its deadline.
    #[test]
    fn a_health_check_is_over_within_its_deadline_wherever_the_server_hangs(
        hang in prop_oneof![Just("/"), Just("/identity"), Just("/library/sections")],
        deadline_ms in 200u64..700,
    ) {
        let runtime = runtime();
        runtime.block_on(async {
            let plex = FakePlex::start(Library::demo()).await.unwrap();
            let path = hang.to_owned();
            plex.inject_when(Arc::new(move |r| r.path == path), Fault::Hang);
            let deadline = Duration::from_millis(deadline_ms);
            let client = client(&plex, deadline);
            let started = Instant::now();
            let (report, server) = client.check_health_and_server().await;
            let took = started.elapsed();
            prop_assert!(took < deadline + Duration::from_secs(2), "{:?} for {:?}", took, deadline);
            prop_assert_eq!(report.healthy, hang == "/");
            prop_assert!(server.is_none());
            Ok(())
        })?;
    }
}

/// The idle timeout is the keep-alive one: a connection is not idle before its first request
/// (servers give that a timer of their own), and is closed once idle after an answer.
#[test]
fn an_idle_timeout_closes_kept_alive_connections_only() {
    use std::io::{Read, Write};
    let runtime = runtime();
    let plex = runtime
        .block_on(FakePlex::start_with(
            Library::demo(),
            Options {
                idle_timeout: Some(Duration::from_millis(5)),
                ..Options::default()
            },
        ))
        .unwrap();
    let address = plex
        .url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let request = b"GET /identity HTTP/1.1\r\nHost: plex\r\n\r\n";
    let mut socket = std::net::TcpStream::connect(&address).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // Ten times the idle timeout before the first request: still answered.
    std::thread::sleep(Duration::from_millis(50));
    socket.write_all(request).unwrap();
    let mut answer = [0u8; 4096];
    let n = socket.read(&mut answer).unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer[..n])
    );
    // Idle ten times as long after an answer: closed, without a word.
    std::thread::sleep(Duration::from_millis(50));
    let _ = socket.write_all(request);
    let n = socket.read(&mut answer).unwrap_or(0);
    assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&answer[..n]));
}
