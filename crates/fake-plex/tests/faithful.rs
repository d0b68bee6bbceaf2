//! What real Plex answers and the fake must too, so that tests built on it prove something:
//! whole items against truncated listings, filters, paging headers, TV shows, edits as
//! python-plexapi sends them, scans, `/library/all` and `/hubs/search`.

use fake_plex::{FakePlex, Library, Refresh};
use serde_json::Value;

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    json: Value,
}

async fn call(plex: &FakePlex, method: &str, path_and_query: &str) -> Answer {
    let http = reqwest::Client::new();
    let url = format!("{}{path_and_query}", plex.url());
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = http
        .request(method, url)
        .header("accept", "application/json")
        .header("x-plex-token", plex.token())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        json,
    }
}

fn titles(answer: &Answer) -> Vec<String> {
    answer.json["MediaContainer"]["Metadata"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn tags(item: &Value, list: &str) -> Vec<String> {
    item[list]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["tag"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_item_is_served_whole_and_listed_truncated() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let whole = call(&plex, "GET", "/library/metadata/108").await;
    let item = &whole.json["MediaContainer"]["Metadata"][0];
    assert_eq!(
        tags(item, "Genre"),
        ["Adventure", "Comedy", "Drama", "Fantasy"]
    );
    assert_eq!(tags(item, "Role").len(), 22);
    assert_eq!(tags(item, "Producer").len(), 5);
    assert!(!tags(item, "Similar").is_empty());
    assert_eq!(
        item["Genre"][0]["filter"], "genre=177",
        "tags keep their ids and filters"
    );
    assert_eq!(
        item["Media"][0]["Part"][0]["Stream"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(item["librarySectionTitle"], "Movies");
    let listing = call(
        &plex,
        "GET",
        "/library/sections/1/all?type=1&title=Interstate",
    )
    .await;
    let listed = &listing.json["MediaContainer"]["Metadata"][0];
    assert_eq!(
        tags(listed, "Genre"),
        ["Adventure", "Comedy"],
        "a listing truncates"
    );
    assert_eq!(tags(listed, "Role").len(), 3);
    assert!(listed.get("Producer").is_none() && listed.get("Similar").is_none());
    assert!(listed["Genre"][0].get("id").is_none());
    assert!(listed["Media"][0]["Part"][0].get("Stream").is_none());
    // Every other item is whole too: tags carry ids once read whole.
    let sintel = call(&plex, "GET", "/library/metadata/57").await;
    assert!(sintel.json["MediaContainer"]["Metadata"][0]["Genre"][0]["id"].is_u64());
}

#[tokio::test]
async fn listings_filter_and_say_how_many_there_are() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let all = |q: &str| format!("/library/sections/1/all?type=1&{q}");
    assert_eq!(
        titles(&call(&plex, "GET", &all("title=sintel")).await),
        ["Sintel"]
    );
    assert_eq!(
        titles(&call(&plex, "GET", &all("title==Sintel")).await),
        ["Sintel"]
    );
    assert!(titles(&call(&plex, "GET", &all("title==Sint")).await).is_empty());
    assert_eq!(
        titles(&call(&plex, "GET", &all("year=2008")).await),
        ["Big Buck Bunny"]
    );
    assert_eq!(
        titles(&call(&plex, "GET", &all("file=Interstate%2060")).await),
        ["Interstate 60"]
    );
    assert_eq!(
        titles(&call(&plex, "GET", &all("genre=Drama&studio!=Blender")).await),
        ["Interstate 60"]
    );
    assert_eq!(
        call(&plex, "GET", &all("unwatched=1")).await.status,
        400,
        "an unknown filter is not ignored"
    );
    let page = call(
        &plex,
        "GET",
        &all("X-Plex-Container-Start=1&X-Plex-Container-Size=2"),
    )
    .await;
    assert_eq!(titles(&page).len(), 2);
    assert_eq!(page.headers["x-plex-container-total-size"], "4");
    assert_eq!(page.headers["x-plex-container-start"], "1");
    assert_eq!(page.json["MediaContainer"]["totalSize"], 4);
    let limited = call(&plex, "GET", &all("limit=1")).await;
    assert_eq!(titles(&limited).len(), 1);
    // Across sections.
    let everywhere = call(&plex, "GET", "/library/all?title=the").await;
    assert_eq!(titles(&everywhere), ["The 100"]);
    let episodes = call(&plex, "GET", "/library/all?type=4&title=earth").await;
    assert_eq!(titles(&episodes), ["Earth Skills", "Earth Kills"]);
}

#[tokio::test]
async fn a_tv_section_has_shows_seasons_and_episodes() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let shows = call(&plex, "GET", "/library/sections/2/all").await;
    assert_eq!(titles(&shows), ["The 100", "Game of Thrones"]);
    let show = call(&plex, "GET", "/library/metadata/22").await;
    assert_eq!(show.json["MediaContainer"]["Metadata"][0]["type"], "show");
    let seasons = call(&plex, "GET", "/library/metadata/22/children").await;
    assert_eq!(titles(&seasons), ["Season 1"]);
    let episodes = call(&plex, "GET", "/library/metadata/89/children").await;
    assert_eq!(titles(&episodes), ["Pilot", "Earth Skills", "Earth Kills"]);
    let leaves = call(&plex, "GET", "/library/metadata/22/allLeaves").await;
    assert_eq!(titles(&leaves).len(), 3);
    let by_type = call(&plex, "GET", "/library/sections/2/all?type=4&file=S01E01").await;
    assert_eq!(titles(&by_type).len(), 1);
}

#[tokio::test]
async fn edits_arrive_as_python_plexapi_sends_them() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let put = |q: &str| format!("/library/sections/1/all?type=1&{q}");
    // Lock, then unlock.
    call(&plex, "PUT", &put("id=57&title.value=New&title.locked=1")).await;
    let locked = plex.item("57").unwrap();
    assert_eq!(
        locked["Field"],
        serde_json::json!([{"locked": true, "name": "title"}])
    );
    call(&plex, "PUT", &put("id=57&title.locked=0")).await;
    assert_eq!(plex.item("57").unwrap()["Field"], serde_json::json!([]));
    assert_eq!(
        plex.item("57").unwrap()["title"],
        "New",
        "an unlock leaves the value"
    );
    // Tags in index order whatever the order of the query (python sorts keys as text).
    call(
        &plex,
        "PUT",
        &put("id=57&genre%5B10%5D.tag.tag=K&genre%5B2%5D.tag.tag=C&genre%5B0%5D.tag.tag=A"),
    )
    .await;
    assert_eq!(
        tags(&Value::Object(plex.item("57").unwrap()), "Genre"),
        ["A", "C", "K"]
    );
    // Removal: each tag quoted once, the list quoted again.
    call(
        &plex,
        "PUT",
        &put("id=57&genre%5B0%5D.tag.tag=Drama%2C%20Dark%20%26%20Deep&genre%5B1%5D.tag.tag=Keep"),
    )
    .await;
    call(
        &plex,
        "PUT",
        &put("id=57&genre%5B%5D.tag.tag-=Drama%252C%2520Dark%2520%2526%2520Deep%2CGone"),
    )
    .await;
    assert_eq!(
        tags(&Value::Object(plex.item("57").unwrap()), "Genre"),
        ["Keep"]
    );
    // Several items at once.
    let answer = call(&plex, "PUT", &put("id=55,56&studio.value=Blender")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(plex.item("55").unwrap()["studio"], "Blender");
    assert_eq!(plex.item("56").unwrap()["studio"], "Blender");
    let recorded: Vec<String> = plex.edits().iter().map(|e| e.rating_key.clone()).collect();
    assert_eq!(
        recorded.iter().filter(|k| *k == "55" || *k == "56").count(),
        2
    );
    assert_eq!(
        call(&plex, "PUT", &put("id=9999&title.value=x"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn scans_are_recorded_and_find_what_is_on_disk() {
    let mut library = Library::demo();
    let key = library.stage_movie(
        "1",
        "Cosmos Laundromat",
        "/data/Movies/New/Cosmos Laundromat.mkv",
    );
    let elsewhere = library.stage_movie("1", "Spring", "/data/Movies/Other/Spring.mkv");
    let plex = FakePlex::start(library).await.unwrap();
    assert_eq!(
        call(&plex, "GET", &format!("/library/metadata/{key}"))
            .await
            .status,
        404
    );
    // A partial scan of another folder finds nothing new.
    call(
        &plex,
        "GET",
        "/library/sections/1/refresh?path=%2Fdata%2FMovies%2FNew%20Arrivals",
    )
    .await;
    assert_eq!(
        call(&plex, "GET", &format!("/library/metadata/{key}"))
            .await
            .status,
        404
    );
    // A partial scan of its folder finds it, and only it.
    let answer = call(
        &plex,
        "GET",
        "/library/sections/1/refresh?path=%2Fdata%2FMovies%2FNew",
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        call(&plex, "GET", &format!("/library/metadata/{key}"))
            .await
            .status,
        200
    );
    assert_eq!(
        call(&plex, "GET", &format!("/library/metadata/{elsewhere}"))
            .await
            .status,
        404
    );
    // A whole-section scan finds the rest; an item refresh is recorded.
    call(&plex, "GET", "/library/sections/1/refresh?force=1").await;
    assert_eq!(
        call(&plex, "GET", &format!("/library/metadata/{elsewhere}"))
            .await
            .status,
        200
    );
    assert_eq!(
        call(&plex, "PUT", "/library/metadata/108/refresh")
            .await
            .status,
        200
    );
    assert_eq!(
        call(&plex, "GET", "/library/sections/9/refresh")
            .await
            .status,
        404
    );
    assert_eq!(
        plex.refreshes(),
        [
            Refresh::Scan {
                section: "1".into(),
                path: Some("/data/Movies/New Arrivals".into())
            },
            Refresh::Scan {
                section: "1".into(),
                path: Some("/data/Movies/New".into())
            },
            Refresh::Scan {
                section: "1".into(),
                path: None
            },
            Refresh::Item {
                rating_key: "108".into()
            },
        ]
    );
}

#[tokio::test]
async fn hub_search_finds_by_title_across_kinds() {
    let plex = FakePlex::start(Library::demo()).await.unwrap();
    let answer = call(&plex, "GET", "/hubs/search?query=sintel&limit=10").await;
    let hubs = answer.json["MediaContainer"]["Hub"]
        .as_array()
        .unwrap()
        .clone();
    let movies = hubs.iter().find(|h| h["type"] == "movie").unwrap();
    assert_eq!(movies["size"], 1);
    assert_eq!(movies["Metadata"][0]["title"], "Sintel");
    assert_eq!(
        hubs.iter().find(|h| h["type"] == "episode").unwrap()["size"],
        0
    );
    let episodes = call(&plex, "GET", "/hubs/search?query=earth&sectionId=2").await;
    let found = episodes.json["MediaContainer"]["Hub"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["type"] == "episode")
        .unwrap()["size"]
        .clone();
    assert_eq!(found, 2);
}
