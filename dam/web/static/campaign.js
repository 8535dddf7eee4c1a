// Campaign page: upload a platform export through the metrics API (preview with dry_run=true,
// then store the same file), and register or re-point a placement through the placements API.
// Both use the session cookie and the page's CSRF token (api.js).
(function () {
  "use strict";

  var LABELS = {
    impressions: "Impressions", clicks: "Clicks", conversions: "Conversions", spend: "Spend",
    revenue: "Revenue", reach: "Reach", video_views: "Video views", sends: "Sends",
    deliveries: "Deliveries", opens: "Opens", unique_opens: "Unique opens",
    unsubscribes: "Unsubscribes", bounces: "Bounces",
  };
  var MONEY = { spend: true, revenue: true };
  var DONE_KEY = "dam.export-stored";

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (cell) {
      var td = document.createElement("td");
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
      tr.appendChild(td);
    });
    return tr;
  }

  function figure(name, value) {
    var digits = MONEY[name] || name === "conversions" ? 2 : 0;
    return Number(value || 0).toLocaleString("en-US", {
      minimumFractionDigits: MONEY[name] ? 2 : 0,
      maximumFractionDigits: digits,
    });
  }

  // After a stored export the page reloads; say what was stored once it is back.
  var done = document.querySelector("[data-export-done]");
  var stored = window.sessionStorage && window.sessionStorage.getItem(DONE_KEY);
  if (done && stored) {
    window.sessionStorage.removeItem(DONE_KEY);
    done.textContent = stored;
    done.hidden = false;
  }

  // --- placements ------------------------------------------------------------------------

  var placementForm = document.getElementById("placement-form");
  if (placementForm) {
    var placementStatus = placementForm.querySelector("[data-status]");
    placementForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var value = function (name) { return placementForm.elements[name].value.trim(); };
      var payload = {
        platform: value("platform"),
        external_id: value("external_id"),
        asset_id: value("asset_id"),
      };
      if (value("account")) payload.account = value("account");
      if (value("external_name")) payload.external_name = value("external_name");
      if (value("version")) payload.version = Number(value("version"));
      var button = placementForm.querySelector('button[type="submit"]');
      button.disabled = true;
      placementStatus.className = "upload-status";
      placementStatus.textContent = "Saving…";
      var url = "/api/v1/campaigns/" + encodeURIComponent(placementForm.dataset.campaign) + "/placements";
      window.DAM.postJson(url, payload).then(function (res) {
        button.disabled = false;
        if (res.status === 200) {
          placementStatus.className = "upload-status ok";
          placementStatus.textContent = "Already registered like this: nothing changed.";
          return;
        }
        if (res.status !== 201) {
          placementStatus.className = "upload-status error";
          placementStatus.textContent = res.body ? String(res.body.detail || "Refused.") : "The server could not be reached. Try again.";
          return;
        }
        var title = placementForm.elements.asset_id.selectedOptions[0].textContent;
        window.sessionStorage.setItem(DONE_KEY, "Placement " + res.body.platform + " " + res.body.external_id +
          " points to “" + title + "” version " + res.body.version + " from now on.");
        window.location.reload();
      });
    });
  }

  // Fills the placement form with an id an export did not match, ready to pick the asset.
  function offerPlacement(platform, externalId, name) {
    if (!placementForm) return;
    placementForm.elements.platform.value = platform;
    placementForm.elements.external_id.value = externalId;
    placementForm.elements.external_name.value = name || "";
    document.getElementById("placement-details").open = true;
    placementForm.elements.asset_id.focus();
  }

  // --- platform exports ------------------------------------------------------------------

  var form = document.getElementById("export-form");
  if (!form) return;
  var titles = JSON.parse(form.dataset.titles || "{}");
  var source = form.elements.source;
  var locale = form.elements.locale;
  var fileInput = form.elements.file;
  var idField = form.querySelector("[data-external-id-field]");
  var hint = form.querySelector("[data-daily-hint]");
  var status = form.querySelector("[data-status]");
  var previewButton = form.querySelector('button[type="submit"]');
  var preview = document.getElementById("export-preview");
  var commit = preview.querySelector("[data-commit]");
  var commitNote = preview.querySelector("[data-commit-note]");
  var previewed = null; // the request the preview on screen answers

  function say(text, kind) {
    status.textContent = text;
    status.className = "upload-status " + (kind || "");
  }

  function chosen() { return source.selectedOptions[0]; }

  function sourceChanged() {
    var option = chosen();
    idField.hidden = !option.hasAttribute("data-needs-id");
    var own = option.dataset.locale;
    locale.options[0].textContent = own
      ? "As " + option.textContent + " writes it (" + own + ")"
      : "Not declared (ambiguous numbers are refused)";
    hint.textContent = "Rows must be daily: " + option.dataset.hint + ".";
  }

  function invalidate() {
    previewed = null;
    commit.disabled = true;
    if (!preview.hidden) commitNote.textContent = "The form changed: preview again before storing.";
  }

  function request(dryRun) {
    var params = new URLSearchParams({ source: source.value });
    if (locale.value) params.set("locale", locale.value);
    if (form.elements.account.value.trim()) params.set("account", form.elements.account.value.trim());
    if (!idField.hidden && form.elements.external_id.value.trim()) {
      params.set("external_id", form.elements.external_id.value.trim());
    }
    if (dryRun) params.set("dry_run", "true");
    var data = new FormData();
    var file = fileInput.files[0];
    data.append("file", file, file.name);
    var url = "/api/v1/campaigns/" + encodeURIComponent(form.dataset.campaign) + "/metrics?" + params;
    return window.DAM.postForm(url, data);
  }

  function fill(table, rows) {
    var body = table.querySelector("tbody");
    body.innerHTML = "";
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function assetLink(id) {
    var a = el("a", titles[id] || id);
    a.href = "/assets/" + id;
    return a;
  }

  // Unmatched rows grouped by the id seen and the reason: an export repeats an id every day.
  function showUnmatched(unmatched) {
    var groups = [];
    var byKey = {};
    (unmatched || []).forEach(function (u) {
      var key = (u.external_id || "") + "\u0000" + u.reason;
      if (!byKey[key]) {
        byKey[key] = { id: u.external_id, name: u.external_name, reason: u.reason, lines: [] };
        groups.push(byKey[key]);
      }
      byKey[key].lines.push(u.line);
    });
    var platform = chosen().dataset.platform;
    fill(preview.querySelector("[data-unmatched]"), groups.map(function (g) {
      var action = "";
      if (g.id && placementForm && g.reason.indexOf("another campaign") < 0) {
        action = el("button", "Register…", "link");
        action.type = "button";
        action.setAttribute("aria-label", "Register " + g.id + " as a placement");
        action.addEventListener("click", function () { offerPlacement(platform, g.id, g.name); });
      }
      var lines = g.lines.slice(0, 6).join(", ") + (g.lines.length > 6 ? " …" : "");
      var code = el("code", g.id || "(none)");
      return row([code, g.name || "–", String(g.lines.length), lines, g.reason, action]);
    }));
    preview.querySelector("[data-unmatched-block]").hidden = groups.length === 0;
    return groups.length;
  }

  function showRejected(rejected) {
    var rows = [];
    (rejected || []).forEach(function (r) {
      (r.problems || []).forEach(function (p) {
        rows.push(row([String(r.line), p.field || "–", p.message]));
      });
    });
    var shown = rows.slice(0, 200);
    fill(preview.querySelector("[data-rejected]"), shown);
    preview.querySelector("[data-rejected-block]").hidden = rows.length === 0;
  }

  function showTotals(body) {
    var dl = preview.querySelector("[data-totals]");
    dl.innerHTML = "";
    var names = (chosen().dataset.figures || "").split(",").filter(Boolean);
    var currency = (body.currencies || []).join(", ");
    names.forEach(function (name) {
      var div = document.createElement("div");
      div.appendChild(el("dt", LABELS[name] || name));
      var value = figure(name, (body.totals || {})[name]);
      div.appendChild(el("dd", MONEY[name] && currency ? value + " " + currency : value));
      dl.appendChild(div);
    });
  }

  function showPreview(body) {
    preview.hidden = false;
    preview.querySelector("[data-preview-of]").textContent = fileInput.files[0].name + " · " + chosen().textContent;
    var unmatched = (body.unmatched || []).length;
    var rejected = (body.rejected || []).length;
    preview.querySelector("[data-summary]").textContent =
      body.rows + " rows match a placement and would be stored" +
      (unmatched ? "; " + unmatched + " match no placement" : "") +
      (rejected ? "; " + rejected + " are refused" : "") + ".";
    showTotals(body);
    fill(preview.querySelector("[data-attributed]"), (body.attributed || []).map(function (a) {
      var tr = row([String(a.version), String(a.rows)]);
      var th = el("th", null, "wrap");
      th.scope = "row";
      th.appendChild(assetLink(a.asset_id));
      tr.insertBefore(th, tr.firstChild);
      return tr;
    }));
    preview.querySelector("[data-attributed-block]").hidden = !(body.attributed || []).length;
    showUnmatched(body.unmatched);
    showRejected(body.rejected);
    var skipped = body.skipped_lines || [];
    preview.querySelector("[data-skipped]").textContent = skipped.length
      ? "Skipped as titles or totals: line" + (skipped.length > 1 ? "s " : " ") + skipped.join(", ") + "."
      : "";
    var ok = body.rows > 0 && !unmatched && !rejected;
    commit.disabled = !ok;
    commit.textContent = "Store " + body.rows + " rows";
    commitNote.textContent = ok
      ? "Re-sending a day replaces it; figures keep the version they are attributed to."
      : body.rows > 0
        ? "Nothing is stored while any row is unmatched or refused: fix the file or the placements and preview again."
        : "There is nothing to store.";
  }

  // A refused request: its message, and the rows it names when it names any.
  function showRefusal(res) {
    var body = res.body;
    say(body ? String(body.detail || body.error || "Refused.") : "The server could not be reached. Try again.", "error");
    commit.disabled = true;
    if (body && (body.rows || body.unmatched)) {
      preview.hidden = false;
      preview.querySelector("[data-summary]").textContent = "Nothing was stored.";
      preview.querySelector("[data-totals]").innerHTML = "";
      preview.querySelector("[data-attributed-block]").hidden = true;
      preview.querySelector("[data-skipped]").textContent = "";
      showUnmatched(body.unmatched);
      showRejected(body.rows);
      commitNote.textContent = "";
    } else {
      preview.hidden = true;
    }
  }

  source.addEventListener("change", function () { sourceChanged(); invalidate(); });
  [locale, fileInput, form.elements.account, form.elements.external_id].forEach(function (input) {
    input.addEventListener("change", invalidate);
    input.addEventListener("input", invalidate);
  });
  sourceChanged();

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!fileInput.files[0]) { say("Choose the export file first.", "error"); return; }
    previewButton.disabled = true;
    commit.disabled = true;
    say("Reading " + fileInput.files[0].name + "…");
    request(true).then(function (res) {
      previewButton.disabled = false;
      if (res.status !== 200) { showRefusal(res); return; }
      say("");
      previewed = true;
      showPreview(res.body);
    });
  });

  commit.addEventListener("click", function () {
    if (!previewed || !fileInput.files[0]) return;
    commit.disabled = true;
    previewButton.disabled = true;
    say("Storing…");
    request(false).then(function (res) {
      previewButton.disabled = false;
      if (res.status !== 200) { showRefusal(res); return; }
      var body = res.body;
      window.sessionStorage.setItem(DONE_KEY, "Stored " + body.rows + " rows from " +
        fileInput.files[0].name + " (" + chosen().textContent + ").");
      window.location.reload();
    });
  });
})();
