// Shared by report.html and plan.html: builds uPlot charts from the page's data blob, draws the
// vertical markers, and writes #render-status ("charts=N drawn=N errors=N ...") once the
// charts have painted, for the headless browser test; it is hidden unless a chart failed.
var SimCharts = (function () {
  "use strict";
  var HEIGHT = 320;
  var charts = [];

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function fmtNum(v) {
    if (v == null || isNaN(v)) return "–";
    var a = Math.abs(v);
    return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
  }

  // figure adds an empty chart card (title, caption, plot area) to parent.
  function figure(parent, spec) {
    var fig = el("figure", "chart");
    fig.id = "chart-" + spec.id;
    fig.appendChild(el("h3", null, spec.title));
    if (spec.caption) fig.appendChild(el("figcaption", null, spec.caption));
    var plot = el("div", "plot");
    fig.appendChild(plot);
    parent.appendChild(fig);
    return { fig: fig, plot: plot };
  }

  // drawMarkers paints the dashed vertical lines and their labels, labels stacked in rows so
  // neighbours never overprint.
  function markerHook(markers) {
    return function (u) {
      if (!markers || !markers.length) return;
      var ctx = u.ctx, px = uPlot.pxRatio || 1;
      var left = u.bbox.left, top = u.bbox.top, w = u.bbox.width, h = u.bbox.height;
      var rows = [];
      ctx.save();
      ctx.font = "600 " + Math.round(11.5 * px) + "px system-ui, sans-serif";
      // uPlot leaves its last axis' alignment on the context.
      ctx.textAlign = "left";
      ctx.textBaseline = "top";
      markers.forEach(function (m) {
        var x = Math.round(u.valToPos(m.t_s, "x", true));
        if (x < left - 1 || x > left + w + 1) return;
        ctx.strokeStyle = m.color;
        ctx.lineWidth = 1.5 * px;
        ctx.setLineDash([6 * px, 4 * px]);
        ctx.beginPath();
        ctx.moveTo(x, top);
        ctx.lineTo(x, top + h);
        ctx.stroke();
        ctx.setLineDash([]);
        var tw = ctx.measureText(m.label).width, pad = 4 * px;
        var tx = x + pad;
        if (tx + tw > left + w) tx = x - pad - tw;
        var row = 0;
        for (;; row++) {
          var spans = rows[row] || (rows[row] = []);
          var clash = spans.some(function (s) { return tx < s[1] + pad && tx + tw > s[0] - pad; });
          if (!clash) { spans.push([tx, tx + tw]); break; }
        }
        var ty = top + (3 + 16 * row) * px;
        ctx.fillStyle = "rgba(255,255,255,0.88)";
        ctx.fillRect(tx - 2 * px, ty - 1 * px, tw + 4 * px, 15 * px);
        ctx.fillStyle = m.color;
        ctx.fillText(m.label, tx, ty);
      });
      ctx.restore();
    };
  }

  // make creates a uPlot chart in box.plot. tables: one [x, ys...] table per run, joined onto
  // one x axis (uPlot.join leaves a run's missing x values undefined, which lines span, and
  // keeps real gaps, null, as gaps). series: uPlot series options after the x series.
  function make(box, spec, tables, series, o) {
    tables = tables.filter(function (t) { return t[0] && t[0].length; });
    if (!tables.length || !series.length) {
      box.plot.appendChild(el("p", "nodata", "No data: the record has no timeline."));
      return null;
    }
    var data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    var opts = {
      width: Math.max(320, box.plot.clientWidth),
      height: o.height || HEIGHT,
      series: [{ label: o.xLegend || "x", value: function (u, v) { return v == null ? "–" : +v.toFixed(2) + (o.xUnit || ""); } }].concat(series),
      scales: {
        x: { time: false, range: o.xRange },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.22 : 1]; } }
      },
      axes: [
        { label: o.xLabel, values: function (u, vals) { return vals.map(function (v) { return +v.toFixed(3) + (o.xUnit || ""); }); } },
        { label: spec.y_label, size: 64 }
      ],
      cursor: { sync: { key: o.syncKey || "sim" }, drag: { x: true, y: false } },
      legend: { live: true },
      hooks: { draw: [markerHook(o.markers)] }
    };
    // A page may change the options the charts share (log scales, extra draw hooks).
    if (o.configure) o.configure(opts);
    var u = new uPlot(opts, data, box.plot);
    charts.push({ id: spec.id, u: u, box: box });
    return u;
  }

  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }

  // ink counts the coloured pixels of a chart's canvas: series and onset markers are coloured,
  // axes, grid and text are gray, so a chart whose lines did not draw has next to none.
  function ink(u) {
    var c = u.ctx.canvas, d;
    try { d = u.ctx.getImageData(0, 0, c.width, c.height).data; } catch (e) { return -1; }
    var n = 0;
    for (var i = 0; i < d.length; i += 4) {
      if (d[i + 3] < 128) continue;
      var mx = Math.max(d[i], d[i + 1], d[i + 2]), mn = Math.min(d[i], d[i + 1], d[i + 2]);
      if (mx - mn > 60) n++;
    }
    return n;
  }

  // MIN_INK is the coloured pixels a chart needs to count as drawn: a few short line segments.
  var MIN_INK = 200;

  function finish(expected) {
    var status = document.getElementById("render-status");
    function report() {
      var drawn = 0, parts = [];
      charts.forEach(function (c) {
        var n = ink(c.u);
        if (n >= MIN_INK) drawn++;
        parts.push(c.id + ":" + n);
      });
      var errs = window.__reportErrors || [];
      status.textContent = "charts=" + charts.length + " expected=" + expected + " drawn=" + drawn +
        " errors=" + errs.length + " ink=" + parts.join(",") + (errs.length ? "\nfirst error: " + errs[0] : "");
      status.setAttribute("data-done", "1");
      // The line is for the browser test; a reader sees it only when something went wrong.
      if (errs.length || drawn < expected) status.hidden = false;
    }
    // uPlot paints in a microtask after construction, so everything has painted by the next
    // frame. Report once: reading a canvas back twice makes Chromium warn on the console.
    var done = false;
    function once() { if (!done) { done = true; report(); } }
    requestAnimationFrame(function () { setTimeout(once, 0); });
    setTimeout(once, 500); // no frame comes in a background tab
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { c.u.setSize({ width: Math.max(320, c.box.plot.clientWidth), height: c.u.height }); });
    });
  }

  function fail(e) {
    (window.__reportErrors = window.__reportErrors || []).push(String(e && e.stack || e));
    var status = document.getElementById("render-status");
    status.textContent = "charts=" + charts.length + " drawn=0 errors=" + window.__reportErrors.length + "\nfirst error: " + window.__reportErrors[0];
    status.hidden = false;
  }

  return { el: el, figure: figure, make: make, alpha: alpha, finish: finish, fail: fail, fmtNum: fmtNum };
})();
