//! The app's tray menu, read and clicked the way a desktop panel does it, over D-Bus.
//!
//! On Linux the tray icon is an app indicator: libayatana-appindicator exports the menu on the
//! session bus with the `com.canonical.dbusmenu` interface, at
//! `/org/ayatana/NotificationItem/<id>/Menu` on the app's own bus connection. A panel reads the
//! labels with `GetLayout` and reports a click with `Event(id, "clicked", …)`. These helpers do
//! the same with `dbus-send` (package `dbus-bin`, pulled in by `dbus`).

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::webdriver::Result;

/// `dbus-send --print-reply` on the session bus; the reply as text.
pub fn dbus_send(args: &[&str]) -> Result<String> {
    let output = Command::new("dbus-send")
        .args(["--session", "--print-reply", "--reply-timeout=5000"])
        .args(args)
        .output()
        .map_err(|e| format!("running dbus-send: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "dbus-send {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The unique bus names (`:1.N`) owned by process `pid`.
pub fn bus_names_of(pid: u32) -> Result<Vec<String>> {
    let bus = ["--dest=org.freedesktop.DBus", "/org/freedesktop/DBus"];
    let names = dbus_send(&[bus[0], bus[1], "org.freedesktop.DBus.ListNames"])?;
    let mut owned = Vec::new();
    for name in names.split('"').filter(|n| n.starts_with(":1.")) {
        let arg = format!("string:{name}");
        let method = "org.freedesktop.DBus.GetConnectionUnixProcessID";
        let Ok(reply) = dbus_send(&[bus[0], bus[1], method, &arg]) else {
            continue; // that client has left meanwhile
        };
        if reply.contains(&format!("uint32 {pid}")) {
            owned.push(name.to_owned());
        }
    }
    Ok(owned)
}

/// The tray menu of process `pid`: (bus name, menu object path).
pub fn find_menu(pid: u32) -> Result<(String, String)> {
    for name in bus_names_of(pid)? {
        let dest = format!("--dest={name}");
        let introspect = "org.freedesktop.DBus.Introspectable.Introspect";
        let Ok(xml) = dbus_send(&[&dest, "/org/ayatana/NotificationItem", introspect]) else {
            continue;
        };
        if let Some(item) = xml
            .split("node name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        {
            return Ok((name, format!("/org/ayatana/NotificationItem/{item}/Menu")));
        }
    }
    Err(format!("process {pid} exports no app-indicator menu on the session bus").into())
}

/// Menu labels → item ids, from `GetLayout` as dbus-send prints it: each item is a struct that
/// starts with `int32 <id>`, followed by its properties, of which we asked only for `label`.
pub fn menu_items(menu: &(String, String)) -> Result<BTreeMap<String, i32>> {
    let dest = format!("--dest={}", menu.0);
    let layout = dbus_send(&[
        &dest,
        &menu.1,
        "com.canonical.dbusmenu.GetLayout",
        "int32:0",
        "int32:-1",
        "array:string:label",
    ])?;
    let mut items = BTreeMap::new();
    let mut last_id = None;
    let mut lines = layout.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if let Some(id) = line.strip_prefix("int32 ") {
            last_id = id.parse().ok();
        } else if line == "string \"label\"" {
            let value = lines.next().unwrap_or_default();
            if let (Some(id), Some(label)) = (last_id, value.split('"').nth(1)) {
                items.insert(label.to_owned(), id);
            }
        }
    }
    Ok(items)
}

/// Clicks the menu item labelled `label`, as a panel does.
pub fn click(menu: &(String, String), label: &str) -> Result<()> {
    let items = menu_items(menu)?;
    let item = items
        .get(label)
        .ok_or_else(|| format!("no {label:?} item in {:?}", items.keys()))?;
    let dest = format!("--dest={}", menu.0);
    let id = format!("int32:{item}");
    dbus_send(&[
        &dest,
        &menu.1,
        "com.canonical.dbusmenu.Event",
        &id,
        "string:clicked",
        "variant:int32:0",
        "uint32:0",
    ])?;
    Ok(())
}
