// Applies the saved or system colour theme before first paint (kept outside
// the bundle so it runs synchronously and works under a strict CSP).
(function () {
  try {
    var saved = localStorage.getItem("coffer-theme");
    var dark = saved ? saved === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
    if (dark) document.documentElement.classList.add("dark");
  } catch (e) {
    /* storage unavailable: keep the light theme */
  }
})();
