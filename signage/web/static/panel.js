/* The kiosk panel. Plain JS, no libraries, works offline.
 * - Live over /ws/panel; reconnects by itself and keeps showing what it has meanwhile.
 * - Media without black gaps: the next item is loaded in a hidden layer and faded in only
 *   when ready; a file that fails (or takes too long) is reported and skipped.
 * - Emoji overlay: one drawn emoticon per face, mirrored so it sits in front of the person.
 */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("panel-config").textContent || "{}");
  var $ = function (id) { return document.getElementById(id); };
  var stage = $("stage"), facesEl = $("faces"), ratingEl = $("rating"), captionEl = $("caption");
  var LOAD_TIMEOUT_MS = 10000, FACE_STALE_MS = 2500;

  var current = { key: "fallback", layer: stage.querySelector(".layer") };
  var loadGen = 0;              // a newer state cancels an older load
  var lastAd = null;            // {play_id, title} of the ad the rating screen is about
  var ratedPlay = null;
  var clockSkew = 0;            // server time - local time, seconds
  window.panel = { state: null, shown: "fallback", messages: 0, connected: false, failures: [] };

  // --- media -----------------------------------------------------------------------------
  function isVideo(url) { return /\.(mp4|m4v|webm|ogv)(\?|$)/i.test(url || ""); }

  function itemOf(st) {
    if (st.state === "ad" && st.ad && st.ad.media_url) {
      var t = st.ad.media_type || (isVideo(st.ad.media_url) ? "video" : "image");
      return { kind: "ad", id: st.ad.slug, url: st.ad.media_url, type: t,
               key: "ad:" + st.play_id + ":" + st.ad.media_url };
    }
    if (st.state === "healing" && st.scene && st.scene.media_url) {
      return { kind: "healing", id: st.scene.id, url: st.scene.media_url,
               type: st.scene.media_type || (isVideo(st.scene.media_url) ? "video" : "image"),
               key: "healing:" + (st.play_id || "") + ":" + st.scene.media_url };
    }
    return null;
  }

  function makeLayer(item) {
    var layer = document.createElement("div");
    layer.className = "layer";
    layer.dataset.key = item.key;
    layer.dataset.kind = item.kind;
    stage.appendChild(layer);   // transparent until ready, so it decodes off-screen
    return layer;
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
            var sr = window.innerWidth / Math.max(1, window.innerHeight);
            if (item.kind === "ad" && Math.abs(Math.log(ir / sr)) > 0.12) {
              // a creative made for the other orientation: show it whole over its own blur
              var bd = document.createElement("div");
              bd.className = "backdrop";
              bd.style.backgroundImage = "url(\"" + item.url + "\")";
              layer.appendChild(bd);
              layer.classList.add("fit");
            }
            layer.appendChild(img);
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
        f.onload = function () { resolve(layer); };
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
    current = { key: key, layer: layer };
    window.panel.shown = key;
    requestAnimationFrame(function () {
      layer.classList.add("in");
      if (onShown) onShown();
      setTimeout(function () {
        if (old && old !== current.layer && old.parentNode) {
          old.querySelectorAll("video").forEach(function (v) { v.pause(); v.removeAttribute("src"); v.load(); });
          old.remove();
        }
      }, 700);
    });
  }

  function fallbackLayer() {
    var layer = document.createElement("div");
    layer.className = "layer fallback";
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
      if (item.kind === "healing" || ratingShown()) swapTo(fallbackLayer(), "fallback:" + item.key, after);
      else after();
    });
  }

  // --- states ----------------------------------------------------------------------------
  function ratingShown() { return !ratingEl.hidden; }

  function applyState(st) {
    window.panel.state = st;
    document.body.dataset.state = st.state || "";
    if (st.state === "ad" && st.ad) lastAd = { play_id: st.play_id, title: st.ad.title || "" };
    if (st.state === "rating") { showRating(st); return; }
    showMedia(st, function () {
      hideRating();
      $("adchip").hidden = st.state !== "ad";
      captionEl.hidden = st.state !== "healing";
      if (st.state === "healing") fillCaption(st.scene || {});
    });
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
    $("rating-qr").innerHTML = st.qr_svg || "";   // server-made SVG of our own URL
    $("rating-qr").dataset.url = st.mobile_url || "";
    if (ratedPlay !== st.play_id) {
      $("rating-thanks").hidden = true;
      document.querySelectorAll(".vote").forEach(function (b) { b.disabled = false; b.classList.remove("chosen"); });
    }
    ratingEl.dataset.playId = st.play_id;
    ratingEl.hidden = false;
    $("adchip").hidden = true;
    captionEl.hidden = true;
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
  function applyFaces(data) {
    lastFacesAt = Date.now();
    var W = window.innerWidth, H = window.innerHeight, seen = {};
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
      "  link " + (window.panel.connected ? "ok" : "lost");
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
  var ws = null, retry = 0, pingTimer = null, pongDue = 0;
  function connect() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/panel";
    try { ws = new WebSocket(url); } catch (e) { schedule(); return; }
    ws.onopen = function () {
      retry = 0; window.panel.connected = true;
      pongDue = 0;
      clearInterval(pingTimer);
      pingTimer = setInterval(function () {
        if (pongDue && Date.now() > pongDue) { try { ws.close(); } catch (e) {} return; }
        try { ws.send("ping"); if (!pongDue) pongDue = Date.now() + 10000; } catch (e) {}
      }, 5000);
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
    ws.onclose = function () { window.panel.connected = false; clearInterval(pingTimer); schedule(); };
    ws.onerror = function () { try { ws.close(); } catch (e) {} };
  }
  function schedule() {
    // keep playing what we have; try again, a little slower each time (at most every 5 s)
    var delay = Math.min(5000, 500 * Math.pow(2, retry++));
    setTimeout(connect, delay);
  }
  document.addEventListener("contextmenu", function (e) { e.preventDefault(); });
  connect();
})();
