// A table wider than the window scrolls inside its box (figure, pre, .overflow-auto), never the
// page. A box that does scroll is made reachable by keyboard (tabindex=0), so the arrow keys
// can scroll it; boxes that fit stay out of the tab order.
(function () {
  const SELECTOR = "figure, pre, .overflow-auto, .targets-table, .board";
  function mark(root) {
    (root || document).querySelectorAll(SELECTOR).forEach((box) => {
      if (box.scrollWidth > box.clientWidth + 1) {
        if (!box.hasAttribute("tabindex")) box.setAttribute("tabindex", "0");
      } else if (box.getAttribute("tabindex") === "0") {
        box.removeAttribute("tabindex");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", () => mark());
  window.addEventListener("resize", () => mark());
  document.addEventListener("htmx:afterSettle", () => mark());
  document.addEventListener("toggle", () => mark(), true);
})();
