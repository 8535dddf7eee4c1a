// Asset page: upload a new version through the API (cookie session + CSRF token), with progress,
// the brand-rule problems when it is refused, and an optional submit for review.
(function () {
  "use strict";

  var form = document.getElementById("new-version");
  if (!form) return;
  var input = form.querySelector('input[type="file"]');
  var progress = form.querySelector("progress");
  var status = form.querySelector("[data-status]");
  var problems = form.querySelector("[data-problems]");
  var button = form.querySelector('button[type="submit"]');

  function say(text, kind) {
    status.textContent = text;
    status.className = "upload-status " + (kind || "");
  }

  function send(file) {
    var data = new FormData();
    data.append("file", file, file.name);
    return window.DAM.postForm("/api/v1/assets/" + form.dataset.asset + "/versions", data, {
      // Refused if someone changed the asset since this page was loaded.
      headers: { "If-Match": form.dataset.etag },
      onProgress: function (pct) { progress.value = pct; },
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
        window.DAM.showProblems(problems, window.DAM.problemsOf(res.body).list);
        return null;
      }
      var number = res.body.current_version;
      var next = form.querySelector('input[name="submit-after"]').checked
        ? window.DAM.submitForReview(form.dataset.asset)
        : Promise.resolve(null);
      return next.then(function (refused) {
        var text = "Version " + number + " uploaded" + (refused === null ? "." : refused ? "; not submitted: " + refused : " and submitted for review.");
        say(text + " Reloading…", "ok");
        window.location.reload();
      });
    });
  });
})();
