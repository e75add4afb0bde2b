// Mainline dashboard: live updates and confirmations. The pages work
// without this file (refresh to update; actions confirm on a page of
// their own); with it, regions marked data-live refresh themselves when
// the server says something changed, and actions confirm in a dialog.
(function () {
  "use strict";
  var status = document.getElementById("live-status");

  function say(text) {
    if (status) status.textContent = text;
  }

  // Confirm actions in place; the server's confirmation page stays the
  // fallback without JavaScript.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var question = form.getAttribute("data-confirm");
    if (!question || form.querySelector("input[name=confirmed]")) return;
    var sel = form.querySelector("select[name=version]");
    question = question.replace("{version}", sel ? sel.value : "");
    e.preventDefault();
    if (!window.confirm(question)) return;
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "confirmed";
    input.value = "1";
    form.appendChild(input);
    form.submit();
  });

  var regions = document.querySelectorAll("[data-live]");
  if (!regions.length || !window.EventSource || !window.fetch) {
    say("");
    return;
  }

  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (old) {
          var fresh = doc.getElementById(old.id);
          if (!fresh || old.isEqualNode(fresh)) return;
          // Never pull a control out from under the keyboard.
          if (old.contains(document.activeElement) && document.activeElement !== document.body) return;
          old.replaceWith(document.importNode(fresh, true));
        });
        document.documentElement.setAttribute("data-updated", String(Date.now()));
        say("Live: this page updates itself.");
      })
      .catch(function () { say("Live updates paused; refresh the page."); })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  var es = new EventSource("/events/stream");
  es.addEventListener("open", function () {
    document.documentElement.setAttribute("data-live-ready", "1");
    say("Live: this page updates itself.");
  });
  es.addEventListener("change", refresh);
  es.addEventListener("error", function () { say("Live updates reconnecting…"); });
})();
