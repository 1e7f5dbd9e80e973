// Live parts of the deployment pages.
// - [data-deadline]: a countdown to the back-out decision deadline, updated every second
//   (corrected for the difference between the server's clock and this browser's).
// - [data-live]: htmx refreshes it every few seconds; a refresh is skipped while someone is
//   writing in it (a focused or non-empty text field, an open <details> holding a form), so a
//   half-typed reason is never lost.
// - The freeze-window form shows the environment or the release unit only for its scope.
// - form[data-confirm] asks before submitting.
(() => {
  const pad = (n) => String(n).padStart(2, "0");

  const skewOf = (element) => {
    if (element.dataset.skew === undefined) {
      const server = Date.parse(element.dataset.serverNow || "");
      element.dataset.skew = Number.isNaN(server) ? "0" : String(server - Date.now());
    }
    return Number(element.dataset.skew);
  };

  const tick = () => {
    for (const element of document.querySelectorAll("[data-deadline]")) {
      const deadline = Date.parse(element.dataset.deadline);
      const left = element.querySelector("[data-countdown-left]");
      if (Number.isNaN(deadline) || !left) continue;
      const ms = deadline - (Date.now() + skewOf(element));
      if (ms <= 0) {
        left.textContent = "Deadline passed: the back-out starts automatically";
        element.classList.add("passed");
        continue;
      }
      const seconds = Math.floor(ms / 1000);
      const h = Math.floor(seconds / 3600);
      const m = Math.floor((seconds % 3600) / 60);
      const s = seconds % 60;
      left.textContent = `${h ? `${h}:${pad(m)}` : m}:${pad(s)} left`;
      element.classList.toggle("urgent", seconds < 300);
    }
  };

  const busy = (element) => {
    const active = document.activeElement;
    if (active && element.contains(active) && active.matches("textarea, input[type=text]")) {
      return true;
    }
    for (const field of element.querySelectorAll("textarea, input[type=text]")) {
      if (field.value.trim()) return true;
    }
    for (const details of element.querySelectorAll("details[open]")) {
      if (details.querySelector("form, textarea")) return true;
    }
    return false;
  };

  document.addEventListener("htmx:beforeRequest", (event) => {
    const element = event.detail.elt;
    if (!element.matches || !element.matches("[data-live]")) return;
    if (busy(element)) {
      event.preventDefault();
      const status = element.querySelector("[data-live-status]");
      if (status) status.textContent = "Live updates paused while you write";
    }
  });

  const scoped = () => {
    const radios = document.querySelectorAll('input[name="scope"]');
    if (!radios.length) return;
    const update = () => {
      const checked = document.querySelector('input[name="scope"]:checked');
      const scope = checked ? checked.value : "everything";
      const environment = document.querySelector('[data-field="environment"]');
      const unit = document.querySelector('[data-field="release_unit"]');
      if (environment) environment.hidden = scope !== "environment";
      if (unit) unit.hidden = scope !== "release_unit";
    };
    for (const radio of radios) radio.addEventListener("change", update);
    update();
  };

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  const start = () => {
    scoped();
    tick();
    setInterval(tick, 1000);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
