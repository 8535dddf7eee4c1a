// Upload page: choose or drop files, see what each file's embedded metadata pre-fills
// (/api/v1/governance/prefill) and change it, check each against the brand rules through
// /api/v1/governance/validate (nothing stored), then upload with per-file progress.
// Requests carry the session cookie and the page's CSRF token header. Each file may override
// the shared metadata in the per-file grid; files are sent as resumable tus uploads
// (/api/v1/uploads, vendored tus-js-client): the last response names the asset made
// (DAM-Asset-Id) or the refusal (DAM-Upload-Error).
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
  var grid = document.getElementById("file-grid");
  var gridEmpty = document.getElementById("grid-empty");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var CHUNK = 8 * 1024 * 1024;

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

  function showProblems(entry, violations, message, duplicateOf) {
    window.DAM.showProblems(entry.el.querySelector(".file-problems"), violations);
    var result = entry.el.querySelector(".file-result");
    result.textContent = message || "";
    if (duplicateOf) {
      // The exact file is already stored: a link to it, not only the id.
      var link = document.createElement("a");
      link.href = "/assets/" + duplicateOf;
      link.textContent = "Open the existing asset";
      link.setAttribute("data-duplicate-of", duplicateOf);
      result.appendChild(document.createTextNode(" "));
      result.appendChild(link);
    }
  }

  // The per-file fields a file's embedded metadata can fill, in the order shown. `extra`
  // fields go in metadata.extra; the others are asset fields.
  var EMBEDDED_FIELDS = [
    { name: "description", label: "Description", multiline: true },
    { name: "tags", label: "Keywords (tags)", hint: "Separate with commas." },
    { name: "creator", label: "Creator", extra: true },
    { name: "credit", label: "Credit line", extra: true },
    { name: "copyright", label: "Copyright notice", extra: true },
    { name: "usage_terms", label: "Usage terms", extra: true, multiline: true },
    { name: "model_release", label: "Model release", extra: true },
    { name: "rights_expire_at", label: "Usage rights end", date: true },
  ];

  // "Xmp.dc.title" -> "XMP dc:title"; "Iptc.Application2.Credit" -> "IPTC Credit".
  function sourceLabel(source) {
    return source.split(", ").map(function (key) {
      var parts = key.split(".");
      var block = { Xmp: "XMP", Iptc: "IPTC", Exif: "EXIF" }[parts[0]];
      if (!block) return key;
      if (block === "XMP" && parts.length >= 3) return "XMP " + parts[1] + ":" + parts.slice(2).join(".");
      return block + " " + parts[parts.length - 1];
    }).join(", ");
  }

  // The stored rights date is the instant the rights end; the form shows the last valid day.
  function lastDay(iso) {
    var at = Date.parse(iso);
    return isNaN(at) ? "" : new Date(at - 1000).toISOString().slice(0, 10);
  }

  function valueText(name, value) {
    if (value === null || value === undefined) return "";
    if (name === "rights_expire_at") return lastDay(value);
    if (Array.isArray(value)) return value.join(", ");
    return String(value);
  }

  function embeddedField(entry, spec, value, source) {
    counter += 1;
    var id = "file-" + spec.name + "-" + counter;
    var box = document.createElement("div");
    box.className = "embedded-field" + (spec.multiline ? " wide" : "");
    var label = document.createElement("label");
    label.setAttribute("for", id);
    label.textContent = spec.label;
    var input = document.createElement(spec.multiline ? "textarea" : "input");
    if (spec.multiline) input.rows = 2;
    else input.type = spec.date ? "date" : "text";
    input.id = id;
    input.className = "embedded-input";
    input.dataset.field = spec.name;
    input.value = valueText(spec.name, value);
    var note = document.createElement("span");
    note.className = "source";
    note.id = id + "-source";
    note.textContent = "from " + sourceLabel(source);
    input.setAttribute("aria-describedby", note.id);
    var field = { spec: spec, input: input, initial: input.value, fileValue: value };
    input.addEventListener("input", function () {
      var value = input.value.trim();
      if (value === field.initial) note.textContent = "from " + sourceLabel(source);
      else if (value) note.textContent = "changed by you";
      else if (spec.extra) note.textContent = "empty: the file’s value will be stored";
      else note.textContent = "empty: the shared field applies, else the file’s value";
    });
    box.appendChild(label);
    box.appendChild(input);
    box.appendChild(note);
    entry.embedded[spec.name] = field;
    return box;
  }

  // Assets that look nearly the same as the chosen file (the prefill answer's `similar`),
  // shown before anything is uploaded: a thumbnail and a link to each.
  function showLookalikes(entry, similar) {
    var panel = entry.el.querySelector(".file-lookalikes");
    var items = panel.querySelector(".lookalikes");
    items.innerHTML = "";
    similar.forEach(function (hit) {
      var li = document.createElement("li");
      li.className = "lookalike";
      var link = document.createElement("a");
      link.href = "/assets/" + hit.id;
      link.setAttribute("data-lookalike", hit.id);
      var thumb = document.createElement("span");
      thumb.className = "lookalike-thumb";
      if (hit.thumbnail_url) {
        var img = document.createElement("img");
        img.src = hit.thumbnail_url;
        img.alt = "";
        img.loading = "lazy";
        thumb.appendChild(img);
      } else {
        thumb.textContent = "No preview yet";
        thumb.classList.add("placeholder");
      }
      link.appendChild(thumb);
      var name = document.createElement("span");
      name.className = "lookalike-title";
      name.textContent = hit.title;
      link.appendChild(name);
      li.appendChild(link);
      var how = document.createElement("span");
      how.className = "small muted";
      how.textContent = hit.distance === 0 ? "the same image" : "nearly the same (" + hit.distance + " of 64 bits differ)";
      li.appendChild(how);
      items.appendChild(li);
    });
    panel.hidden = !similar.length;
  }

  function showPrefill(entry, body) {
    var panel = entry.el.querySelector(".file-embedded");
    var grid = panel.querySelector(".embedded-grid");
    var prefilled = body.prefilled || {};
    var meta = body.metadata || {};
    var extra = meta.extra || {};
    grid.innerHTML = "";
    entry.embedded = {};
    var shown = 0;
    if (prefilled.title) {
      var title = entry.el.querySelector(".file-title");
      var hint = document.createElement("span");
      hint.className = "hint file-title-source";
      hint.id = title.id + "-source";
      hint.textContent = "Title from " + sourceLabel(prefilled.title);
      title.setAttribute("aria-describedby", hint.id);
      title.closest(".field").after(hint);
      // A title the designer typed while the file was read stays theirs.
      if (!entry.titleEdited) {
        title.value = meta.title || title.value;
        entry.titleFromFile = title.value;
        if (entry.syncTitle) entry.syncTitle();
      }
      shown += 1;
    }
    EMBEDDED_FIELDS.forEach(function (spec) {
      var source = prefilled[spec.name];
      if (!source) return;
      var value = spec.extra ? extra[spec.name] : meta[spec.name];
      grid.appendChild(embeddedField(entry, spec, value, source));
      shown += 1;
    });
    var terms = Object.keys(prefilled).filter(function (k) { return k.indexOf("terms.") === 0; });
    var termsNote = panel.querySelector(".embedded-terms");
    if (terms.length) {
      termsNote.textContent = "Keywords that name taxonomy terms, used where you choose none: " +
        terms.map(function (k) {
          var facet = k.slice(6);
          var legend = form.querySelector('fieldset[data-facet="' + facet + '"] legend');
          var name = legend ? legend.firstChild.textContent.trim() : facet;
          return name + ": " + ((meta.terms || {})[facet] || []).join(", ");
        }).join("; ") + ".";
      termsNote.hidden = false;
      shown += 1;
    }
    var read = (body.embedded && body.embedded.embedded) || {};
    var places = read.location && Object.keys(read.location).length;
    var location = panel.querySelector(".embedded-location");
    if (read.gps || places) {
      location.textContent = "The file carries " +
        (read.gps ? "GPS coordinates" : "place names") +
        ": copies for marketers, automation and delivery links leave location out.";
      location.hidden = false;
      shown += 1;
    }
    var problems = (body.embedded && body.embedded.problems) || [];
    if (problems.length) {
      var unread = panel.querySelector(".embedded-problems");
      unread.textContent = "Some embedded metadata could not be read: " +
        problems.map(function (p) { return p.message || p.detail || String(p); }).join("; ");
      unread.hidden = false;
      shown += 1;
    }
    panel.hidden = shown === 0;
  }

  function readEmbedded(entry) {
    var reading = entry.el.querySelector(".file-reading");
    reading.hidden = false;
    var data = new FormData();
    data.append("file", entry.file, entry.file.name);
    return window.DAM.postForm("/api/v1/governance/prefill", data).then(function (res) {
      reading.hidden = true;
      // A file the server refuses says why when it is checked; nothing to show here.
      if (res.status === 200 && res.body) {
        showPrefill(entry, res.body);
        showLookalikes(entry, res.body.similar || []);
      }
    });
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
      var entry = {
        file: file, el: node, status: "pending", assetId: null,
        embedded: {}, titleEdited: false, titleFromFile: null,
      };
      title.addEventListener("input", function () { entry.titleEdited = true; });
      node.querySelector(".remove").addEventListener("click", function () {
        entries = entries.filter(function (e) { return e !== entry; });
        node.remove();
        entry.row.remove();
        noFiles.hidden = entries.length > 0;
        grid.hidden = !entries.length;
        gridEmpty.hidden = entries.length > 0;
      });
      node.querySelector(".remove").setAttribute("aria-label", "Remove " + file.name);
      entry.row = gridRow(entry, title);
      list.appendChild(node);
      entries.push(entry);
      setStatus(entry, "pending");
      entry.reading = readEmbedded(entry);
    });
    noFiles.hidden = entries.length > 0;
    grid.hidden = !entries.length;
    gridEmpty.hidden = entries.length > 0;
  }

  // The file's row in the per-file grid: its title (the same value as in the file list), a
  // description, added tags and a term per facet; empty cells take the shared values.
  function gridRow(entry, title) {
    var tr = document.createElement("tr");
    var name = document.createElement("th");
    name.scope = "row";
    name.className = "grid-file";
    name.textContent = entry.file.name;
    tr.appendChild(name);
    function cell(control, label) {
      var td = document.createElement("td");
      control.setAttribute("aria-label", label + " of " + entry.file.name);
      td.appendChild(control);
      tr.appendChild(td);
      return control;
    }
    var gridTitle = document.createElement("input");
    gridTitle.type = "text";
    gridTitle.maxLength = 500;
    gridTitle.className = "grid-title";
    gridTitle.value = title.value;
    cell(gridTitle, "Title");
    gridTitle.addEventListener("input", function () {
      title.value = gridTitle.value;
      entry.titleEdited = true;
    });
    title.addEventListener("input", function () { gridTitle.value = title.value; });
    entry.syncTitle = function () { gridTitle.value = title.value; };
    var description = document.createElement("textarea");
    description.rows = 1;
    description.maxLength = 20000;
    description.className = "grid-description";
    description.placeholder = "(shared)";
    cell(description, "Description");
    var tags = document.createElement("input");
    tags.type = "text";
    tags.className = "grid-tags";
    tags.placeholder = "tag, tag";
    cell(tags, "More tags");
    grid.querySelectorAll("thead th[data-facet]").forEach(function (th) {
      var facet = th.dataset.facet;
      var select = document.getElementById("grid-facet-" + facet).content.firstElementChild.cloneNode(true);
      cell(select, th.textContent.trim());
    });
    grid.querySelector("tbody").appendChild(tr);
    return tr;
  }

  function overrides(entry) {
    var row = entry.row;
    var terms = {};
    row.querySelectorAll("select.grid-term").forEach(function (select) {
      if (select.value) terms[select.dataset.facet] = [select.value];
    });
    return {
      description: row.querySelector(".grid-description").value.trim(),
      tags: splitList(row.querySelector(".grid-tags").value),
      terms: terms,
    };
  }

  function splitList(text) {
    return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  }

  // What the designer changed in a file's "From the file" fields: null when the field is as
  // the file says (the server fills it from the file again, and records that it did), "" when
  // they cleared it (the shared field applies), else their value.
  function changed(entry, name) {
    var field = entry.embedded[name];
    if (!field) return undefined;
    var value = field.input.value.trim();
    return value === field.initial ? null : value;
  }

  function metadataFor(entry) {
    var terms = {};
    form.querySelectorAll("fieldset[data-facet]").forEach(function (fs) {
      var values = [];
      fs.querySelectorAll("input:checked").forEach(function (i) { if (i.value) values.push(i.value); });
      if (values.length) terms[fs.dataset.facet] = values;
    });
    var meta = { terms: terms, campaign_ids: splitList(document.getElementById("campaigns").value) };
    var title = entry.el.querySelector(".file-title").value.trim();
    // An untouched title from the file is left to the file, so the upload says where it came from.
    if (!(entry.titleFromFile !== null && title === entry.titleFromFile)) meta.title = title;

    // A field the file fills keeps the file's (or the designer's per-file) value; the shared
    // field applies to files without one, or where the designer cleared it.
    var description = changed(entry, "description");
    var shared = document.getElementById("description").value.trim();
    if (description) meta.description = description;
    else if (description !== null && shared) meta.description = shared;

    var sharedTags = splitList(document.getElementById("tags").value);
    var tags = changed(entry, "tags");
    if (tags === undefined) { if (sharedTags.length) meta.tags = sharedTags; }
    else {
      var own = splitList(tags === null ? entry.embedded.tags.initial : tags);
      // Shared tags would stop the server from adding the file's keywords: send both.
      if (tags !== null || sharedTags.length) {
        meta.tags = sharedTags.concat(own.filter(function (t) { return sharedTags.indexOf(t) === -1; }));
      }
    }

    var rights = changed(entry, "rights_expire_at");
    var sharedRights = document.getElementById("rights").value;
    if (rights) meta.rights_expire_at = rights + "T23:59:59Z";
    else if (rights !== null && sharedRights) meta.rights_expire_at = sharedRights + "T23:59:59Z";

    var extra = {};
    EMBEDDED_FIELDS.forEach(function (spec) {
      if (!spec.extra) return;
      var value = changed(entry, spec.name);
      if (value) extra[spec.name] = value;
    });
    if (Object.keys(extra).length) meta.extra = extra;

    // The per-file grid wins over the shared fields for this file.
    var own = overrides(entry);
    if (own.description) meta.description = own.description;
    if (own.tags.length) {
      var base = meta.tags || sharedTags;
      meta.tags = base.concat(own.tags.filter(function (t) { return base.indexOf(t) === -1; }));
    }
    Object.keys(own.terms).forEach(function (facet) { meta.terms[facet] = own.terms[facet]; });
    return meta;
  }

  function missingRequired() {
    var missing = [];
    form.querySelectorAll('fieldset[data-required="true"]').forEach(function (fs) {
      var facet = fs.dataset.facet;
      var perFile = entries.length && entries.every(function (e) { return overrides(e).terms[facet]; });
      var ok = fs.querySelector("input:checked") || perFile;
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
    // What the file pre-fills must be on screen (and in metadataFor) before it is judged.
    return entry.reading.then(function () {
      return send("/api/v1/governance/validate", entry);
    }).then(function (res) {
      if (res.status === 200 && res.body) {
        var report = res.body.compliance;
        setStatus(entry, report.status);
        var note = "";
        if (res.body.duplicate_of) note = "This exact file is already in the library.";
        else if (report.status === "pass") note = "Meets every brand rule that applies.";
        showProblems(entry, report.violations, note, res.body.duplicate_of);
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
    return resumable(entry, function (pct) { bar.value = pct; }).then(function (res) {
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
        var version = res.body.current_version || {};
        var taken = Object.keys((version.embedded && version.embedded.prefilled) || {});
        if (taken.length) {
          var from = document.createElement("span");
          from.className = "muted file-prefilled";
          from.textContent = " · from the file: " + taken.map(function (k) {
            return k.replace(/^terms\./, "").replace(/_/g, " ");
          }).join(", ");
          result.appendChild(from);
        }
        if (document.getElementById("submit-after").checked) return submitForReview(entry, result);
      } else {
        setStatus(entry, "error");
        var p = problemsOf(res.body);
        showProblems(entry, p.list, p.message, res.body && res.body.existing_asset_id);
      }
    });
  }

  function parsed(text) {
    try { return JSON.parse(text); } catch (err) { return null; }
  }

  // Send the file as a tus upload; resolves {status, body} like postForm: 201 with the asset
  // made from it, or the refusal's status and error body. An interrupted upload of the same
  // file with the same metadata (after a reload, too) is resumed from where the server is.
  function resumable(entry, onProgress) {
    var metadata = JSON.stringify(metadataFor(entry));
    var file = entry.file;
    return new Promise(function (resolve) {
      var outcome = null;
      var upload = new window.tus.Upload(file, {
        endpoint: "/api/v1/uploads",
        chunkSize: CHUNK,
        retryDelays: [0, 1000, 3000, 5000, 10000],
        headers: { "X-CSRF-Token": csrf },
        metadata: { filename: file.name, filetype: file.type || "application/octet-stream", metadata: metadata },
        // The same bytes with other metadata are another upload: never resume one into the other.
        fingerprint: function () {
          return Promise.resolve(["dam", file.name, file.size, file.lastModified, metadata].join("|"));
        },
        removeFingerprintOnSuccess: true,
        onProgress: function (sent, total) { onProgress(Math.round((100 * sent) / total)); },
        onAfterResponse: function (req, res) {
          var id = res.getHeader("DAM-Asset-Id");
          var error = res.getHeader("DAM-Upload-Error");
          if (id) outcome = { id: id };
          else if (error) outcome = { error: parsed(error) };
        },
        onSuccess: function () {
          if (outcome && outcome.id) {
            fetch("/api/v1/assets/" + outcome.id, { credentials: "same-origin", headers: { Accept: "application/json" } })
              .then(function (res) { return res.json(); })
              .then(function (body) { resolve({ status: 201, body: body }); },
                function () { resolve({ status: 201, body: { id: outcome.id, title: file.name } }); });
          } else if (outcome && outcome.error) {
            resolve({ status: outcome.error.status || 422, body: outcome.error });
          } else {
            resolve({ status: 0, body: null });
          }
        },
        onError: function (error) {
          var res = error.originalResponse;
          resolve({ status: res ? res.getStatus() : 0, body: res ? parsed(res.getBody()) : null });
        },
      });
      upload.findPreviousUploads().then(function (previous) {
        if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
        upload.start();
      });
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
