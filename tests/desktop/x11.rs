//! The X server seen as a window manager sees it (x11rb, the pure-Rust X protocol crate): which
//! top-level windows a process has, whether they are mapped, and a close request exactly as a
//! window's close button sends it (a `WM_PROTOCOLS` client message carrying `WM_DELETE_WINDOW`,
//! ICCCM 4.2.8.1). Under a bare Xvfb there is no window manager, so top-level windows are the
//! root window's children.

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ClientMessageEvent, ConnectionExt, EventMask, MapState, Window,
};
use x11rb::rust_connection::RustConnection;
use x11rb::CURRENT_TIME;

use crate::support::webdriver::Result;

/// One top-level window.
#[derive(Debug, Clone)]
pub struct TopLevel {
    pub id: Window,
    pub title: String,
    /// Mapped, and so on screen (no window manager could hide it otherwise).
    pub viewable: bool,
}

/// A connection to the display in `$DISPLAY`.
pub struct Display {
    conn: RustConnection,
    root: Window,
}

impl Display {
    pub fn connect() -> Result<Display> {
        let (conn, screen) =
            x11rb::connect(None).map_err(|e| format!("connecting to the X display: {e}"))?;
        let root = conn.setup().roots[screen].root;
        Ok(Display { conn, root })
    }

    fn atom(&self, name: &str) -> Result<u32> {
        Ok(self.conn.intern_atom(false, name.as_bytes())?.reply()?.atom)
    }

    /// The top-level windows whose `_NET_WM_PID` is `pid`.
    pub fn windows_of(&self, pid: u32) -> Result<Vec<TopLevel>> {
        let net_wm_pid = self.atom("_NET_WM_PID")?;
        let net_wm_name = self.atom("_NET_WM_NAME")?;
        let utf8 = self.atom("UTF8_STRING")?;
        let mut found = Vec::new();
        for window in self.conn.query_tree(self.root)?.reply()?.children {
            let Ok(reply) = self
                .conn
                .get_property(false, window, net_wm_pid, AtomEnum::CARDINAL, 0, 1)?
                .reply()
            else {
                continue; // the window went away meanwhile
            };
            if reply.value32().and_then(|mut v| v.next()) != Some(pid) {
                continue;
            }
            let title = self
                .conn
                .get_property(false, window, net_wm_name, utf8, 0, 1024)?
                .reply()
                .map(|reply| String::from_utf8_lossy(&reply.value).into_owned())
                .unwrap_or_default();
            let Ok(attributes) = self.conn.get_window_attributes(window)?.reply() else {
                continue;
            };
            found.push(TopLevel {
                id: window,
                title,
                viewable: attributes.map_state == MapState::VIEWABLE,
            });
        }
        Ok(found)
    }

    /// The mapped top-level windows of `pid`.
    pub fn viewable_windows_of(&self, pid: u32) -> Result<Vec<TopLevel>> {
        Ok(self
            .windows_of(pid)?
            .into_iter()
            .filter(|window| window.viewable)
            .collect())
    }

    /// Asks `window` to close, as its title bar's close button would (`WM_DELETE_WINDOW`).
    pub fn request_close(&self, window: Window) -> Result<()> {
        let protocols = self.atom("WM_PROTOCOLS")?;
        let delete = self.atom("WM_DELETE_WINDOW")?;
        let event = ClientMessageEvent::new(32, window, protocols, [delete, CURRENT_TIME, 0, 0, 0]);
        self.conn
            .send_event(false, window, EventMask::NO_EVENT, event)?
            .check()?;
        self.conn.flush()?;
        Ok(())
    }
}
