// Refresh the live view from the server every 2 s (server-rendered, escaped HTML).
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box) { return; }
  var src = box.getAttribute("data-src");
  function tick() {
    fetch(src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null && html !== undefined) { box.innerHTML = html; } })
      .catch(function () { /* offline for a moment: keep the last view */ })
      .finally(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 2000);
})();
