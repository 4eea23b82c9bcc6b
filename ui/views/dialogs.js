/**
 * What opens over the page: the side panels as overlays on narrow windows (the "#" and "⚙"
 * buttons), modal dialogs (About), and the notice banner the desktop app may send.
 *
 * Keyboard rules: each toggle says whether its panel is open (`aria-expanded`); opening moves
 * the focus into the panel or dialog, Escape closes it and gives the focus back to what opened
 * it. A modal is a native `<dialog>` opened with `showModal()`, which keeps the focus inside.
 */

import { byId } from "./dom.js";

export function createPanels({ onActorsOpened }) {
  const roomsPanel = byId("rooms-panel");
  const actorsPanel = byId("actors-panel");
  const toggleRooms = byId("toggle-rooms");
  const toggleActors = byId("toggle-actors");
  const actorsClose = byId("actors-close");
  const pairs = [
    [actorsPanel, toggleActors],
    [roomsPanel, toggleRooms],
  ];

  function setOpen(panel, button, open) {
    panel.dataset.open = open ? "true" : "false";
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  const isOpen = (panel) => panel.dataset.open === "true";
  /** An overlay, not part of the layout (the layout shows the panel on wide windows). */
  const isOverlay = (panel) => getComputedStyle(panel).position === "fixed";

  toggleActors.addEventListener("click", () => {
    const open = !isOpen(actorsPanel);
    setOpen(actorsPanel, toggleActors, open);
    if (open) {
      setOpen(roomsPanel, toggleRooms, false);
      onActorsOpened();
      actorsClose.focus();
    }
  });
  actorsClose.addEventListener("click", () => {
    setOpen(actorsPanel, toggleActors, false);
    toggleActors.focus();
  });
  toggleRooms.addEventListener("click", () => {
    const open = !isOpen(roomsPanel);
    setOpen(roomsPanel, toggleRooms, open);
    if (open) {
      setOpen(actorsPanel, toggleActors, false);
      const current = roomsPanel.querySelector('.room-link[aria-current="page"]');
      if (current && isOverlay(roomsPanel)) current.focus();
    }
  });

  // A click outside an open overlay closes it.
  document.addEventListener("click", (event) => {
    for (const [panel, button] of pairs) {
      if (!isOpen(panel) || panel.contains(event.target) || button.contains(event.target)) continue;
      if (isOverlay(panel)) setOpen(panel, button, false);
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    for (const [panel, button] of pairs) {
      if (isOpen(panel)) {
        setOpen(panel, button, false);
        button.focus();
        return;
      }
    }
  });

  return {
    /** A choice was made in the rooms overlay: it has done its job. */
    closeRoomsOverlay: () => setOpen(roomsPanel, toggleRooms, false),
  };
}

/**
 * A modal `<dialog>` opened by `opener`: `onOpen` runs as it opens; the focus returns to the
 * opener when it closes (Escape, its close button, or a click on the backdrop).
 */
export function createModal(dialog, opener, closeButton, onOpen) {
  opener.setAttribute("aria-haspopup", "dialog");
  opener.addEventListener("click", () => {
    if (dialog.open) return;
    dialog.showModal();
    opener.setAttribute("aria-expanded", "true");
    onOpen();
  });
  closeButton.addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // the backdrop
  });
  dialog.addEventListener("close", () => {
    opener.setAttribute("aria-expanded", "false");
    opener.focus();
  });
}

/** The desktop app's notice (e.g. "port 8000 was taken, using 8001"), with a dismiss button. */
export function showNotice(text, onDismissed) {
  const notice = byId("notice");
  byId("notice-text").textContent = text;
  notice.hidden = !text;
  byId("notice-dismiss").addEventListener("click", () => {
    notice.hidden = true;
    onDismissed();
  });
}
