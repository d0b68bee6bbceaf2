//! Edits against the whole item, sections fetched once for many lookups, field locks, and the
//! job payload's serialized form. Built on the real captures in tests/data: item 108 has 2
//! genres and 3 roles in the section listing but 4 and 22 when read whole.

use std::collections::BTreeSet;

use plex_client::{Field, Item, MetadataEdit, PlexClient, PlexConfig, Token};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "s3cr3t-t0ken";
const FILE: &str = "/data/Movies/Interstate 60 (2002).mkv";
const SECTIONS: &str = r#"{"MediaContainer":{"size":1,"Directory":[
  {"key":"1","type":"movie","title":"Movies","Location":[{"id":1,"path":"/data/Movies"}]}]}}"#;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn whole_108() -> serde_json::Value {
    serde_json::from_str(&fixture("metadata_108.json")).unwrap()
}

/// A Plex with the captured movie section (listing) and item 108 (whole), counting requests.
async fn plex_with_library(whole: serde_json::Value) -> (MockServer, PlexClient) {
    let server = MockServer::start().await;
    Mock::given(path("/library/sections"))
        .respond_with(ResponseTemplate::new(200).set_body_string(SECTIONS))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/library/sections/1/all"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("movie_library.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/library/metadata/108"))
        .respond_with(ResponseTemplate::new(200).set_body_json(whole))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/library/sections/1/all"))
        .and(query_param("id", "108"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let config = PlexConfig::new(&server.uri(), Token::new(TOKEN).unwrap(), "test").unwrap();
    (server, PlexClient::new(config).unwrap())
}

async fn requests_to(server: &MockServer, method: &str, path: &str) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == method && r.url.path() == path)
        .map(|r| r.url.query().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn an_edit_is_judged_against_the_whole_item_not_the_truncated_listing() {
    let (server, plex) = plex_with_library(whole_108()).await;
    let found = plex.find_by_file(FILE).await.unwrap();
    // What the listing shows: it is truncated.
    assert_eq!(found.item.genres, ["Adventure", "Comedy"]);
    assert_eq!(found.item.actors.len(), 3);
    // Ask for exactly what the listing shows. Against the listing that looks unchanged;
    // against the whole item two genres and nineteen actors must go.
    let edit = MetadataEdit {
        genres: Some(found.item.genres.clone()),
        actors: Some(found.item.actors.clone()),
        ..MetadataEdit::default()
    };
    assert!(
        edit.changes(&found.item).is_empty(),
        "the trap: the listing looks unchanged"
    );
    let applied = plex.apply_edit(&found, &edit).await.unwrap();
    let removed = |name: &str| {
        applied
            .sent
            .iter()
            .find(|(k, _)| k == &format!("{name}[].tag.tag-"))
            .map(|(_, v)| v.split(',').count())
    };
    assert_eq!(removed("genre"), Some(2), "{:?}", applied.sent);
    assert_eq!(removed("actor"), Some(19), "{:?}", applied.sent);
    assert_eq!(
        requests_to(&server, "PUT", "/library/sections/1/all")
            .await
            .len(),
        1
    );
    // And asking for what the whole item already has sends nothing.
    let whole = plex.item("108").await.unwrap();
    let same = MetadataEdit {
        genres: Some(whole.genres.clone()),
        actors: Some(whole.actors.clone()),
        ..MetadataEdit::default()
    };
    assert!(
        plex.apply_edit(&found, &same)
            .await
            .unwrap()
            .sent
            .is_empty()
    );
    assert_eq!(
        requests_to(&server, "PUT", "/library/sections/1/all")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn sections_fetched_once_serve_many_lookups() {
    let (server, plex) = plex_with_library(whole_108()).await;
    let sections = plex.sections().await.unwrap();
    for _ in 0..25 {
        let found = plex.find_by_file_in(&sections, FILE).await.unwrap();
        assert_eq!(found.item.rating_key, "108");
    }
    assert_eq!(
        requests_to(&server, "GET", "/library/sections").await.len(),
        1
    );
    // A file under no section's folder costs no request at all.
    let before = server.received_requests().await.unwrap().len();
    let err = plex
        .find_by_file_in(&sections, "/elsewhere/x.mkv")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), plex_client::FailureKind::NotFound);
    assert_eq!(server.received_requests().await.unwrap().len(), before);
}

#[tokio::test]
async fn field_locks_are_read_from_the_whole_item() {
    let mut whole = whole_108();
    whole["MediaContainer"]["Metadata"][0]["Field"] = serde_json::json!([
        {"locked": true, "name": "title"},
        {"locked": "1", "name": "genre"},
        {"locked": false, "name": "summary"},
        {"name": "studio"}
    ]);
    let (_server, plex) = plex_with_library(whole).await;
    let item = plex.item("108").await.unwrap();
    assert_eq!(item.locked, ["title", "genre"]);
    assert!(item.is_locked(Field::Title));
    assert!(item.is_locked(Field::Genres));
    assert!(!item.is_locked(Field::Summary));
    assert!(!item.is_locked(Field::Studio));
    // A listing carries no locks.
    let listed: Item = serde_json::from_value(
        serde_json::from_str::<serde_json::Value>(&fixture("movie_library.json")).unwrap()
            ["MediaContainer"]["Metadata"][2]
            .clone(),
    )
    .unwrap();
    assert!(listed.locked.is_empty());
}

#[test]
fn a_tag_with_a_comma_or_a_percent_sign_is_removed_as_itself() {
    let item: Item = serde_json::from_value(serde_json::json!({
        "ratingKey": "1", "type": "movie",
        "Genre": [{"tag": "Smith, John"}, {"tag": "100% Real"}, {"tag": "Keep"}]
    }))
    .unwrap();
    let edit = MetadataEdit {
        genres: Some(vec!["Keep".into()]),
        ..MetadataEdit::default()
    };
    let removed = edit
        .changes(&item)
        .into_iter()
        .find(|(k, _)| k == "genre[].tag.tag-")
        .unwrap()
        .1;
    // Each tag percent-encoded, then joined: the commas that separate are the only ones.
    assert_eq!(removed, "100%25%20Real,Smith%2C%20John");
}

#[test]
fn a_sort_title_is_an_edit_like_any_field() {
    let item: Item = serde_json::from_value(
        serde_json::json!({"ratingKey": "1", "type": "movie", "titleSort": "Old"}),
    )
    .unwrap();
    assert_eq!(item.title_sort.as_deref(), Some("Old"));
    let edit = MetadataEdit {
        title_sort: Some("Sintel, The".into()),
        lock: BTreeSet::from([Field::TitleSort]),
        ..MetadataEdit::default()
    };
    assert_eq!(
        edit.changes(&item),
        [
            ("titleSort.value".to_owned(), "Sintel, The".to_owned()),
            ("titleSort.locked".to_owned(), "1".to_owned())
        ]
    );
}

#[test]
fn an_edit_is_a_payload_that_round_trips() {
    let edit = MetadataEdit {
        title: Some("Sintel".into()),
        title_sort: Some("Sintel".into()),
        studio: Some("Blender".into()),
        actors: Some(vec!["Halina Reijn".into()]),
        genres: Some(vec![]),
        lock: BTreeSet::from([Field::Title, Field::Actors]),
        ..MetadataEdit::default()
    };
    let json = serde_json::to_value(&edit).unwrap();
    assert_eq!(json["lock"], serde_json::json!(["title", "actors"]));
    assert_eq!(serde_json::from_value::<MetadataEdit>(json).unwrap(), edit);
    // Every field may be left out; a misspelt one is refused.
    assert_eq!(
        serde_json::from_str::<MetadataEdit>("{}").unwrap(),
        MetadataEdit::default()
    );
    assert!(serde_json::from_str::<MetadataEdit>(r#"{"titel":"x"}"#).is_err());
}

mod fixpoint {
    use std::collections::BTreeSet;

    use plex_client::{Field, Item, MetadataEdit, apply_pairs};
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        // Commas, percent signs, ampersands and spaces included: the awkward ones.
        proptest::string::string_regex("[a-zA-Z0-9 ,%&é.-]{0,12}").unwrap()
    }

    fn tags() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(
            text().prop_filter("a tag has a name", |t| !t.is_empty()),
            0..5,
        )
        .prop_map(|mut v| {
            v.dedup();
            v
        })
    }

    fn item() -> impl Strategy<Value = Item> {
        (
            proptest::option::of(text()),
            proptest::option::of(text()),
            tags(),
            tags(),
        )
            .prop_map(|(title, studio, genres, actors)| {
                let mut item: Item =
                    serde_json::from_value(serde_json::json!({"ratingKey": "1", "type": "movie"}))
                        .unwrap();
                item.title = title;
                item.studio = studio;
                item.genres = genres;
                item.actors = actors;
                item
            })
    }

    fn edit() -> impl Strategy<Value = MetadataEdit> {
        (
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(tags()),
            proptest::option::of(tags()),
            any::<bool>(),
        )
            .prop_map(|(title, studio, genres, actors, lock)| MetadataEdit {
                title,
                studio,
                genres,
                actors,
                lock: if lock {
                    BTreeSet::from(Field::ALL)
                } else {
                    BTreeSet::new()
                },
                ..MetadataEdit::default()
            })
    }

    proptest! {
        /// What an edit sends, applied as Plex applies it, leaves nothing more to send: the
        /// diff and the server agree, whatever the tags hold.
        #[test]
        fn an_applied_edit_leaves_nothing_to_change(mut item in item(), edit in edit()) {
            let pairs = edit.changes(&item);
            apply_pairs(&mut item, &pairs);
            prop_assert_eq!(edit.changes(&item), Vec::<(String, String)>::new());
            if let Some(genres) = &edit.genres {
                let held: BTreeSet<&String> = item.genres.iter().collect();
                let wanted: BTreeSet<&String> = genres.iter().collect();
                prop_assert_eq!(held, wanted);
            }
            if edit.title.is_some() && !pairs.is_empty() && edit.lock.contains(&Field::Title) {
                prop_assert!(pairs.iter().all(|(k, _)| !k.starts_with("title.") ) || item.is_locked(Field::Title));
            }
        }
    }
}
