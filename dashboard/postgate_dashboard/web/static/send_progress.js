// A send page's "Going out" figures, kept current over Server-Sent Events while the send goes
// out. Without JavaScript the figures are those of the page's loading.
"use strict";
(function () {
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

  source.addEventListener("open", function () { say("live"); });
  source.addEventListener("error", function () { say("reconnecting…"); });
  source.addEventListener("message", function (event) { show(JSON.parse(event.data)); });
  source.addEventListener("finished", function (event) {
    source.close();
    show(JSON.parse(event.data));
    box.classList.add("finished");
    say("all sent: reload for the final figures");
  });
})();
