// Library: select assets and apply one action to all of them through POST /api/v1/assets/bulk.
// Every asset is judged on its own (governance, review rules, what the user may do); the list
// below the bar shows each asset's result, refusals with their reason.
(function () {
  "use strict";
  var form = document.getElementById("bulk");
  if (!form) return;
  var boxes = Array.prototype.slice.call(document.querySelectorAll(".select-asset"));
  var all = document.getElementById("select-all");
  var count = document.getElementById("bulk-count");
  var action = document.getElementById("bulk-action");
  var report = document.getElementById("bulk-report");
  var summary = document.getElementById("bulk-summary");
  var results = document.getElementById("bulk-results");

  function selected() {
    return boxes.filter(function (b) { return b.checked; });
  }

  function update() {
    var n = selected().length;
    count.textContent = n + " selected";
    all.checked = n > 0 && n === boxes.length;
    all.indeterminate = n > 0 && n < boxes.length;
  }

  function showFields() {
    form.querySelectorAll("[data-for]").forEach(function (field) {
      field.hidden = field.dataset.for.split(" ").indexOf(action.value) === -1;
    });
  }

  function splitList(text) {
    return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function value(id) {
    return document.getElementById(id).value.trim();
  }

  // The form's choice as the API's action, or a message saying what is missing.
  function actionOf() {
    var kind = action.value;
    if (kind === "add_tags" || kind === "remove_tags") {
      var tags = splitList(value("bulk-tags"));
      if (!tags.length) return "Type the tags to " + (kind === "add_tags" ? "add." : "remove.");
      var edit = { action: "edit" };
      edit[kind] = tags;
      return edit;
    }
    if (kind === "add_terms" || kind === "remove_terms" || kind === "set_terms") {
      var term = value("bulk-term");
      if (!term) return "Type a term.";
      var terms = {};
      terms[value("bulk-facet")] = [term];
      var change = { action: "edit" };
      change[kind] = terms;
      return change;
    }
    if (kind === "tag_campaigns" || kind === "untag_campaigns") {
      var ids = splitList(value("bulk-campaign"));
      if (!ids.length) return "Type a campaign id.";
      return { action: kind, campaign_ids: ids };
    }
    if (kind === "reject") {
      var reason = value("bulk-reason");
      if (!reason) return "A rejection needs a reason the designer can act on.";
      return { action: "reject", reason: reason };
    }
    return { action: kind };
  }

  function line(box, item) {
    var li = document.createElement("li");
    var link = document.createElement("a");
    link.href = "/assets/" + item.asset_id;
    link.textContent = box ? box.dataset.title : item.asset_id;
    li.appendChild(link);
    var note = document.createElement("span");
    if (item.ok) {
      note.className = "ok";
      note.textContent = item.done.length ? " · done" : " · nothing to change";
    } else {
      note.className = "refused";
      var error = item.error || {};
      var reasons = (error.violations || []).map(function (v) { return v.message; })
        .concat((error.problems || []).map(function (p) { return p.message; }));
      note.textContent = " · refused: " + (reasons.length ? reasons.join("; ") : String(error.detail || error.error));
    }
    li.appendChild(note);
    return li;
  }

  boxes.forEach(function (b) { b.addEventListener("change", update); });
  all.addEventListener("change", function () {
    boxes.forEach(function (b) { b.checked = all.checked; });
    update();
  });
  action.addEventListener("change", showFields);
  showFields();
  update();

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var chosen = selected();
    report.hidden = false;
    results.innerHTML = "";
    if (!chosen.length) { summary.textContent = "Select at least one asset."; return; }
    var act = actionOf();
    if (typeof act === "string") { summary.textContent = act; return; }
    var payload = { asset_ids: chosen.map(function (b) { return b.value; }), actions: [act] };
    var button = document.getElementById("bulk-apply");
    button.disabled = true;
    summary.textContent = "Applying to " + chosen.length + " assets…";
    window.DAM.postJson("/api/v1/assets/bulk", payload).then(function (res) {
      button.disabled = false;
      if (res.status !== 200 || !res.body) {
        var p = window.DAM.problemsOf(res.body);
        summary.textContent = "Refused: " + (p.message || p.list.map(function (v) { return v.message; }).join("; "));
        return;
      }
      var byId = {};
      chosen.forEach(function (b) { byId[b.value] = b; });
      res.body.items.forEach(function (item) { results.appendChild(line(byId[item.asset_id], item)); });
      summary.textContent = res.body.succeeded + " of " + res.body.total + " done" +
        (res.body.failed ? ", " + res.body.failed + " refused (listed below)." : ".");
    });
  });
})();
