// Newsroom: the pipeline page redraws itself from GET /api/pipeline every few seconds.
// Plain script, no build step, loaded with defer. The server renders the same page, so it reads
// well without this; here every text from the API goes in with textContent, never as markup.
"use strict";

(function () {
  var root = document.getElementById("pipeline");
  if (!root || !window.fetch) return;
  var apiUrl = root.dataset.apiUrl;
  var refreshMs = Math.max(1, Number(root.dataset.refreshS) || 2) * 1000;
  var status = document.getElementById("pipeline-status");
  var SVG = "http://www.w3.org/2000/svg";
  var timer = 0;
  var busy = false;

  function pick(object, path) {
    return path.split(".").reduce(function (value, key) {
      return value === undefined || value === null ? undefined : value[key];
    }, object);
  }

  function size(bytes) {
    var units = ["B", "KB", "MB", "GB", "TB"];
    var n = Number(bytes);
    for (var i = 0; i < units.length; i++) {
      if (n < 1024 || i === units.length - 1) return i === 0 ? n.toFixed(0) + " B" : n.toFixed(1) + " " + units[i];
      n /= 1024;
    }
    return String(bytes);
  }

  function format(value, kind) {
    if (value === undefined || value === null) return "?";
    if (kind === "int") return Number(value).toLocaleString("en");
    if (kind === "rate") return Number(value).toFixed(1);
    if (kind === "bytes") return size(value);
    return String(value);
  }

  function clock(unixSeconds) {
    return new Date(unixSeconds * 1000).toISOString().slice(11, 19);
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function link(href, text) {
    var a = element("a", "", text);
    a.href = href;
    return a;
  }

  function drawChart(minutes) {
    var svg = document.getElementById("throughput");
    if (!svg) return;
    var box = svg.viewBox.baseVal;
    var width = box.width, height = box.height;
    var peak = 1;
    minutes.forEach(function (row) { peak = Math.max(peak, row.indexed + row.failed); });
    var step = width / Math.max(minutes.length, 1);
    var groups = minutes.map(function (row, n) {
      var failedH = height * row.failed / peak;
      var indexedH = height * row.indexed / peak;
      var g = document.createElementNS(SVG, "g");
      var title = document.createElementNS(SVG, "title");
      title.textContent = clock(row.minute).slice(0, 5) + " UTC: " + row.indexed + " indexed, " +
        row.failed + " failed, " + row.accepted + " accepted";
      g.appendChild(title);
      [["bar-indexed", height - failedH - indexedH, indexedH], ["bar-failed", height - failedH, failedH]]
        .forEach(function (spec) {
          var rect = document.createElementNS(SVG, "rect");
          rect.setAttribute("class", spec[0]);
          rect.setAttribute("x", (n * step + 0.5).toFixed(2));
          rect.setAttribute("width", Math.max(step - 1, 1).toFixed(2));
          rect.setAttribute("y", spec[1].toFixed(2));
          rect.setAttribute("height", spec[2].toFixed(2));
          g.appendChild(rect);
        });
      return g;
    });
    svg.replaceChildren.apply(svg, groups);
    var peakLabel = document.getElementById("chart-peak");
    if (peakLabel) peakLabel.textContent = String(peak);
  }

  function fill(id, rows, empty, build) {
    var list = document.getElementById(id);
    if (!list) return;
    if (!rows.length) {
      var none;
      if (list.tagName === "TBODY") {
        none = element("tr");
        var cell = element("td", "muted", empty);
        cell.colSpan = 5;
        none.appendChild(cell);
      } else {
        none = element("li", "muted", empty);
      }
      list.replaceChildren(none);
      return;
    }
    list.replaceChildren.apply(list, rows.map(build));
  }

  function worker(w) {
    var tr = element("tr");
    [
      w.id,
      w.state + (w.task ? " (" + w.task + ")" : ""),
      w.articles || 0,
      w.tasks_done || 0,
      w.seen_s_ago + " s ago",
    ].forEach(function (text) { tr.appendChild(element("td", "", text)); });
    return tr;
  }

  function failure(f) {
    var li = element("li");
    li.appendChild(element("time", "", clock(f.at)));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(f.url ? link(f.url, f.id) : element("span", "", f.id));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(element("span", "tag", f.stage + (f.final ? ", dead letter" : "")));
    if (f.title) {
      li.appendChild(document.createTextNode(" "));
      li.appendChild(element("span", "title", f.title));
    }
    li.appendChild(element("div", "reason", f.reason));
    return li;
  }

  function deadLetter(d) {
    var li = element("li");
    li.appendChild(element("time", "", clock(d.failed_at)));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(link(d.url, d.title || d.id));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(element("span", "tag", d.attempts + " attempt(s)"));
    li.appendChild(element("div", "reason", d.error));
    return li;
  }

  function render(state) {
    document.querySelectorAll("[data-field]").forEach(function (node) {
      node.textContent = format(pick(state, node.dataset.field), node.dataset.format);
    });
    var indexError = document.getElementById("index-error");
    if (indexError) {
      indexError.hidden = !state.index.error;
      indexError.textContent = state.index.error || "";
    }
    drawChart(state.throughput.minutes);
    fill("workers", state.workers.processes, "No worker heard from in the last 35 s.", worker);
    fill("failures", state.failures.latest, "None lately.", failure);
    fill("dead-letters", state.dead_letters.latest, "None.", deadLetter);
  }

  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(apiUrl, { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (state) {
        render(state);
        if (status) status.textContent = "refreshes every " + refreshMs / 1000 + " s";
      })
      .catch(function (error) {
        if (status) status.textContent = "not refreshed: " + error.message + " (retrying)";
      })
      .then(function () { busy = false; });
  }

  timer = window.setInterval(refresh, refreshMs);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) refresh();
  });
  window.addEventListener("pagehide", function () { window.clearInterval(timer); });
})();
