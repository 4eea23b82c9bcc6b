/**
 * Toasts: broadcasts, notifications and direct messages from elsewhere, in a corner for a few
 * seconds. The container is a polite live region, so a screen reader announces each one; a
 * toast stays while the pointer or the focus is on it, and its ✕ dismisses it.
 */

import { MAX_TOASTS, TOAST_MS } from "../config.js";
import { byId, element } from "./dom.js";

export function createToasts() {
  const container = byId("toasts");

  function toast(level, title, text) {
    const node = element("div", "toast");
    node.dataset.level = level;
    const body = element("div", "toast-body");
    body.append(element("strong", "toast-title", title), element("p", "toast-text", text));
    const dismissButton = element("button", "icon-button toast-dismiss", "✕", "Dismiss");
    dismissButton.type = "button";
    dismissButton.setAttribute("aria-label", `Dismiss: ${title}`);
    node.append(body, dismissButton);

    let timer = 0;
    const dismiss = () => {
      clearTimeout(timer);
      node.remove();
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(dismiss, TOAST_MS);
    };
    dismissButton.addEventListener("click", dismiss);
    node.addEventListener("mouseenter", () => clearTimeout(timer));
    node.addEventListener("mouseleave", arm);
    node.addEventListener("focusin", () => clearTimeout(timer));
    node.addEventListener("focusout", arm);
    arm();

    container.append(node);
    while (container.childElementCount > MAX_TOASTS) container.firstElementChild.remove();
  }

  return { toast };
}
