// A select marked data-autosubmit (the pager's page size, some filters) submits its form on change.
document.addEventListener("change", function (event) {
  var select = event.target.closest("select[data-autosubmit]");
  if (select && select.form) {
    select.form.submit();
  }
});
