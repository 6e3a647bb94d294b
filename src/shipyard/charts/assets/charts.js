/* Shipyard charts: draws every <div class="sy-chart" data-spec="..."> with the vendored uPlot.
   One way to draw a chart in the project: the monitoring report and the web UI both emit these specs.
   Spec kinds: "histogram" (grouped bars over labelled bins), "timeseries" (lines over epoch seconds, drag
   to zoom, double-click to reset), "lines" (lines over numeric x, e.g. metric curves over steps),
   "parallel" (parallel coordinates on a canvas of its own: uPlot has none; hover highlights a line and a
   tooltip lists its values; the box gets data-lines and data-axes, the counts drawn).
   Options: "utc" (timeseries: times in UTC instead of the browser's zone), "y_min" (pin the y axis bottom,
   e.g. 0 for counts), "x_label", "y_label", "colors". A chart that cannot be drawn says so in its box and
   gets data-error; a drawn one gets data-drawn="1" (tests wait for it). Labels reach the page only as text
   (uPlot writes legend labels with textContent and axis labels on the canvas), never as HTML. */
(function () {
  "use strict";
  var PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d"];
  var MAX_TICK_LABELS = 24;

  function colour(index, spec) {
    return (spec.colors && spec.colors[index]) || (index < PALETTE.length ? PALETTE[index] : spread(index));
  }

  /* Series past the palette (a comparison of 100 runs) get hues a golden angle apart, as hex (fills append alpha). */
  function spread(index) {
    var h = (index * 137.508) % 360, s = 0.6, l = 0.45;
    function channel(n) {
      var k = (n + h / 30) % 12, c = l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(k - 3, 9 - k, 1));
      return ("0" + Math.round(c * 255).toString(16)).slice(-2);
    }
    return "#" + channel(0) + channel(8) + channel(4);
  }

  function percent(v, max) {
    var digits = max < 0.02 ? 2 : max < 0.1 ? 1 : 0;
    return (v * 100).toFixed(digits) + "%";
  }

  function number(v) {
    if (v == null) return "-";
    var a = Math.abs(v);
    if (a !== 0 && (a < 0.001 || a >= 1e6)) return v.toExponential(2);
    return a >= 100 ? v.toLocaleString("en-US", {maximumFractionDigits: 1}) : String(+v.toPrecision(4));
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  /* Times as 24-hour ISO-like text in UTC or the browser's zone. With a span (axis ticks) only what changes
     across the axis; without (the legend) the full date and time. */
  function formatTime(ts, utc, span) {
    var d = new Date(ts * 1000);
    var y = utc ? d.getUTCFullYear() : d.getFullYear(), mo = (utc ? d.getUTCMonth() : d.getMonth()) + 1;
    var day = utc ? d.getUTCDate() : d.getDate(), h = utc ? d.getUTCHours() : d.getHours();
    var mi = utc ? d.getUTCMinutes() : d.getMinutes(), s = utc ? d.getUTCSeconds() : d.getSeconds();
    var date = pad(mo) + "-" + pad(day), clock = pad(h) + ":" + pad(mi);
    if (span == null) return y + "-" + date + " " + clock + (s ? ":" + pad(s) : "");
    if (span >= 3 * 86400) return h || mi ? date + " " + clock : date;
    if (span >= 86400) return date + " " + clock;
    return span < 600 ? clock + ":" + pad(s) : clock;
  }

  function histogram(el, spec) {
    var n = spec.labels.length, k = spec.series.length;
    var xs = [];
    for (var i = 0; i < n; i++) xs.push(i);
    var width = 0.8 / k;
    var longest = spec.labels.reduce(function (most, label) { return Math.max(most, Math.min(label.length, 16)); }, 0);
    var series = [{label: spec.x_label || "bin", value: function (u, v) { return v == null ? "-" : (spec.labels[v] || ""); }}];
    var data = [xs];
    var top = 0;
    spec.series.forEach(function (s, j) {
      s.values.forEach(function (v) { if (v != null && v > top) top = v; });
      series.push({
        label: s.name, fill: colour(j, spec) + "b0", stroke: colour(j, spec), width: 1,
        // Side by side: series j's bars start at x - 0.4 + j * width (x0 and size both in x-scale units).
        paths: uPlot.paths.bars({size: [width, Infinity], disp: {
          x0: {unit: 1, values: function (u) { return u.data[0].map(function (x) { return x - 0.4 + width * j; }); }},
          size: {unit: 1, values: function () { return [width]; }}
        }}),
        points: {show: false},
        value: function (u, v) { return v == null ? "-" : (spec.percent ? percent(v, top) : number(v)); }
      });
      data.push(s.values);
    });
    var rotate = n > 8 || spec.labels.some(function (label) { return label.length > 10; });
    return {
      opts: {
        series: series,
        scales: {x: {time: false, range: [-0.6, n - 0.4]}, y: {range: function (u, min, max) { return [0, max * 1.08 || 1]; }}},
        axes: [
          {values: function (u, splits) {
            // Thin the labels to what fits: rotated ones need about 20 px each, flat ones their text width.
            var spacing = u.bbox.width / (uPlot.pxRatio || 1) / Math.max(n, 1);
            var every = Math.max(1, Math.ceil(n / MAX_TICK_LABELS), Math.ceil((rotate ? 20 : longest * 7 + 8) / spacing));
            return splits.map(function (v) {
              var label = spec.labels[Math.round(v)] || "";
              if (Math.round(v) % every) return "";
              return label.length > 16 ? label.slice(0, 15) + "\u2026" : label;
            });
          },
           splits: function () { return xs; }, rotate: rotate ? -40 : 0, size: rotate ? 24 + longest * 5 : 32, gap: 4},
          {values: function (u, splits) { return splits.map(function (v) { return spec.percent ? percent(v, top) : number(v); }); },
           size: 56, label: spec.y_label || undefined}
        ],
        legend: {show: true}, cursor: {drag: {x: false, y: false}, points: {show: false}}
      },
      data: data
    };
  }

  function lines(el, spec, time) {
    var series = [{label: spec.x_label || (time ? (spec.utc ? "time (UTC)" : "time") : "x")}];
    if (time) series[0].value = function (u, ts) { return ts == null ? "-" : formatTime(ts, spec.utc, null); };
    var data = [spec.x];
    spec.series.forEach(function (s, j) {
      series.push({label: s.name, stroke: colour(j, spec), width: 2, spanGaps: !!spec.span_gaps,
                   points: {show: spec.x.length < 60}, value: function (u, v) { return number(v); }});
      data.push(s.values);
    });
    var y = {};
    if (spec.y_min != null) {
      y.range = function (u, min, max) {
        var low = Math.min(spec.y_min, min == null ? spec.y_min : min);
        var high = max == null || max <= low ? low + 1 : max + (max - low) * 0.08;
        return [low, high];
      };
    }
    var opts = {series: series, scales: {x: {time: time}, y: y},
                axes: [time ? {values: function (u, splits) {
                         var span = u.scales.x.max - u.scales.x.min;
                         return splits.map(function (ts) { return formatTime(ts, spec.utc, span); });
                       }} : {label: spec.x_label || undefined},
                       {label: spec.y_label || undefined, size: 56,
                        values: function (u, splits) { return splits.map(number); }}],
                cursor: {drag: {x: true, y: false, setScale: true}}, legend: {show: true}};
    if (time && spec.utc) opts.tzDate = function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); };
    return {opts: opts, data: data};
  }

  function clip(text, n) { text = String(text); return text.length > n ? text.slice(0, n - 1) + "\u2026" : text; }

  /* Parallel coordinates: numeric axes run min (bottom) to max (top), category axes place their values evenly.
     Lines are coloured by their value on spec.color_axis, blue (low) to orange (high). Names and values are
     drawn with fillText and shown in the tooltip with textContent, never as markup. */
  function parallel(el, spec) {
    var axes = spec.axes, lines = spec.lines, height = spec.height || 320, top = 40, bottom = 14, side = 64;
    var box = document.createElement("div"), canvas = document.createElement("canvas"), tip = document.createElement("div");
    box.style.position = "relative";
    tip.className = "sy-tip";
    tip.hidden = true;
    tip.style.cssText = "position:absolute;pointer-events:none;background:#fff;border:1px solid #8c959f;border-radius:4px;" +
      "padding:4px 7px;font:12px system-ui,sans-serif;white-space:pre;z-index:5;box-shadow:0 1px 4px #0003";
    box.appendChild(canvas);
    box.appendChild(tip);
    el.appendChild(box);
    var width = 0, hot = -1, c = spec.color_axis;
    function range(i) {
      var a = axes[i];
      return a.type === "category" ? [0, Math.max(a.categories.length - 1, 0)] : [a.min, a.max];
    }
    function x(i) { return axes.length < 2 ? width / 2 : side + i * (width - 2 * side) / (axes.length - 1); }
    function y(i, v) {
      var r = range(i), f = axes[i].log ? Math.log10 : Number, t = r[1] > r[0] ? (f(v) - f(r[0])) / (f(r[1]) - f(r[0])) : 0.5;
      return height - bottom - t * (height - top - bottom);
    }
    function text(i, v) { return v == null ? "-" : axes[i].type === "category" ? axes[i].categories[v] : number(v); }
    function ticks(i) {
      var r = range(i), out = [], k;
      if (axes[i].type === "category") {
        for (k = 0; k <= r[1]; k += Math.max(1, Math.ceil((r[1] + 1) / 12))) out.push(k);
        return out;
      }
      if (!(r[1] > r[0])) return [r[0]];
      if (axes[i].log) {  // powers of ten, thinned to about six
        var first = Math.ceil(Math.log10(r[0]) - 1e-9), last = Math.floor(Math.log10(r[1]) + 1e-9);
        for (k = first; k <= last; k += Math.max(1, Math.ceil((last - first + 1) / 6))) out.push(Math.pow(10, k));
        return out;
      }
      var raw = (r[1] - r[0]) / 4, size = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / size;
      var step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * size;  // round steps: 0.02, not 0.02475
      for (k = Math.ceil(r[0] / step - 1e-9); k * step <= r[1] + step * 1e-9; k++) out.push(+(k * step).toPrecision(12));
      return out;
    }
    function stroke(line) {
      if (c == null) return PALETTE[0];
      var v = line.values[c], r = range(c);
      if (v == null) return "#8c959f";
      var t = r[1] > r[0] ? (v - r[0]) / (r[1] - r[0]) : 0.5;
      return "hsl(" + Math.round(220 - 190 * t) + ",75%," + Math.round(42 + 8 * t) + "%)";
    }
    function trace(g, line, alpha, lineWidth) {
      var pen = false;
      g.globalAlpha = alpha;
      g.strokeStyle = stroke(line);
      g.lineWidth = lineWidth;
      g.beginPath();
      line.values.forEach(function (v, i) {
        if (v == null) { pen = false; return; }
        if (pen) g.lineTo(x(i), y(i, v)); else g.moveTo(x(i), y(i, v));
        pen = true;
      });
      g.stroke();
      g.globalAlpha = 1;
    }
    function paint() {
      var ratio = window.devicePixelRatio || 1, g = canvas.getContext("2d");
      var room = axes.length < 2 ? 30 : Math.max(6, Math.floor((width - 2 * side) / (axes.length - 1) / 7));
      canvas.width = width * ratio;
      canvas.height = height * ratio;
      canvas.style.width = width + "px";
      canvas.style.height = height + "px";
      g.setTransform(ratio, 0, 0, ratio, 0, 0);
      g.clearRect(0, 0, width, height);
      g.lineJoin = "round";
      lines.forEach(function (line, j) { if (j !== hot) trace(g, line, hot < 0 ? 0.8 : 0.15, 1.5); });
      if (hot >= 0) trace(g, lines[hot], 1, 3.5);
      g.strokeStyle = "#59636e";
      g.fillStyle = "#1f2328";
      g.lineWidth = 1;
      axes.forEach(function (a, i) {
        var px = Math.round(x(i)) + 0.5;
        g.beginPath();
        g.moveTo(px, top);
        g.lineTo(px, height - bottom);
        g.stroke();
        g.textAlign = "center";
        g.font = "600 12px system-ui,sans-serif";
        g.fillText(clip(a.name, Math.max(room, 8)), px, 14);
        g.font = "11px system-ui,sans-serif";
        g.textAlign = "right";
        ticks(i).forEach(function (v) {
          var py = Math.round(y(i, v)) + 0.5, label = clip(text(i, v), 10);
          g.strokeStyle = "#59636e";
          g.lineWidth = 1;
          g.beginPath();
          g.moveTo(px - 4, py);
          g.lineTo(px, py);
          g.stroke();
          g.strokeStyle = "#fff";  // a halo keeps the label readable over the lines
          g.lineWidth = 3;
          g.strokeText(label, px - 6, py + 4);
          g.fillText(label, px - 6, py + 4);
        });
        g.strokeStyle = "#59636e";
        g.lineWidth = 1;
      });
    }
    function nearest(mx, my) {
      var i = 0, best = -1, gap = 8;
      while (i < axes.length - 2 && mx > x(i + 1)) i++;
      lines.forEach(function (line, j) {
        var a = line.values[i], b = line.values[i + 1], py;
        if (axes.length < 2 || mx <= x(0)) py = a == null ? null : y(0, a);
        else if (mx >= x(axes.length - 1)) py = line.values[axes.length - 1] == null ? null : y(axes.length - 1, line.values[axes.length - 1]);
        else if (a == null || b == null) py = null;
        else py = y(i, a) + (y(i + 1, b) - y(i, a)) * (mx - x(i)) / (x(i + 1) - x(i));
        if (py != null && Math.abs(py - my) < gap) { gap = Math.abs(py - my); best = j; }
      });
      return best;
    }
    canvas.addEventListener("mousemove", function (event) {
      var found = nearest(event.offsetX, event.offsetY);
      if (found !== hot) { hot = found; paint(); }
      if (hot < 0) { tip.hidden = true; el.removeAttribute("data-hover"); return; }
      var line = lines[hot];
      tip.textContent = line.name + "\n" + axes.map(function (a, i) { return a.name + ": " + text(i, line.values[i]); }).join("\n");
      tip.hidden = false;
      tip.style.left = Math.min(event.offsetX + 14, Math.max(0, width - tip.offsetWidth)) + "px";
      tip.style.top = (event.offsetY + 14) + "px";
      el.setAttribute("data-hover", line.name);
    });
    canvas.addEventListener("mouseleave", function () { hot = -1; tip.hidden = true; el.removeAttribute("data-hover"); paint(); });
    function fit() {
      var w = Math.max(260, el.clientWidth || 480);
      if (w !== width) { width = w; paint(); }
    }
    fit();
    el.setAttribute("data-lines", String(lines.length));
    el.setAttribute("data-axes", String(axes.length));
    el.setAttribute("data-drawn", "1");
    if (window.ResizeObserver) new ResizeObserver(fit).observe(el);
  }

  function draw(el) {
    var spec;
    try { spec = JSON.parse(el.getAttribute("data-spec")); } catch (e) { fail(el, "chart data unreadable"); return; }
    if (spec.kind === "parallel") {
      try { parallel(el, spec); } catch (e) { fail(el, "chart could not be drawn: " + e.message); }
      return;
    }
    if (typeof uPlot === "undefined") { fail(el, "the chart library did not load"); return; }
    try {
      var made = spec.kind === "histogram" ? histogram(el, spec) : lines(el, spec, spec.kind === "timeseries");
      var opts = made.opts;
      opts.width = Math.max(260, el.clientWidth || 480);
      opts.height = spec.height || 220;
      var chart = new uPlot(opts, made.data, el);
      el.setAttribute("data-drawn", "1");
      if (window.ResizeObserver) {
        new ResizeObserver(function () {
          var width = Math.max(260, el.clientWidth);
          if (width !== chart.width) chart.setSize({width: width, height: opts.height});
        }).observe(el);
      }
    } catch (e) {
      fail(el, "chart could not be drawn: " + e.message);
    }
  }

  function fail(el, text) {
    el.textContent = text;
    el.setAttribute("data-error", "1");
  }

  function drawAll() { Array.prototype.forEach.call(document.querySelectorAll(".sy-chart:not([data-drawn]):not([data-error])"), draw); }
  window.shipyardCharts = {drawAll: drawAll};
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll); else drawAll();
})();
