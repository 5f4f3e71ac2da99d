/* PitchTank: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  function announce(button, message) {
    var status = document.getElementById(button.dataset.copyStatus || "");
    if (!status) return;
    status.textContent = "";
    // A fresh text node lets screen readers announce the same message twice in a row.
    window.setTimeout(function () { status.textContent = message; }, 50);
  }

  function fallbackCopy(input) {
    input.focus();
    input.select();
    try {
      return document.execCommand("copy");
    } catch (error) {
      return false;
    }
  }

  function copyFrom(button) {
    var input = document.getElementById(button.dataset.copyTarget);
    if (!input) return;
    var value = input.value;
    var copied = button.dataset.copied || "Copied";
    var failed = button.dataset.copyFailed || "Select the link and copy it.";
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(
        function () { announce(button, copied); },
        function () { announce(button, fallbackCopy(input) ? copied : failed); }
      );
    } else {
      announce(button, fallbackCopy(input) ? copied : failed);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    // (1) Copy buttons: hidden in the HTML, shown only when this script can do the work.
    document.querySelectorAll("button[data-copy-target]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { copyFrom(button); });
    });
  });

  // (2) Forms that change something important ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
})();
