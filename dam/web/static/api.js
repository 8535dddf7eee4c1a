// Shared by the upload and asset pages: calls to the JSON API with the session cookie and the
// page's CSRF token, and how its refusals are shown.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  // POST a FormData; resolves {status, body} (status 0 when the server could not be reached).
  function postForm(url, data, options) {
    options = options || {};
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      Object.keys(options.headers || {}).forEach(function (name) {
        xhr.setRequestHeader(name, options.headers[name]);
      });
      if (options.onProgress) {
        xhr.upload.addEventListener("progress", function (e) {
          if (e.lengthComputable) options.onProgress(Math.round((100 * e.loaded) / e.total));
        });
      }
      xhr.addEventListener("load", function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
        resolve({ status: xhr.status, body: body });
      });
      xhr.addEventListener("error", function () { resolve({ status: 0, body: null }); });
      xhr.send(data);
    });
  }

  // POST a JSON body; resolves {status, body} like postForm.
  function postJson(url, payload) {
    return fetch(url, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json", "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(payload),
    }).then(
      function (res) {
        return res.json().then(
          function (body) { return { status: res.status, body: body }; },
          function () { return { status: res.status, body: null }; }
        );
      },
      function () { return { status: 0, body: null }; }
    );
  }

  // A refusal's brand-rule violations and term problems as one list, or else its message.
  function problemsOf(body) {
    if (!body) return { list: [], message: "The server could not be reached. Try again." };
    var list = (body.violations || []).slice();
    (body.problems || []).forEach(function (p) {
      list.push({ severity: "block", message: (p.field ? p.field + ": " : "") + p.message });
    });
    return { list: list, message: list.length ? "" : String(body.detail || body.error || "") };
  }

  function showProblems(ul, violations) {
    ul.innerHTML = "";
    (violations || []).forEach(function (v) {
      var li = document.createElement("li");
      li.className = "sev-" + (v.severity || "block");
      var strong = document.createElement("strong");
      strong.textContent = v.severity === "warn" ? "Warning: " : "Must fix: ";
      li.appendChild(strong);
      li.appendChild(document.createTextNode(v.message || v.detail || String(v)));
      ul.appendChild(li);
    });
  }

  // Resolves "" once submitted, else why not.
  function submitForReview(assetId) {
    return fetch("/api/v1/assets/" + assetId + "/submit", {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
      credentials: "same-origin",
    }).then(function (res) {
      return res.json().then(function (body) {
        return res.ok ? "" : String(body.detail || "refused");
      });
    });
  }

  window.DAM = {
    postForm: postForm,
    postJson: postJson,
    problemsOf: problemsOf,
    showProblems: showProblems,
    submitForReview: submitForReview,
  };
})();
