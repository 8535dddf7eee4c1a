// Asset page: the focal point. Uploaders click the preview to set it (PUT through the API with
// the session's CSRF token); a marker shows it, and the derivative previews are drawn again.
(function () {
  "use strict";

  // "Download as…": an empty width or height means "not given", not "0".
  var downloadAs = document.querySelector("form.download-as");
  if (downloadAs) {
    downloadAs.addEventListener("submit", function () {
      downloadAs.querySelectorAll("input").forEach(function (input) {
        input.disabled = input.value === "";
      });
      window.setTimeout(function () {
        downloadAs.querySelectorAll("input").forEach(function (input) { input.disabled = false; });
      }, 0);
    });
  }

  var status = document.querySelector("[data-focal-status]");
  var box = document.querySelector("[data-preview]");
  if (!status || !box) return;
  var img = box.querySelector("img");
  if (!img) return;
  var marker = document.createElement("span");
  marker.className = "focal-marker";
  marker.hidden = true;
  marker.setAttribute("aria-hidden", "true");
  box.appendChild(marker);

  function place(x, y) {
    // The marker sits on the image as displayed (it may be letterboxed inside the box).
    var r = img.getBoundingClientRect();
    var b = box.getBoundingClientRect();
    marker.style.left = (r.left - b.left + x * r.width) + "px";
    marker.style.top = (r.top - b.top + y * r.height) + "px";
    marker.hidden = false;
  }

  function show() {
    if (status.dataset.x) place(Number(status.dataset.x), Number(status.dataset.y));
  }
  if (img.complete) show(); else img.addEventListener("load", show);
  window.addEventListener("resize", show);

  if (status.dataset.editable === undefined) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  img.style.cursor = "crosshair";
  img.addEventListener("click", function (e) {
    var r = img.getBoundingClientRect();
    var x = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
    var y = Math.min(1, Math.max(0, (e.clientY - r.top) / r.height));
    var url = "/api/v1/assets/" + status.dataset.asset + "/versions/" + status.dataset.version + "/focal-point";
    status.textContent = "Saving the focal point…";
    fetch(url, {
      method: "PUT",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify({ x: Math.round(x * 10000) / 10000, y: Math.round(y * 10000) / 10000 }),
    }).then(function (res) {
      return res.json().then(function (body) { return { status: res.status, body: body }; });
    }).then(function (res) {
      if (res.status !== 200) {
        status.textContent = "The focal point was not saved: " + String((res.body && res.body.detail) || res.status);
        return;
      }
      status.dataset.x = res.body.x;
      status.dataset.y = res.body.y;
      place(res.body.x, res.body.y);
      status.textContent = "Focal point at " + Math.round(res.body.x * 100) + "% across, " + Math.round(res.body.y * 100) + "% down; derivatives are cropped around it.";
      document.querySelectorAll("[data-derivative] img").forEach(function (preview) {
        preview.src = preview.dataset.src + "&focal=" + Date.now();
      });
    }, function () {
      status.textContent = "The server could not be reached. Try again.";
    });
  });
})();
