// Upload page: choose or drop files, check each against the brand rules through
// /api/v1/governance/validate (nothing stored), then upload with per-file progress.
// Requests carry the session cookie and the page's CSRF token header.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) return;
  var list = document.getElementById("file-list");
  var input = document.getElementById("files");
  var drop = document.getElementById("dropzone");
  var rowTemplate = document.getElementById("file-row");
  var summary = document.getElementById("upload-summary");
  var noFiles = document.getElementById("no-files");
  var entries = [];
  var counter = 0;

  var STATUS = {
    pending: ["Not checked", "comp-none"],
    checking: ["Checking…", "comp-none"],
    pass: ["On brand", "comp-pass"],
    warn: ["Warnings", "comp-warn"],
    fail: ["Blocked", "comp-fail"],
    error: ["Problem", "comp-fail"],
    uploading: ["Uploading…", "comp-none"],
    uploaded: ["Uploaded", "comp-pass"],
  };

  function titleFromName(name) {
    return name.replace(/\.[^.]+$/, "").replace(/[_-]+/g, " ").replace(/\s+/g, " ").trim();
  }

  function humanSize(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KB";
    if (n < 1073741824) return (n / 1048576).toFixed(1) + " MB";
    return (n / 1073741824).toFixed(1) + " GB";
  }

  function setStatus(entry, status) {
    entry.status = status;
    var badge = entry.el.querySelector(".file-status");
    badge.textContent = STATUS[status][0];
    badge.className = "file-status badge " + STATUS[status][1];
  }

  function showProblems(entry, violations, message) {
    window.DAM.showProblems(entry.el.querySelector(".file-problems"), violations);
    entry.el.querySelector(".file-result").textContent = message || "";
  }

  function addFiles(files) {
    Array.prototype.forEach.call(files, function (file) {
      counter += 1;
      var node = rowTemplate.content.firstElementChild.cloneNode(true);
      var id = "file-title-" + counter;
      node.querySelector(".file-name").textContent = file.name;
      node.querySelector(".file-size").textContent = humanSize(file.size);
      var title = node.querySelector(".file-title");
      title.id = id;
      title.value = titleFromName(file.name);
      node.querySelector("label").setAttribute("for", id);
      var entry = { file: file, el: node, status: "pending", assetId: null };
      node.querySelector(".remove").addEventListener("click", function () {
        entries = entries.filter(function (e) { return e !== entry; });
        node.remove();
        noFiles.hidden = entries.length > 0;
      });
      node.querySelector(".remove").setAttribute("aria-label", "Remove " + file.name);
      list.appendChild(node);
      entries.push(entry);
      setStatus(entry, "pending");
    });
    noFiles.hidden = entries.length > 0;
  }

  function splitList(text) {
    return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function metadataFor(entry) {
    var terms = {};
    form.querySelectorAll("fieldset[data-facet]").forEach(function (fs) {
      var values = [];
      fs.querySelectorAll("input:checked").forEach(function (i) { if (i.value) values.push(i.value); });
      if (values.length) terms[fs.dataset.facet] = values;
    });
    var meta = {
      title: entry.el.querySelector(".file-title").value.trim(),
      description: document.getElementById("description").value.trim(),
      tags: splitList(document.getElementById("tags").value),
      terms: terms,
      campaign_ids: splitList(document.getElementById("campaigns").value),
    };
    var rights = document.getElementById("rights").value;
    if (rights) meta.rights_expire_at = rights + "T23:59:59Z";
    return meta;
  }

  function missingRequired() {
    var missing = [];
    form.querySelectorAll('fieldset[data-required="true"]').forEach(function (fs) {
      var ok = fs.querySelector("input:checked");
      fs.classList.toggle("invalid", !ok);
      if (!ok) missing.push(fs.querySelector("legend").firstChild.textContent.trim());
    });
    return missing;
  }

  function send(url, entry, onProgress) {
    var data = new FormData();
    data.append("metadata", JSON.stringify(metadataFor(entry)));
    data.append("file", entry.file, entry.file.name);
    return window.DAM.postForm(url, data, { onProgress: onProgress });
  }

  var problemsOf = window.DAM.problemsOf;

  function check(entry) {
    setStatus(entry, "checking");
    return send("/api/v1/governance/validate", entry).then(function (res) {
      if (res.status === 200 && res.body) {
        var report = res.body.compliance;
        setStatus(entry, report.status);
        var note = "";
        if (res.body.duplicate_of) note = "This exact file is already in the library.";
        else if (report.status === "pass") note = "Meets every brand rule that applies.";
        showProblems(entry, report.violations, note);
        if (res.body.duplicate_of) setStatus(entry, "error");
      } else {
        setStatus(entry, "error");
        var p = problemsOf(res.body);
        showProblems(entry, p.list, p.message);
      }
      return entry.status;
    });
  }

  function sequentially(items, fn) {
    return items.reduce(function (chain, item) {
      return chain.then(function () { return fn(item); });
    }, Promise.resolve());
  }

  function checkAll() {
    var todo = entries.filter(function (e) { return e.status !== "uploaded"; });
    var missing = missingRequired();
    if (missing.length) summary.textContent = "Required: " + missing.join(", ") + ".";
    return sequentially(todo, check);
  }

  function upload(entry) {
    if (entry.status !== "pass" && entry.status !== "warn") return Promise.resolve();
    var bar = entry.el.querySelector(".file-progress");
    bar.hidden = false;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload progress of " + entry.file.name);
    setStatus(entry, "uploading");
    return send("/api/v1/assets", entry, function (pct) { bar.value = pct; }).then(function (res) {
      if (res.status === 201 && res.body) {
        bar.value = 100;
        entry.assetId = res.body.id;
        setStatus(entry, "uploaded");
        var result = entry.el.querySelector(".file-result");
        result.textContent = "";
        var link = document.createElement("a");
        link.href = "/assets/" + res.body.id;
        link.textContent = "Open “" + res.body.title + "”";
        result.appendChild(link);
        if (document.getElementById("submit-after").checked) return submitForReview(entry, result);
      } else {
        setStatus(entry, "error");
        var p = problemsOf(res.body);
        showProblems(entry, p.list, p.message);
      }
    });
  }

  function submitForReview(entry, result) {
    return window.DAM.submitForReview(entry.assetId).then(function (refused) {
      var note = document.createElement("span");
      note.className = "muted";
      note.textContent = refused ? " · not submitted: " + refused : " · submitted for review";
      result.appendChild(note);
    });
  }

  input.addEventListener("change", function () {
    addFiles(input.files);
    input.value = "";
  });
  ["dragenter", "dragover"].forEach(function (name) {
    drop.addEventListener(name, function (e) {
      e.preventDefault();
      drop.classList.add("over");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    drop.addEventListener(name, function (e) {
      e.preventDefault();
      drop.classList.remove("over");
    });
  });
  drop.addEventListener("drop", function (e) {
    if (e.dataTransfer && e.dataTransfer.files) addFiles(e.dataTransfer.files);
  });

  form.querySelectorAll(".term-filter").forEach(function (filter) {
    filter.addEventListener("input", function () {
      var needle = filter.value.trim().toLowerCase();
      var box = filter.closest("fieldset");
      box.querySelectorAll(".opt[data-search]").forEach(function (label) {
        var hit = !needle || label.dataset.search.indexOf(needle) !== -1;
        var checked = label.querySelector("input").checked;
        label.hidden = !hit && !checked;
      });
    });
  });

  document.getElementById("check-btn").addEventListener("click", function () {
    if (!entries.length) { summary.textContent = "Choose at least one file first."; return; }
    checkAll().then(function () { summary.textContent = summarize("Checked"); });
  });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!entries.length) { summary.textContent = "Choose at least one file first."; return; }
    var btn = document.getElementById("upload-btn");
    btn.disabled = true;
    // Check again right before uploading: metadata may have changed since the last check.
    checkAll()
      .then(function () { return sequentially(entries.slice(), upload); })
      .then(function () {
        summary.textContent = summarize("Done");
        btn.disabled = false;
      });
  });

  function summarize(prefix) {
    var counts = {};
    entries.forEach(function (e) { counts[e.status] = (counts[e.status] || 0) + 1; });
    var parts = Object.keys(counts).map(function (k) { return counts[k] + " " + STATUS[k][0].toLowerCase(); });
    return prefix + ": " + parts.join(", ") + ".";
  }
})();
