// report.html: one chart per spec in the data blob, every run overlaid on one time axis.
(function () {
  "use strict";
  var C = SimCharts;
  try {
    var data = JSON.parse(document.getElementById("report-data").textContent);
    var parent = document.getElementById("charts");
    var multi = data.runs.length > 1;
    var xmax = 1;
    data.runs.forEach(function (r) {
      var t = r.series.t_s || [];
      if (t.length) xmax = Math.max(xmax, t[t.length - 1]);
    });
    (data.markers || []).forEach(function (m) { xmax = Math.max(xmax, m.t_s); });

    function column(run, key) {
      if (key === "max_threads") {
        if (!run.max_threads) return null;
        return (run.series.t_s || []).map(function () { return run.max_threads; });
      }
      return run.series[key] || null;
    }

    data.charts.forEach(function (spec) {
      var box = C.figure(parent, spec);
      if (spec.id === "sockets") box.fig.className += " wide-emphasis";
      var tables = [], series = [];
      data.runs.forEach(function (run) {
        var table = [run.series.t_s || []];
        spec.lines.forEach(function (l) {
          var ys = column(run, l.key);
          if (!ys) return;
          table.push(ys);
          series.push({
            label: (multi ? run.label + " " : "") + l.name,
            stroke: run.color,
            width: l.width,
            dash: l.dash || undefined,
            fill: l.fill ? C.alpha(run.color, 0.14) : undefined,
            points: { show: false },
            value: function (u, v) { return C.fmtNum(v); }
          });
        });
        if (table.length > 1) tables.push(table);
      });
      C.make(box, spec, tables, series, {
        xLabel: data.x_label, xLegend: "time", xUnit: " s", xRange: [0, xmax], markers: data.markers
      });
    });
    C.finish(data.charts.length);
  } catch (e) {
    C.fail(e);
  }
})();
