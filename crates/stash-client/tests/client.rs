//! The client against the fake Stash: the queries plexsync makes, and how failures read.

use fake_stash::{FakeStash, Options, scene};
use serde_json::json;
use stash_client::{Error, Input, Stash};

fn input(port: u16, cookie: Option<&str>) -> Input {
    let cookie = cookie.map(|v| json!({ "Name": "session", "Value": v }));
    let doc = json!({
        "server_connection": { "Scheme": "http", "Host": "0.0.0.0", "Port": port, "SessionCookie": cookie },
        "args": { "mode": "status" },
    });
    Input::parse(&doc.to_string()).unwrap()
}

#[tokio::test]
async fn a_scene_and_the_settings_come_in_one_request() {
    let fake = FakeStash::start(Options {
        session: Some("c".into()),
        ..Options::default()
    })
    .await
    .unwrap();
    fake.add_scene(scene("5", "Five", "/data/5.mkv"));
    fake.set_plugin_settings("plexsync", json!({ "plex_url": "http://plex" }));
    fake.set_plugin_settings("other", json!({ "secret": "not ours" }));
    let stash = Stash::new(&input(fake.port(), Some("c")).server_connection, None).unwrap();

    let (found, settings) = stash.scene_and_settings("5", "plexsync").await.unwrap();
    let found = found.expect("scene 5");
    assert_eq!(
        (found.id.as_str(), found.title.as_deref()),
        ("5", Some("Five"))
    );
    assert_eq!(found.files[0].path, "/data/5.mkv");
    assert_eq!(settings.get("plex_url"), Some(&json!("http://plex")));
    assert!(!settings.contains_key("secret"));
    assert_eq!(fake.requests().len(), 1);

    let (missing, _) = stash.scene_and_settings("6", "plexsync").await.unwrap();
    assert!(missing.is_none());
    assert!(stash.settings("nobody").await.unwrap().is_empty());
}

#[tokio::test]
async fn scenes_come_page_by_page_and_the_filter_applies() {
    let fake = FakeStash::start(Options::default()).await.unwrap();
    for id in 1..=7 {
        let mut s = scene(&id.to_string(), "t", "/f.mkv");
        s["updated_at"] = json!(format!("2026-11-0{id}T00:00:00Z"));
        fake.add_scene(s);
    }
    let stash = Stash::new(&input(fake.port(), None).server_connection, None).unwrap();
    let ids =
        |page: stash_client::ScenePage| page.scenes.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let first = stash.scenes(1, 3, None).await.unwrap();
    assert_eq!(first.count, 7);
    assert_eq!(ids(first), ["1", "2", "3"]);
    assert_eq!(ids(stash.scenes(3, 3, None).await.unwrap()), ["7"]);
    let recent = stash
        .scenes(1, 10, Some("2026-11-05T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(ids(recent), ["6", "7"]);
}

#[tokio::test]
async fn refusals_and_silence_say_what_happened_without_the_credentials() {
    let fake = FakeStash::start(Options {
        session: Some("right".into()),
        api_key: Some("the-api-key".into()),
        ..Options::default()
    })
    .await
    .unwrap();
    let wrong = Stash::new(
        &input(fake.port(), Some("wrong-value")).server_connection,
        None,
    )
    .unwrap();
    let error = wrong.settings("plexsync").await.unwrap_err();
    assert!(
        matches!(error, Error::Refused { status: 401, .. }),
        "{error}"
    );
    assert!(
        !error.to_string().contains("wrong-value") && !format!("{error:?}").contains("wrong-value")
    );

    // Without a cookie, the API key is sent instead.
    let keyed = Stash::new(
        &input(fake.port(), None).server_connection,
        Some("the-api-key"),
    )
    .unwrap();
    assert!(keyed.settings("plexsync").await.is_ok());
    assert!(!format!("{keyed:?}").contains("the-api-key"));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let nobody = Stash::new(&input(port, None).server_connection, None).unwrap();
    let error = nobody.settings("plexsync").await.unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("could not reach Stash at http://127.0.0.1:"),
        "{error}"
    );
}

#[test]
fn the_input_is_read_leniently_where_stash_varies_and_strictly_where_it_matters() {
    let parsed = Input::parse(r#"{"server_connection": {"Scheme": "https", "Host": "::", "Port": 9999, "SessionCookie": null, "Extra": 1}, "args": {"mode": "process", "days": 3, "hookContext": null}}"#).unwrap();
    assert_eq!(
        parsed.server_connection.graphql_url().unwrap(),
        "https://[::1]:9999/graphql"
    );
    assert_eq!(parsed.arg("mode").as_deref(), Some("process"));
    assert_eq!(parsed.arg("days").as_deref(), Some("3"));
    assert!(parsed.hook().unwrap().is_none());

    let hook = Input::parse(r#"{"server_connection": {"Host": "stash.lan", "Port": 1, "SessionCookie": {"Name": "session", "Value": "v"}}, "args": {"hookContext": {"id": 12, "type": "Scene.Update.Post", "input": [{"id": "12"}]}}}"#).unwrap();
    assert_eq!(
        hook.server_connection.graphql_url().unwrap(),
        "http://stash.lan:1/graphql"
    );
    assert!(!format!("{:?}", hook.server_connection).contains("\"v\""));
    let context = hook.hook().unwrap().unwrap();
    assert_eq!(
        (context.id().unwrap().as_str(), context.kind.as_str()),
        ("12", "Scene.Update.Post")
    );

    for bad in [
        "",
        "{}",
        r#"{"server_connection": {"Port": "x"}}"#,
        r#"{"server_connection": {"Port": 1, "Scheme": "ftp"}}"#,
    ] {
        let error = Input::parse(bad)
            .and_then(|i| i.server_connection.graphql_url())
            .unwrap_err();
        assert!(matches!(error, Error::Input(_)), "{bad}: {error}");
    }
    let bad_id = Input::parse(r#"{"server_connection": {"Port": 1}, "args": {"hookContext": {"id": {"x": 1}, "type": "Scene.Update.Post"}}}"#).unwrap();
    assert!(bad_id.hook().unwrap().unwrap().id().is_err());
}

fn tls_file(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fake-stash/tls")
            .join(name),
    )
    .unwrap()
}

/// An HTTPS fake Stash with its self-signed certificate (marked a CA, naming `stash` only).
async fn https_stash() -> FakeStash {
    FakeStash::start(Options {
        tls: Some(fake_stash::Tls {
            cert_pem: tls_file("stash.crt"),
            key_pem: tls_file("stash.key"),
        }),
        ..Options::default()
    })
    .await
    .unwrap()
}

fn https_input(port: u16, dir: &std::path::Path) -> Input {
    let doc = json!({
        "server_connection": { "Scheme": "https", "Host": "0.0.0.0", "Port": port, "Dir": dir },
        "args": { "mode": "status" },
    });
    Input::parse(&doc.to_string()).unwrap()
}

#[tokio::test]
async fn over_https_stash_s_own_certificate_is_trusted_from_its_folder() {
    let fake = https_stash().await;
    assert_eq!(fake.scheme(), "https");
    fake.set_plugin_settings("plexsync", json!({ "plex_url": "http://plex" }));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stash.crt"), tls_file("stash.crt")).unwrap();
    let stash = Stash::new(
        &https_input(fake.port(), dir.path()).server_connection,
        None,
    )
    .unwrap();
    let settings = stash.settings("plexsync").await.unwrap();
    assert_eq!(settings.get("plex_url"), Some(&json!("http://plex")));

    // Where config.yml puts it instead.
    let elsewhere = tempfile::tempdir().unwrap();
    let cert = elsewhere.path().join("certs/mine.pem");
    std::fs::create_dir_all(cert.parent().unwrap()).unwrap();
    std::fs::write(&cert, tls_file("stash.crt")).unwrap();
    let config_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        config_dir.path().join("config.yml"),
        format!(
            "host: 0.0.0.0\nssl_cert_path: \"{}\"\nport: 9999\n",
            cert.display()
        ),
    )
    .unwrap();
    let stash = Stash::new(
        &https_input(fake.port(), config_dir.path()).server_connection,
        None,
    )
    .unwrap();
    assert!(stash.settings("plexsync").await.is_ok());
}

#[tokio::test]
async fn a_certificate_that_is_not_trusted_is_said_to_be_one_with_what_to_do() {
    let fake = https_stash().await;
    // No certificate of Stash's in its folder.
    let empty = tempfile::tempdir().unwrap();
    let stash = Stash::new(
        &https_input(fake.port(), empty.path()).server_connection,
        None,
    )
    .unwrap();
    let error = stash.settings("plexsync").await.unwrap_err();
    assert!(matches!(error, Error::Certificate { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("certificate") && message.contains("stash.crt"),
        "{message}"
    );
    assert!(
        !message.contains("refused"),
        "not a refused connection: {message}"
    );
    // Another certificate where Stash's should be.
    let wrong = tempfile::tempdir().unwrap();
    std::fs::write(wrong.path().join("stash.crt"), tls_file("other.crt")).unwrap();
    let stash = Stash::new(
        &https_input(fake.port(), wrong.path()).server_connection,
        None,
    )
    .unwrap();
    let message = stash.settings("plexsync").await.unwrap_err().to_string();
    assert!(
        message.contains("was not accepted")
            && message.contains(&wrong.path().join("stash.crt").display().to_string()),
        "{message}"
    );
    // A file that is no certificate at all: one line that names it.
    let junk = tempfile::tempdir().unwrap();
    std::fs::write(junk.path().join("stash.crt"), b"not a certificate").unwrap();
    let error = Stash::new(
        &https_input(fake.port(), junk.path()).server_connection,
        None,
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("stash.crt cannot be used"),
        "{error}"
    );
}
