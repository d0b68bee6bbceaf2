//! What `doctor` reads beyond health, from answers in the shapes Plex sends
//! (`tests/data/README.md` says where each shape comes from).

use plex_client::{PlexClient, PlexConfig, Token};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn serving(route: &str, body: String) -> (MockServer, PlexClient) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(body)
                .insert_header("date", "Tue, 01 Dec 2026 10:00:00 GMT"),
        )
        .mount(&server)
        .await;
    let config = PlexConfig::new(&server.uri(), Token::new("t").unwrap(), "id").unwrap();
    (server, PlexClient::new(config).unwrap())
}

#[tokio::test]
async fn activities_in_progress() {
    let (_server, client) = serving("/activities", fixture("activities.json")).await;
    let list = client.activities().await.unwrap();
    let seen: Vec<(&str, &str, Option<u32>)> = list
        .iter()
        .map(|a| (a.kind.as_str(), a.title.as_str(), a.progress))
        .collect();
    assert_eq!(
        seen,
        [
            ("library.update.section", "Scanning Movies", Some(42)),
            ("media.optimize", "Optimizing", Some(7)),
        ]
    );
    // The server's clock, from the answer's Date header, against this machine's.
    let offset = client.clock_offset().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let plex = 1_796_119_200_000i64;
    assert!((offset - (plex - now)).abs() < 60_000, "{offset}");
}

#[tokio::test]
async fn the_maintenance_window_wraps_past_midnight() {
    let (_server, client) = serving("/:/prefs", fixture("prefs.json")).await;
    let window = client.butler_window().await.unwrap();
    assert_eq!((window.start, window.end, window.reported), (23, 4, true));
    assert!(window.contains(23) && window.contains(0) && window.contains(3));
    assert!(!window.contains(4) && !window.contains(12));
}

#[tokio::test]
async fn unset_hours_are_plex_s_defaults() {
    let (_server, client) = serving("/:/prefs", r#"{"MediaContainer":{"size":0}}"#.into()).await;
    let window = client.butler_window().await.unwrap();
    assert_eq!((window.start, window.end, window.reported), (2, 5, false));
}

#[tokio::test]
async fn an_update_waiting() {
    let (_server, client) = serving("/updater/status", fixture("updater_status.json")).await;
    let release = client.update_waiting().await.unwrap().unwrap();
    assert_eq!(release.version, "1.41.3.9314-a0bfb8370");
    assert_eq!(release.state, "available");
    let (_server, client) = serving(
        "/updater/status",
        r#"{"MediaContainer":{"size":0,"canInstall":false}}"#.into(),
    )
    .await;
    assert_eq!(client.update_waiting().await.unwrap(), None);
}
