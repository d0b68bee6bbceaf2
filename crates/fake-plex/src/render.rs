//! Plex's two formats: JSON when asked for, XML otherwise, with the same names.

use serde_json::{Map, Value};

/// `{"MediaContainer": container}` as JSON.
pub(crate) fn json(container: &Map<String, Value>) -> String {
    let mut root = Map::new();
    root.insert("MediaContainer".into(), Value::Object(container.clone()));
    Value::Object(root).to_string()
}

/// The same container as Plex's XML: scalars become attributes, lists of objects become child
/// elements named by their key, except that JSON's `Metadata` items are `Video`, `Directory`,
/// `Track` or `Photo` elements by their type, as in Plex's XML.
pub(crate) fn xml(container: &Map<String, Value>) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    element(&mut out, "MediaContainer", container);
    out.push('\n');
    out
}

fn element(out: &mut String, name: &str, fields: &Map<String, Value>) {
    out.push('<');
    out.push_str(name);
    let mut children = Vec::new();
    for (key, value) in fields {
        match value {
            Value::Null => {}
            Value::Bool(b) => attribute(out, key, if *b { "1" } else { "0" }),
            Value::Number(n) => attribute(out, key, &n.to_string()),
            Value::String(s) => attribute(out, key, s),
            Value::Array(items) => children.extend(items.iter().filter_map(|i| match i {
                Value::Object(o) => Some((key.as_str(), o)),
                _ => None,
            })),
            Value::Object(o) => children.push((key.as_str(), o)),
        }
    }
    if children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for (child, fields) in children {
        let name = if child == "Metadata" {
            match fields.get("type").and_then(Value::as_str) {
                Some("show" | "season" | "artist" | "album" | "collection") => "Directory",
                Some("track") => "Track",
                Some("photo") => "Photo",
                _ => "Video",
            }
        } else {
            child
        };
        element(out, name, fields);
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn attribute(out: &mut String, key: &str, value: &str) {
    out.push(' ');
    out.push_str(key);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            c => out.push(c),
        }
    }
    out.push('"');
}
