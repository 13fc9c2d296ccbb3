// Newsroom: autocomplete on the masthead search box and keyboard navigation of the page.
// Plain script, no build step; loaded with defer, so the DOM is parsed when it runs. The page
// works without it: the box is an ordinary search field until this adds the combobox.
"use strict";

(function () {
  var DEBOUNCE_MS = 120;
  var MAX_PREFIX = 100;
  var KIND_LABELS = { title: "Article", person: "Person", organisation: "Organisation", place: "Place" };

  var input = document.getElementById("search-input");
  var listbox = document.getElementById("search-suggestions");
  var status = document.getElementById("search-suggestions-status");

  function isTypingTarget(element) {
    if (!element) return false;
    var tag = element.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable;
  }

  // --- autocomplete (WAI-ARIA combobox with a listbox popup) -------------------------------

  function setUpAutocomplete() {
    if (!input || !listbox || !input.form || !window.fetch) return;
    var form = input.form;
    // Where the app is mounted decides these; the template writes them with url_for.
    var suggestUrl = listbox.dataset.suggestUrl || "/api/suggest";
    var articleUrl = listbox.dataset.articleUrl || "/articles/__id__";
    var items = []; // suggestions on show
    var active = -1; // index of the highlighted option, -1 for none
    var timer = 0;
    var controller = null;
    var requested = ""; // the prefix of the latest request; older answers are dropped
    var cache = new Map(); // prefix -> suggestions, so backspacing does not ask again

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listbox.id);
    input.setAttribute("autocomplete", "off"); // the browser's own history list would cover ours

    function announce(text) {
      if (status) status.textContent = text;
    }

    function close() {
      window.clearTimeout(timer); // no list popping up after Enter, Escape or leaving the box
      listbox.hidden = true;
      listbox.replaceChildren();
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      items = [];
      active = -1;
    }

    function highlight(index) {
      var options = listbox.children;
      if (active >= 0 && options[active]) {
        options[active].classList.remove("active");
        options[active].setAttribute("aria-selected", "false");
      }
      active = index;
      if (active >= 0 && options[active]) {
        options[active].classList.add("active");
        options[active].setAttribute("aria-selected", "true");
        input.setAttribute("aria-activedescendant", options[active].id);
        options[active].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function render(suggestions) {
      listbox.replaceChildren();
      items = suggestions;
      active = -1;
      input.removeAttribute("aria-activedescendant");
      if (!suggestions.length) {
        close();
        announce("");
        return;
      }
      suggestions.forEach(function (item, index) {
        var option = document.createElement("li");
        option.id = "search-suggestion-" + index;
        option.className = "suggestion";
        option.dataset.kind = item.kind;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        var text = document.createElement("span");
        text.className = "suggestion-text";
        text.textContent = item.text; // text, never HTML: titles come from anyone who posts
        var kind = document.createElement("span");
        kind.className = "suggestion-kind";
        kind.textContent = KIND_LABELS[item.kind] || item.kind;
        option.append(text, kind);
        listbox.append(option);
      });
      listbox.hidden = false;
      input.setAttribute("aria-expanded", "true");
      announce(suggestions.length + (suggestions.length === 1 ? " suggestion" : " suggestions"));
    }

    function pick(index) {
      var item = items[index];
      if (!item) return;
      close();
      if (item.kind === "title" && item.article_id) {
        window.location.assign(articleUrl.replace("__id__", encodeURIComponent(item.article_id)));
        return;
      }
      // A name is searched as a phrase; a quote inside it would end the phrase early.
      input.value = '"' + item.text.replace(/"/g, " ").trim() + '"';
      form.submit();
    }

    function request(prefix) {
      requested = prefix;
      if (cache.has(prefix)) {
        if (controller) controller.abort();
        render(cache.get(prefix));
        return;
      }
      if (controller) controller.abort();
      controller = new AbortController();
      var url = suggestUrl + "?" + new URLSearchParams({ q: prefix, size: "8" }).toString();
      fetch(url, { signal: controller.signal, headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : { suggestions: [] };
        })
        .then(function (body) {
          var suggestions = Array.isArray(body.suggestions) ? body.suggestions : [];
          if (cache.size > 100) cache.clear();
          cache.set(prefix, suggestions);
          // Only the answer to what is typed now; the box may have changed meanwhile.
          if (prefix === requested && prefix === input.value.trim() && document.activeElement === input) {
            render(suggestions);
          }
        })
        .catch(function () {
          // Aborted by a newer keystroke, or offline: suggestions are a convenience, stay quiet.
        });
    }

    function scheduleRequest() {
      window.clearTimeout(timer);
      var prefix = input.value.trim();
      if (!prefix || prefix.length > MAX_PREFIX) {
        requested = "";
        close();
        return;
      }
      timer = window.setTimeout(function () {
        request(prefix);
      }, DEBOUNCE_MS);
    }

    input.addEventListener("input", scheduleRequest);

    input.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey || event.isComposing) return;
      var open = !listbox.hidden && items.length > 0;
      switch (event.key) {
        case "ArrowDown":
          event.preventDefault();
          if (!open) {
            scheduleRequest();
            return;
          }
          highlight(active + 1 < items.length ? active + 1 : 0);
          break;
        case "ArrowUp":
          if (!open) return;
          event.preventDefault();
          highlight(active > 0 ? active - 1 : items.length - 1);
          break;
        case "Enter":
          if (open && active >= 0) {
            event.preventDefault();
            pick(active);
          } else {
            close(); // the form submits what was typed
          }
          break;
        case "Escape":
          event.preventDefault(); // a search field would otherwise clear itself
          if (open) {
            close();
          } else {
            input.blur(); // a second Escape leaves the box, so the page's keys work again
          }
          break;
        case "Tab":
          close();
          break;
        default:
          break;
      }
    });

    // Keep the focus in the box while an option is pressed, then take the click as a pick.
    listbox.addEventListener("mousedown", function (event) {
      event.preventDefault();
    });
    listbox.addEventListener("click", function (event) {
      var option = event.target.closest("[role=option]");
      if (option) pick(Array.prototype.indexOf.call(listbox.children, option));
    });
    listbox.addEventListener("mousemove", function (event) {
      var option = event.target.closest("[role=option]");
      var index = option ? Array.prototype.indexOf.call(listbox.children, option) : -1;
      if (index >= 0 && index !== active) highlight(index);
    });
    input.addEventListener("blur", close);
    // Back from an article: the page may come from the cache with the list still open.
    window.addEventListener("pageshow", close);
  }

  // --- page keys: "/" to search, arrows or j/k through the results -------------------------

  function resultLinks() {
    return Array.prototype.slice.call(document.querySelectorAll("ol.results h2 a"));
  }

  function focusResult(links, index) {
    var link = links[Math.max(0, Math.min(index, links.length - 1))];
    link.focus({ preventScroll: true });
    (link.closest("li") || link).scrollIntoView({ block: "nearest" });
  }

  function setUpPageKeys() {
    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
      if (isTypingTarget(event.target)) return;
      if (event.key === "/" && input) {
        event.preventDefault(); // focus the box; do not type the slash into it
        input.focus();
        input.select();
        return;
      }
      var down = event.key === "ArrowDown" || event.key === "j";
      var up = event.key === "ArrowUp" || event.key === "k";
      if (!down && !up) return;
      var links = resultLinks();
      if (!links.length) return;
      var current = links.indexOf(document.activeElement);
      // The arrows scroll as usual unless the focus is on a result or nowhere in particular.
      var arrow = event.key === "ArrowDown" || event.key === "ArrowUp";
      if (arrow && current < 0 && document.activeElement !== document.body) return;
      event.preventDefault();
      if (current < 0) {
        focusResult(links, 0);
      } else {
        focusResult(links, down ? current + 1 : current - 1);
      }
    });
  }

  // --- links that are toggle buttons (the facets: role=button, aria-pressed) ---------------

  function setUpToggleLinks() {
    // Space presses a button; a link only follows Enter. Without this script, Enter does.
    document.addEventListener("keydown", function (event) {
      if (event.key !== " " || event.altKey || event.ctrlKey || event.metaKey) return;
      var target = event.target;
      if (target instanceof Element && target.matches("a[role=button][href]")) {
        event.preventDefault(); // not a scroll of the page
        target.click();
      }
    });
  }

  // --- the facets' disclosure (templates/search.html): open beside the results on wide screens --

  function setUpFilters() {
    // Phones keep it closed (a "Filters" button above the results); style.css shows its content
    // on wide screens already where it can, so this only makes the state match (and shows it
    // where the browser cannot style a closed <details>). The same width as style.css's.
    var filters = document.getElementById("filters");
    if (filters && window.matchMedia && window.matchMedia("(min-width: 821px)").matches) {
      filters.open = true;
    }
  }

  setUpAutocomplete();
  setUpPageKeys();
  setUpToggleLinks();
  setUpFilters();
})();
