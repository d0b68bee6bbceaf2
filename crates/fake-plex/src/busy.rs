//! What a server is busy with, as `/activities` and `/:/prefs` tell it: activities in
//! progress (a library scan, a media optimisation) and the scheduled-maintenance (Butler)
//! window. Shapes from python-plexapi's `Activity` and `Setting` models.

use serde_json::{Map, Value, json};

/// One activity in progress, as `/activities` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Activity {
    /// Its id (`uuid` in Plex's answers); empty: one is given when it is listed.
    pub uuid: String,
    /// Its kind, e.g. `library.update.section` for a scan.
    pub kind: String,
    /// What Plex calls it, e.g. `Scanning Movies`.
    pub title: String,
    /// More detail.
    pub subtitle: String,
    /// Percent done, 0 to 100.
    pub progress: u8,
    /// The library section it is about, if any.
    pub section: Option<String>,
}

impl Activity {
    /// A library scan of `section` (titled `title`), `progress` percent done.
    pub fn scan(section: &str, title: &str, progress: u8) -> Activity {
        Activity {
            uuid: String::new(),
            kind: "library.update.section".into(),
            title: format!("Scanning {title}"),
            subtitle: "Scanning".into(),
            progress,
            section: Some(section.into()),
        }
    }

    /// Media being optimised (transcoded for devices), `progress` percent done.
    pub fn optimization(progress: u8) -> Activity {
        Activity {
            uuid: String::new(),
            kind: "media.optimize".into(),
            title: "Optimizing".into(),
            subtitle: "Optimizing media".into(),
            progress,
            section: None,
        }
    }
}

impl Activity {
    /// The nightly database optimisation (the Butler's `OptimizeDatabase`), `progress`
    /// percent done. How Plex announces it is not in any public capture: this kind and title
    /// are plexsync's assumption (docs/plex.md).
    pub fn database_optimization(progress: u8) -> Activity {
        Activity {
            uuid: String::new(),
            kind: "database.optimize".into(),
            title: "Optimizing database".into(),
            subtitle: "Optimizing".into(),
            progress,
            section: None,
        }
    }

    /// Its `Activity` object, as `/activities` and notifications carry it; `n` names it if
    /// it has no id of its own.
    pub(crate) fn json(&self, n: usize) -> Value {
        let uuid = if self.uuid.is_empty() {
            format!("00000000-0000-4000-8000-{n:012}")
        } else {
            self.uuid.clone()
        };
        let mut activity = json!({
            "uuid": uuid,
            "type": self.kind, "cancellable": false, "userID": 1,
            "title": self.title, "subtitle": self.subtitle, "progress": self.progress,
        });
        if let Some(section) = &self.section {
            activity["Context"] = json!({ "librarySectionID": section });
        }
        activity
    }

    /// A notification of `event` (`started`, `updated`, `ended`) about it, as Plex's
    /// notification socket sends one (python-plexapi's `AlertListener` reads this shape).
    pub(crate) fn notification(&self, event: &str) -> String {
        let activity = self.json(0);
        json!({ "NotificationContainer": {
            "type": "activity", "size": 1,
            "ActivityNotification": [{
                "event": event, "uuid": activity["uuid"], "Activity": activity,
            }],
        }})
        .to_string()
    }
}

/// What the server is doing besides answering: activities, and the Butler window.
#[derive(Clone, Debug, Default)]
pub(crate) struct Busy {
    pub(crate) activities: Vec<Activity>,
    /// `ButlerStartHour` and `ButlerEndHour`; `None` leaves them at Plex's defaults (2 and 5).
    pub(crate) butler: Option<(u8, u8)>,
    /// A release found and not installed.
    pub(crate) update: Option<String>,
}

/// `/butler`: the scheduled tasks (the shape of the Plex API description's `ButlerTasks`).
pub(crate) fn butler() -> Value {
    let task = |name: &str, title: &str, interval: u32, enabled: bool| {
        json!({
            "name": name, "interval": interval, "scheduleRandomized": false,
            "enabled": enabled, "title": title, "description": "",
        })
    };
    json!({ "ButlerTasks": { "ButlerTask": [
        task("BackupDatabase", "Backup Database", 3, true),
        task("OptimizeDatabase", "Optimize Database", 7, true),
        task("CleanOldBundles", "Clean Old Bundles", 7, true),
        task("RefreshLibraries", "Refresh Libraries", 1, false),
    ]}})
}

/// `/updater/status`: the release waiting, if any (python-plexapi's `Release`).
pub(crate) fn updater(busy: &Busy) -> Map<String, Value> {
    let mut container = Map::new();
    container.insert("size".into(), json!(usize::from(busy.update.is_some())));
    container.insert("canInstall".into(), json!(busy.update.is_some()));
    if let Some(version) = &busy.update {
        container.insert(
            "Release".into(),
            json!([{
                "key": "https://plex.tv/updater/releases/1", "version": version,
                "added": "", "fixed": "", "downloadURL": "", "state": "available",
            }]),
        );
    }
    container
}

pub(crate) fn activities(busy: &Busy) -> Map<String, Value> {
    let list: Vec<Value> = busy
        .activities
        .iter()
        .enumerate()
        .map(|(n, a)| a.json(n))
        .collect();
    let mut container = Map::new();
    container.insert("size".into(), json!(list.len()));
    if !list.is_empty() {
        container.insert("Activity".into(), Value::Array(list));
    }
    container
}

pub(crate) fn prefs(busy: &Busy, name: &str) -> Map<String, Value> {
    let hours: String = (0..24u8)
        .map(|h| match h {
            0 => "0:Midnight".to_owned(),
            12 => "12:Noon".to_owned(),
            1..=11 => format!("{h}:{h} am"),
            _ => format!("{h}:{} pm", h - 12),
        })
        .collect::<Vec<_>>()
        .join("|");
    let (start, end) = busy.butler.unwrap_or((2, 5));
    let setting = |id: &str, label: &str, value: Value, default: Value, kind: &str, group: &str| {
        json!({
            "id": id, "label": label, "summary": "", "type": kind, "default": default,
            "value": value, "hidden": false, "advanced": false, "group": group,
            "enumValues": if kind == "int" { hours.clone() } else { String::new() },
        })
    };
    let list = vec![
        setting(
            "FriendlyName",
            "Friendly name",
            json!(name),
            json!(""),
            "text",
            "general",
        ),
        setting(
            "ButlerStartHour",
            "Time at which tasks start to run",
            json!(start),
            json!(2),
            "int",
            "butler",
        ),
        setting(
            "ButlerEndHour",
            "Time at which tasks stop running",
            json!(end),
            json!(5),
            "int",
            "butler",
        ),
    ];
    let mut container = Map::new();
    container.insert("size".into(), json!(list.len()));
    container.insert("Setting".into(), Value::Array(list));
    container
}
