//! Health reports and errors as data: made by hand (as a simulated Plex makes them), written
//! as JSON for `health --json` and the persisted last probes, read back, and never carrying
//! the token. And a check that nothing public speaks reqwest.

use std::time::Duration;

use plex_client::{
    ErrorClass, FailureKind, HealthReport, Identity, PlexClient, PlexConfig, PlexError, Stage,
    Token,
};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "s3cr3t-t0ken";

fn identity() -> Identity {
    Identity {
        machine_id: "abc".into(),
        version: "1.40.0".into(),
        claimed: true,
    }
}

#[test]
fn any_report_can_be_made_by_hand() {
    let ok = HealthReport::passed(identity(), Duration::from_millis(2));
    assert!(ok.healthy);
    assert_eq!(ok.reached, Some(Stage::Library));
    assert_eq!(ok.stages.len(), 3);
    assert_eq!(ok.elapsed, Duration::from_millis(6));

    let maintenance = PlexError::new(
        FailureKind::Maintenance,
        "http://plex:32400/library/sections",
        "HTTP 503",
    )
    .with_retry_after(Some(Duration::from_secs(20)));
    let report = HealthReport::failed_at(
        Stage::Library,
        maintenance.clone(),
        Some(identity()),
        Duration::from_millis(1),
    );
    assert!(!report.healthy);
    assert_eq!(report.reached, Some(Stage::Identity));
    assert_eq!(report.identity, Some(identity()));
    let passed: Vec<(Stage, bool)> = report.stages.iter().map(|s| (s.stage, s.passed)).collect();
    assert_eq!(
        passed,
        [
            (Stage::Connect, true),
            (Stage::Identity, true),
            (Stage::Library, false)
        ]
    );
    assert_eq!(report.failure, Some(maintenance));

    let refused = PlexError::new(
        FailureKind::Refused,
        "http://plex:32400/",
        "connection refused",
    );
    let report = HealthReport::failed_at(Stage::Connect, refused, Some(identity()), Duration::ZERO);
    assert_eq!(report.reached, None);
    assert_eq!(
        report.identity, None,
        "no identity without the identity stage"
    );
    assert_eq!(report.failure_kind(), Some(FailureKind::Refused));
    assert_eq!(report.failure.unwrap().class(), ErrorClass::ServerDown);
}

#[test]
fn reports_and_errors_round_trip_through_json() {
    let failure = PlexError::new(
        FailureKind::UnexpectedStatus { status: 502 },
        "http://plex:32400/identity",
        "HTTP 502 Bad Gateway",
    )
    .with_retry_after(Some(Duration::from_millis(1_500)));
    let report =
        HealthReport::failed_at(Stage::Identity, failure, None, Duration::from_micros(1_250));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["healthy"], false);
    assert_eq!(json["reached"], "connect");
    assert_eq!(json["stages"][1]["stage"], "identity");
    assert_eq!(json["stages"][1]["latency_ms"], 1.25);
    assert_eq!(json["elapsed_ms"], 2.5);
    assert_eq!(
        json["failure"]["kind"],
        serde_json::json!({"unexpected_status": {"status": 502}})
    );
    assert_eq!(json["failure"]["class"], "outage");
    assert_eq!(json["failure"]["retry_after_ms"], 1_500);
    assert!(
        json["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("unexpected status")
    );
    let back: HealthReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
    // Identity uses plain names when written, and reads both those and Plex's.
    let written = serde_json::to_value(identity()).unwrap();
    assert_eq!(
        written,
        serde_json::json!({"machine_id": "abc", "version": "1.40.0", "claimed": true})
    );
    assert_eq!(
        serde_json::from_value::<Identity>(written).unwrap(),
        identity()
    );
    for kind in [
        FailureKind::Refused,
        FailureKind::NotPlex,
        FailureKind::RateLimited,
        FailureKind::Rejected { status: 409 },
    ] {
        let back: FailureKind =
            serde_json::from_value(serde_json::to_value(kind).unwrap()).unwrap();
        assert_eq!(back, kind);
    }
}

#[tokio::test]
async fn a_real_report_in_json_never_holds_the_token() {
    let server = MockServer::start().await;
    Mock::given(path("/identity"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"MediaContainer":{"size":0,"claimed":true,"machineIdentifier":"m1","version":"1.2.3"}}"#,
        ))
        .mount(&server)
        .await;
    Mock::given(path("/library/sections"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let config = PlexConfig::new(&server.uri(), Token::new(TOKEN).unwrap(), "test").unwrap();
    let report = PlexClient::new(config).unwrap().check_health().await;
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(TOKEN), "{json}");
    assert!(json.contains(r#""machine_id":"m1""#), "{json}");
    assert!(json.contains(r#""kind":"unauthorized""#), "{json}");
    assert!(report.failure.unwrap().is_configuration());
}

/// Only plex-client knows HTTP: no public function takes or returns a reqwest type.
#[test]
fn nothing_public_speaks_reqwest() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut leaks = Vec::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // A public signature runs from `pub fn`/`pub async fn` to its opening brace.
        let mut rest = text.as_str();
        while let Some(start) = rest.find("pub ") {
            let tail = &rest[start..];
            let is_fn = tail.starts_with("pub fn ") || tail.starts_with("pub async fn ");
            let end = tail.find('{').unwrap_or(tail.len());
            let signature = &tail[..end];
            if is_fn && (signature.contains("reqwest") || signature.contains("Url")) {
                leaks.push(format!("{}: {}", path.display(), signature.trim()));
            }
            rest = &tail[4..];
        }
    }
    assert!(
        leaks.is_empty(),
        "public signatures that expose reqwest:\n{}",
        leaks.join("\n")
    );
}
