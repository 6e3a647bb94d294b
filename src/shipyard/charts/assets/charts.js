/* Shipyard charts: draws every <div class="sy-chart" data-spec="..."> with the vendored uPlot.
   One way to draw a chart in the project: the monitoring report and the web UI both emit these specs.
   Spec kinds: "histogram" (grouped bars over labelled bins), "timeseries" (lines over epoch seconds, drag
   to zoom, double-click to reset), "lines" (lines over numeric x, e.g. metric curves over steps). */
(function () {
  "use strict";
  var PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d"];

  function colour(index, spec) {
    return (spec.colors && spec.colors[index]) || PALETTE[index % PALETTE.length];
  }

  function histogram(el, spec) {
    var n = spec.labels.length, k = spec.series.length;
    var xs = [];
    for (var i = 0; i < n; i++) xs.push(i);
    var width = 0.8 / k;
    var series = [{}];
    var data = [xs];
    spec.series.forEach(function (s, j) {
      series.push({
        label: s.name, fill: colour(j, spec) + "b0", stroke: colour(j, spec), width: 1,
        paths: uPlot.paths.bars({size: [width, 60], align: 0, disp: {x0: {unit: 2, values: function (u, sidx) {
          return u.data[0].map(function (x) { return x - 0.4 + width * (sidx - 1); });
        }}}}),
        points: {show: false},
        value: function (u, v) { return v == null ? "-" : (spec.percent ? (v * 100).toFixed(1) + "%" : v); }
      });
      data.push(s.values);
    });
    return {
      opts: {
        series: series,
        scales: {x: {time: false, range: [-0.6, n - 0.4]}, y: {range: function (u, min, max) { return [0, max * 1.08 || 1]; }}},
        axes: [
          {values: function (u, splits) { return splits.map(function (v) { return spec.labels[Math.round(v)] || ""; }); },
           splits: function () { return xs; }, rotate: n > 8 ? -40 : 0, size: n > 8 ? 70 : 40, gap: 4},
          {values: function (u, splits) { return splits.map(function (v) { return spec.percent ? Math.round(v * 100) + "%" : v; }); }}
        ],
        legend: {show: true}, cursor: {drag: {x: false, y: false}}
      },
      data: data
    };
  }

  function lines(el, spec, time) {
    var series = [{label: spec.x_label || (time ? "time" : "x")}];
    var data = [spec.x];
    spec.series.forEach(function (s, j) {
      series.push({label: s.name, stroke: colour(j, spec), width: 2, spanGaps: true,
                   points: {show: spec.x.length < 60}});
      data.push(s.values);
    });
    return {
      opts: {series: series, scales: {x: {time: time}}, axes: [{}, {label: spec.y_label || ""}],
             cursor: {drag: {x: true, y: false, setScale: true}}, legend: {show: true}},
      data: data
    };
  }

  function draw(el) {
    var spec;
    try { spec = JSON.parse(el.getAttribute("data-spec")); } catch (e) { el.textContent = "chart data unreadable"; return; }
    var made = spec.kind === "histogram" ? histogram(el, spec) : lines(el, spec, spec.kind === "timeseries");
    var opts = made.opts;
    opts.width = Math.max(260, el.clientWidth || 480);
    opts.height = spec.height || 220;
    var chart = new uPlot(opts, made.data, el);
    el.setAttribute("data-drawn", "1");
    if (window.ResizeObserver) {
      new ResizeObserver(function () { chart.setSize({width: Math.max(260, el.clientWidth), height: opts.height}); }).observe(el);
    }
  }

  function drawAll() { Array.prototype.forEach.call(document.querySelectorAll(".sy-chart:not([data-drawn])"), draw); }
  window.shipyardCharts = {drawAll: drawAll};
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll); else drawAll();
})();
