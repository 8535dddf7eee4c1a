// Comments on the asset page: listed from the JSON API, pinned by clicking the preview (a point
// as fractions of the picture; a PDF page, a video time), resolved or reopened in place.
(function () {
  "use strict";
  var section = document.getElementById("comments");
  if (!section) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var asset = section.dataset.asset;
  var version = section.dataset.version;
  var list = section.querySelector(".comment-list");
  var form = section.querySelector(".comment-form");
  var status = section.querySelector("[data-comment-status]");
  var hint = section.querySelector("[data-pin-hint]");
  var box = document.querySelector(".preview-box");
  var pin = null;

  function describe(p) {
    if (!p) return "";
    var where = "at " + Math.round(p.x * 100) + "%, " + Math.round(p.y * 100) + "%";
    if (p.page) where = "page " + p.page + ", " + where;
    if (p.time !== undefined) where += ", " + p.time.toFixed(1) + " s";
    return where;
  }

  // Where the picture itself is drawn inside the preview (the image is scaled to fit, so it
  // may not fill its box): pins are fractions of the picture, not of the box.
  function drawn(img) {
    var w = img.clientWidth, h = img.clientHeight;
    var nw = img.naturalWidth || w, nh = img.naturalHeight || h;
    var scale = Math.min(w / nw, h / nh);
    return {
      left: img.offsetLeft + (w - nw * scale) / 2,
      top: img.offsetTop + (h - nh * scale) / 2,
      width: nw * scale,
      height: nh * scale,
    };
  }

  function marker(p, n) {
    var img = box && box.querySelector("img");
    if (!img || !p || img.hidden) return;
    var area = drawn(img);
    var dot = document.createElement("span");
    dot.className = "pin";
    dot.textContent = String(n);
    dot.style.left = (area.left + p.x * area.width) + "px";
    dot.style.top = (area.top + p.y * area.height) + "px";
    box.appendChild(dot);
  }

  function request(method, url, payload) {
    return fetch(url, {
      method: method,
      headers: { "X-CSRF-Token": csrf, Accept: "application/json", "Content-Type": "application/json" },
      credentials: "same-origin",
      body: payload ? JSON.stringify(payload) : undefined,
    }).then(function (res) {
      return res.json().then(function (body) { return { status: res.status, body: body }; });
    });
  }

  function load() {
    request("GET", "/api/v1/assets/" + asset + "/comments?version=" + version).then(function (res) {
      list.innerHTML = "";
      if (box) box.querySelectorAll(".pin").forEach(function (el) { el.remove(); });
      (res.body.items || []).forEach(function (c, i) {
        var li = document.createElement("li");
        li.className = "comment" + (c.resolved ? " resolved" : "");
        var head = document.createElement("strong");
        head.textContent = c.author_name + (c.pin ? " (" + describe(c.pin) + ")" : "");
        var text = document.createElement("p");
        text.textContent = c.body;
        var button = document.createElement("button");
        button.type = "button";
        button.className = "button small";
        button.textContent = c.resolved ? "Reopen" : "Resolve";
        button.addEventListener("click", function () {
          request("PATCH", "/api/v1/assets/" + asset + "/comments/" + c.id, { resolved: !c.resolved })
            .then(load);
        });
        li.appendChild(head);
        li.appendChild(text);
        li.appendChild(button);
        list.appendChild(li);
        if (!c.resolved) marker(c.pin, i + 1);
      });
    });
  }

  if (box) {
    box.addEventListener("click", function (event) {
      var target = box.querySelector("img, video");
      if (!target || event.target !== target || target.tagName === "VIDEO") return;
      var rect = target.getBoundingClientRect();
      var area = drawn(target);
      var inside = {
        x: event.clientX - rect.left - (area.left - target.offsetLeft),
        y: event.clientY - rect.top - (area.top - target.offsetTop),
      };
      if (inside.x < 0 || inside.y < 0 || inside.x > area.width || inside.y > area.height) return;
      pin = { x: inside.x / area.width, y: inside.y / area.height };
      hint.textContent = "Pinned " + describe(pin) + ".";
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var payload = { body: form.querySelector("#com-body").value };
    var p = pin ? { x: pin.x, y: pin.y } : null;
    var page = form.querySelector("#com-page");
    if (page && page.value) { p = p || { x: 0.5, y: 0.5 }; p.page = Number(page.value); }
    var timed = form.querySelector("#com-time");
    var video = box && box.querySelector("video");
    if (timed && timed.checked && video) { p = p || { x: 0.5, y: 0.5 }; p.time = video.currentTime; }
    if (p) payload.pin = p;
    request("POST", "/api/v1/assets/" + asset + "/versions/" + version + "/comments", payload)
      .then(function (res) {
        if (res.status !== 201) {
          status.textContent = "Not saved: " + (res.body.detail || res.body.error);
          return;
        }
        status.textContent = "Comment saved.";
        form.reset();
        pin = null;
        hint.textContent = "Click the preview to pin the comment to a point.";
        load();
      });
  });
  load();
})();
