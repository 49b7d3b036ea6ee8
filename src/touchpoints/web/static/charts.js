/* Draws the chart specs the server embeds in each page (<script type="application/json">)
   with the vendored ECharts. Specs are small and library-neutral:
     {kind: "bar",     categories: [...], series: [{name, values, labels?}], y_name?}
     {kind: "lines",   x: [...], series: [{name, values, labels?, low?, high?}], min?, max?,
                      markers?: [{index, label}]}  (markers: logged changes, from `dates`)
     {kind: "sankey",  columns, nodes: [{name, depth, value, label?, small?}], links: [{source, target, value}]}
       (a `small` node is drawn without a label: its name would cover its neighbours';
        a label never reaches the next column: it is cut with "…", whole in the tooltip)
     {kind: "heatmap", x: [...], y: [...], cells: [[xi, yi, value, label?], ...]}
   `labels` are the values as the server wrote them for the reader (touchpoints.core.format
   in the page's language: "1 min 30 s", "26,3%"); only axis ticks, which ECharts picks
   itself, are formatted here, with the page's language.
   `links` (optional): per series, per point, the Events page behind it (null: none); the
   points open it on click, and a list after the chart names each for the keyboard.
   Colours are Okabe–Ito; every bar and cell also carries its value as a label, and each
   series has its own symbol or dash, so nothing is told by colour alone. */
(function () {
  "use strict";
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
  var SYMBOLS = ["circle", "rect", "triangle", "diamond", "pin", "arrow", "roundRect", "emptyCircle"];
  var DASHES = ["solid", "dashed", "dotted"];
  var SEQUENTIAL = ["#f2f7fb", "#cfe3f2", "#8fc1e3", "#3d8fc6", "#0b5a91"];
  var FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif';

  var LANG = document.documentElement.lang || "en";
  var WHOLE = new Intl.NumberFormat(LANG, { maximumFractionDigits: 0 });
  var TENTHS = new Intl.NumberFormat(LANG, { maximumFractionDigits: 1 });

  function fmt(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v !== "number") return String(v);
    return Math.abs(v) >= 100 ? WHOLE.format(v) : TENTHS.format(v);
  }
  // The server's text for value i of a series, else the number formatted here.
  function label(s, i, v) {
    return s.labels && s.labels[i] !== undefined && s.labels[i] !== null ? s.labels[i] : fmt(v);
  }
  var VALUE_AXIS = { type: "value", axisLabel: { formatter: fmt } };

  function bar(spec) {
    var many = spec.series.length > 1;
    return {
      color: PALETTE,
      aria: { enabled: true, decal: { show: many } },
      tooltip: { trigger: "axis" },
      legend: { show: many, bottom: 0, textStyle: { fontFamily: FONT } },
      grid: { left: 8, right: 16, top: spec.y_name ? 40 : 16, bottom: many ? 56 : 24, containLabel: true },
      xAxis: { type: "category", data: spec.categories, axisLabel: { interval: 0, rotate: spec.categories.length > 6 ? 30 : 0 } },
      yAxis: spec.y_name
        ? Object.assign({ name: spec.y_name, nameGap: 14, nameTextStyle: { align: "left" } }, VALUE_AXIS)
        : VALUE_AXIS,
      series: spec.series.map(function (s, i) {
        return {
          id: "s" + i, name: s.name, type: "bar", data: s.values,
          tooltip: { valueFormatter: function (v, i) { return label(s, i, v); } },
          label: { show: spec.series.length <= 3, position: "top", formatter: function (p) { return label(s, p.dataIndex, p.value); }, fontSize: 11 }
        };
      })
    };
  }

  function lines(spec) {
    var series = [];
    spec.series.forEach(function (s, i) {
      var color = PALETTE[i % PALETTE.length];
      if (s.low && s.high) {
        // A confidence band: an invisible base at `low`, then the band height stacked on it.
        series.push({ id: "band-low" + i, name: s.name + " low", type: "line", data: s.low, stack: "band" + i, symbol: "none",
          lineStyle: { opacity: 0 }, tooltip: { show: false }, silent: true });
        series.push({ id: "band" + i, name: s.name + " ±95%", type: "line", stack: "band" + i, symbol: "none",
          data: s.high.map(function (h, j) { return h === null || s.low[j] === null ? null : h - s.low[j]; }),
          lineStyle: { opacity: 0 }, areaStyle: { color: color, opacity: 0.18 }, tooltip: { show: false }, silent: true });
      }
      series.push({ id: "s" + i, name: s.name, type: "line", data: s.values, connectNulls: false, color: color,
        tooltip: { valueFormatter: function (v, j) { return label(s, j, v); } },
        symbol: SYMBOLS[i % SYMBOLS.length], symbolSize: 6,
        lineStyle: { width: 2, type: DASHES[i % DASHES.length] } });
    });
    if (spec.markers && spec.markers.length && series.length) {
      // The days logged changes took effect (`touchpoints changes`): a dashed vertical line each.
      series[series.length - 1].markLine = { symbol: "none", silent: false,
        lineStyle: { color: "#555", type: "dashed", width: 1 },
        label: { formatter: function (p) { return p.name; }, position: "insideEndTop", fontSize: 10 },
        data: spec.markers.map(function (m) { return { xAxis: m.index, name: m.label }; }) };
    }
    return {
      color: PALETTE,
      aria: { enabled: true },
      tooltip: { trigger: "axis", valueFormatter: fmt },
      legend: { bottom: 0, data: spec.series.map(function (s) { return s.name; }) },
      // Room on the right for the last category label, which ECharts centres on its tick.
      grid: { left: 8, right: 36, top: 16, bottom: 48, containLabel: true },
      xAxis: { type: "category", data: spec.x },
      yAxis: { type: "value", min: spec.min, max: spec.max, scale: spec.min === undefined, axisLabel: { formatter: fmt } },
      series: series
    };
  }

  // The flow's geometry, in px: labels sit right of their node and must end before the
  // next column (or the chart's edge), with room to spare, so no two ever touch.
  var SANKEY = { left: 8, node: 16, distance: 5, spare: 8, lastShare: 0.2, lastMin: 110 };

  // `name (count)` within `width` px: the name is shortened with "…", never the count.
  var MEASURE = document.createElement("canvas").getContext("2d");
  function fitted(name, count, width) {
    MEASURE.font = "12px " + FONT;
    var tail = " (" + count + ")";
    if (MEASURE.measureText(name + tail).width <= width) return name + tail;
    var cut = name;
    while (cut.length > 1 && MEASURE.measureText(cut + "…" + tail).width > width) cut = cut.slice(0, -1);
    return cut.replace(/\s+$/, "") + "…" + tail;
  }

  function sankey(spec, el) {
    var width = (el && el.clientWidth) || 880;
    var columns = Math.max(spec.columns || 1, 1);
    var right = Math.max(SANKEY.lastMin, Math.round(width * SANKEY.lastShare));
    var inner = width - SANKEY.left - right;
    var spacing = columns > 1 ? (inner - SANKEY.node) / (columns - 1) : inner;
    var inColumn = Math.max(spacing - SANKEY.node - SANKEY.distance - SANKEY.spare, 24);
    var atEdge = Math.max(right - SANKEY.distance - SANKEY.spare, 24);
    var nodes = spec.nodes.map(function (n) {
      var last = n.depth >= columns - 1;
      // `label` is ECharts' per-node label style here; the server's number moves to `text`.
      return Object.assign({}, n, { text: n.label, label: { width: last ? atEdge : inColumn } });
    });
    return {
      aria: { enabled: true },
      tooltip: { trigger: "item", formatter: function (p) {
        if (p.dataType === "edge") return p.data.source + " → " + p.data.target + ": " + fmt(p.value);
        return p.name + ": " + (p.data && p.data.text ? p.data.text : fmt(p.value));
      } },
      series: [{
        type: "sankey", data: nodes, links: spec.links, nodeAlign: "left",
        left: SANKEY.left, right: right, top: 8, bottom: 8, nodeWidth: SANKEY.node,
        emphasis: { focus: "adjacency" }, lineStyle: { color: "gradient", opacity: 0.35 },
        // Small nodes sit close together: a label that would cover another is left out
        // (its number is in the data table and the tooltip). The padding keeps a gap
        // between labels that hideOverlap lets stand side by side.
        labelLayout: { hideOverlap: true },
        label: { fontFamily: FONT, fontSize: 12, distance: SANKEY.distance, padding: [2, 0],
          overflow: "truncate", ellipsis: "…", formatter: function (p) {
          if (p.data && p.data.small) return "";
          var count = p.data && p.data.text ? p.data.text : fmt(p.value);
          // A few px short of the box: ECharts measures a little wider than the canvas here.
          return fitted(p.name, count, (p.data && p.data.label ? p.data.label.width : inColumn) - 6);
        } },
        nodeGap: 6,
        itemStyle: { borderColor: "#333", borderWidth: 1 },
        color: PALETTE
      }]
    };
  }

  function heatmap(spec) {
    var max = spec.cells.reduce(function (m, c) { return Math.max(m, c[2] || 0); }, 0) || 1;
    return {
      aria: { enabled: true },
      tooltip: { position: "top", formatter: function (p) {
        return spec.y[p.value[1]] + " " + spec.x[p.value[0]] + ": " + (p.value.length > 3 ? p.value[3] : fmt(p.value[2]));
      } },
      grid: { left: 8, right: 8, top: 8, bottom: 80, containLabel: true },
      xAxis: { type: "category", data: spec.x, splitArea: { show: true } },
      yAxis: { type: "category", data: spec.y, inverse: true, splitArea: { show: true } },
      visualMap: { dimension: 2, min: 0, max: max, calculable: true, orient: "horizontal", left: "center", bottom: 0, inRange: { color: SEQUENTIAL } },
      series: [{ id: "s0", type: "heatmap", data: spec.cells,
        label: { show: window.innerWidth > 900, fontSize: 9, formatter: function (p) { return p.value.length > 3 ? p.value[3] : fmt(p.value[2]); } },
        itemStyle: { borderColor: "#fff", borderWidth: 1 } }]
    };
  }

  var BUILDERS = { bar: bar, lines: lines, sankey: sankey, heatmap: heatmap };

  // What point j of series i is, in the page's words: "Contacts offered — Mon 14:00: 23".
  function pointName(spec, i, j) {
    if (spec.kind === "heatmap") {
      var c = spec.cells[j];
      return spec.y[c[1]] + " " + spec.x[c[0]] + ":00: " + (c.length > 3 ? c[3] : fmt(c[2]));
    }
    var s = spec.series[i];
    var where = (spec.kind === "bar" ? spec.categories : spec.x)[j];
    return (s.name ? s.name + " — " : "") + where + ": " + label(s, j, s.values[j]);
  }

  // The chart's links as a list a keyboard reaches (the points themselves are drawn, not
  // focusable): a disclosure after the chart, one named link per linked point.
  function pointLinks(el, spec) {
    var id = el.id + "-links";
    var old = document.getElementById(id);
    if (old) old.parentNode.removeChild(old);
    var list = document.createElement("ul");
    spec.links.forEach(function (row, i) {
      (row || []).forEach(function (href, j) {
        if (!href) return;
        var a = document.createElement("a");
        a.href = href;
        a.textContent = pointName(spec, i, j);
        var item = document.createElement("li");
        item.appendChild(a);
        list.appendChild(item);
      });
    });
    if (!list.children.length) return;
    var details = document.createElement("details");
    details.id = id;
    details.className = "chart-links";
    var summary = document.createElement("summary");
    summary.textContent = el.getAttribute("data-links-label") || "";
    details.appendChild(summary);
    details.appendChild(list);
    var anchor = el.parentNode.classList.contains("chart-scroll") ? el.parentNode : el;
    anchor.insertAdjacentElement("afterend", details);
  }

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source || !window.echarts) return;
    var spec = JSON.parse(source.textContent);
    var build = BUILDERS[spec.kind];
    if (!build) return;
    // ECharts' own screen-reader description is English and reads missing values as
    // "NaN": the page's description (the reader's language, set by the template) replaces it.
    var description = el.getAttribute("aria-label") || "";
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    var option = build(spec, el);
    option.aria = Object.assign({}, option.aria, { enabled: true, label: { description: description } });
    option.textStyle = { fontFamily: FONT };
    option.animation = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    chart.setOption(option);
    // A point with a link (`spec.links[series][point]`) opens the events behind it. Series
    // are told by id ("s" + the spec's index): a confidence band adds series of its own.
    if (spec.links && spec.kind !== "sankey") {  // a sankey's `links` are its flows
      chart.on("click", function (p) {
        var m = /^s(\d+)$/.exec(p.seriesId || "");
        var row = (m && spec.links[+m[1]]) || [];
        if (row[p.dataIndex]) window.location.href = row[p.dataIndex];
      });
      el.classList.add("linked");
      pointLinks(el, spec);
    }
    el.setAttribute("data-drawn", "true");
    window.addEventListener("resize", function () {
      chart.resize();
      // A flow's label widths follow the chart's width: lay them out again.
      if (spec.kind === "sankey") chart.setOption({ series: build(spec, el).series });
    });
  }

  function drawAll() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), draw);
  }

  window.TouchpointsCharts = { draw: draw, drawAll: drawAll, builders: BUILDERS };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
