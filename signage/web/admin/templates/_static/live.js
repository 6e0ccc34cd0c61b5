// Keep the live view current without reloading the page: every 2 s fetch the server-rendered
// fragment (escaped HTML) and replace only the parts whose content changed, so focus, scroll
// position and an open <details> stay as they are, and screen readers are not flooded.
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box) { return; }
  var src = box.getAttribute("data-src");
  function sameNode(a, b) { return a.isEqualNode(b); }
  function patch(oldParent, newParent) {
    var oldKids = oldParent.children, newKids = newParent.children;
    if (oldKids.length !== newKids.length) { oldParent.innerHTML = newParent.innerHTML; return; }
    for (var i = 0; i < newKids.length; i++) {
      var o = oldKids[i], n = newKids[i];
      if (sameNode(o, n)) { continue; }
      if (o.tagName !== n.tagName || o.id !== n.id || !n.children.length || o.tagName === "IMG") {
        o.replaceWith(n.cloneNode(true));
        continue;
      }
      for (var j = 0; j < n.attributes.length; j++) { o.setAttribute(n.attributes[j].name, n.attributes[j].value); }
      patch(o, n);
      if (!sameNode(o, n)) { o.replaceWith(n.cloneNode(true)); }
    }
  }
  function tick() {
    fetch(src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null || html === undefined) { return; }
        var next = document.createElement("div");
        next.innerHTML = html;
        patch(box, next);
      })
      .catch(function () { /* offline for a moment: keep the last view */ })
      .finally(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 2000);
})();
