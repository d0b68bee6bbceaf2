//! Whatever Stash (or anything else) writes on standard input, reading it never panics, and a
//! document that cannot be used gets one line that says why.

use proptest::prelude::*;
use serde_json::{Value, json};
use stash_client::Input;

/// A valid hook document, for mutation.
fn valid() -> Value {
    json!({
        "server_connection": {
            "Scheme": "http", "Host": "0.0.0.0", "Port": 9999,
            "SessionCookie": { "Name": "session", "Value": "c00kie-secret" }, "Dir": "/d", "PluginDir": "/p",
        },
        "args": { "hookContext": { "id": 12, "type": "Scene.Update.Post", "input": null } },
    })
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[A-Za-z]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path to a value in `doc`.
fn paths(doc: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    if let Value::Object(map) = doc {
        for (k, v) in map {
            let mut p = prefix.clone();
            p.push(k.clone());
            paths(v, p, out);
        }
    }
}

fn set(doc: &mut Value, path: &[String], value: Value) {
    match path.split_first() {
        None => *doc = value,
        Some((head, rest)) => {
            if let Some(child) = doc.get_mut(head) {
                set(child, rest, value);
            }
        }
    }
}

/// Reads `text` the way `plexsync stash` does, through to the hook's id and the URL.
fn read(text: &str) -> Result<(), String> {
    let input = Input::parse(text).map_err(|e| e.to_string())?;
    input
        .server_connection
        .graphql_url()
        .map_err(|e| e.to_string())?;
    let _ = input.arg("mode");
    if let Some(hook) = input.hook().map_err(|e| e.to_string())? {
        hook.id().map_err(|e| e.to_string())?;
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_errors_are_one_line(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(message) = read(&text) {
            prop_assert!(!message.contains('\n'), "{message:?}");
            prop_assert!(!message.is_empty());
        }
    }

    #[test]
    fn a_valid_document_with_any_one_value_replaced_never_panics(pick in any::<prop::sample::Index>(), value in any_json()) {
        let mut doc = valid();
        let mut all = Vec::new();
        paths(&doc, Vec::new(), &mut all);
        let path = pick.get(&all).clone();
        set(&mut doc, &path, value);
        if let Err(message) = read(&doc.to_string()) {
            prop_assert!(!message.contains('\n'), "{message:?}");
            // The cookie's value is never quoted back.
            prop_assert!(!message.contains("c00kie-secret"), "{message:?}");
        }
    }

    #[test]
    fn truncated_documents_are_refused_with_a_reason(cut in 0usize..200) {
        let text = valid().to_string();
        let cut = cut.min(text.len().saturating_sub(1));
        let message = read(&text[..cut]).unwrap_err();
        prop_assert!(!message.contains('\n'));
        prop_assert!(message.contains("input"), "{message}");
    }
}
