/**
 * "You are guest-7 ✎": the user's name in the status bar, and the inline form to change it.
 * Enter saves, Escape cancels; the server's refusal (`name_taken`, `invalid_name`) shows next to
 * the field, which keeps the focus.
 */

import { byId, setText } from "./dom.js";

export function createNamesView(store, { onRename }) {
  const me = byId("me");
  const myName = byId("my-name");
  const button = byId("rename-button");
  const form = byId("rename-form");
  const input = byId("rename-input");
  const cancel = byId("rename-cancel");
  const error = byId("rename-error");

  function setError(text) {
    setText(error, text);
    input.setAttribute("aria-invalid", text ? "true" : "false");
  }

  function open() {
    if (!store.connected) return;
    form.hidden = false;
    me.dataset.editing = "true";
    me.parentElement.dataset.renaming = "true";
    button.setAttribute("aria-expanded", "true");
    input.value = store.me ? store.me.name : store.wantedName;
    setError("");
    input.focus();
    input.select();
  }

  function close(focusBack = false) {
    if (form.hidden) return;
    form.hidden = true;
    delete me.dataset.editing;
    delete me.parentElement.dataset.renaming;
    button.setAttribute("aria-expanded", "false");
    store.pendingRename = "";
    setError("");
    if (focusBack) button.focus();
  }

  function render() {
    setText(myName, (store.me && store.me.name) || store.wantedName || "—");
    me.dataset.stale = store.connected ? "false" : "true";
    button.disabled = !store.connected;
    if (!store.connected) close();
  }

  button.addEventListener("click", () => (form.hidden ? open() : close(true)));
  myName.addEventListener("click", open);
  cancel.addEventListener("click", () => close(true));
  input.addEventListener("input", () => setError(""));
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      close(true);
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const answer = onRename(input.value);
    if (answer.error) setError(answer.error);
    else if (answer.same) close(true);
  });

  store.subscribe((event) => {
    if (event.type === "me") render();
    else if (event.type === "rename-done") {
      render();
      close();
    } else if (event.type === "rename-failed") {
      setError(event.text);
      input.focus();
    }
  });

  return { render };
}
