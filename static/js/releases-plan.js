// Plan editor: a failure condition shows only the fields its kind uses (threshold or signal).
(() => {
  const NEEDS = {
    failure_rate_above: ["threshold"],
    failed_targets_at_least: ["threshold"],
    window_ended_with_pending: [],
    health_signal_failed: ["signal"],
  };
  const kind = document.getElementById("id_fc-kind");
  if (!kind) return;
  const update = () => {
    const wanted = NEEDS[kind.value] || ["threshold", "signal"];
    for (const name of ["threshold", "signal"]) {
      const wrapper = document.querySelector(`[data-field="fc-${name}"]`);
      if (wrapper) wrapper.hidden = !wanted.includes(name);
    }
  };
  kind.addEventListener("change", update);
  update();
})();

// Plan editor: the deployment fields show what the chosen method and mode use (the tool's name
// for an external tool; waves for scheduled installation; the login threshold for the condition).
(() => {
  const method = document.getElementById("id_distribution_method");
  const mode = document.getElementById("id_installation_mode");
  if (!method || !mode) return;
  const show = (name, visible) => {
    const wrapper = document.querySelector(`[data-field="${name}"]`);
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
})();
