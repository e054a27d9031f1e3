// Live occupancy: the page is complete without this script; it only keeps the
// figures fresh from the server-sent events of /api/v1/occupancy/stream.
(function () {
  "use strict";
  var root = document.getElementById("occupancy");
  if (!root || !window.EventSource) return;
  var texts = JSON.parse(document.getElementById("occupancy-texts").textContent);

  function figure(name) { return root.querySelector('[data-figure="' + name + '"]'); }
  function set(name, value) { var el = figure(name); if (el) el.textContent = value; }
  function minutes(value) { return value === null ? "–" : String(value); }
  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (text) {
      var td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    });
    return tr;
  }
  function fill(name, rows) {
    var body = figure(name);
    if (!body) return;
    body.replaceChildren.apply(body, rows);
  }

  function show(data) {
    set("day", data.day);
    set("updated", data.updated_at.slice(11, 19));
    set("inside", data.inside);
    set("entries_today", data.entries_today);
    set("exits_today", data.exits_today);
    set("p50", minutes(data.dwell.p50_min));
    set("p90", minutes(data.dwell.p90_min));
    fill("buckets", data.dwell.buckets.map(function (b) { return row([b.label, b.count]); }));
    fill("hours", data.hours.filter(function (h) { return h.entries || h.exits; }).map(function (h) {
      return row([(h.hour < 10 ? "0" : "") + h.hour + ":00", h.entries, h.exits]);
    }));
  }

  var source = new EventSource(root.dataset.stream);
  source.addEventListener("occupancy", function (event) {
    set("live", "· " + texts.live);
    show(JSON.parse(event.data));
  });
  // EventSource reconnects by itself; say so meanwhile.
  source.onerror = function () { set("live", "· " + texts.reconnecting); };
})();
