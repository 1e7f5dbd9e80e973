// DSL artefact upload with a progress bar. Without JavaScript (or without XHR upload events) the
// form posts normally and the server renders its errors; with it, the same form is sent by
// XMLHttpRequest asking for JSON, the bar follows upload.onprogress, and the server's message
// for a 400/409/413 is shown next to the fields it names.
(function () {
  "use strict";

  function formatBytes(bytes) {
    var units = ["bytes", "KB", "MB", "GB", "TB"];
    var value = bytes;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? value : value.toFixed(1)) + " " + units[unit];
  }

  function setup(form) {
    var progressBox = form.querySelector("[data-upload-progress]");
    var bar = progressBox.querySelector("progress");
    var statusText = form.querySelector("[data-upload-status]");
    var errorBox = form.querySelector("[data-upload-error]");
    var submit = form.querySelector("[data-upload-submit]");
    var maxBytes = parseInt(form.dataset.maxBytes || "0", 10);

    function clearErrors() {
      errorBox.hidden = true;
      errorBox.textContent = "";
      form.querySelectorAll("[data-js-error]").forEach(function (node) { node.remove(); });
      form.querySelectorAll("[aria-invalid]").forEach(function (node) { node.removeAttribute("aria-invalid"); });
    }

    function showError(message, fieldErrors) {
      var unplaced = [];
      Object.keys(fieldErrors || {}).forEach(function (name) {
        var input = form.elements[name];
        var messages = [].concat(fieldErrors[name]);
        if (!input || !input.parentNode) {
          unplaced = unplaced.concat(messages);
          return;
        }
        input.setAttribute("aria-invalid", "true");
        messages.forEach(function (text) {
          var small = document.createElement("small");
          small.className = "field-error";
          small.setAttribute("data-js-error", "");
          small.setAttribute("role", "alert");
          small.textContent = text;
          input.insertAdjacentElement("afterend", small);
        });
      });
      var hasFieldErrors = Object.keys(fieldErrors || {}).length > unplaced.length;
      var text = unplaced.length ? unplaced.join(" ") : (hasFieldErrors ? "" : message);
      if (!text && hasFieldErrors) {
        text = "Nothing was stored: correct the fields marked below.";
      }
      errorBox.textContent = text || "The upload failed.";
      errorBox.hidden = false;
    }

    function finish() {
      submit.disabled = false;
      submit.removeAttribute("aria-busy");
    }

    form.addEventListener("submit", function (event) {
      var fileInput = form.elements.artefact;
      var file = fileInput && fileInput.files && fileInput.files[0];
      event.preventDefault();
      clearErrors();
      if (!file) {
        showError("", { artefact: ["Choose the file to upload."] });
        return;
      }
      if (maxBytes && file.size > maxBytes) {
        showError("", {
          artefact: ["This file is " + formatBytes(file.size) + "; the library accepts at most " +
            (form.dataset.maxSize || formatBytes(maxBytes)) + ". Nothing was sent."],
        });
        return;
      }

      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action") || window.location.href);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      submit.disabled = true;
      submit.setAttribute("aria-busy", "true");
      progressBox.hidden = false;
      bar.value = 0;
      statusText.textContent = "Uploading " + file.name + " (" + formatBytes(file.size) + ")…";

      xhr.upload.onprogress = function (e) {
        if (!e.lengthComputable) {
          bar.removeAttribute("value");
          return;
        }
        var percent = Math.floor((e.loaded / e.total) * 100);
        bar.value = percent;
        statusText.textContent = formatBytes(e.loaded) + " of " + formatBytes(e.total) + " (" + percent + " %)";
      };
      xhr.upload.onload = function () {
        bar.value = 100;
        statusText.textContent = "Sent. The server is checking the file's SHA-256…";
      };
      xhr.onload = function () {
        var body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch (ignored) {
          body = null;
        }
        if (xhr.status >= 200 && xhr.status < 300 && body && body.redirect) {
          statusText.textContent = body.detail || "Stored.";
          window.location.assign(body.redirect);
          return;
        }
        finish();
        progressBox.hidden = true;
        if (body && (body.detail || body.errors)) {
          showError(body.detail, body.errors);
        } else if (xhr.status === 413) {
          showError("The file is larger than the server accepts (at most " + (form.dataset.maxSize || "") + "). Nothing was stored.");
        } else if (xhr.status === 403) {
          showError("You are not allowed to upload here, or your session expired: reload the page and sign in again.");
        } else {
          showError("The upload failed (HTTP " + xhr.status + "). Nothing was stored; try again.");
        }
      };
      xhr.onerror = function () {
        finish();
        progressBox.hidden = true;
        showError("The upload was interrupted: the connection closed before the server answered. Nothing was stored; check your connection and try again.");
      };
      xhr.send(new FormData(form));
    });
  }

  function init() {
    if (!window.XMLHttpRequest || !window.FormData || !("upload" in new XMLHttpRequest())) {
      return; // the plain form post still works
    }
    document.querySelectorAll("form#artefact-upload").forEach(setup);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
