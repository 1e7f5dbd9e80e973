// CI form: show only the attribute fields of the chosen kind. Hidden fields are disabled so that
// they are not submitted; without this script every field shows and the server names a value
// given for another kind.
(function () {
  function sync(form) {
    var select = form.querySelector("[data-kind-select]");
    if (!select) return;
    var kind = select.value;
    var shown = 0;
    form.querySelectorAll("[data-kinds]").forEach(function (input) {
      var wrapper = input.closest("[data-attribute]");
      var applies = kind && input.dataset.kinds.split(",").indexOf(kind) !== -1;
      var hasError = wrapper && wrapper.querySelector(".field-error");
      var visible = applies || (hasError && input.value);
      if (wrapper) wrapper.hidden = !visible;
      input.disabled = !visible;
      if (visible) shown += 1;
    });
    var empty = form.querySelector("[data-attributes-empty]");
    if (empty) empty.hidden = shown > 0;
    var hint = form.querySelector("[data-attributes-hint]");
    if (hint) hint.hidden = true;
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-ci-form]").forEach(function (form) {
      sync(form);
      form.addEventListener("change", function (event) {
        if (event.target.matches("[data-kind-select]")) sync(form);
      });
    });
  });
})();
