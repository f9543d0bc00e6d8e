// premarket dashboard: draws the charts from the page's JSON block with the vendored uPlot.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var charts = [];
  var COLORS = { close: "#1d2330", path: "#2f5fb3", band: "rgba(47,95,179,0.18)",
    bandEdge: "rgba(47,95,179,0.55)", hit: "#1a7f37", coverage: "#8a6d00", ideal: "#9aa3b2", equity: "#2f5fb3",
    expected: "#c62828", realized: "#1d2330" };

  function width(el) { return Math.max(260, el.clientWidth || 260); }
  function height(el) { return Math.round(Math.min(260, Math.max(180, width(el) * 0.55))); }

  // Daily data: ticks on whole days, labelled with the date and its year (uPlot would also
  // offer hours), spaced so that the labels do not touch.
  var DAY = 86400;
  var dayAxis = {
    space: 84,
    incrs: [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 91 * DAY, 365 * DAY],
    values: function (u, ticks) {
      return ticks.map(function (t) { return new Date(t * 1000).toISOString().slice(0, 10); });
    }
  };
  // One day, or one point, still spans a readable axis (uPlot would stretch it to 1970).
  var dayScale = { time: true, range: function (u, min, max) {
    return min === max ? [min - 3 * DAY, max + 3 * DAY] : [min, max];
  } };
  // Money around its values (a flat or one-point curve is not scaled from 0 to twice it).
  function around(u, min, max) {
    var pad = Math.max((max - min) * 0.1, Math.abs(max) * 0.005, 1);
    return [min - pad, max + pad];
  }

  function draw(el, opts, series) {
    opts.width = width(el);
    opts.height = height(el);
    opts.legend = { live: false };
    opts.padding = [12, 36, 0, 0];  // room for the last date label at the right edge
    charts.push({ el: el, kind: el.getAttribute("data-chart"), plot: new uPlot(opts, series, el) });
  }
  window.premarketCharts = charts;  // what the browser tests read: scales and axis labels

  function fan(el, fanData) {
    draw(el, {
      scales: { x: dayScale },
      series: [
        {},
        { label: "close", stroke: COLORS.close, width: 1.5 },
        { label: "predicted", stroke: COLORS.path, width: 2.5, dash: [6, 4], spanGaps: false,
          points: { show: true, size: 5, fill: COLORS.path } },
        { label: "p10", stroke: COLORS.bandEdge, width: 1, points: { show: true, size: 4 } },
        { label: "p90", stroke: COLORS.bandEdge, width: 1, points: { show: true, size: 4 } }
      ],
      bands: [{ series: [4, 3], fill: COLORS.band }],
      axes: [dayAxis, { size: 56 }]
    }, fanData.data);
  }

  // The forecast sigma (as a ±% move) and its p10-p90 band per session, the realized absolute
  // open-to-close move as points (null where the session's bar is unknown).
  function risk(el, riskData) {
    draw(el, {
      series: [
        {},
        { label: "expected ±%", stroke: COLORS.expected, width: 2, points: { show: true, size: 5 } },
        { label: "realized |move| %", stroke: COLORS.realized, width: 0,
          points: { show: true, size: 8, fill: COLORS.realized } },
        { label: "p10 %", stroke: COLORS.band, width: 1 },
        { label: "p90 %", stroke: COLORS.band, width: 1 }
      ],
      bands: [{ series: [4, 3], fill: COLORS.band }],
      scales: { x: dayScale },
      axes: [dayAxis, { size: 50 }]
    }, riskData.data);
  }

  function rolling(el, series) {
    draw(el, {
      scales: { x: dayScale, y: { range: [0, 100] } },
      series: [
        {},
        { label: "direction hit %", stroke: COLORS.hit, width: 2, points: { show: true, size: 4 } },
        { label: "band coverage %", stroke: COLORS.coverage, width: 2, points: { show: true, size: 4 } }
      ],
      axes: [dayAxis, { size: 44 }]
    }, series);
  }

  function reliability(el, view) {
    // Only bins that hold forecasts; both axes span the data (stated and observed) with a
    // margin, and the diagonal crosses the whole square.
    var bins = view.bins, lo = view.range[0], hi = view.range[1];
    var x = [lo].concat(bins.map(function (b) { return b.stated; }), [hi]);
    var observed = [null].concat(bins.map(function (b) { return b.observed; }), [null]);
    draw(el, {
      scales: { x: { time: false, range: [lo, hi] }, y: { range: [lo, hi] } },
      series: [
        { label: "stated %" },
        { label: "observed %", stroke: COLORS.path, width: 0, points: { show: true, size: 9, fill: COLORS.path } },
        { label: "perfectly calibrated", stroke: COLORS.ideal, width: 1, dash: [4, 4], points: { show: false } }
      ],
      axes: [{}, { size: 44 }]
    }, [x, observed, x]);
  }

  function equity(el, curve) {
    draw(el, {
      scales: { x: dayScale, y: { range: around } },
      series: [{}, { label: "equity", stroke: COLORS.equity, width: 2, fill: "rgba(47,95,179,0.08)",
        points: { show: true, size: 4 } }],
      axes: [dayAxis, { size: 70 }]
    }, curve);
  }

  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var kind = el.getAttribute("data-chart");
    if (kind === "fan") { fan(el, data.fans[Number(el.getAttribute("data-index"))]); }
    else if (kind === "risk") { risk(el, data.risk[Number(el.getAttribute("data-index"))]); }
    else if (kind === "rolling" && data.rolling) { rolling(el, data.rolling); }
    else if (kind === "reliability" && data.reliability) { reliability(el, data.reliability); }
    else if (kind === "equity" && data.equity) { equity(el, data.equity); }
  });

  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      charts.forEach(function (c) { c.plot.setSize({ width: width(c.el), height: height(c.el) }); });
    }, 150);
  });
}());
