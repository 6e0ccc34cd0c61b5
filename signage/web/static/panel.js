/* The kiosk panel. Plain JS, no libraries, works offline.
 * - Live over /ws/panel; reconnects by itself and keeps showing what it has meanwhile.
 * - Media without black gaps: the next item is loaded in a hidden layer and faded in only
 *   when ready; a file that fails (or takes too long) is reported and skipped.
 * - Emoji overlay: one drawn emoticon per face, mirrored so it sits in front of the person;
 *   during an ad it lives in the strip's mirror box, never over the creative.
 * - Layout: the creative area and the strip (ad QR, mirror, privacy notice) never overlap; a
 *   creative may declare a safe zone (ad.toml) that the strip may cover instead.
 * - Outage: when the server is out of reach for a few seconds, a calm scene the page already
 *   has (the last healing picture, or the built-in gradient), no QR code to the dead server;
 *   everything resumes when the live channel is back.
 */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("panel-config").textContent || "{}");
  var $ = function (id) { return document.getElementById(id); };
  var stage = $("stage"), facesEl = $("faces"), ratingEl = $("rating"), captionEl = $("caption");
  var stripEl = $("strip"), stripAd = $("strip-ad"), mirrorEl = $("mirror");
  var LOAD_TIMEOUT_MS = 10000, FACE_STALE_MS = 2500, OUTAGE_MS = 3000, PAINT_SETTLE_MS = 250;
  // the previous layer stays under the new one this long: a creative slow to paint on a busy
  // device shows the previous picture through its transparent frame, never an empty one
  var OLD_LAYER_MS = 3000;
  var area = { x: 0, y: 0, w: window.innerWidth, h: window.innerHeight }, strip = { side: "right", size: 0 };
  var lastFaces = null;         // the last faces message (re-placed when the emoji's box moves)
  var calmImg = null;           // the last healing picture, decoded: the outage scene

  var current = { key: "fallback", layer: stage.querySelector(".layer") };
  var loadGen = 0;              // a newer state cancels an older load
  var lastAd = null;            // {play_id, title} of the ad the rating screen is about
  var ratedPlay = null;
  var clockSkew = 0;            // server time - local time, seconds
  window.panel = { state: null, shown: "fallback", messages: 0, connected: false, failures: [],
                   offline: false, swaps: 0, area: area, strip: strip };

  // --- layout ------------------------------------------------------------------------------
  // The strip's thickness: web.strip_size, widened (up to STRIP_MAX of the screen) until all it
  // may hold -- the ad's QR code and its call to action, the mirror, the privacy QR code and the
  // notice, in large type -- fits without clipping. Measured once per screen size with the ad's
  // part shown (body.measure), so the creative area does not change between ads and scenes.
  var STRIP_MAX = 0.42;
  function setStrip(side, t) {
    var st = document.documentElement.style;
    ["top", "right", "bottom", "left"].forEach(function (k) { st.setProperty("--s-" + k, (k === side ? t : 0) + "px"); });
    st.setProperty("--strip", t + "px");
  }
  function stripOverflows(vertical) {
    // a side strip is fixed in height (text wraps to its width); a bottom or top strip in width
    return stripEl.scrollHeight > stripEl.clientHeight + 1 || (vertical && stripEl.scrollWidth > stripEl.clientWidth + 1);
  }
  function layout() {
    var W = window.innerWidth, H = window.innerHeight, side = cfg.stripSide || "auto";
    if (side === "auto") side = W >= H ? "right" : "bottom";
    var vertical = side === "left" || side === "right";
    var full = vertical ? W : H, most = Math.round(full * STRIP_MAX);
    var t = Math.round(full * (cfg.stripSize || 17) / 100);
    document.body.dataset.strip = side;
    document.body.classList.add("measure");
    setStrip(side, t);
    while (t < most && stripOverflows(vertical)) {
      t = Math.min(most, t + Math.max(2, Math.round(full / 200)));
      setStrip(side, t);
    }
    document.body.classList.remove("measure");
    strip.side = side; strip.size = t;
    area.x = side === "left" ? t : 0; area.y = side === "top" ? t : 0;
    area.w = vertical ? W - t : W; area.h = vertical ? H : H - t;
    crispQr($("privacy-qr"));
    if ($("ad-qr").querySelector("svg")) crispQr($("ad-qr"));
    placeFaces();
  }
  // during an ad and its rating screen the emoji live in the strip's mirror box: nothing
  // covers the creative, the rating buttons or the QR code
  function facesInMirror() { var s = document.body.dataset.state; return s === "ad" || s === "rating"; }
  function placeFaces() {
    var r = facesInMirror() ? mirrorEl.getBoundingClientRect() : { left: area.x, top: area.y, width: area.w, height: area.h };
    facesEl.style.left = r.left + "px"; facesEl.style.top = r.top + "px";
    facesEl.style.width = r.width + "px"; facesEl.style.height = r.height + "px";
    if (lastFaces && Date.now() - lastFacesAt < FACE_STALE_MS) applyFaces(lastFaces, true);   // re-place the emoji in their new box now
  }
  window.addEventListener("resize", layout);
  layout();

  // --- media -----------------------------------------------------------------------------
  function isVideo(url) { return /\.(mp4|m4v|webm|ogv)(\?|$)/i.test(url || ""); }

  function itemOf(st) {
    if (st.state === "ad" && st.ad && st.ad.media_url) {
      // the creative made for this screen's shape: portrait when the area is taller than wide
      var portrait = area.h > area.w && st.ad.media_portrait_url;
      var url = portrait ? st.ad.media_portrait_url : st.ad.media_url;
      var t = (portrait ? st.ad.media_portrait_type : st.ad.media_type) || (isVideo(url) ? "video" : "image");
      return { kind: "ad", id: st.ad.slug, url: url, type: t, title: st.ad.title || "",
               safe: st.ad.safe_zone || null, key: "ad:" + st.play_id + ":" + url };
    }
    if (st.state === "healing" && st.scene && st.scene.media_url) {
      return { kind: "healing", id: st.scene.id, url: st.scene.media_url,
               type: st.scene.media_type || (isVideo(st.scene.media_url) ? "video" : "image"),
               key: "healing:" + (st.play_id || "") + ":" + st.scene.media_url };
    }
    return null;
  }

  // May this creative lie under the strip? Only if its declared safe zone is on the strip's side
  // and at least as deep as the strip (measured on the full screen).
  function underStrip(item) {
    var z = item.safe;
    if (!z || z.side !== strip.side) return false;
    var full = (strip.side === "left" || strip.side === "right") ? window.innerWidth : window.innerHeight;
    return z.size * full >= strip.size;
  }

  function makeLayer(item) {
    var layer = document.createElement("div");
    layer.className = "layer";
    layer.dataset.key = item.key;
    layer.dataset.kind = item.kind;
    if (item.kind === "ad" && underStrip(item)) {
      layer.classList.add("under");
      layer.dataset.safeSide = item.safe.side;
      layer.dataset.safeSize = item.safe.size;
    }
    stage.appendChild(layer);   // transparent until ready, so it decodes off-screen
    return layer;
  }

  // resolves after the browser has painted what was just loaded (two frames and a margin):
  // an iframe's onload comes before its first paint
  function settled() {
    return new Promise(function (resolve) {
      requestAnimationFrame(function () { requestAnimationFrame(function () { setTimeout(resolve, PAINT_SETTLE_MS); }); });
    });
  }

  function withTimeout(p, ms) {
    return new Promise(function (resolve, reject) {
      var t = setTimeout(function () { reject(new Error("timeout")); }, ms);
      p.then(function (v) { clearTimeout(t); resolve(v); }, function (e) { clearTimeout(t); reject(e); });
    });
  }

  function load(item) {
    var layer = makeLayer(item);
    var ready;
    if (item.type === "image") {
      ready = new Promise(function (resolve, reject) {
        var img = new Image();
        img.alt = "";
        img.onerror = function () { reject(new Error("image failed")); };
        img.onload = function () {
          var decoded = img.decode ? img.decode().catch(function () {}) : Promise.resolve();
          decoded.then(function () {
            var ir = img.naturalWidth / Math.max(1, img.naturalHeight);
            var box = layer.getBoundingClientRect();
            var sr = box.width / Math.max(1, box.height);
            if (item.kind === "ad" && Math.abs(Math.log(ir / sr)) > 0.12) {
              // a creative made for the other orientation: show it whole over its own blur
              var bd = document.createElement("div");
              bd.className = "backdrop";
              bd.style.backgroundImage = "url(\"" + item.url + "\")";
              layer.appendChild(bd);
              layer.classList.add("fit");
            }
            layer.appendChild(img);
            if (item.kind === "healing") layer.dataset.calm = "1";
            resolve(layer);
          });
        };
        img.src = item.url;
      });
    } else if (item.type === "video") {
      ready = new Promise(function (resolve, reject) {
        var v = document.createElement("video");
        v.muted = true; v.defaultMuted = true; v.playsInline = true; v.loop = true;
        v.preload = "auto"; v.setAttribute("muted", ""); v.setAttribute("playsinline", "");
        v.onerror = function () { reject(new Error("video failed")); };
        v.oncanplay = function () {
          v.oncanplay = null;
          var p = v.play();
          (p && p.then ? p : Promise.resolve()).then(function () { resolve(layer); },
            function () { resolve(layer); });
        };
        layer.appendChild(v);
        v.src = item.url;
      });
    } else if (item.type === "html") {
      ready = new Promise(function (resolve, reject) {
        var f = document.createElement("iframe");
        f.setAttribute("sandbox", "allow-scripts");   // no same-origin: no cookies, no APIs
        f.setAttribute("scrolling", "no");
        f.setAttribute("tabindex", "-1");
        f.setAttribute("title", item.kind === "ad" ? "Advertisement: " + (item.title || item.id) : "Scene");
        f.onload = function () { settled().then(function () { resolve(layer); }); };
        f.onerror = function () { reject(new Error("html failed")); };
        // a missing creative would load our 404 page: check it exists first
        fetch(item.url, { method: "HEAD", cache: "no-store" }).then(function (r) {
          if (!r.ok) { reject(new Error("html " + r.status)); return; }
          f.src = item.url;
        }, reject);
        layer.appendChild(f);
      });
    } else {
      ready = Promise.reject(new Error("unknown media type " + item.type));
    }
    return withTimeout(ready, LOAD_TIMEOUT_MS).catch(function (e) { layer.remove(); throw e; });
  }

  function swapTo(layer, key, onShown) {
    var old = current.layer;
    if (old) old.classList.add("old");   // still painted underneath for a while; no longer current
    current = { key: key, layer: layer };
    window.panel.shown = key;
    window.panel.swaps++;
    stripEl.classList.toggle("over", layer.classList.contains("under"));
    requestAnimationFrame(function () {
      layer.classList.add("in");
      if (onShown) onShown();
      setTimeout(function () {
        if (old && old !== current.layer && old.parentNode) {
          // keep the last healing picture (decoded, in memory) for an outage
          var keep = old.dataset.calm === "1" ? old.querySelector("img") : null;
          if (keep) calmImg = keep;
          old.querySelectorAll("video").forEach(function (v) { v.pause(); v.removeAttribute("src"); v.load(); });
          old.remove();
        }
      }, OLD_LAYER_MS);
    });
  }

  function fallbackLayer() {
    var layer = document.createElement("div");
    layer.className = "layer fallback";
    stage.appendChild(layer);
    return layer;
  }

  // the outage scene: the last healing picture if we have one (no request), else the gradient
  function calmLayer() {
    var shownImg = current.layer && current.layer.dataset.calm === "1" ? current.layer.querySelector("img") : null;
    var img = shownImg || calmImg;
    var layer = document.createElement("div");
    layer.className = "layer calm-fallback";
    if (img) {
      var copy = img.cloneNode(false);   // same decoded picture from the memory cache
      layer.appendChild(copy);
      layer.dataset.calm = "1";
    }
    stage.appendChild(layer);
    return layer;
  }

  function reportFailure(item, err) {
    window.panel.failures.push(item.url);
    fetch("/api/panel/media-failed", {
      method: "POST", headers: { "Content-Type": "application/json", "X-Panel-Key": cfg.panelKey || "" },
      body: JSON.stringify({ kind: item.kind, id: item.id, url: item.url, error: String(err && err.message || err) })
    }).catch(function () {});
  }

  function showMedia(st, after) {
    var item = itemOf(st);
    if (!item) { after(); return; }
    if (current.key === item.key) { after(); return; }
    var gen = ++loadGen;
    load(item).then(function (layer) {
      if (gen !== loadGen) { layer.remove(); return; }   // a newer state won meanwhile
      swapTo(layer, item.key, after);
    }, function (err) {
      reportFailure(item, err);
      if (gen !== loadGen) return;
      // Never freeze and never go black: a failed ad keeps what is on screen; a failed
      // scene (or anything after the rating screen) falls back to the built-in calm layer.
      // (a failed ad changes nothing else either: no QR code for an ad that is not on screen)
      if (item.kind === "healing") swapTo(fallbackLayer(), "fallback:" + item.key, after);
      else if (ratingShown()) swapTo(fallbackLayer(), "fallback:" + item.key, function () {
        document.body.dataset.state = ""; hideRating(); showStripQr(null);
      });
    });
  }

  // --- states ----------------------------------------------------------------------------
  function ratingShown() { return !ratingEl.hidden; }

  function applyState(st) {
    window.panel.state = st;
    if (st.state === "ad" && st.ad) lastAd = { play_id: st.play_id, title: st.ad.title || "" };
    if (st.state === "rating") {
      // the ad's own load may still be under way (a starved screen, a slow network): its play
      // is over, so it must not swap in over the rating screen, with its QR code, when it ends
      loadGen++;
      document.body.dataset.state = "rating"; showStripQr(null); showRating(st); return;
    }
    showMedia(st, function () {
      document.body.dataset.state = st.state || "";
      hideRating();
      showStripQr(st.state === "ad" ? st : null);
      captionEl.hidden = st.state !== "healing";
      if (st.state === "healing") fillCaption(st.scene || {});
    });
  }

  // A QR code drawn with whole screen pixels per module (no modules of uneven width): the
  // largest size that fits the box's CSS size (never larger: the strip is measured with the box).
  // The box sizes (panel.css) give a 41-module code (a landing URL with campaign parameters) 6
  // pixels a module on a 1080p screen: what a phone reads from 2 m.
  function crispQr(box) {
    box.style.width = ""; box.style.height = "";
    var svg = box.querySelector("svg");
    if (!svg || !svg.viewBox || !svg.viewBox.baseVal) return;
    var n = svg.viewBox.baseVal.width, per = Math.floor(box.clientWidth / n);
    if (n > 0 && per >= 1) { box.style.width = box.style.height = (per * n) + "px"; }
  }

  // the ad's QR code (and the "Advertisement" label) in the strip while the ad plays
  function showStripQr(st) {
    stripAd.hidden = !st;
    $("ad-qr").innerHTML = st && st.qr_svg ? st.qr_svg : "";   // server-made SVG
    $("ad-qr").dataset.url = st && st.qr_url || "";
    $("ad-qr").hidden = !(st && st.qr_svg);
    $("ad-qr-label").hidden = !(st && st.qr_svg);
    if (st && st.qr_svg) crispQr($("ad-qr"));   // once shown: a hidden box has no size
    placeFaces();
  }

  function fillCaption(scene) {
    var w = scene.weather;
    var text = "";
    if (w && typeof w === "object") {
      var t = w.temp_c != null ? w.temp_c : w.temperature;
      text = [t != null ? Math.round(t) + "\u00b0" : "", w.text || w.summary || w.description || ""].join(" ").trim();
    } else if (typeof w === "string") { text = w; }
    $("weather").textContent = text;
    $("scene-title").textContent = scene.title || "";
    tick();
  }

  function showRating(st) {
    var title = (st.ad && st.ad.title) || (lastAd && lastAd.play_id === st.play_id ? lastAd.title : "") || "";
    $("rating-title").textContent = title ? "\u201c" + title + "\u201d" : "this ad";
    $("rating-qr").innerHTML = st.qr_svg || "";   // server-made SVG (our page or the advertiser's)
    $("rating-qr").dataset.url = st.qr_url || "";
    $("rating-qr-box").hidden = !st.qr_svg;
    if (ratedPlay !== st.play_id) {
      $("rating-thanks").hidden = true;
      document.querySelectorAll(".vote").forEach(function (b) { b.disabled = false; b.classList.remove("chosen"); });
    }
    ratingEl.dataset.playId = st.play_id;
    ratingEl.hidden = false;
    captionEl.hidden = true;
    if (st.qr_svg) crispQr($("rating-qr"));
    placeFaces();
    var bar = $("countdown-bar");
    var left = st.ends_at ? Math.max(0, (st.ends_at - (Date.now() / 1000 + clockSkew)) * 1000) : 0;
    bar.style.transition = "none";
    bar.style.transform = "scaleX(1)";
    if (left > 0) {
      bar.getBoundingClientRect();
      bar.style.transition = "transform " + left + "ms linear";
      bar.style.transform = "scaleX(0)";
    }
  }

  function hideRating() { ratingEl.hidden = true; }

  function vote(btn) {
    var playId = parseInt(ratingEl.dataset.playId, 10);
    if (!playId || btn.disabled) return;
    btn.classList.add("pressed");
    setTimeout(function () { btn.classList.remove("pressed"); }, 150);
    document.querySelectorAll(".vote").forEach(function (b) { b.disabled = true; });
    btn.classList.add("chosen");
    btn.disabled = false;
    ratedPlay = playId;
    fetch("/api/panel/rate", {
      method: "POST", headers: { "Content-Type": "application/json", "X-Panel-Key": cfg.panelKey || "" },
      body: JSON.stringify({ play_id: playId, value: btn.dataset.value })
    }).then(function (r) { return r.json(); }).then(function (r) {
      $("rating-thanks").textContent = r.recorded === false ? "Already rated \u2014 thank you!" : "Thanks for your vote!";
      $("rating-thanks").hidden = false;
    }).catch(function () { $("rating-thanks").textContent = "Thanks!"; $("rating-thanks").hidden = false; });
  }
  document.querySelectorAll(".vote").forEach(function (b) {
    b.addEventListener("click", function () { vote(b); });
  });

  // --- emoji overlay ---------------------------------------------------------------------
  var faceEls = {}, lastFacesAt = 0;
  function applyFaces(data, replay) {
    if (!replay) { lastFacesAt = Date.now(); lastFaces = data; }
    var W = facesEl.clientWidth, H = facesEl.clientHeight, seen = {};
    (data.faces || []).forEach(function (f) {
      var b = f.box, id = f.id;
      seen[id] = true;
      var el = faceEls[id];
      var src = "/emoticon/" + encodeURIComponent(f.mood || "neutral") + ".svg" + (f.mask ? "?mask=1" : "");
      if (!el) {
        el = document.createElement("img");
        el.className = "face";
        el.alt = "";
        facesEl.appendChild(el);
        faceEls[id] = el;
      }
      if (el.getAttribute("src") !== src) el.setAttribute("src", src);
      el.dataset.mood = f.mood || "neutral";
      el.dataset.mask = f.mask ? "1" : "0";
      el.classList.remove("gone");
      // The camera looks at the people: mirror x so the emoji sits in front of each person.
      var cx = (1 - (b[0] + b[2] / 2)) * W, cy = (b[1] + b[3] / 2) * H;
      var size = Math.max(0.07 * Math.min(W, H), Math.min(0.22 * Math.min(W, H), b[2] * W * 0.9));
      if (facesInMirror()) size = Math.min(0.45 * Math.min(W, H), Math.max(size, 0.3 * Math.min(W, H)));
      // keep the whole emoji inside its box (the mirror box must not spill over the creative)
      cx = Math.min(Math.max(cx, size / 2), W - size / 2); cy = Math.min(Math.max(cy, size / 2), H - size / 2);
      el.style.width = size + "px"; el.style.height = size + "px";
      el.style.transform = "translate(" + Math.round(cx - size / 2) + "px," + Math.round(cy - size / 2) + "px)";
    });
    Object.keys(faceEls).forEach(function (id) { if (!seen[id]) dropFace(id); });
  }
  function dropFace(id) {
    var el = faceEls[id];
    delete faceEls[id];
    if (!el) return;
    el.classList.add("gone");
    setTimeout(function () { el.remove(); }, 450);
  }
  setInterval(function () {
    if (Date.now() - lastFacesAt > FACE_STALE_MS) Object.keys(faceEls).forEach(dropFace);
  }, 1000);

  // --- clock -------------------------------------------------------------------------------
  function tick() {
    var d = new Date(Date.now() + clockSkew * 1000);
    $("clock").textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    $("date").textContent = d.toLocaleDateString([], { weekday: "long", day: "numeric", month: "long" });
  }
  setInterval(tick, 1000);
  tick();

  // --- status (technicians) ------------------------------------------------------------------
  function applyStatus(s) {
    var el = $("status");
    if (!el) return;
    var f = function (v) { return v == null ? "-" : (typeof v === "number" ? (Math.round(v * 10) / 10) : v); };
    el.textContent = "camera " + f(s.camera) + "  fps " + f(s.fps) + "\nvision fps " + f(s.vision_fps) +
      "  faces " + f(s.faces) + "  watching " + f(s.watching) + "\nmood " + f(s.mood) + "  errors " + f(s.errors) +
      "  link " + (window.panel.connected ? "ok" : "lost") + "  qr " + (cfg.qrMode || "-");
  }

  // --- camera preview (technicians; only when web.camera_preview is on) ---------------------------
  if (cfg.cameraPreview) {
    var previewImg = $("camera-preview-img"), previewBusy = false;
    var refreshPreview = function () {
      if (!previewImg || previewBusy) return;
      previewBusy = true;
      var next = new Image();
      next.alt = previewImg.alt;
      next.onload = function () {  // swap in the loaded image: no second request, no blank frame
        next.id = previewImg.id; previewImg.parentNode.replaceChild(next, previewImg); previewImg = next;
        previewBusy = false;
      };
      next.onerror = function () { previewBusy = false; };
      next.src = cfg.cameraPreview + "?t=" + Date.now();
    };
    setInterval(refreshPreview, 1000);
    refreshPreview();
  }

  // --- live channel --------------------------------------------------------------------------
  var ws = null, retry = 0, pingTimer = null, pongDue = 0, outageTimer = null;

  // The server is gone: a calm scene we already have, no QR code to the dead server, no rating
  // buttons that cannot reach it. Whatever the server sends on reconnect replaces it.
  function enterOutage() {
    if (window.panel.offline) return;
    window.panel.offline = true;
    document.body.classList.add("offline");
    loadGen++;                       // a load still under way would point at the dead server
    hideRating();
    showStripQr(null);
    document.body.dataset.state = "offline";
    var layer = calmLayer();
    swapTo(layer, "calm");
    captionEl.hidden = false;
    fillCaption({});
  }
  function leaveOutage() {
    clearTimeout(outageTimer); outageTimer = null;
    if (!window.panel.offline) return;
    window.panel.offline = false;
    document.body.classList.remove("offline");
  }
  function connectionLost() {
    window.panel.connected = false;
    if (!outageTimer && !window.panel.offline) outageTimer = setTimeout(enterOutage, OUTAGE_MS);
  }

  function connect() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/panel";
    try { ws = new WebSocket(url); } catch (e) { schedule(); return; }
    ws.onopen = function () {
      retry = 0; window.panel.connected = true;
      leaveOutage();
      pongDue = 0;
      clearInterval(pingTimer);
      pingTimer = setInterval(function () {   // a silent, half-open link counts as lost too
        if (pongDue && Date.now() > pongDue) { try { ws.close(); } catch (e) {} connectionLost(); return; }
        try { ws.send("ping"); if (!pongDue) pongDue = Date.now() + 4000; } catch (e) {}
      }, 2000);
    };
    ws.onmessage = function (ev) {
      if (ev.data === "pong") { pongDue = 0; return; }
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      window.panel.messages++;
      if (msg.now) clockSkew = msg.now - Date.now() / 1000;
      try {
        if (msg.type === "state") applyState(msg.data || {});
        else if (msg.type === "faces") applyFaces(msg.data || {});
        else if (msg.type === "status") applyStatus(msg.data || {});
      } catch (e) { if (window.console) console.error(e); }
    };
    ws.onclose = function () { clearInterval(pingTimer); connectionLost(); schedule(); };
    ws.onerror = function () { try { ws.close(); } catch (e) {} };
  }
  function schedule() {
    // keep playing what we have; try again, a little slower each time (at most every 5 s)
    var delay = Math.min(3000, 500 * Math.pow(2, retry++));
    setTimeout(connect, delay);
  }
  document.addEventListener("contextmenu", function (e) { e.preventDefault(); });
  connect();
})();
