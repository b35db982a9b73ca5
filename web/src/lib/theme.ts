/** Colour theme of the UI. */
export type Theme = "light" | "dark";

const STORAGE_KEY = "coffer-theme";

/** savedTheme returns the user's explicit choice, if any. */
export function savedTheme(): Theme | null {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    return v === "light" || v === "dark" ? v : null;
  } catch {
    return null;
  }
}

/** systemTheme returns the theme the operating system prefers. */
export function systemTheme(): Theme {
  return typeof window !== "undefined" && window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

/** applyTheme sets the class on <html> that switches the colour variables. */
export function applyTheme(t: Theme): void {
  document.documentElement.classList.toggle("dark", t === "dark");
}

/** saveTheme remembers an explicit choice and applies it. */
export function saveTheme(t: Theme): void {
  try {
    localStorage.setItem(STORAGE_KEY, t);
  } catch {
    // Storage unavailable (private mode): the choice lasts for this page only.
  }
  applyTheme(t);
}
