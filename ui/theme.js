/**
 * The theme: follow the system (`prefers-color-scheme`, the default), or pin light or dark with
 * the ◐ button. The choice is kept in localStorage; the palette itself is CSS (`light-dark()`
 * in styles/tokens.css), switched by `color-scheme` on the root element.
 */

import { THEME_KEY } from "./config.js";

const THEMES = ["system", "light", "dark"];
const ICONS = { system: "◐", light: "☼", dark: "☾" };
const LABELS = { system: "follow system", light: "light", dark: "dark" };

function load() {
  try {
    const saved = localStorage.getItem(THEME_KEY);
    return THEMES.includes(saved) ? saved : "system";
  } catch {
    return "system";
  }
}

function save(theme) {
  try {
    if (theme === "system") localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, theme);
  } catch {
    /* storage unavailable: the choice lasts for this page only */
  }
}

/** Applies the saved theme and makes `button` cycle system → light → dark. */
export function setUpTheme(root, button) {
  let theme = load();
  const apply = () => {
    if (theme === "system") delete root.dataset.theme;
    else root.dataset.theme = theme;
    button.textContent = `${ICONS[theme]}\uFE0E`;
    const label = `Theme: ${LABELS[theme]} (click to change)`;
    button.setAttribute("aria-label", label);
    button.title = label;
  };
  apply();
  button.addEventListener("click", () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    apply();
    save(theme);
  });
}
