// Live parts of a dashboard page: the element with data-stream is replaced by each HTML fragment
// the server sends over Server-Sent Events. Without JavaScript the page refreshes itself instead.
"use strict";
(function () {
  var live = document.querySelector("[data-stream]");
  var state = document.getElementById("live-state");
  if (!live || !window.EventSource) { return; }
  var source = new EventSource(live.getAttribute("data-stream"));
  source.addEventListener("open", function () { if (state) { state.textContent = "live"; } });
  source.addEventListener("error", function () { if (state) { state.textContent = "reconnecting…"; } });
  source.addEventListener("message", function (event) {
    var html = JSON.parse(event.data).html;
    var doc = new DOMParser().parseFromString("<div>" + html + "</div>", "text/html");
    live.replaceChildren.apply(live, Array.prototype.slice.call(doc.body.firstChild.childNodes));
  });
})();
