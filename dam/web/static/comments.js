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

  function marker(p, n) {
    if (!box || !p) return;
    var dot = document.createElement("span");
    dot.className = "pin";
    dot.textContent = String(n);
    dot.style.left = (p.x * 100) + "%";
    dot.style.top = (p.y * 100) + "%";
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
      pin = {
        x: Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width)),
        y: Math.min(1, Math.max(0, (event.clientY - rect.top) / rect.height)),
      };
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
