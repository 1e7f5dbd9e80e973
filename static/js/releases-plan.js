// The plan editor (templates/releases/release_plan.html and its _plan_* partials).
//
// - Each section's form posts with htmx and only that section is drawn again (a 400 too, with
//   its errors), so what is typed in the other sections stays on the page.
// - A section whose form differs from what was last drawn says "Unsaved changes", and leaving
//   or reloading the page then asks first (beforeunload).
// - The target picker: suggestions and search (htmx), toggled into the list of identifiers that
//   the targets form posts; chosen CIs shown as removable chips. Without script the list is a
//   plain textarea.
// - A failure condition shows only the fields its kind uses; the deployment fields show what
//   the chosen method and mode use.
(() => {
  const editor = document.querySelector("[data-plan-editor]");
  if (!editor) return;

  // Unsaved changes.
  const snapshot = (form) =>
    JSON.stringify(
      [...new FormData(form)]
        .filter(([name]) => name !== "csrfmiddlewaretoken")
        .map(([name, value]) => [name, String(value)]),
    );
  const drawn = new WeakMap();
  const isDirty = (form) =>
    form.hasAttribute("data-unsaved") || (drawn.has(form) && drawn.get(form) !== snapshot(form));
  const planForms = () => [...editor.querySelectorAll("form[data-plan-form]")];
  const markSections = () => {
    for (const section of editor.querySelectorAll(".plan-section")) {
      const dirty = [...section.querySelectorAll("form[data-plan-form]")].some(isDirty);
      section.classList.toggle("is-dirty", dirty);
      const mark = section.querySelector(".unsaved-mark");
      if (mark) mark.hidden = !dirty;
    }
  };
  const remember = (root) => {
    const forms = root.matches?.("form[data-plan-form]")
      ? [root]
      : [...root.querySelectorAll("form[data-plan-form]")];
    for (const form of forms) drawn.set(form, snapshot(form));
  };
  editor.addEventListener("input", markSections);
  editor.addEventListener("change", markSections);

  let postedWithoutHtmx = null; // a plain form post leaves the page: that form is not lost
  let redirecting = false; // the server sent the browser elsewhere (the plan froze meanwhile)
  editor.addEventListener("submit", (event) => {
    postedWithoutHtmx = event.target;
  }, true);
  document.addEventListener("htmx:beforeRequest", (event) => {
    postedWithoutHtmx = null;
    // one outcome shown at a time: the last save's (the page's own messages are older news)
    const target = event.detail.target;
    if (target instanceof Element && target.classList.contains("plan-section")) {
      for (const flash of document.querySelectorAll(".section-flash, main > .flash")) {
        flash.remove();
      }
    }
  });
  document.addEventListener("htmx:beforeOnLoad", (event) => {
    if (event.detail.xhr.getResponseHeader("HX-Redirect")) redirecting = true;
  });
  window.addEventListener("beforeunload", (event) => {
    if (redirecting) return;
    if (planForms().some((form) => form !== postedWithoutHtmx && isDirty(form))) {
      event.preventDefault();
      event.returnValue = ""; // older browsers need it to ask
    }
  });

  // A section's form answered 400: draw the section with its errors (htmx swaps 2xx only).
  document.addEventListener("htmx:beforeSwap", (event) => {
    const { xhr, target } = event.detail;
    if (xhr.status === 400 && target instanceof Element && editor.contains(target)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  // No answer, or one that cannot be drawn (a 500, a proxy's page): the section says so and
  // keeps what was typed.
  const notSaved = (event, text) => {
    const section = event.detail.target;
    if (!(section instanceof Element) || !section.classList.contains("plan-section")) return;
    for (const flash of document.querySelectorAll(".section-flash")) flash.remove();
    const flash = document.createElement("p");
    flash.className = "flash flash-error section-flash";
    flash.setAttribute("role", "alert");
    flash.tabIndex = -1;
    flash.textContent = `Not saved: ${text} What you typed is still here; try again.`;
    section.querySelector(":scope > header").after(flash);
    flash.focus();
  };
  document.addEventListener("htmx:responseError", (event) => {
    notSaved(event, `the server answered ${event.detail.xhr.status}.`);
  });
  document.addEventListener("htmx:sendError", (event) => {
    notSaved(event, "the server could not be reached.");
  });
  // After a section is drawn again, focus its first wrong field or else its message.
  document.addEventListener("htmx:afterSettle", (event) => {
    const section = event.detail.elt;
    if (!(section instanceof Element) || !section.classList.contains("plan-section")) return;
    const first = section.querySelector("[aria-invalid='true']") || section.querySelector(".section-flash");
    if (first) first.focus({ preventScroll: false });
  });

  // A failure condition shows only the fields its kind uses (threshold or signal).
  const NEEDS = {
    failure_rate_above: ["threshold"],
    failed_targets_at_least: ["threshold"],
    window_ended_with_pending: [],
    health_signal_failed: ["signal"],
  };
  const initCondition = (root) => {
    const kind = root.querySelector("#id_fc-kind");
    if (!kind || kind.dataset.ready) return;
    kind.dataset.ready = "1";
    const update = () => {
      const wanted = NEEDS[kind.value] || ["threshold", "signal"];
      for (const name of ["threshold", "signal"]) {
        const wrapper = root.querySelector(`[data-field="fc-${name}"]`);
        if (wrapper) wrapper.hidden = !wanted.includes(name);
      }
    };
    kind.addEventListener("change", update);
    update();
  };

  // The deployment fields show what the chosen method and mode use (the tool's name for an
  // external tool; waves for scheduled installation; the login threshold for the condition).
  const initDeployment = (root) => {
    const method = root.querySelector("#id_distribution_method");
    const mode = root.querySelector("#id_installation_mode");
    if (!method || !mode || method.dataset.ready) return;
    method.dataset.ready = "1";
    const show = (name, visible) => {
      const wrapper = root.querySelector(`[data-field="${name}"]`);
      if (wrapper) wrapper.hidden = !visible;
    };
    const update = () => {
      show("deployment_tool", method.value === "deployment_tool");
      show("wave_size", mode.value === "scheduled");
      show("wave_interval_minutes", mode.value === "scheduled");
      show("login_threshold", mode.value === "condition");
    };
    method.addEventListener("change", update);
    mode.addEventListener("change", update);
    update();
  };

  // The target picker.
  const CHIPS_SHOWN = 100;
  const splitNames = (text) => text.split(/[\s,;]+/).filter(Boolean);
  const initPicker = (root) => {
    const picker = root.querySelector("[data-target-picker]");
    if (!picker || picker.dataset.ready) return;
    picker.dataset.ready = "1";
    const section = picker.closest(".plan-section");
    const textarea = section.querySelector("textarea[name='identifiers']");
    if (!textarea) return;
    const chips = picker.querySelector("[data-chosen-list]");
    const count = picker.querySelector("[data-chosen-count]");
    const empty = picker.querySelector("[data-chosen-empty]");
    // the identifiers the last save refused (unknown or retired): their chips say so
    const wrong = new Set(splitNames(picker.dataset.wrong || "").map((n) => n.toLowerCase()));
    picker.hidden = false;

    const chosen = () => {
      const seen = new Map();
      for (const name of splitNames(textarea.value)) {
        if (!seen.has(name.toLowerCase())) seen.set(name.toLowerCase(), name);
      }
      return seen;
    };
    const changed = () => textarea.dispatchEvent(new Event("input", { bubbles: true }));
    const add = (names) => {
      const have = chosen();
      const fresh = names.filter((name) => !have.has(name.toLowerCase()));
      if (!fresh.length) return;
      const text = textarea.value.replace(/\s+$/, "");
      textarea.value = (text ? `${text}\n` : "") + fresh.join("\n");
      changed();
    };
    const remove = (name) => {
      const key = name.toLowerCase();
      const lines = [];
      for (const line of textarea.value.split("\n")) {
        const names = splitNames(line);
        const kept = names.filter((n) => n.toLowerCase() !== key);
        if (kept.length === names.length) lines.push(line);
        else if (kept.length) lines.push(kept.join(", "));
      }
      textarea.value = lines.join("\n");
      changed();
    };
    const render = () => {
      const names = chosen();
      count.textContent = String(names.size);
      empty.hidden = names.size > 0;
      chips.replaceChildren();
      let shown = 0;
      for (const name of names.values()) {
        if (shown === CHIPS_SHOWN) {
          const more = document.createElement("li");
          more.className = "muted small";
          more.textContent = `… and ${names.size - CHIPS_SHOWN} more in the list below`;
          chips.append(more);
          break;
        }
        const chip = document.createElement("li");
        chip.className = "chip";
        const label = document.createElement("span");
        label.textContent = name;
        if (wrong.has(name.toLowerCase())) {
          chip.classList.add("wrong");
          const note = document.createElement("span");
          note.className = "visually-hidden";
          note.textContent = " (refused: see the list below)";
          label.append(note);
        }
        const button = document.createElement("button");
        button.type = "button";
        button.className = "chip-remove";
        button.dataset.remove = name;
        button.setAttribute("aria-label", `Remove ${name}`);
        button.textContent = "×";
        chip.append(label, button);
        chips.append(chip);
        shown += 1;
      }
      let all = true;
      for (const option of picker.querySelectorAll(".picker-option")) {
        const on = names.has(option.dataset.identifier.toLowerCase());
        option.setAttribute("aria-pressed", String(on));
        all &&= on;
      }
      const addAll = picker.querySelector("[data-add-all]");
      if (addAll) addAll.disabled = all;
    };

    picker.addEventListener("click", (event) => {
      const option = event.target.closest(".picker-option");
      if (option) {
        if (option.getAttribute("aria-pressed") === "true") remove(option.dataset.identifier);
        else add([option.dataset.identifier]);
        return;
      }
      if (event.target.closest("[data-add-all]")) {
        add([...picker.querySelectorAll(".picker-option")].map((o) => o.dataset.identifier));
        return;
      }
      const chip = event.target.closest("[data-remove]");
      if (chip) {
        const next = chip.closest("li")?.nextElementSibling?.querySelector("[data-remove]");
        remove(chip.dataset.remove);
        // keep the keyboard where it was: on the next chip, else on the search field
        const again = next && chips.querySelector(`[data-remove="${CSS.escape(next.dataset.remove)}"]`);
        (again || picker.querySelector("#picker-q"))?.focus();
      }
    });
    textarea.addEventListener("input", render);
    picker.addEventListener("htmx:afterSwap", render);
    render();
  };

  const init = (root) => {
    if (!(root instanceof Element)) return;
    initCondition(root);
    initDeployment(root);
    initPicker(root);
    remember(root);
    markSections();
  };
  init(editor);
  document.addEventListener("htmx:load", (event) => {
    const root = event.detail.elt;
    if (root instanceof Element && editor.contains(root) && root !== editor) init(root);
  });
})();
