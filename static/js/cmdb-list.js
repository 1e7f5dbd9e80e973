// CMDB lists: a page-size (or filter) select marked data-autosubmit submits its form on change.
document.addEventListener("change", function (event) {
  var select = event.target.closest("select[data-autosubmit]");
  if (select && select.form) {
    select.form.submit();
  }
});
