//! End-to-end: the page's accessibility, in a real headless Chromium.
//!
//! Two checks:
//!
//! 1. **axe-core** (the engine behind most accessibility checkers) audits the live page, in the
//!    light and in the dark colour scheme, in three states each: a room with a broadcast, a toast
//!    and a direct conversation waiting; the direct conversation open; the About dialog open.
//!    There must be no violation of impact "serious" or "critical" (contrast, names of controls,
//!    ARIA misuse, ...). axe-core comes from the npm registry: `npm ci` in `tests/a11y/`
//!    (scripts/test does it) puts it in `tests/a11y/node_modules/`; the test reads
//!    `axe.min.js` from there and injects it through WebDriver. Nothing is fetched from a CDN.
//!    The colour scheme is emulated through chromedriver's DevTools bridge
//!    (`Emulation.setEmulatedMedia`, `prefers-color-scheme`), and the test checks that the page
//!    really renders its dark palette before it trusts the audit.
//! 2. **The keyboard**: Tab from the top of the page reaches the rooms, the people online, the
//!    composer and every button, each with a visible focus indicator; Enter on a room opens it,
//!    Enter on a person opens a direct conversation, Escape goes back; the About dialog takes
//!    the focus and Escape gives it back.
//!
//! Needs chromium, chromedriver and `tests/a11y/node_modules` (else "skipped: ...", or a failure
//! under `TRW_REQUIRE_E2E=1`).

mod support {
    pub mod data_dir;
    pub mod webdriver;
}

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use support::webdriver::{
    artifacts_dir, chromium_capabilities_sized, chromium_cdp, chromium_tools, free_port,
    http_broadcast, press_keys, require_or_skip, save_screenshot, unique_suffix, wait_until,
    with_enter, ChatPage, Driver, Process, Result, RoomClient, UI_TIMEOUT,
};

/// The app binary Cargo built for this package (honours `CARGO_TARGET_DIR`).
const APP: &str = env!("CARGO_BIN_EXE_tauri-ractor-websocket");

/// Where `npm ci` in `tests/a11y/` puts axe-core.
fn axe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/a11y/node_modules/axe-core/axe.min.js")
}

/// The server binary, headless on a free port; stopped when dropped.
struct Server {
    port: u16,
    _process: Process,
}

impl Server {
    async fn start() -> Result<Server> {
        let port = free_port();
        let mut command = Command::new(APP);
        command
            .args(["--headless", "--port", &port.to_string()])
            .env("TRW_DATA_DIR", support::data_dir::fresh("a11y"));
        let mut process = Process::spawn(&format!("a11y-server-{port}"), command)?;
        let health = format!("http://127.0.0.1:{port}/health");
        process
            .wait_http_ok(&health, Duration::from_secs(30))
            .await?;
        Ok(Server {
            port,
            _process: process,
        })
    }
}

/// Chromium, chromedriver and axe-core, or `None` after saying why not.
fn tools(test: &str) -> Option<(PathBuf, PathBuf, String)> {
    let (chromium, chromedriver) = chromium_tools(test)?;
    let axe = std::fs::read_to_string(axe_path());
    let missing = match &axe {
        Ok(_) => vec![],
        Err(e) => vec![format!(
            "axe-core is not installed ({}: {e}); run `npm ci` in tests/a11y",
            axe_path().display()
        )],
    };
    if !require_or_skip(test, &missing) {
        return None;
    }
    Some((chromium, chromedriver, axe.ok()?))
}

async fn open_tab(driver: &Driver, chromium: &Path, size: &str) -> Result<Client> {
    driver
        .session(chromium_capabilities_sized(chromium, size))
        .await
}

#[tokio::test]
async fn axe_finds_no_serious_or_critical_violation_in_light_and_dark() {
    let test = "a11y_axe";
    let Some((chromium, chromedriver, axe)) = tools(test) else {
        return;
    };
    let server = Server::start().await.expect("start the server binary");
    let driver = Driver::chromedriver(&chromedriver)
        .await
        .expect("start chromedriver");
    // Light at the usual size, dark at 800×600, where the layout is at its most compact.
    for (scheme, size) in [("light", "1280,800"), ("dark", "800,600")] {
        let session = open_tab(&driver, &chromium, size)
            .await
            .expect("open Chromium");
        let outcome = audit(&session, &server, &axe, scheme).await;
        let shot = artifacts_dir().join(format!("{test}-{scheme}.png"));
        let _ = save_screenshot(&session, &shot).await;
        let _ = session.close().await;
        if let Err(e) = outcome {
            panic!(
                "{test} ({scheme}) failed: {e}\n(screenshot: {})",
                shot.display()
            );
        }
    }
}

async fn audit(session: &Client, server: &Server, axe: &str, scheme: &str) -> Result<()> {
    let features = json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] });
    chromium_cdp(session, "Emulation.setEmulatedMedia", features).await?;
    session
        .goto(&format!("http://127.0.0.1:{}/", server.port))
        .await?;
    let page = ChatPage { session };
    page.wait_for_state("connected").await?;
    check_palette(session, scheme).await?;

    // Something in every part of the page: a broadcast (and its toast), a peer online, a room
    // with a leave button, a direct message waiting in its own conversation.
    let mut peer = RoomClient::connect(server.port).await?;
    let text = format!("broadcast for the audit {}", unique_suffix());
    http_broadcast(server.port, &text).await?;
    page.wait_for_message(&text).await?;
    join_room(session, "dev").await?;
    let my_id = own_id(session).await?;
    let direct = json!({ "type": "direct", "to": my_id, "text": "a direct message" });
    peer.send_json(&direct).await?;
    let conversation = wait_until("a direct conversation in the list", UI_TIMEOUT, || async {
        Ok(session
            .find(Locator::Css("#direct-list .room-link"))
            .await?)
    })
    .await?;

    run_axe(session, axe, &format!("{scheme}: a room")).await?;
    conversation.click().await?;
    wait_until("the direct-message chip", UI_TIMEOUT, || async {
        visible(&session.find(Locator::Css("#dm-chip")).await?).await
    })
    .await?;
    run_axe(session, axe, &format!("{scheme}: a direct conversation")).await?;
    session
        .find(Locator::Css("#about-button"))
        .await?
        .click()
        .await?;
    wait_until("the About dialog", UI_TIMEOUT, || async {
        let open = session
            .execute(
                "return document.getElementById('about-dialog').open",
                vec![],
            )
            .await?;
        if open == json!(true) {
            Ok(())
        } else {
            Err("not open".into())
        }
    })
    .await?;
    run_axe(session, axe, &format!("{scheme}: the About dialog")).await
}

/// The page must really show the scheme the audit is about (dark: the dark background).
async fn check_palette(session: &Client, scheme: &str) -> Result<()> {
    let seen = session
        .execute(
            "return [matchMedia('(prefers-color-scheme: dark)').matches, \
             getComputedStyle(document.body).backgroundColor]",
            vec![],
        )
        .await?;
    let expected = match scheme {
        "dark" => json!([true, "rgb(19, 20, 24)"]),
        _ => json!([false, "rgb(255, 255, 255)"]),
    };
    if seen == expected {
        Ok(())
    } else {
        Err(format!("{scheme}: the page shows {seen}, expected {expected}").into())
    }
}

/// Inject axe-core and run it; fail on any serious or critical violation.
async fn run_axe(session: &Client, axe: &str, what: &str) -> Result<()> {
    session
        .execute(&format!("{axe}\nreturn typeof window.axe;"), vec![])
        .await?;
    let script = "const done = arguments[arguments.length - 1];
        window.axe.run(document, { resultTypes: ['violations'] })
          .then((r) => done(r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
             nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ': ' + n.failureSummary) }))))
          .catch((e) => done({ error: String(e) }));";
    let violations = session.execute_async(script, vec![]).await?;
    let list = violations
        .as_array()
        .ok_or_else(|| format!("{what}: axe did not run: {violations}"))?;
    let serious: Vec<&Value> = list
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    for minor in list.iter().filter(|v| !serious.contains(v)) {
        println!(
            "{what}: axe (not failing, {}): {}",
            minor["impact"], minor["help"]
        );
    }
    if serious.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{what}: {} serious or critical axe violations: {serious:#?}",
            serious.len()
        )
        .into())
    }
}

async fn visible(element: &Element) -> Result<()> {
    match element.attr("hidden").await? {
        None => Ok(()),
        Some(_) => Err("hidden".into()),
    }
}

/// Join a room through the "+ join…" field and wait until it is on screen.
async fn join_room(session: &Client, room: &str) -> Result<()> {
    let join = session.find(Locator::Css("#join-room-input")).await?;
    join.send_keys(&with_enter(room)).await?;
    wait_until(
        &format!("#room-name to read {room}"),
        UI_TIMEOUT,
        || async {
            let title = session
                .find(Locator::Css("#room-name"))
                .await?
                .text()
                .await?;
            if title.trim() == room {
                Ok(())
            } else {
                Err(format!("#room-name is {title:?}").into())
            }
        },
    )
    .await
}

/// The page's own connection id, from its entry in the ONLINE list.
async fn own_id(session: &Client) -> Result<u64> {
    wait_until("our own entry in the ONLINE list", UI_TIMEOUT, || async {
        let me = session
            .find(Locator::Css("#online-list li.member-me"))
            .await?;
        let id = me.attr("data-id").await?.unwrap_or_default();
        id.parse::<u64>()
            .map_err(|e| format!("data-id {id:?}: {e}").into())
    })
    .await
}

/// What has the focus: `{key, visible}`, where `key` names the element (id, or its classes and
/// text) and `visible` says whether it shows a focus indicator (an outline or a ring).
const FOCUSED: &str = "const el = document.activeElement;
    if (!el || el === document.body) return null;
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
    const ring = style.boxShadow !== 'none';
    const key = el.id ? '#' + el.id : el.tagName.toLowerCase() + '.' + [...el.classList].join('.')
      + ' ' + (el.textContent || '').trim().slice(0, 20);
    return { key, visible: (outline || ring) && el.getClientRects().length > 0 };";

#[tokio::test]
async fn the_keyboard_reaches_rooms_people_and_controls_with_a_visible_focus() {
    let test = "a11y_keyboard";
    let Some((chromium, chromedriver, _axe)) = tools(test) else {
        return;
    };
    let server = Server::start().await.expect("start the server binary");
    let driver = Driver::chromedriver(&chromedriver)
        .await
        .expect("start chromedriver");
    let session = open_tab(&driver, &chromium, "1280,800")
        .await
        .expect("open Chromium");
    let outcome = keyboard_scenario(&session, &server).await;
    let shot = artifacts_dir().join(format!("{test}.png"));
    let _ = save_screenshot(&session, &shot).await;
    let _ = session.close().await;
    if let Err(e) = outcome {
        panic!("{test} failed: {e}\n(screenshot: {})", shot.display());
    }
}

async fn keyboard_scenario(session: &Client, server: &Server) -> Result<()> {
    session
        .goto(&format!("http://127.0.0.1:{}/", server.port))
        .await?;
    let page = ChatPage { session };
    page.wait_for_state("connected").await?;
    let mut peer = RoomClient::connect(server.port).await?;
    let peer_name = peer.welcome["name"].as_str().unwrap_or_default().to_owned();
    join_room(session, "dev").await?;
    peer.send_json(&json!({ "type": "join", "room": "dev" }))
        .await?;
    wait_until("the peer in the ONLINE list", UI_TIMEOUT, || async {
        session
            .find(Locator::Css("#online-list .member-button"))
            .await?;
        Ok(())
    })
    .await?;

    // Tab from the top of the page through every stop, once round. A click on the status pill
    // (not focusable) moves the point where Tab starts to the top, as it would for a user.
    session.find(Locator::Css("#status")).await?.click().await?;
    let mut stops: Vec<String> = Vec::new();
    for _ in 0..60 {
        press_keys(session, &[Key::Tab]).await?;
        let focused = session.execute(FOCUSED, vec![]).await?;
        let Some(key) = focused["key"].as_str() else {
            break; // the focus left the page: once round
        };
        if stops.first().is_some_and(|first| first == key) {
            break;
        }
        if focused["visible"] != json!(true) {
            return Err(format!("{key} has the focus but no visible focus indicator").into());
        }
        stops.push(key.to_owned());
    }
    for wanted in [
        "#theme-toggle",
        "#about-button",
        "a.room-link # lobby",
        "a.room-link # dev",
        "button.icon-button.room-leave",
        "#join-room-input",
        "button.member-button.member-name",
        "#message-scroller",
        "#chat-input",
        "#broadcast-input",
        "#broadcast-send",
    ] {
        if !stops.iter().any(|stop| stop.starts_with(wanted)) {
            return Err(format!("Tab never reaches {wanted}; stops: {stops:#?}").into());
        }
    }

    // Enter on a room opens it; Enter on a person opens a direct conversation; Escape goes back.
    let lobby = session
        .find(Locator::Css("#room-list .room-link[data-key='#lobby']"))
        .await?;
    lobby.send_keys(&with_enter("")).await?;
    wait_for_title(session, "lobby").await?;
    let person = session
        .find(Locator::Css("#online-list .member-button"))
        .await?;
    person.send_keys(&with_enter("")).await?;
    wait_for_title(session, &peer_name).await?;
    press_keys(session, &[Key::Escape]).await?; // the chat input has the focus now
    wait_for_title(session, "lobby").await?;

    // The About dialog takes the focus, and Escape gives it back to its button.
    let about = session.find(Locator::Css("#about-button")).await?;
    about.send_keys(&with_enter("")).await?;
    wait_for_focus_in(session, "#about-dialog").await?;
    press_keys(session, &[Key::Escape]).await?;
    wait_for_focus_in(session, "#about-button").await
}

async fn wait_for_title(session: &Client, title: &str) -> Result<()> {
    wait_until(
        &format!("#room-name to read {title}"),
        UI_TIMEOUT,
        || async {
            let now = session
                .find(Locator::Css("#room-name"))
                .await?
                .text()
                .await?;
            if now.trim() == title {
                Ok(())
            } else {
                Err(format!("#room-name is {now:?}").into())
            }
        },
    )
    .await
}

async fn wait_for_focus_in(session: &Client, selector: &str) -> Result<()> {
    let script =
        format!("return document.querySelector({selector:?}).contains(document.activeElement)");
    wait_until(&format!("the focus in {selector}"), UI_TIMEOUT, || async {
        let inside = session.execute(&script, vec![]).await?;
        if inside == json!(true) {
            Ok(())
        } else {
            let focused = session.execute(FOCUSED, vec![]).await?;
            Err(format!("the focus is on {focused}").into())
        }
    })
    .await
}
