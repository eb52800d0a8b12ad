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

    // A region with data-refresh-url re-fetches itself while work runs in the
    // background (fetch progress); it stops when the server sends a finished one.
    function refresh(region) {
      var url = region.getAttribute("data-refresh-url");
      var seconds = parseInt(region.getAttribute("data-refresh-seconds") || "5", 10);
      window.setTimeout(function () {
        fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
          .then(function (response) { return response.ok ? response.text() : null; })
          .then(function (html) {
            if (html === null) { return; }
            var holder = document.createElement("div");
            holder.innerHTML = html;
            var fresh = holder.querySelector("#" + region.id);
            if (!fresh) { return; }
            region.replaceWith(fresh);
            if (fresh.hasAttribute("data-refresh-url")) { refresh(fresh); }
          })
          .catch(function () { /* offline: keep the last table */ });
      }, seconds * 1000);
    }
    document.querySelectorAll("[data-refresh-url]").forEach(refresh);

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
