// Release page: each transition button opens its dialog (reason + confirm); Back, the close
// button, Escape or a click outside closes it.
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-open-dialog]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.openDialog);
    if (dialog) {
      dialog.showModal();
      const field = dialog.querySelector("textarea, input:not([type=hidden])");
      if (field) field.focus();
    }
    return;
  }
  const closer = event.target.closest("[data-close-dialog]");
  if (closer) {
    event.preventDefault();
    closer.closest("dialog").close();
    return;
  }
  if (event.target instanceof HTMLDialogElement) event.target.close();
});

// A link to a folded section (the state diagram) opens it.
function openTargetedDetails() {
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target instanceof HTMLDetailsElement) target.open = true;
}
document.addEventListener("DOMContentLoaded", openTargetedDetails);
window.addEventListener("hashchange", openTargetedDetails);
