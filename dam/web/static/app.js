// Small enhancements for every page; pages work without them.
(function () {
  "use strict";

  // Thumbnails are made in the background: until then show the placeholder, not a broken image.
  document.addEventListener(
    "error",
    function (e) {
      var img = e.target;
      if (!(img instanceof HTMLImageElement) || !img.hasAttribute("data-thumb")) return;
      img.hidden = true;
      var ph = img.parentNode.querySelector(".placeholder");
      if (ph) ph.hidden = false;
    },
    true
  );

  // Library tiles of videos play their muted preview clip while hovered or focused.
  function hoverClip(card, on) {
    var clip = card.querySelector("video[data-hover-clip]");
    if (!clip) return;
    if (on) {
      if (!clip.src) clip.src = clip.dataset.hoverClip;
      clip.hidden = false;
      var playing = clip.play();
      if (playing && playing.catch) playing.catch(function () { clip.hidden = true; });
    } else {
      clip.pause();
      clip.hidden = true;
    }
  }
  document.querySelectorAll(".asset-card").forEach(function (card) {
    if (!card.querySelector("video[data-hover-clip]")) return;
    card.addEventListener("mouseenter", function () { hoverClip(card, true); });
    card.addEventListener("mouseleave", function () { hoverClip(card, false); });
    card.addEventListener("focusin", function () { hoverClip(card, true); });
    card.addEventListener("focusout", function () { hoverClip(card, false); });
  });

  // Phones (collections.css, max-width 600px): the top menu and the library's filters fold
  // behind a button each; on wider screens the buttons are not shown.
  function foldBehind(target, label, className) {
    if (!target) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button " + className;
    button.textContent = label;
    button.setAttribute("aria-expanded", "false");
    if (!target.id) target.id = className + "-target";
    button.setAttribute("aria-controls", target.id);
    button.addEventListener("click", function () {
      var open = target.classList.toggle("unfolded");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
    target.parentNode.insertBefore(button, target);
  }
  foldBehind(document.querySelector(".topbar nav"), "Menu", "menu-button");
  foldBehind(document.querySelector(".library-body .facets"), "Filters", "filters-button");

  // Move focus to a message after an action so keyboard and screen-reader users hear it.
  var flash = document.querySelector("[data-flash]");
  if (flash) flash.focus();

  // Type-ahead on the library search box: titles matching the words typed so far.
  var box = document.getElementById("q");
  var listbox = document.getElementById("q-suggestions");
  if (!box || !listbox) return;
  var timer = null;
  var active = -1;
  var lastQuery = "";
  var controller = null;

  function close() {
    listbox.hidden = true;
    listbox.innerHTML = "";
    box.setAttribute("aria-expanded", "false");
    box.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function highlight(index) {
    var items = listbox.querySelectorAll("[role=option]");
    items.forEach(function (li, i) { li.setAttribute("aria-selected", i === index ? "true" : "false"); });
    active = index;
    if (items[index]) box.setAttribute("aria-activedescendant", items[index].id);
  }

  function show(items, terms) {
    listbox.innerHTML = "";
    terms = terms || [];
    if (!items.length && !terms.length) { close(); return; }
    // Taxonomy terms for what was typed (typos forgiven): each opens the library filtered by it.
    terms.forEach(function (t) {
      items = items.concat([{ term: t }]);
    });
    items.forEach(function (item, i) {
      var li = document.createElement("li");
      li.id = "q-opt-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      if (item.term) {
        li.dataset.href = "/library?" + item.term.filter;
        li.className = "suggest-term";
        li.textContent = item.term.label + " · " + item.term.facet_label;
        li.addEventListener("mousedown", function (e) {
          e.preventDefault();
          window.location.href = li.dataset.href;
        });
        listbox.appendChild(li);
        return;
      }
      li.dataset.href = "/assets/" + item.id;
      // Highlights come from the server HTML-escaped, with only <mark> added.
      li.innerHTML = item.highlights && item.highlights.title ? item.highlights.title : "";
      if (!li.innerHTML) li.textContent = item.title;
      li.addEventListener("mousedown", function (e) {
        e.preventDefault();
        window.location.href = li.dataset.href;
      });
      listbox.appendChild(li);
    });
    listbox.hidden = false;
    box.setAttribute("aria-expanded", "true");
  }

  function fetchSuggestions() {
    var q = box.value.trim();
    if (q.length < 2 || q === lastQuery) { if (q.length < 2) close(); return; }
    lastQuery = q;
    if (controller) controller.abort();
    controller = new AbortController();
    var options = {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      signal: controller.signal,
    };
    function items(r) { return r.ok ? r.json() : { items: [] }; }
    Promise.all([
      fetch("/api/v1/search?page_size=6&facet_counts=false&q=" + encodeURIComponent(q), options)
        .then(items),
      fetch("/api/v1/taxonomy/suggest?limit=4&q=" + encodeURIComponent(q), options).then(items),
    ])
      .then(function (both) {
        if (box.value.trim() === q) show(both[0].items || [], both[1].items || []);
      })
      .catch(function () {});
  }

  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(fetchSuggestions, 150);
  });
  box.addEventListener("keydown", function (e) {
    var items = listbox.querySelectorAll("[role=option]");
    if (e.key === "ArrowDown" && items.length) {
      e.preventDefault();
      highlight((active + 1) % items.length);
    } else if (e.key === "ArrowUp" && items.length) {
      e.preventDefault();
      highlight((active - 1 + items.length) % items.length);
    } else if (e.key === "Enter" && active >= 0 && items[active]) {
      e.preventDefault();
      window.location.href = items[active].dataset.href;
    } else if (e.key === "Escape") {
      close();
    }
  });
  box.addEventListener("blur", function () { setTimeout(close, 100); });

  // Changing the sort order re-runs the search without another click.
  var sort = document.getElementById("sort");
  if (sort) sort.addEventListener("change", function () { sort.form.submit(); });
})();
