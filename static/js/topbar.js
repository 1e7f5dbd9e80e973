// The top bar.
// - The menu (<details class="topbar-menu">) is rendered open, so it works without JS; on a narrow
//   screen it starts closed and Escape closes it again. This file loads without `defer`, right
//   after the bar, so a phone never paints the menu open first.
// - The back-out badge (#backout-badge, users who may approve back-outs): htmx replaces it every
//   few seconds; here its countdown ticks every second and, while a back-out waits, the page
//   title starts with "(1) Back-out waiting · ". A 403 (permission gone) removes it, ending the polling.
(() => {
  const narrow = window.matchMedia("(max-width: 900px)");
  const menu = document.querySelector("details.topbar-menu");
  if (menu) {
    const fit = () => { menu.open = !narrow.matches; };
    fit();
    narrow.addEventListener("change", fit);
    menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && narrow.matches && menu.open) {
        menu.open = false;
        menu.querySelector("summary").focus();
      }
    });
  }

  const PREFIX = /^\(\d+\) Back-outs? waiting · /;
  const pad = (n) => String(n).padStart(2, "0");
  const clock = (ms) => {
    const seconds = Math.floor(ms / 1000);
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  };
  const skewOf = (element) => {
    if (element.dataset.skew === undefined) {
      const server = Date.parse(element.dataset.serverNow || "");
      element.dataset.skew = Number.isNaN(server) ? "0" : String(server - Date.now());
    }
    return Number(element.dataset.skew);
  };

  const update = () => {
    const slot = document.getElementById("backout-badge");
    const count = slot ? Number(slot.dataset.count || 0) : 0;
    const bare = document.title.replace(PREFIX, "");
    const title = count ? `(${count}) ${count === 1 ? "Back-out" : "Back-outs"} waiting · ${bare}` : bare;
    if (document.title !== title) document.title = title;
    const link = slot && slot.querySelector("[data-badge-deadline]");
    const left = link && link.querySelector("[data-badge-left]");
    const deadline = link ? Date.parse(link.dataset.badgeDeadline) : NaN;
    if (!left || Number.isNaN(deadline)) return;
    const ms = deadline - (Date.now() + skewOf(link));
    left.textContent = ms > 0 ? `${clock(ms)} left` : "deadline passed";
    link.classList.toggle("urgent", ms < 5 * 60 * 1000);
  };

  document.addEventListener("htmx:load", update);
  document.addEventListener("htmx:responseError", (event) => {
    const element = event.detail.elt;
    if (element && element.id === "backout-badge" && event.detail.xhr.status === 403) {
      element.remove();
      update();
    }
  });
  update();
  setInterval(update, 1000);
})();
