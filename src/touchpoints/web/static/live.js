// Live page: one EventSource on /live/stream; every "snapshot" event redraws the numbers,
// the per-minute chart (whole minutes only, local clock) and the alerts. Screen readers
// hear the alerts (a polite live region) only when their sentences change, and the status
// line only when the connection changes: a refresh with the same news says nothing. The server sends each number already written for
// the reader (snap.text, formatted by touchpoints.core.format in the page's language), so
// this script only places strings. Alerts are written out in words (metric, value, target,
// above/below), so nothing depends on colour alone.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root) return;
  var labels = JSON.parse(document.getElementById("live-labels").textContent);
  var status = document.getElementById("live-status");
  var chartEl = document.getElementById("live-chart");
  var chart = window.echarts ? window.echarts.init(chartEl, null, { renderer: "svg" }) : null;

  function cell(text, header) {
    var td = document.createElement(header ? "th" : "td");
    if (header) td.scope = "row";
    td.textContent = text;
    return td;
  }
  function render(snap) {
    var text = snap.text;
    root.querySelectorAll("[data-key]").forEach(function (el) {
      el.textContent = text.totals[el.dataset.key];
    });
    var body = document.querySelector("#live-table tbody");
    body.replaceChildren();
    text.touchpoints.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.dataset.touchpoint = r.touchpoint;
      tr.appendChild(cell(r.name, true));
      r.cells.forEach(function (c) { tr.appendChild(cell(c)); });
      if (r.breach) tr.classList.add("breach");
      body.appendChild(tr);
    });
    var list = document.getElementById("live-alerts");
    var news = JSON.stringify([text.empty, text.alerts]);
    if (list.dataset.news !== news) {
      list.dataset.news = news;
      list.replaceChildren();
      if (!text.alerts.length) {
        var ok = document.createElement("li");
        ok.className = text.empty ? "empty" : "ok";
        ok.textContent = text.empty ? labels.no_data : labels.no_alerts;
        list.appendChild(ok);
      }
      text.alerts.forEach(function (sentence, i) {
        var li = document.createElement("li");
        li.className = "alert";
        li.dataset.metric = snap.alerts[i].metric;
        li.textContent = "⚠ " + sentence;
        list.appendChild(li);
      });
    }
    root.classList.toggle("is-empty", !!text.empty);
    document.getElementById("live-updated").textContent = text.updated;
    root.dataset.lastSeq = snap.last_seq === null ? "" : String(snap.last_seq);
    if (chart) {
      links = text.links || { answered: [], abandoned: [] };
      pointLinks(text);
      chart.setOption({
        animation: false,
        aria: { enabled: true, label: { description: chartEl.getAttribute("aria-label") || labels.chart } },
        color: ["#0072B2", "#D55E00"],  // Okabe-Ito blue / vermillion: colour-blind safe
        tooltip: { trigger: "axis" },
        legend: { data: [labels.answered, labels.abandoned] },
        xAxis: { type: "category", data: text.minutes },
        yAxis: { type: "value", minInterval: 1 },
        series: [
          { name: labels.answered, type: "line", symbol: "circle", data: text.answered },
          { name: labels.abandoned, type: "line", symbol: "triangle", lineStyle: { type: "dashed" }, data: text.abandoned }
        ]
      });
    }
  }
  // A point opens the contacts it counts (answered or abandoned in that minute); the
  // same links, for the keyboard, in a list after the chart (minutes with contacts only).
  var links = { answered: [], abandoned: [] };
  var SERIES = ["answered", "abandoned"];
  if (chart) {
    chart.on("click", function (p) {
      var row = links[SERIES[p.seriesIndex]] || [];
      if (row[p.dataIndex]) window.location.href = row[p.dataIndex];
    });
    chartEl.classList.add("linked");
  }
  function pointLinks(text) {
    var items = [];
    SERIES.forEach(function (key) {
      text[key].forEach(function (n, i) {
        if (n && links[key][i]) items.push([labels[key] + " — " + text.minutes[i] + ": " + n, links[key][i]]);
      });
    });
    var id = "live-chart-links";
    var old = document.getElementById(id);
    var signature = JSON.stringify(items);
    if (old && old.dataset.items === signature) return;  // unchanged: keep focus and state
    var details = document.createElement("details");
    details.id = id;
    details.className = "chart-links";
    details.dataset.items = signature;
    details.open = !!(old && old.open);
    var summary = document.createElement("summary");
    summary.textContent = labels.links;
    details.appendChild(summary);
    var list = document.createElement("ul");
    items.forEach(function (item) {
      var a = document.createElement("a");
      a.href = item[1];
      a.textContent = item[0];
      var li = document.createElement("li");
      li.appendChild(a);
      list.appendChild(li);
    });
    details.appendChild(list);
    if (old) old.replaceWith(details);
    else chartEl.insertAdjacentElement("afterend", details);
    details.hidden = !items.length;
  }
  var source = new EventSource(root.dataset.stream);
  function say(words) { if (status.textContent !== words) status.textContent = words; }
  source.addEventListener("snapshot", function (e) {
    var snap = JSON.parse(e.data);
    say(labels.connected);
    render(snap);
  });
  source.onerror = function () { say(labels.disconnected); };
  window.addEventListener("resize", function () { if (chart) chart.resize(); });
})();
