// Asset page: upload a new version through the API (cookie session + CSRF token), with progress,
// the brand-rule problems when it is refused, and an optional submit for review.
(function () {
  "use strict";

  var form = document.getElementById("new-version");
  if (!form) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var input = form.querySelector('input[type="file"]');
  var progress = form.querySelector("progress");
  var status = form.querySelector("[data-status]");
  var problems = form.querySelector("[data-problems]");
  var button = form.querySelector('button[type="submit"]');
  var assetUrl = "/api/v1/assets/" + form.dataset.asset;

  function say(text, kind) {
    status.textContent = text;
    status.className = "upload-status " + (kind || "");
  }

  function listProblems(body) {
    problems.innerHTML = "";
    var items = (body && body.violations) || [];
    ((body && body.problems) || []).forEach(function (p) {
      items.push({ severity: "block", message: (p.field ? p.field + ": " : "") + p.message });
    });
    items.forEach(function (v) {
      var li = document.createElement("li");
      li.className = "sev-" + (v.severity || "block");
      li.textContent = (v.severity === "warn" ? "Warning: " : "Must fix: ") + v.message;
      problems.appendChild(li);
    });
  }

  function send(file) {
    return new Promise(function (resolve) {
      var data = new FormData();
      data.append("file", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", assetUrl + "/versions");
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      // Refused if someone changed the asset since this page was loaded.
      xhr.setRequestHeader("If-Match", form.dataset.etag);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) progress.value = Math.round((100 * e.loaded) / e.total);
      });
      xhr.addEventListener("load", function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
        resolve({ status: xhr.status, body: body });
      });
      xhr.addEventListener("error", function () { resolve({ status: 0, body: null }); });
      xhr.send(data);
    });
  }

  function submitForReview() {
    return fetch(assetUrl + "/submit", {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
      credentials: "same-origin",
    }).then(function (res) {
      return res.json().then(function (body) { return res.ok ? "" : String(body.detail || ""); });
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var file = input.files[0];
    if (!file) { say("Choose a file first.", "error"); return; }
    button.disabled = true;
    problems.innerHTML = "";
    progress.hidden = false;
    progress.value = 0;
    say("Uploading " + file.name + "…");
    send(file).then(function (res) {
      if (res.status !== 201) {
        button.disabled = false;
        progress.hidden = true;
        say(res.body ? String(res.body.detail || "The upload was refused.") : "The server could not be reached. Try again.", "error");
        listProblems(res.body);
        return null;
      }
      var number = res.body.current_version;
      var next = form.querySelector('input[name="submit-after"]').checked ? submitForReview() : Promise.resolve(null);
      return next.then(function (refused) {
        var text = "Version " + number + " uploaded" + (refused === null ? "." : refused ? "; not submitted: " + refused : " and submitted for review.");
        say(text + " Reloading…", "ok");
        window.location.reload();
      });
    });
  });
})();
