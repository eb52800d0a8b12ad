// Small progressive enhancements; the portal works without JavaScript.
// Loaded as an external file so the Content-Security-Policy needs no inline script.
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") {
      fn();
    } else {
      document.addEventListener("DOMContentLoaded", fn);
    }
  }

  ready(function () {
    // After a failed submission, move focus to the error summary so screen
    // reader and keyboard users land on what needs fixing.
    var summary = document.querySelector("[data-focus-on-load]");
    if (summary) {
      summary.focus();
    }

    // Buttons with data-confirm ask before submitting their form.
    document.querySelectorAll("form [data-confirm]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        if (!window.confirm(button.getAttribute("data-confirm"))) {
          event.preventDefault();
        }
      });
    });
  });
})();
