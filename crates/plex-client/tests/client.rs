//! The client against wiremock on loopback: every status and its class, the deep health check
//! and its deadline, lookups, and the exact edit request.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use plex_client::{
    ErrorClass, FailureKind, Field, Located, MetadataEdit, PlexClient, PlexConfig, Stage, Token,
};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "s3cr3t-t0ken";

fn config(uri: &str) -> PlexConfig {
    PlexConfig::new(uri, Token::new(TOKEN).unwrap(), "plexsync-test-client").unwrap()
}

fn client(server: &MockServer) -> PlexClient {
    PlexClient::new(config(&server.uri())).unwrap()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

const IDENTITY: &str = r#"{"MediaContainer":{"size":0,"claimed":true,"machineIdentifier":"96f2fe7a78c9dc1f16a16bedbe90f98149be16b4","version":"1.31.3.6868-28fc46b27"}}"#;
const SECTIONS: &str = r#"{"MediaContainer":{"size":2,"Directory":[
  {"key":"1","type":"movie","title":"Movies","Location":[{"id":1,"path":"/data/Movies"}]},
  {"key":"2","type":"show","title":"TV Shows","Location":[{"id":2,"path":"/data/TV"}]}]}}"#;
const MAINTENANCE: &str = r#"<Response code="503" title="Maintenance" status="Plex Media Server is currently running database migrations."/>"#;

async fn healthy(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/identity"))
        .respond_with(ResponseTemplate::new(200).set_body_string(IDENTITY))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/library/sections"))
        .and(header("x-plex-token", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_string(SECTIONS))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_healthy_server_passes_every_stage() {
    let server = MockServer::start().await;
    healthy(&server).await;
    let report = client(&server).check_health().await;
    assert!(report.healthy, "{report:?}");
    assert_eq!(report.reached, Some(Stage::Library));
    let stages: Vec<(Stage, bool)> = report.stages.iter().map(|s| (s.stage, s.passed)).collect();
    assert_eq!(
        stages,
        [
            (Stage::Connect, true),
            (Stage::Identity, true),
            (Stage::Library, true)
        ]
    );
    let identity = report.identity.unwrap();
    assert_eq!(
        identity.machine_id,
        "96f2fe7a78c9dc1f16a16bedbe90f98149be16b4"
    );
    assert_eq!(identity.version, "1.31.3.6868-28fc46b27");
    assert!(identity.claimed);
    assert!(report.failure.is_none());
}

#[tokio::test]
async fn identity_goes_without_the_token_and_library_with_it() {
    let server = MockServer::start().await;
    healthy(&server).await;
    let _ = client(&server).check_health().await;
    let requests: Vec<Request> = server.received_requests().await.unwrap();
    let identity = requests
        .iter()
        .find(|r| r.url.path() == "/identity")
        .unwrap();
    assert!(identity.headers.get("x-plex-token").is_none());
    let library = requests
        .iter()
        .find(|r| r.url.path() == "/library/sections")
        .unwrap();
    assert_eq!(library.headers.get("x-plex-token").unwrap(), TOKEN);
    for r in &requests {
        assert_eq!(r.headers.get("accept").unwrap(), "application/json");
        assert_eq!(
            r.headers.get("x-plex-client-identifier").unwrap(),
            "plexsync-test-client"
        );
        assert_eq!(r.headers.get("x-plex-product").unwrap(), "plexsync");
        assert!(
            r.url.query().is_none(),
            "the token never travels in the URL"
        );
    }
}

#[tokio::test]
async fn maintenance_behind_a_passing_identity_is_caught_at_the_library_stage() {
    let server = MockServer::start().await;
    Mock::given(path("/identity"))
        .respond_with(ResponseTemplate::new(200).set_body_string(IDENTITY))
        .mount(&server)
        .await;
    Mock::given(path("/library/sections"))
        .respond_with(ResponseTemplate::new(503).set_body_string(MAINTENANCE))
        .mount(&server)
        .await;
    let report = client(&server).check_health().await;
    assert!(!report.healthy);
    assert_eq!(report.reached, Some(Stage::Identity));
    assert!(report.identity.is_some());
    let failure = report.failure.unwrap();
    assert_eq!(failure.kind(), FailureKind::Maintenance);
    assert_eq!(failure.class(), ErrorClass::Outage);
    assert!(
        failure
            .to_string()
            .contains("starting up or running database maintenance")
    );
}

#[tokio::test]
async fn a_bad_token_is_named_as_a_configuration_error() {
    let server = MockServer::start().await;
    Mock::given(path("/identity"))
        .respond_with(ResponseTemplate::new(200).set_body_string(IDENTITY))
        .mount(&server)
        .await;
    Mock::given(path("/library/sections"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_string("<html><body>401 Unauthorized</body></html>"),
        )
        .mount(&server)
        .await;
    let report = client(&server).check_health().await;
    let failure = report.failure.unwrap();
    assert_eq!(failure.kind(), FailureKind::Unauthorized);
    assert_eq!(failure.class(), ErrorClass::Configuration);
    let message = failure.to_string();
    assert!(
        message.contains("the Plex token was refused: check the token setting"),
        "{message}"
    );
    assert!(
        message.contains("configuration error, not an outage"),
        "{message}"
    );
    assert!(!message.contains(TOKEN));
    assert!(!format!("{failure:?}").contains(TOKEN));
}

#[tokio::test]
async fn a_closed_port_is_refused_at_the_connect_stage() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let plex = PlexClient::new(config(&format!("http://127.0.0.1:{port}"))).unwrap();
    let report = plex.check_health().await;
    assert!(!report.healthy);
    assert_eq!(report.reached, None);
    assert_eq!(report.stages.len(), 1);
    assert_eq!(report.failure_kind(), Some(FailureKind::Refused));
    assert_eq!(
        report.failure.as_ref().unwrap().class(),
        ErrorClass::ServerDown
    );
    // The same through a library call, which reqwest makes.
    let err = plex.sections().await.unwrap_err();
    assert_eq!(err.kind(), FailureKind::Refused);
    assert_eq!(err.class(), ErrorClass::ServerDown);
    assert!(err.to_string().contains("nothing is listening"), "{err}");
}

#[tokio::test]
async fn a_hung_server_does_not_hold_the_check_past_its_deadline() {
    let server = MockServer::start().await;
    Mock::given(path("/identity"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(IDENTITY)
                .set_delay(Duration::from_secs(60)),
        )
        .mount(&server)
        .await;
    let deadline = Duration::from_millis(300);
    let plex = PlexClient::new(config(&server.uri()).health_deadline(deadline)).unwrap();
    let started = Instant::now();
    let report = plex.check_health().await;
    let took = started.elapsed();
    assert!(took >= deadline, "{took:?}");
    assert!(
        took < Duration::from_secs(10),
        "the 60 s answer was waited for: {took:?}"
    );
    assert_eq!(report.reached, Some(Stage::Connect));
    assert_eq!(report.failure_kind(), Some(FailureKind::ReadTimeout));
    assert_eq!(report.failure.unwrap().class(), ErrorClass::Outage);
}

#[tokio::test]
async fn a_server_that_accepts_and_never_reads_is_a_read_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let plex = PlexClient::new(
        config(&format!("http://{addr}")).health_deadline(Duration::from_millis(300)),
    )
    .unwrap();
    let started = Instant::now();
    let report = plex.check_health().await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(report.stages[0].stage, Stage::Connect);
    assert!(report.stages[0].passed);
    assert_eq!(report.failure_kind(), Some(FailureKind::ReadTimeout));
    holder.abort();
}

async fn status_of(status: u16, body: &str, headers: &[(&str, &str)]) -> plex_client::PlexError {
    let server = MockServer::start().await;
    let mut response = ResponseTemplate::new(status).set_body_string(body);
    for (name, value) in headers {
        response = response.insert_header(*name, *value);
    }
    Mock::given(path("/library/sections"))
        .respond_with(response)
        .mount(&server)
        .await;
    client(&server).sections().await.unwrap_err()
}

#[tokio::test]
async fn every_status_maps_to_one_kind_and_one_class() {
    type Case<'a> = (
        u16,
        &'a str,
        &'a [(&'a str, &'a str)],
        FailureKind,
        ErrorClass,
    );
    let cases: &[Case<'_>] = &[
        (
            503,
            MAINTENANCE,
            &[],
            FailureKind::Maintenance,
            ErrorClass::Outage,
        ),
        (
            503,
            "<Response title=\"x\" status=\"Plex is running startup maintenance tasks\"/>",
            &[],
            FailureKind::Maintenance,
            ErrorClass::Outage,
        ),
        (
            503,
            "overloaded",
            &[],
            FailureKind::UnexpectedStatus { status: 503 },
            ErrorClass::Outage,
        ),
        (
            500,
            "",
            &[],
            FailureKind::UnexpectedStatus { status: 500 },
            ErrorClass::Outage,
        ),
        (
            502,
            "",
            &[],
            FailureKind::UnexpectedStatus { status: 502 },
            ErrorClass::Outage,
        ),
        (
            401,
            "",
            &[],
            FailureKind::Unauthorized,
            ErrorClass::Configuration,
        ),
        (
            403,
            "",
            &[],
            FailureKind::Unauthorized,
            ErrorClass::Configuration,
        ),
        (404, "", &[], FailureKind::NotFound, ErrorClass::NotFound),
        (
            429,
            "",
            &[("retry-after", "7")],
            FailureKind::RateLimited,
            ErrorClass::Outage,
        ),
        (429, "", &[], FailureKind::RateLimited, ErrorClass::Outage),
        (
            400,
            "",
            &[],
            FailureKind::Rejected { status: 400 },
            ErrorClass::Permanent,
        ),
        (
            409,
            "",
            &[],
            FailureKind::Rejected { status: 409 },
            ErrorClass::Permanent,
        ),
        (
            412,
            "",
            &[],
            FailureKind::Rejected { status: 412 },
            ErrorClass::Permanent,
        ),
        (
            418,
            "",
            &[],
            FailureKind::UnexpectedStatus { status: 418 },
            ErrorClass::Permanent,
        ),
        (
            301,
            "",
            &[("location", "/elsewhere")],
            FailureKind::Redirect { status: 301 },
            ErrorClass::Configuration,
        ),
        (
            308,
            "",
            &[(
                "location",
                "https://plex.example.net:32443/library/sections?X-Plex-Token=leaked",
            )],
            FailureKind::Redirect { status: 308 },
            ErrorClass::Configuration,
        ),
    ];
    for (status, body, headers, kind, class) in cases {
        let err = status_of(*status, body, headers).await;
        assert_eq!(err.kind(), *kind, "HTTP {status}");
        assert_eq!(err.class(), *class, "HTTP {status}");
        let retry_after = headers
            .iter()
            .find(|(name, _)| *name == "retry-after")
            .map(|(_, v)| Duration::from_secs(v.parse().unwrap()));
        assert_eq!(err.retry_after(), retry_after, "HTTP {status}");
        assert!(err.to_string().contains(&format!("HTTP {status}")), "{err}");
        assert!(err.url().ends_with("/library/sections"), "{}", err.url());
        if let FailureKind::Redirect { .. } = kind {
            // Where it points, to the host: never the path or the query.
            let message = err.to_string();
            assert!(message.contains("redirects elsewhere"), "{message}");
            assert!(!message.contains("leaked") && !message.contains("elsewhere?"));
            if *status == 308 {
                assert!(
                    message.contains("to https://plex.example.net:32443)"),
                    "{message}"
                );
            }
        }
    }
}

#[tokio::test]
async fn bodies_that_are_not_plex_json_or_too_large_are_refused() {
    let server = MockServer::start().await;
    Mock::given(path("/library/sections"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<MediaContainer/>"))
        .mount(&server)
        .await;
    let err = client(&server).sections().await.unwrap_err();
    assert_eq!(
        (err.kind(), err.class()),
        (FailureKind::InvalidBody, ErrorClass::Transient)
    );

    let big = MockServer::start().await;
    Mock::given(path("/library/sections"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(10_000)))
        .mount(&big)
        .await;
    let small = PlexClient::new(config(&big.uri()).max_body_bytes(1_000)).unwrap();
    let err = small.sections().await.unwrap_err();
    assert_eq!(
        (err.kind(), err.class()),
        (FailureKind::BodyTooLarge, ErrorClass::Transient)
    );
}

#[tokio::test]
async fn find_by_file_checks_for_an_exact_match() {
    let server = MockServer::start().await;
    Mock::given(path("/library/sections"))
        .respond_with(ResponseTemplate::new(200).set_body_string(SECTIONS))
        .mount(&server)
        .await;
    // The file filter matches loosely: the listing holds four movies, one is ours.
    Mock::given(path("/library/sections/1/all"))
        .and(query_param("type", "1"))
        .and(query_param("file", "/data/Movies/Sintel (2010).mkv"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("movie_library.json")))
        .expect(1)
        .mount(&server)
        .await;
    let plex = client(&server);
    let found = plex
        .find_by_file("/data/Movies/Sintel (2010).mkv")
        .await
        .unwrap();
    assert_eq!(found.section.key, "1");
    assert_eq!(found.item.title.as_deref(), Some("Sintel"));
    assert!(
        found
            .item
            .files()
            .any(|f| f == "/data/Movies/Sintel (2010).mkv")
    );
    // A file outside every section's folders is not looked for at all.
    let err = plex
        .find_by_file("/elsewhere/Sintel.mkv")
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.class()),
        (FailureKind::NotFound, ErrorClass::NotFound)
    );
}

#[tokio::test]
async fn find_by_file_walks_the_section_when_the_filter_misses() {
    let server = MockServer::start().await;
    Mock::given(path("/library/sections"))
        .respond_with(ResponseTemplate::new(200).set_body_string(SECTIONS))
        .mount(&server)
        .await;
    let wanted = "/data/TV/The 100/Season 1/The 100 S01E02.mkv";
    Mock::given(path("/library/sections/2/all"))
        .and(query_param("file", wanted))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"MediaContainer":{"size":0}}"#),
        )
        .mount(&server)
        .await;
    let page = |n: usize| {
        let items: Vec<String> = (0..2)
            .map(|i| {
                let k = n * 2 + i;
                format!(
                    r#"{{"ratingKey":"{k}","type":"episode","title":"E{k}","Media":[{{"Part":[{{"file":"/data/TV/The 100/Season 1/The 100 S01E{k:02}.mkv"}}]}}]}}"#
                )
            })
            .collect();
        format!(
            r#"{{"MediaContainer":{{"size":2,"totalSize":6,"Metadata":[{}]}}}}"#,
            items.join(",")
        )
    };
    for n in 0..3 {
        Mock::given(path("/library/sections/2/all"))
            .and(header(
                "x-plex-container-start",
                (n * 2).to_string().as_str(),
            ))
            .and(header("x-plex-container-size", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_string(page(n)))
            .mount(&server)
            .await;
    }
    let plex = PlexClient::new(config(&server.uri()).page_size(2)).unwrap();
    let found = plex.find_by_file(wanted).await.unwrap();
    assert_eq!(found.item.rating_key, "2");
    let missing = plex
        .find_by_file("/data/TV/The 100/Season 1/nope.mkv")
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), FailureKind::NotFound);
}

fn interstate() -> Located {
    let text = fixture("metadata_108.json");
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let item = serde_json::from_value(value["MediaContainer"]["Metadata"][0].clone()).unwrap();
    let section = serde_json::from_str(
        r#"{"key":"1","type":"movie","title":"Movies","Location":[{"path":"/data/Movies"}]}"#,
    )
    .unwrap();
    Located { section, item }
}

/// Serves item 108 whole, as `GET /library/metadata/108` does.
async fn serve_interstate(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/library/metadata/108"))
        .and(header("x-plex-token", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("metadata_108.json")))
        .mount(server)
        .await;
}

#[tokio::test]
async fn an_edit_sends_only_what_differs_in_one_put() {
    let server = MockServer::start().await;
    serve_interstate(&server).await;
    Mock::given(method("PUT"))
        .and(path("/library/sections/1/all"))
        .and(header("x-plex-token", TOKEN))
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&server)
        .await;
    let plex = client(&server);
    let located = interstate();
    let edit = MetadataEdit {
        title: Some("Interstate 60: Episodes of the Road".into()),
        studio: Some("Fireworks Pictures".into()), // unchanged: not sent
        summary: Some("A road & a wish".into()),
        genres: Some(vec!["Comedy".into(), "Road Movie".into()]),
        actors: Some(vec![]),
        collections: Some(vec![]), // already empty: not sent
        lock: BTreeSet::from([Field::Title, Field::Genres]),
        ..MetadataEdit::default()
    };
    let applied = plex.apply_edit(&located, &edit).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "one GET of the whole item, one PUT");
    let query = requests[1].url.query().unwrap();
    let mut removed = located.item.actors.clone();
    removed.sort();
    // Each removed tag is percent-encoded, then the list is encoded again as a query value.
    let actors = removed.join("%2C").replace(' ', "%2520");
    let expected = format!(
        "type=1&id=108\
         &title.value=Interstate+60%3A+Episodes+of+the+Road&title.locked=1\
         &summary.value=A+road+%26+a+wish\
         &genre%5B0%5D.tag.tag=Comedy&genre%5B1%5D.tag.tag=Road+Movie\
         &genre%5B%5D.tag.tag-=Adventure%2CDrama%2CFantasy&genre.locked=1\
         &actor%5B%5D.tag.tag-={actors}"
    );
    assert_eq!(query, expected);
    assert_eq!(applied.sent.len(), 8);
    // The same edit, sent from its pairs.
    plex.send_edit(&located, &applied.sent).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests[2].url.query(), Some(query));
}

#[tokio::test]
async fn an_edit_that_changes_nothing_sends_nothing() {
    let server = MockServer::start().await;
    serve_interstate(&server).await;
    let plex = client(&server);
    let located = interstate();
    let edit = MetadataEdit {
        title: Some("Interstate 60".into()),
        genres: Some(vec![
            "Drama".into(),
            "Fantasy".into(),
            "Comedy".into(),
            "Adventure".into(),
        ]),
        ..MetadataEdit::default()
    };
    let applied = plex.apply_edit(&located, &edit).await.unwrap();
    assert!(applied.sent.is_empty());
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests.iter().all(|r| r.method.as_str() == "GET"),
        "no PUT"
    );
}

#[test]
fn matching_values_are_still_locked_when_plex_has_not_locked_them() {
    let mut item = interstate().item;
    let edit = MetadataEdit {
        title: item.title.clone(),
        genres: Some(item.genres.clone()),
        lock: BTreeSet::from([Field::Title, Field::Genres]),
        ..MetadataEdit::default()
    };
    let pairs = edit.changes(&item);
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["title.locked", "genre.locked"],
        "locks only, no values"
    );
    // Once Plex has the locks, the same edit sends nothing.
    plex_client::apply_pairs(&mut item, &pairs);
    assert!(edit.changes(&item).is_empty());
}

#[tokio::test]
async fn a_failed_edit_is_classified() {
    let server = MockServer::start().await;
    serve_interstate(&server).await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(400))
        .mount(&server)
        .await;
    let edit = MetadataEdit {
        title: Some("new".into()),
        ..MetadataEdit::default()
    };
    let err = client(&server)
        .apply_edit(&interstate(), &edit)
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.class()),
        (FailureKind::Rejected { status: 400 }, ErrorClass::Permanent)
    );
}

#[tokio::test]
async fn item_reads_one_item_and_a_missing_one_is_not_found() {
    let server = MockServer::start().await;
    Mock::given(path("/library/metadata/108"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("metadata_108.json")))
        .mount(&server)
        .await;
    Mock::given(path("/library/metadata/7"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"MediaContainer":{"size":0}}"#),
        )
        .mount(&server)
        .await;
    let plex = client(&server);
    assert_eq!(
        plex.item("108").await.unwrap().title.as_deref(),
        Some("Interstate 60")
    );
    assert_eq!(
        plex.item("7").await.unwrap_err().kind(),
        FailureKind::NotFound
    );
    assert_eq!(
        plex.item("999").await.unwrap_err().kind(),
        FailureKind::NotFound
    );
}

#[tokio::test]
async fn a_base_url_with_a_path_prefix_is_kept() {
    let server = MockServer::start().await;
    Mock::given(path("/plex/identity"))
        .respond_with(ResponseTemplate::new(200).set_body_string(IDENTITY))
        .mount(&server)
        .await;
    let plex = PlexClient::new(config(&format!("{}/plex/", server.uri()))).unwrap();
    assert_eq!(
        plex.identity().await.unwrap().version,
        "1.31.3.6868-28fc46b27"
    );
}

#[test]
fn secrets_never_show() {
    let config = config("http://plex.local:32400");
    let client = PlexClient::new(config.clone()).unwrap();
    for shown in [
        format!("{config:?}"),
        format!("{client:?}"),
        format!("{:?}", Token::new(TOKEN).unwrap()),
    ] {
        assert!(!shown.contains(TOKEN), "{shown}");
    }
    assert_eq!(config.redacted_url(), "http://plex.local:32400/");
}

#[test]
fn bad_settings_are_refused_with_what_to_fix() {
    let token = || Token::new(TOKEN).unwrap();
    let cases = [
        ("localhost:32400", "must start with http:// or https://"),
        ("not a url", "not a valid URL"),
        (
            "http://plex.local:32400/?X-Plex-Token=leaked",
            "must not carry a user name, password or query string",
        ),
        (
            "http://user:pw@plex.local:32400",
            "must not carry a user name, password or query string",
        ),
    ];
    for (url, message) in cases {
        let err = PlexConfig::new(url, token(), "id").unwrap_err().to_string();
        assert!(err.contains(message), "{url}: {err}");
        assert!(!err.contains("leaked") && !err.contains("pw@"), "{err}");
    }
    assert!(PlexConfig::new("http://plex.local", token(), "has space").is_err());
    assert_eq!(
        Token::new("  ").unwrap_err().to_string(),
        "the Plex token is empty; set it to your X-Plex-Token"
    );
    assert!(Token::new("two words").is_err());
    assert!(Token::new("tab\there").is_err());
}

#[tokio::test]
async fn https_to_a_plain_http_port_is_a_tls_failure() {
    let server = MockServer::start().await;
    healthy(&server).await;
    let https = server.uri().replace("http://", "https://");
    let plex = PlexClient::new(config(&https)).unwrap();
    let err = plex.sections().await.unwrap_err();
    assert_eq!(
        (err.kind(), err.class()),
        (FailureKind::Tls, ErrorClass::Configuration),
        "{err}"
    );
    assert!(err.to_string().contains("TLS failed"), "{err}");
    let report = plex.check_health().await;
    assert_eq!(
        report.reached,
        Some(Stage::Connect),
        "TCP works, TLS does not"
    );
    assert_eq!(report.failure_kind(), Some(FailureKind::Tls));
}

#[tokio::test]
async fn a_shallow_check_stops_at_identity_and_cannot_see_maintenance_behind_it() {
    let server = MockServer::start().await;
    Mock::given(path("/identity"))
        .respond_with(ResponseTemplate::new(200).set_body_string(IDENTITY))
        .mount(&server)
        .await;
    Mock::given(path("/library/sections"))
        .respond_with(ResponseTemplate::new(503).set_body_string(MAINTENANCE))
        .mount(&server)
        .await;
    let plex = client(&server);
    let shallow = plex.check_health_until(Stage::Identity).await;
    assert!(shallow.healthy, "{shallow:?}");
    assert_eq!(shallow.stages.len(), 2);
    assert!(
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.url.path() != "/library/sections"),
        "a shallow check never asks the library"
    );
    let deep = plex.check_health().await;
    assert!(!deep.healthy);
    assert_eq!(deep.failure_kind(), Some(FailureKind::Maintenance));
    let connect_only = plex.check_health_until(Stage::Connect).await;
    assert!(connect_only.healthy);
    assert_eq!(connect_only.stages.len(), 1);
}

#[tokio::test]
async fn a_walked_section_answers_for_a_minute_and_a_scan_forgets_it() {
    let server = MockServer::start().await;
    Mock::given(path("/library/sections"))
        .respond_with(ResponseTemplate::new(200).set_body_string(SECTIONS))
        .mount(&server)
        .await;
    // The filter finds nothing, ever: every lookup that misses falls back on the walk.
    Mock::given(path("/library/sections/2/all"))
        .and(wiremock::matchers::query_param_contains("file", "/data/TV"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"MediaContainer":{"size":0}}"#),
        )
        .mount(&server)
        .await;
    let episodes: Vec<String> = (0..3)
        .map(|k| {
            format!(
                r#"{{"ratingKey":"{k}","type":"episode","title":"E{k}","Media":[{{"Part":[{{"file":"/data/TV/The 100/Season 1/The 100 S01E{k:02}.mkv"}}]}}]}}"#
            )
        })
        .collect();
    Mock::given(path("/library/sections/2/all"))
        .and(header("x-plex-container-start", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            r#"{{"MediaContainer":{{"size":3,"totalSize":3,"Metadata":[{}]}}}}"#,
            episodes.join(",")
        )))
        .mount(&server)
        .await;
    Mock::given(path("/library/metadata/1"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            r#"{{"MediaContainer":{{"size":1,"Metadata":[{}]}}}}"#,
            episodes[1]
        )))
        .mount(&server)
        .await;
    Mock::given(path("/library/sections/2/refresh"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let walks = |requests: &[wiremock::Request]| {
        requests
            .iter()
            .filter(|r| r.headers.get("x-plex-container-start").is_some())
            .count()
    };
    let plex = PlexClient::new(config(&server.uri()).page_size(10)).unwrap();
    let sections = plex.sections().await.unwrap();
    let missing = "/data/TV/The 100/Season 1/missing.mkv";
    for _ in 0..5 {
        let err = plex.find_by_file_in(&sections, missing).await.unwrap_err();
        assert_eq!(err.kind(), FailureKind::NotFound);
    }
    assert_eq!(
        walks(&server.received_requests().await.unwrap()),
        1,
        "five misses, one walk"
    );

    // A file the walk saw comes back whole, without walking again.
    let found = plex
        .find_by_file_in(&sections, "/data/TV/The 100/Season 1/The 100 S01E01.mkv")
        .await
        .unwrap();
    assert_eq!(
        (found.item.rating_key.as_str(), found.section.key.as_str()),
        ("1", "2")
    );
    assert_eq!(walks(&server.received_requests().await.unwrap()), 1);

    // A scan of the section may add the file: the next lookup walks again.
    plex.scan_folder("2", "/data/TV/The 100").await.unwrap();
    let _ = plex.find_by_file_in(&sections, missing).await.unwrap_err();
    assert_eq!(walks(&server.received_requests().await.unwrap()), 2);
}

proptest::proptest! {
    /// A host and port typed without a scheme, whatever the host: the error repeats it and
    /// gives the URL to use, which is then accepted.
    #[test]
    fn a_url_without_its_scheme_gets_the_one_to_use(
        host in "[a-z][a-z0-9-]{0,12}(\\.[a-z][a-z0-9]{0,7}){0,2}|(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}",
        port in 1u16..,
    ) {
        let given = format!("{host}:{port}");
        let err = PlexConfig::new(&given, Token::new(TOKEN).unwrap(), "id").unwrap_err().to_string();
        let meant = format!("http://{given}");
        proptest::prop_assert!(err.contains(&format!("did you mean {meant}?")), "{}", err);
        proptest::prop_assert!(PlexConfig::new(&meant, Token::new(TOKEN).unwrap(), "id").is_ok());
    }

    /// Plex Web's address pasted from a browser, any page of it: the error gives the server's
    /// own URL, never the query, and that URL is accepted.
    #[test]
    fn plex_web_s_address_gets_the_server_s(
        port in 1u16..,
        page in "[a-z/._-]{0,20}",
        fragment in "[a-z/=&]{0,20}",
        secret in "[A-Za-z0-9]{8,20}",
    ) {
        let given = format!("http://127.0.0.1:{port}/web/{page}?X-Plex-Token={secret}#!/{fragment}");
        let err = PlexConfig::new(&given, Token::new(TOKEN).unwrap(), "id").unwrap_err().to_string();
        let root = if port == 80 { "http://127.0.0.1".to_owned() } else { format!("http://127.0.0.1:{port}") };
        proptest::prop_assert!(err.ends_with(&format!("use {root}")), "{}", err);
        proptest::prop_assert!(!err.contains(&secret), "{}", err);
        proptest::prop_assert!(PlexConfig::new(&root, Token::new(TOKEN).unwrap(), "id").is_ok());
    }
}

#[tokio::test]
async fn a_walked_file_is_read_by_its_key_at_once_and_a_moved_one_is_searched_again() {
    let server = MockServer::start().await;
    let file = |k: usize| format!("/data/TV/The 100/Season 1/The 100 S01E{k:02}.mkv");
    let episode = |k: usize, f: &str| {
        format!(
            r#"{{"ratingKey":"{k}","type":"episode","title":"E{k}","Media":[{{"Part":[{{"file":"{f}"}}]}}]}}"#
        )
    };
    let listing = |items: Vec<String>| {
        format!(
            r#"{{"MediaContainer":{{"size":{0},"totalSize":{0},"Metadata":[{1}]}}}}"#,
            items.len(),
            items.join(",")
        )
    };
    Mock::given(path("/library/sections"))
        .respond_with(ResponseTemplate::new(200).set_body_string(SECTIONS))
        .mount(&server)
        .await;
    // The walk lists episodes 0-3 in one page.
    Mock::given(path("/library/sections/2/all"))
        .and(header("x-plex-container-start", "0"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(listing((0..4).map(|k| episode(k, &file(k))).collect())),
        )
        .mount(&server)
        .await;
    // Episode 1 is where the walk saw it; episode 2's file has since moved to item 9.
    Mock::given(path("/library/metadata/1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(listing(vec![episode(1, &file(1))])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/library/metadata/2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(listing(vec![episode(2, "/data/TV/elsewhere.mkv")])),
        )
        .mount(&server)
        .await;
    Mock::given(path("/library/sections/2/all"))
        .and(query_param("file", file(1).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string(listing(vec![])))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(path("/library/sections/2/all"))
        .and(query_param("file", file(2).as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(listing(vec![episode(9, &file(2))])),
        )
        .expect(1)
        .mount(&server)
        .await;
    let plex = PlexClient::new(config(&server.uri()).page_size(50)).unwrap();
    let sections: Vec<_> = plex
        .sections()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.key == "2")
        .collect();
    plex.walk_sections(&sections).await.unwrap();
    // Walked: read whole by its key, no search.
    let (found, whole) = plex.find_for_sync(&sections, &file(1)).await.unwrap();
    assert_eq!((found.item.rating_key.as_str(), whole), ("1", true));
    // Moved since the walk: the search finds where it is now.
    let (found, whole) = plex.find_for_sync(&sections, &file(2)).await.unwrap();
    assert_eq!((found.item.rating_key.as_str(), whole), ("9", false));
}
