// Live output of a running attempt: each <pre data-live> follows the run's
// log stream (Server-Sent Events), appending the new bytes as text, and the
// page reloads when the attempt ends, to show its final state. Without
// JavaScript the page shows the output stored when it was rendered.
"use strict";
document.querySelectorAll("pre[data-live]").forEach(function (pre) {
  var state = document.getElementById(pre.dataset.state);
  var events = new EventSource(pre.dataset.live);
  events.addEventListener("output", function (e) {
    var chunk = JSON.parse(e.data);
    var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(document.createTextNode(chunk.text));
    if (atEnd) {
      pre.scrollTop = pre.scrollHeight;
    }
  });
  events.addEventListener("end", function (e) {
    events.close();
    var end = JSON.parse(e.data);
    if (state) {
      state.textContent = end.status;
      state.className = "st st-" + end.status;
    }
    window.setTimeout(function () { window.location.reload(); }, 500);
  });
  // The server ended the stream with a reason: stop, rather than
  // reconnect forever; a dropped connection is retried by EventSource.
  events.addEventListener("error", function (e) {
    if (e.data) {
      events.close();
    }
  });
});
