// plan.html: the hang hazard against the rate (log scale, intervals as whiskers) and the rates per
// pool size, each series with its own points, joined on x.
(function () {
  "use strict";
  var C = SimCharts;

  // fmtSci writes a hazard as the plan's tables do: 2 significant digits, e.g. 4.2e-4.
  function fmtSci(v) {
    if (v == null || isNaN(v)) return "–";
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 0.01 && a < 1000) return String(+v.toPrecision(2));
    return v.toExponential(1).replace("e+", "e").replace(".0e", "e");
  }

  // whiskers draws each point's interval of the series that have one (lo, hi).
  function whiskers(chart) {
    return function (u) {
      var ctx = u.ctx, px = uPlot.pxRatio || 1, cap = 4 * px;
      ctx.save();
      chart.series.forEach(function (s, i) {
        if (!s.lo || !s.hi || !u.series[i + 1].show) return;
        ctx.strokeStyle = C.alpha(s.color, 0.6);
        ctx.lineWidth = 1.5 * px;
        for (var j = 0; j < s.x.length; j++) {
          if (s.lo[j] == null || s.hi[j] == null || s.x[j] == null) continue;
          var x = Math.round(u.valToPos(s.x[j], "x", true));
          var y0 = u.valToPos(s.lo[j], "y", true), y1 = u.valToPos(s.hi[j], "y", true);
          ctx.beginPath();
          ctx.moveTo(x, y0); ctx.lineTo(x, y1);
          ctx.moveTo(x - cap, y0); ctx.lineTo(x + cap, y0);
          ctx.moveTo(x - cap, y1); ctx.lineTo(x + cap, y1);
          ctx.stroke();
        }
      });
      ctx.restore();
    };
  }

  function draw(parent, chart) {
    var box = C.figure(parent, { id: chart.id, title: chart.title, caption: chart.caption });
    var tables = [], series = [], xmax = 1;
    var fmtY = chart.y_log ? fmtSci : C.fmtNum;
    chart.series.forEach(function (s) {
      if (!s.x || !s.x.length) return;
      tables.push([s.x, s.y]);
      xmax = Math.max(xmax, s.x[s.x.length - 1]);
      var opt = {
        label: s.name, stroke: s.color, width: s.width, dash: s.dash || undefined, spanGaps: true,
        points: { show: true, size: 7, fill: s.color },
        value: function (u, v) { return v == null ? "–" : fmtY(v) + chart.y_unit; }
      };
      if (s.points_only) {
        opt.paths = function () { return null; };
        opt.points = { show: true, size: 12, width: 2.5, stroke: s.color, fill: "#ffffff" };
      }
      series.push(opt);
    });
    return C.make(box, { id: chart.id, y_label: chart.y_label }, tables, series, {
      xLabel: chart.x_label, xLegend: chart.x_label, xUnit: chart.x_unit, xRange: [0, xmax * 1.05], height: 400, syncKey: "plan-" + chart.id,
      configure: function (opts) {
        if (chart.x_log) {
          opts.scales.x = { time: false, distr: 3, log: 10 };
          // A log axis leaves some of its splits unlabelled (null).
          opts.axes[0].values = function (u, vals) { return vals.map(function (v) { return v == null ? "" : String(+v.toPrecision(3)); }); };
        }
        if (chart.y_log) {
          opts.scales.y = { distr: 3, log: 10 };
          // Label powers of ten only, at most about eight of them: hazards span many decades.
          opts.axes[1].splits = function (u, i, min, max) {
            var lo = Math.floor(Math.log10(min)), hi = Math.ceil(Math.log10(max));
            var step = Math.max(1, Math.ceil((hi - lo) / 8)), out = [];
            for (var k = lo; k <= hi; k += step) out.push(Math.pow(10, k));
            return out;
          };
          opts.axes[1].values = function (u, vals) { return vals.map(function (v) { return v == null ? "" : fmtSci(v); }); };
          opts.axes[1].size = 70;
        }
        opts.hooks.draw.push(whiskers(chart));
      }
    });
  }

  try {
    var data = JSON.parse(document.getElementById("report-data").textContent);
    var parent = document.getElementById("charts");
    (data.charts || []).forEach(function (c) { draw(parent, c); });
    C.finish((data.charts || []).length);
  } catch (e) {
    C.fail(e);
  }
})();
