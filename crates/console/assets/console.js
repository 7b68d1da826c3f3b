// trizone console: the only script. Pages work without it; with it, a
// region marked data-refresh reloads itself every few seconds while the
// thing it shows is live (a run in progress, a rollout under way).
"use strict";
for (const region of document.querySelectorAll("[data-refresh]")) {
  const every = Number(region.dataset.refresh) * 1000;
  const tick = async () => {
    try {
      const response = await fetch(region.dataset.src, { credentials: "same-origin" });
      if (response.ok) {
        region.innerHTML = await response.text();
        if (region.querySelector("[data-final]")) return;
      }
    } catch (_) { /* the next tick tries again */ }
    setTimeout(tick, every);
  };
  setTimeout(tick, every);
}
