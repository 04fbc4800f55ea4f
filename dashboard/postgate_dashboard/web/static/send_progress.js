// A send page's "Going out" figures, kept current over Server-Sent Events while the send goes
// out, and its progress curve and funnel redrawn (fetched from the server) every few seconds. Without
// JavaScript the figures and the curve are those of the page's loading.
"use strict";
(function () {
  var CURVE_EVERY_MS = 3000;
  var box = document.querySelector("[data-progress-stream]");
  if (!box || !window.EventSource) { return; }
  var state = document.getElementById("progress-state");
  var fill = box.querySelector(".progress-bar .fill");
  var track = box.querySelector(".progress-bar .track");
  var source = new EventSource(box.getAttribute("data-progress-stream"));

  function say(text) { if (state) { state.textContent = text; } }
  function show(figures) {
    ["done", "total", "percent", "rate", "eta"].forEach(function (name) {
      var field = box.querySelector('[data-field="' + name + '"]');
      if (field && figures[name] !== undefined) { field.textContent = figures[name]; }
    });
    if (fill && track && typeof figures.fraction === "number") {
      var width = Number(track.getAttribute("width")) * Math.max(0, Math.min(1, figures.fraction));
      fill.setAttribute("width", width.toFixed(1));
    }
  }

  // The progress curve is drawn by the server: swap in a fresh copy now and then.
  var curve = document.getElementById("progress-curve");
  var curveBody = document.getElementById("curve-body");
  var fetchedAt = 0;
  function refreshCurve(force) {
    if (!curve || !curveBody || !window.fetch) { return; }
    var now = Date.now();
    if (!force && now - fetchedAt < CURVE_EVERY_MS) { return; }
    fetchedAt = now;
    fetch(curve.getAttribute("data-curve-url"), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var open = curveBody.querySelector("details[open]") !== null;
        curveBody.innerHTML = html;  // markup drawn and escaped by the server
        var details = curveBody.querySelector("details");
        if (open && details) { details.open = true; }
        // The funnel drawn with the curve, from the same read: swap it in so both agree.
        var fresh = curveBody.querySelector("template#fresh-funnel");
        var funnel = document.getElementById("funnel-body");
        if (fresh && funnel) { funnel.replaceChildren(fresh.content.cloneNode(true)); }
        if (fresh) { fresh.remove(); }
      })
      .catch(function () { /* the next update tries again */ });
  }

  source.addEventListener("open", function () { say("live"); });
  source.addEventListener("error", function () { say("reconnecting…"); });
  source.addEventListener("message", function (event) { show(JSON.parse(event.data)); refreshCurve(false); });
  source.addEventListener("finished", function (event) {
    source.close();
    show(JSON.parse(event.data));
    refreshCurve(true);
    box.classList.add("finished");
    say("all sent: reload for the final figures");
  });
})();
