// tenantfleet dashboard: the one script of every page. It sends the
// session's CSRF token with every htmx request, encodes the action forms
// as the JSON bodies /api/v1 takes (numbers as numbers, empty fields and
// csrf_token left out), and reports each action's outcome.
(function () {
  "use strict";
  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }
  document.addEventListener("htmx:configRequest", function (e) {
    var t = csrfToken();
    if (t) { e.detail.headers["X-CSRF-Token"] = t; }
  });
  function defineExtension() {
    htmx.defineExtension("fleet-json", {
      onEvent: function (name, evt) {
        if (name === "htmx:configRequest") { evt.detail.headers["Content-Type"] = "application/json"; }
      },
      encodeParameters: function (xhr, params, elt) {
        xhr.overrideMimeType("text/json");
        var out = {};
        Object.keys(params).forEach(function (k) {
          var v = params[k];
          if (k === "csrf_token" || v === "" || v === null) { return; }
          var input = elt.querySelector ? elt.querySelector('[name="' + CSS.escape(k) + '"]') : null;
          if (input && input.type === "number") { v = Number(v); }
          out[k] = v;
        });
        return JSON.stringify(out);
      }
    });
  }
  function flash(text, ok) {
    var f = document.getElementById("flash");
    if (!f) { return; }
    f.textContent = text;
    f.className = "flash " + (ok ? "ok" : "err");
  }
  document.addEventListener("htmx:afterRequest", function (e) {
    var elt = e.detail.elt;
    if (e.detail.xhr && e.detail.xhr.status === 401) { // the session ended: the reload shows the login form
      window.location.reload();
      return;
    }
    if (!elt || !elt.hasAttribute || !elt.hasAttribute("data-action")) { return; }
    var xhr = e.detail.xhr;
    if (e.detail.successful) {
      flash("Done: " + elt.getAttribute("data-action"), true);
      setTimeout(function () { window.location.reload(); }, 700);
      return;
    }
    var msg = "request failed";
    try { msg = JSON.parse(xhr.responseText).error || msg; } catch (_) { if (xhr.statusText) { msg = xhr.statusText; } }
    flash("Refused (" + xhr.status + "): " + msg, false);
  });
  if (window.htmx) { defineExtension(); } else { document.addEventListener("DOMContentLoaded", defineExtension); }
})();
