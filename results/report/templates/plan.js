// plan.html: the capacity curve, x = pool size, one series per curve joined on x.
(function () {
  "use strict";
  var C = SimCharts;
  try {
    var data = JSON.parse(document.getElementById("report-data").textContent);
    var chart = data.chart;
    var box = C.figure(document.getElementById("charts"), { id: "capacity", title: chart.title, caption: chart.caption });
    var tables = [], series = [], xmax = 1;
    chart.series.forEach(function (s) {
      if (!s.x || !s.x.length) return;
      tables.push([s.x, s.y]);
      xmax = Math.max(xmax, s.x[s.x.length - 1]);
      series.push({
        label: s.name, stroke: s.color, width: s.width, dash: s.dash || undefined, spanGaps: true,
        points: { show: true, size: 8, fill: s.color },
        value: function (u, v) { return C.fmtNum(v) + " rps"; }
      });
    });
    C.make(box, { id: "capacity", y_label: chart.y_label }, tables, series, {
      xLabel: chart.x_label, xLegend: "pool size", xUnit: "", xRange: [0, xmax * 1.05], height: 380, syncKey: "plan"
    });
    C.finish(1);
  } catch (e) {
    C.fail(e);
  }
})();
