// Asset page preview: renditions are drawn by the worker after an upload, so a fresh version
// shows "Preview being made"; this polls the asset until the worker is done and fills in the
// preview, the page thumbnails and the video poster without reloading the page. A video the
// browser cannot decode (HEVC, ProRes) falls back to the H.264 preview clip.
(function () {
  "use strict";

  var box = document.querySelector("[data-preview]");
  if (!box) return;
  var asset = box.dataset.asset;
  var version = Number(box.dataset.version);
  var base = "/api/v1/assets/" + asset + "/renditions/";
  var query = "?version=" + version;
  var video = box.querySelector("video");

  function useClip() {
    if (!video || !video.dataset.clip || video.dataset.fellBack) return;
    // Only for a source the browser cannot decode, not for a network hiccup.
    if (!video.error || (video.error.code !== 3 && video.error.code !== 4)) return;
    video.dataset.fellBack = "1";
    video.muted = true;
    video.src = video.dataset.clip;
    var note = document.querySelector("[data-video-fallback]");
    if (note) note.hidden = false;
  }

  if (video) {
    video.addEventListener("error", useClip);
    if (video.error) useClip();
  }

  function fill(current) {
    var names = current.renditions || [];
    var stamp = "&r=" + Date.now();
    var img = box.querySelector("img[data-rendition]");
    if (img && names.indexOf("preview") >= 0 && img.hidden) {
      img.src = img.dataset.rendition + stamp;
      img.hidden = false;
      var pending = box.querySelector("[data-pending]");
      if (pending) pending.hidden = true;
    }
    if (video && names.indexOf("preview") >= 0 && !video.getAttribute("poster")) {
      video.setAttribute("poster", video.dataset.poster + stamp);
    }
    if (video && names.indexOf("clip") >= 0) {
      video.dataset.clip = base + "clip" + query;
      if (video.error) useClip();
    }
    var strip = document.querySelector("[data-pages]");
    if (strip) {
      var shown = strip.querySelectorAll("img").length;
      var pages = names
        .filter(function (n) { return /^page-\d+$/.test(n); })
        .map(function (n) { return Number(n.slice(5)); })
        .sort(function (x, y) { return x - y; });
      if (pages.length > shown) {
        strip.innerHTML = "";
        pages.forEach(function (n) {
          var li = document.createElement("li");
          var page = document.createElement("img");
          page.src = base + "page-" + n + query + stamp;
          page.alt = "Page " + n;
          li.appendChild(page);
          strip.appendChild(li);
        });
      }
    }
    var previews = current.previews || {};
    if (previews.error) {
      var message = document.querySelector("[data-preview-error]");
      if (message) {
        message.querySelector("span").textContent = previews.error;
        message.hidden = false;
      }
    }
  }

  if (box.dataset.state !== "pending") return;
  var tries = 0;
  function poll() {
    tries += 1;
    // A small JSON answer (dam/web/preview_state.py), not the whole asset.
    fetch("/assets/" + asset + "/preview-state", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (body) {
        var current = body;
        if (!current || current.number !== version) return; // a newer version: its own page
        fill(current);
        var previews = current.previews || {};
        var finished = previews.status === "failed" ||
          (previews.status === "ready" && (previews.pending || []).length === 0);
        if (finished) {
          box.dataset.state = previews.status;
        } else if (tries < 120) {
          window.setTimeout(poll, Math.min(500 * tries, 3000));
        }
      })
      .catch(function () {
        if (tries < 120) window.setTimeout(poll, 3000);
      });
  }
  window.setTimeout(poll, 500);
})();
