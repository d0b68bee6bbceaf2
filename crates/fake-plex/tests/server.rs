//! The fake server through plexsync's real client and through plain HTTP.

use std::collections::BTreeSet;
use std::time::Duration;

use fake_plex::{FakePlex, Fault, Library, Options, ServerPhase};
use plex_client::{
    ErrorClass, FailureKind, Field, MetadataEdit, PlexClient, PlexConfig, Stage, Token,
};

fn client(plex: &FakePlex) -> PlexClient {
    let config = PlexConfig::new(
        &plex.url(),
        Token::new(plex.token()).unwrap(),
        "fake-plex-tests",
    )
    .unwrap()
    .health_deadline(Duration::from_millis(400));
    PlexClient::new(config).unwrap()
}

async fn get(url: &str, accept_json: bool, token: Option<&str>) -> (u16, String) {
    let http = reqwest::Client::new();
    let mut request = http.get(url);
    if accept_json {
        request = request.header("accept", "application/json");
    }
    if let Some(token) = token {
        request = request.header("x-plex-token", token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_startup_sequence_as_the_health_check_sees_it() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let plex_client = client(&plex);

    plex.set_phase(ServerPhase::Refused).await;
    let report = plex_client.check_health().await;
    assert_eq!(
        (report.reached, report.failure_kind()),
        (None, Some(FailureKind::Refused))
    );

    plex.set_phase(ServerPhase::Silent).await;
    let report = plex_client.check_health().await;
    assert_eq!(report.reached, Some(Stage::Connect));
    assert_eq!(report.failure_kind(), Some(FailureKind::ReadTimeout));

    plex.set_phase(ServerPhase::Maintenance).await;
    let report = plex_client.check_health().await;
    assert_eq!(report.reached, Some(Stage::Connect));
    assert_eq!(report.failure_kind(), Some(FailureKind::Maintenance));

    plex.set_phase(ServerPhase::Starting).await;
    let report = plex_client.check_health().await;
    assert_eq!(report.reached, Some(Stage::Identity), "{report:?}");
    assert_eq!(report.failure_kind(), Some(FailureKind::Maintenance));
    assert_eq!(
        report.identity.as_ref().unwrap().version,
        "1.40.0.7998-fake"
    );

    plex.set_phase(ServerPhase::Ready).await;
    let report = plex_client.check_health().await;
    assert!(report.healthy, "{report:?}");
    assert_eq!(plex.phase(), ServerPhase::Ready);
}

#[tokio::test]
async fn every_other_phase_as_the_health_check_sees_it() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let plex_client = client(&plex);

    // Unreachable: the connection itself never completes.
    plex.set_phase(ServerPhase::Unreachable).await;
    let started = std::time::Instant::now();
    let report = plex_client.check_health().await;
    assert_eq!(report.reached, None, "{report:?}");
    assert_eq!(report.failure_kind(), Some(FailureKind::ConnectTimeout));
    assert!(started.elapsed() >= Duration::from_millis(350));

    // A refused token is the settings' trouble, seen only past /identity.
    plex.set_phase(ServerPhase::TokenRevoked).await;
    let report = plex_client.check_health().await;
    assert_eq!(report.reached, Some(Stage::Identity), "{report:?}");
    assert_eq!(report.failure_kind(), Some(FailureKind::Unauthorized));

    // Optimizing: /identity answers, the library hangs.
    plex.set_phase(ServerPhase::Optimizing).await;
    let report = plex_client.check_health().await;
    assert_eq!(report.reached, Some(Stage::Identity), "{report:?}");
    assert_eq!(report.failure_kind(), Some(FailureKind::ReadTimeout));

    // Slow: answers that come, late.
    plex.set_slow(Duration::from_millis(150));
    plex.set_phase(ServerPhase::Slow).await;
    let started = std::time::Instant::now();
    assert!(plex_client.identity().await.is_ok());
    assert!(started.elapsed() >= Duration::from_millis(150));
    plex.set_slow(Duration::from_secs(5));
    let report = plex_client.check_health().await;
    assert_eq!(report.reached, Some(Stage::Connect), "{report:?}");
    assert_eq!(report.failure_kind(), Some(FailureKind::ReadTimeout));

    plex.set_phase(ServerPhase::Ready).await;
    assert!(plex_client.check_health().await.healthy);
}

#[test]
fn every_phase_reads_back_from_its_name() {
    for phase in ServerPhase::ALL {
        assert_eq!(phase.as_str().parse::<ServerPhase>(), Ok(phase));
        assert_eq!(
            phase.as_str().replace(' ', "-").parse::<ServerPhase>(),
            Ok(phase)
        );
    }
    let error = "down".parse::<ServerPhase>().unwrap_err().to_string();
    assert!(
        error.contains("refused") && error.contains("ready"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_phase_change_can_be_scheduled() {
    let plex = FakePlex::start_with(
        Library::demo(),
        Options {
            phase: ServerPhase::Refused,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    plex.schedule(Duration::from_secs(90), ServerPhase::Ready);
    tokio::time::sleep(Duration::from_secs(89)).await;
    assert_eq!(plex.phase(), ServerPhase::Refused);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(plex.phase(), ServerPhase::Ready);
}

#[tokio::test]
async fn xml_unless_json_is_asked_for() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let (status, xml) = get(&format!("{}/identity", plex.url()), false, None).await;
    assert_eq!(status, 200);
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MediaContainer"),
        "{xml}"
    );
    assert!(
        xml.contains(r#"claimed="1""#) && xml.contains(r#"version="1.40.0.7998-fake""#),
        "{xml}"
    );
    let (_, json) = get(&format!("{}/identity", plex.url()), true, None).await;
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["MediaContainer"]["claimed"], true);

    let (_, sections) = get(
        &format!("{}/library/sections", plex.url()),
        false,
        Some(plex.token()),
    )
    .await;
    assert!(
        sections.contains(r#"<Directory "#)
            && sections.contains(r#"<Location id="1" path="/data/Movies"/>"#),
        "{sections}"
    );
    let (_, movies) = get(
        &format!("{}/library/sections/1/all?type=1", plex.url()),
        false,
        Some(plex.token()),
    )
    .await;
    assert_eq!(
        movies.matches("<Video ").count(),
        4,
        "Plex's XML calls movies Video: {movies}"
    );
    assert!(!movies.contains("<Metadata"));
    assert!(
        movies.contains("<Part ") && movies.contains(r#"file="/data/Movies/Sintel (2010).mkv""#)
    );
    assert!(movies.contains(r#"<Genre tag="Animation"/>"#));
}

#[tokio::test]
async fn the_token_is_required_except_for_identity() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let url = format!("{}/library/sections", plex.url());
    assert_eq!(get(&url, true, None).await.0, 401);
    assert_eq!(get(&url, true, Some("wrong")).await.0, 401);
    assert_eq!(get(&url, true, Some(plex.token())).await.0, 200);
    let in_query = format!("{url}?X-Plex-Token={}", plex.token());
    assert_eq!(get(&in_query, true, None).await.0, 200);
    assert_eq!(
        get(
            &format!("{}/no/such/path", plex.url()),
            true,
            Some(plex.token())
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn paging_and_the_loose_file_filter() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{}/library/sections/1/all?type=1", plex.url()))
        .header("accept", "application/json")
        .header("x-plex-token", plex.token())
        .header("x-plex-container-start", "1")
        .header("x-plex-container-size", "2")
        .send()
        .await
        .unwrap();
    let page: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let container = &page["MediaContainer"];
    assert_eq!(
        (container["size"].as_u64(), container["totalSize"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(container["Metadata"][0]["title"], "Elephants Dream");
    let (_, loose) = get(
        &format!(
            "{}/library/sections/1/all?type=1&file=%2Fdata%2FMovies",
            plex.url()
        ),
        true,
        Some(plex.token()),
    )
    .await;
    let loose: serde_json::Value = serde_json::from_str(&loose).unwrap();
    assert_eq!(
        loose["MediaContainer"]["size"], 4,
        "a folder matches every file in it"
    );
}

#[tokio::test]
async fn a_sync_finds_edits_and_then_leaves_an_item_alone() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let plex_client = client(&plex);
    let file = "/data/Movies/Sintel (2010).mkv";
    let located = plex_client.find_by_file(file).await.unwrap();
    assert_eq!(located.item.title.as_deref(), Some("Sintel"));
    let edit = MetadataEdit {
        title: Some("Sintel (Director's Cut)".into()),
        studio: Some("Blender Institute".into()),
        genres: Some(vec!["Fantasy".into(), "Short".into()]),
        actors: Some(vec!["Halina Reijn".into()]),
        lock: BTreeSet::from([Field::Title, Field::Genres]),
        ..MetadataEdit::default()
    };
    let applied = plex_client.apply_edit(&located, &edit).await.unwrap();
    let edits = plex.edits();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].section, "1");
    assert_eq!(edits[0].rating_key, located.item.rating_key);
    let sent: Vec<(String, String)> = [("type", "1"), ("id", located.item.rating_key.as_str())]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .chain(applied.sent.clone())
        .collect();
    assert_eq!(edits[0].pairs, sent, "Plex received exactly what was sent");

    let after = plex_client.find_by_file(file).await.unwrap();
    assert_eq!(after.item.title.as_deref(), Some("Sintel (Director's Cut)"));
    assert_eq!(after.item.studio.as_deref(), Some("Blender Institute"));
    assert_eq!(after.item.genres, ["Fantasy", "Short"]);
    assert_eq!(after.item.actors, ["Halina Reijn"]);
    let raw = plex.item(&after.item.rating_key).unwrap();
    let locked: Vec<&str> = raw["Field"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(locked, ["title", "genre"]);

    let again = plex_client.apply_edit(&after, &edit).await.unwrap();
    assert!(again.sent.is_empty());
    assert_eq!(plex.edits().len(), 1, "nothing differs, nothing is sent");
}

#[tokio::test]
async fn injected_faults_reach_the_client_as_their_kinds() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let plex_client = client(&plex);

    plex.inject(Fault::Status(500));
    let err = plex_client.sections().await.unwrap_err();
    assert_eq!(
        (err.kind(), err.class()),
        (
            FailureKind::UnexpectedStatus { status: 500 },
            ErrorClass::Outage
        )
    );
    plex.clear_faults();

    plex.inject(Fault::Status(401));
    assert_eq!(
        plex_client.sections().await.unwrap_err().kind(),
        FailureKind::Unauthorized
    );
    plex.clear_faults();

    plex.inject(Fault::Drop);
    let err = plex_client.sections().await.unwrap_err();
    assert_eq!(
        (err.kind(), err.class()),
        (FailureKind::ConnectionLost, ErrorClass::Outage)
    );
    plex.clear_faults();

    plex.inject(Fault::Latency(Duration::from_millis(50)));
    assert!(
        plex_client.sections().await.is_ok(),
        "latency alone is not a failure"
    );
    plex.clear_faults();

    plex.inject_on("/library", Fault::Hang);
    let report = plex_client.check_health().await;
    assert_eq!(report.reached, Some(Stage::Identity), "only /library hangs");
    assert_eq!(report.failure_kind(), Some(FailureKind::ReadTimeout));
    plex.clear_faults();
    assert!(plex_client.check_health().await.healthy);
}

#[tokio::test]
async fn a_scan_can_add_an_item_while_serving() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let plex_client = client(&plex);
    let file = "/data/Movies/New (2024).mkv";
    assert_eq!(
        plex_client.find_by_file(file).await.unwrap_err().kind(),
        FailureKind::NotFound
    );
    let key = plex.with_library(|library| library.add_movie("1", "New", file));
    let found = plex_client.find_by_file(file).await.unwrap();
    assert_eq!(found.item.rating_key, key);
    assert!(
        plex.requests()
            .iter()
            .any(|r| r.path == "/library/sections/1/all" && r.query.contains("file="))
    );
}

#[tokio::test]
async fn plexsync_removes_tags_with_commas_and_percent_signs_as_themselves() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let client = client(&plex);
    let found = client
        .find_by_file("/data/Movies/Interstate 60 (2002).mkv")
        .await
        .unwrap();
    let awkward = MetadataEdit {
        genres: Some(vec![
            "Smith, John".into(),
            "100% Real".into(),
            "Keep".into(),
        ]),
        ..MetadataEdit::default()
    };
    client.apply_edit(&found, &awkward).await.unwrap();
    let keep = MetadataEdit {
        genres: Some(vec!["Keep".into()]),
        ..MetadataEdit::default()
    };
    let applied = client.apply_edit(&found, &keep).await.unwrap();
    assert!(!applied.sent.is_empty());
    let item = client.item("108").await.unwrap();
    assert_eq!(item.genres, ["Keep"]);
    // And nothing is left to change.
    assert!(
        client
            .apply_edit(&found, &keep)
            .await
            .unwrap()
            .sent
            .is_empty()
    );
}

/// The fake's answers to what `doctor` asks carry every field of the shapes in
/// plex-client's fixtures, at every level.
#[tokio::test]
async fn doctor_s_answers_have_the_fields_plex_sends() {
    fn fields(value: &serde_json::Value, at: &str, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let here = format!("{at}/{k}");
                    out.insert(here.clone());
                    fields(v, &here, out);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    fields(item, &format!("{at}[]"), out);
                }
            }
            _ => {}
        }
    }
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    plex.set_activities(vec![
        fake_plex::Activity::scan("1", "Movies", 42),
        fake_plex::Activity::optimization(7),
    ]);
    plex.set_update(Some("1.41.3.9314"));
    plex.set_butler_hours(23, 4);
    for (route, name) in [
        ("/activities", "activities.json"),
        ("/:/prefs", "prefs.json"),
        ("/updater/status", "updater_status.json"),
        ("/butler", "butler.json"),
    ] {
        let text = std::fs::read_to_string(format!(
            "{}/../plex-client/tests/data/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut expected = BTreeSet::new();
        fields(&serde_json::from_str(&text).unwrap(), "", &mut expected);
        let (status, body) = get(&format!("{}{route}", plex.url()), true, Some(plex.token())).await;
        assert_eq!(status, 200, "{route}");
        let mut served = BTreeSet::new();
        fields(&serde_json::from_str(&body).unwrap(), "", &mut served);
        let missing: Vec<&String> = expected.difference(&served).collect();
        // A few fields say what a real server checked or holds: the fake need not invent them.
        let optional = [
            "/MediaContainer/checkedAt",
            "/MediaContainer/downloadURL",
            "/MediaContainer/status",
        ];
        let missing: Vec<&&String> = missing
            .iter()
            .filter(|m| !optional.contains(&m.as_str()))
            .collect();
        assert!(missing.is_empty(), "{route} lacks {missing:?}");
    }
}
