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

    // A region with data-refresh-url re-fetches the page's live state while work runs
    // in the background (fetch progress). The answer holds one or more elements with
    // data-live-region; each replaces the page's element with the same id, only when
    // it changed (no flicker) and never while the user is typing in it. Polling stops
    // when the server sends the polled region without data-refresh-url.
    function comparable(element) {
      // CSRF tokens are masked anew on every render: leave them out of the comparison.
      var copy = element.cloneNode(true);
      copy.querySelectorAll("input[name=csrfmiddlewaretoken]").forEach(function (input) {
        input.removeAttribute("value");
      });
      return copy.outerHTML;
    }

    function swapRegions(holder) {
      holder.querySelectorAll("[data-live-region][id]").forEach(function (fresh) {
        var current = document.getElementById(fresh.id);
        if (!current || comparable(current) === comparable(fresh)) { return; }
        if (current.contains(document.activeElement) && current.id !== "results") {
          return; // someone is using a form in it: the next answer will do
        }
        current.replaceWith(fresh);
      });
    }

    function refresh(region) {
      var url = region.getAttribute("data-refresh-url");
      var id = region.id;
      var seconds = parseInt(region.getAttribute("data-refresh-seconds") || "5", 10);
      window.setTimeout(function () {
        fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
          .then(function (response) { return response.ok ? response.text() : null; })
          .then(function (html) {
            if (html === null) { return; }
            var holder = document.createElement("div");
            holder.innerHTML = html;
            var polled = holder.querySelector("#" + id);
            if (!polled) { return; }
            var more = polled.hasAttribute("data-refresh-url");
            swapRegions(holder);
            var next = document.getElementById(id);
            if (more && next) { refresh(next); }
          })
          .catch(function () { /* offline: keep the last state */ });
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
