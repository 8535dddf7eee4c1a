// The brief page's upload: the file goes to the JSON API against the chosen deliverable, with
// the metadata typed here (the brief's own terms are added by the server), then it is
// submitted for review if asked, and the page reloads to show the deliverable's new state.
(function () {
  "use strict";
  var form = document.getElementById("brief-upload");
  if (!form) return;
  var status = document.getElementById("bu-status");
  var problems = document.getElementById("bu-problems");

  function terms(text) {
    var out = {};
    text.split(";").forEach(function (part) {
      var at = part.indexOf(":");
      if (at < 1) return;
      var facet = part.slice(0, at).trim();
      out[facet] = part.slice(at + 1).split(",").map(function (t) { return t.trim(); })
        .filter(function (t) { return t; });
    });
    return out;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = document.getElementById("bu-file").files[0];
    if (!file) return;
    var metadata = { terms: terms(document.getElementById("bu-terms").value) };
    var title = document.getElementById("bu-title").value.trim();
    if (title) metadata.title = title;
    var description = document.getElementById("bu-description").value.trim();
    if (description) metadata.description = description;
    var rights = document.getElementById("bu-rights").value;
    if (rights) metadata.rights_expire_at = rights + "T00:00:00Z";
    var data = new FormData();
    data.append("file", file);
    data.append("metadata", JSON.stringify(metadata));
    var deliverable = document.getElementById("bu-deliverable").value;
    status.textContent = "Uploading…";
    window.DAM.showProblems(problems, []);
    var url = "/api/v1/briefs/" + form.dataset.brief + "/assets?deliverable=" +
      encodeURIComponent(deliverable);
    window.DAM.postForm(url, data).then(function (res) {
      if (res.status !== 201) {
        var found = window.DAM.problemsOf(res.body);
        window.DAM.showProblems(problems, found.list);
        status.textContent = "Not uploaded. " + found.message;
        return;
      }
      var next = document.getElementById("bu-submit").checked
        ? window.DAM.submitForReview(res.body.id)
        : Promise.resolve("");
      next.then(function (why) {
        status.textContent = why ? "Uploaded; not submitted: " + why : "Uploaded.";
        window.location.reload();
      });
    });
  });
})();
