// Live page: one EventSource on /live/stream; every "snapshot" event redraws the numbers,
// the per-minute chart and the alerts. Alerts are written out in words (metric, value,
// target, above/below), so nothing depends on colour alone.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root) return;
  var labels = JSON.parse(document.getElementById("live-labels").textContent);
  var lang = root.dataset.lang || "en";
  var status = document.getElementById("live-status");
  var chartEl = document.getElementById("live-chart");
  var chart = window.echarts ? window.echarts.init(chartEl, null, { renderer: "svg" }) : null;

  function num(v, digits) {
    return Number(v).toLocaleString(lang, { maximumFractionDigits: digits, minimumFractionDigits: digits });
  }
  function fmt(key, v) {
    if (v === null || v === undefined) return "–";
    if (key === "abandonment_rate" || key === "service_level") return num(100 * v, 1) + " %";
    if (key.indexOf("seconds") >= 0) return num(v, 0) + " " + labels.seconds;
    return num(v, 0);
  }
  function cell(text, header) {
    var td = document.createElement(header ? "th" : "td");
    if (header) td.scope = "row";
    td.textContent = text;
    return td;
  }
  function render(snap) {
    root.querySelectorAll("[data-key]").forEach(function (el) {
      el.textContent = fmt(el.dataset.key, snap[el.dataset.key]);
    });
    var body = document.querySelector("#live-table tbody");
    body.replaceChildren();
    snap.touchpoints.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.dataset.touchpoint = r.touchpoint;
      tr.appendChild(cell(r.name[lang] || r.touchpoint, true));
      ["waiting", "longest_wait_seconds", "answered", "abandoned", "tme_seconds",
       "abandonment_rate", "service_level", "agents"].forEach(function (k) {
        tr.appendChild(cell(fmt(k, r[k])));
      });
      if (r.alerts.length) tr.classList.add("breach");
      body.appendChild(tr);
    });
    var list = document.getElementById("live-alerts");
    list.replaceChildren();
    if (!snap.alerts.length) {
      var ok = document.createElement("li");
      ok.className = "ok";
      ok.textContent = labels.no_alerts;
      list.appendChild(ok);
    }
    snap.alerts.forEach(function (a) {
      var row = snap.touchpoints.find(function (r) { return r.touchpoint === a.touchpoint; });
      var li = document.createElement("li");
      li.className = "alert";
      li.dataset.metric = a.metric;
      li.textContent = "⚠ " + (row ? row.name[lang] : a.touchpoint) + ": " + labels[a.metric] + " " +
        fmt(a.metric, a.value) + " — " + labels[a.direction] + " (" + labels.target + " " +
        fmt(a.metric, a.target) + ")";
      list.appendChild(li);
    });
    document.getElementById("live-updated").textContent = new Date().toLocaleTimeString(lang);
    root.dataset.lastSeq = snap.last_seq === null ? "" : String(snap.last_seq);
    if (chart) {
      var minutes = snap.series.map(function (p) { return new Date(p.minute).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" }); });
      chart.setOption({
        animation: false,
        aria: { enabled: true },
        color: ["#0072B2", "#D55E00"],  // Okabe-Ito blue / vermillion: colour-blind safe
        tooltip: { trigger: "axis" },
        legend: { data: [labels.answered, labels.abandoned] },
        xAxis: { type: "category", data: minutes },
        yAxis: { type: "value", minInterval: 1 },
        series: [
          { name: labels.answered, type: "line", symbol: "circle", data: snap.series.map(function (p) { return p.answered; }) },
          { name: labels.abandoned, type: "line", symbol: "triangle", lineStyle: { type: "dashed" }, data: snap.series.map(function (p) { return p.abandoned; }) }
        ]
      });
    }
  }
  var source = new EventSource(root.dataset.stream);
  source.addEventListener("snapshot", function (e) {
    status.textContent = labels.updated + " " + new Date().toLocaleTimeString(lang);
    render(JSON.parse(e.data));
  });
  source.onerror = function () { status.textContent = labels.disconnected; };
  window.addEventListener("resize", function () { if (chart) chart.resize(); });
})();
