//! Real captured Plex responses (tests/data, MIT licence there) parse into the models.

use plex_client::{Item, Section};
use serde::Deserialize;

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "MediaContainer")]
    container: Container,
}

#[derive(Deserialize)]
struct Container {
    #[serde(rename = "Metadata", default)]
    items: Vec<Item>,
}

fn items(name: &str) -> Vec<Item> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str::<Envelope>(&text)
        .unwrap()
        .container
        .items
}

#[test]
fn a_movie_with_its_tags_and_file() {
    let item = items("metadata_108.json").remove(0);
    assert_eq!(item.rating_key, "108");
    assert_eq!(item.kind, "movie");
    assert_eq!(item.type_number(), Some(1));
    assert_eq!(item.section_id.as_deref(), Some("1"));
    assert_eq!(item.title.as_deref(), Some("Interstate 60"));
    assert_eq!(item.studio.as_deref(), Some("Fireworks Pictures"));
    assert_eq!(item.content_rating.as_deref(), Some("R"));
    assert_eq!(item.originally_available_at.as_deref(), Some("2002-04-13"));
    assert!(
        item.tagline
            .as_deref()
            .unwrap()
            .starts_with("It began as a wish")
    );
    assert_eq!(item.genres, ["Adventure", "Comedy", "Drama", "Fantasy"]);
    assert_eq!(item.actors.len(), 22);
    assert_eq!(item.actors[0], "James Marsden");
    assert!(item.collections.is_empty());
    assert_eq!(
        item.files().collect::<Vec<_>>(),
        ["/data/Movies/Interstate 60 (2002).mkv"]
    );
}

#[test]
fn a_movie_library_listing() {
    let movies = items("movie_library.json");
    assert_eq!(movies.len(), 4);
    let bunny = &movies[0];
    assert_eq!(bunny.title.as_deref(), Some("Big Buck Bunny"));
    assert_eq!(bunny.genres, ["Animation", "Comedy"]);
    assert_eq!(bunny.collections, ["Animation"]);
    assert!(movies.iter().all(|m| m.files().count() == 1));
    assert!(
        movies.iter().all(|m| m.section_id.is_none()),
        "listings omit it per item"
    );
}

#[test]
fn shows_and_episodes() {
    let shows = items("tv_library.json");
    assert_eq!(shows[0].kind, "show");
    assert_eq!(shows[0].type_number(), Some(2));
    assert_eq!(
        shows[0].actors,
        ["Ricky Whittle", "Eliza Taylor", "Eve Harlow"]
    );
    assert_eq!(shows[0].files().count(), 0);
    let episodes = items("tv_episodes.json");
    assert!(!episodes.is_empty());
    assert!(
        episodes
            .iter()
            .all(|e| e.kind == "episode" && e.type_number() == Some(4))
    );
    assert!(episodes.iter().all(|e| e.files().count() >= 1));
}

#[test]
fn sections_know_their_folders() {
    let json = r#"{"key":"1","type":"movie","title":"Movies","Location":[{"id":3,"path":"/data/Movies/"}]}"#;
    let section: Section = serde_json::from_str(json).unwrap();
    assert_eq!(section.video_type(), Some(1));
    assert!(section.contains("/data/Movies/Interstate 60 (2002).mkv"));
    assert!(section.contains("/data/Movies/sub/dir/file.mp4"));
    assert!(!section.contains("/data/Movies"));
    assert!(!section.contains("/data/MoviesExtra/file.mkv"));
    assert!(!section.contains("/other/file.mkv"));
    let numeric: Section = serde_json::from_str(r#"{"key":2,"type":"show"}"#).unwrap();
    assert_eq!((numeric.key.as_str(), numeric.video_type()), ("2", Some(4)));
    let photos: Section = serde_json::from_str(r#"{"key":"3","type":"photo"}"#).unwrap();
    assert_eq!(photos.video_type(), None);
}

#[test]
fn the_root_names_the_server() {
    let root = r#"{"MediaContainer":{"size":0,"friendlyName":"Den","version":"1.40.0","platform":"Linux","machineIdentifier":"x"}}"#;
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(rename = "MediaContainer")]
        container: plex_client::ServerInfo,
    }
    let info = serde_json::from_str::<Envelope>(root).unwrap().container;
    assert_eq!(
        (
            info.name.as_str(),
            info.version.as_str(),
            info.platform.as_str()
        ),
        ("Den", "1.40.0", "Linux")
    );
    let written = serde_json::to_string(&info).unwrap();
    assert_eq!(
        written,
        r#"{"name":"Den","version":"1.40.0","platform":"Linux"}"#
    );
    assert_eq!(
        serde_json::from_str::<plex_client::ServerInfo>(&written).unwrap(),
        info
    );
}
