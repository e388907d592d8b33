// The overview's charts: capacity, queue depth and pool waits over time,
// from the samples the api process keeps in memory (GET /overview/history),
// drawn with uPlot and refreshed every sampling interval.
(function () {
  "use strict";
  var palette = ["#2d6cdf", "#2f9e62", "#d99a1e", "#d2453b", "#7b4fd1", "#1a9fb0", "#b0467a", "#6a7380"];
  var charts = {};
  function seriesOf(kind, samples) {
    var names = {};
    samples.forEach(function (s) {
      var m = kind === "capacity" ? s.capacity : kind === "queues" ? s.queues : { waiting: 0 };
      Object.keys(m || {}).forEach(function (k) { names[k] = true; });
    });
    var keys = Object.keys(names).sort();
    var data = [samples.map(function (s) { return s.at; })];
    keys.forEach(function (k) {
      data.push(samples.map(function (s) {
        if (kind === "pools") { return s.pool_waiting; }
        var m = kind === "capacity" ? s.capacity : s.queues;
        return m && k in m ? m[k] : null;
      }));
    });
    return { keys: keys, data: data };
  }
  function draw(el, kind, samples) {
    var s = seriesOf(kind, samples);
    var sig = s.keys.join(",");
    var width = Math.max(300, el.clientWidth);
    if (charts[kind] && charts[kind].sig === sig) {
      charts[kind].plot.setData(s.data);
      return;
    }
    if (charts[kind]) { charts[kind].plot.destroy(); }
    var opts = {
      width: width, height: 200,
      scales: { y: kind === "capacity" ? { range: [0, 100] } : { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      series: [{}].concat(s.keys.map(function (k, i) {
        return { label: k, stroke: palette[i % palette.length], width: 2, points: { show: false } };
      })),
      axes: [{}, { size: 44 }]
    };
    el.textContent = "";
    charts[kind] = { sig: sig, plot: new uPlot(opts, s.data, el) };
  }
  function refresh() {
    fetch("/overview/history", { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.json();
    }).then(function (h) {
      document.querySelectorAll(".chart[data-series]").forEach(function (el) {
        if (h.samples.length === 0) { el.textContent = "No samples yet: the first arrives within " + h.every_seconds + "s."; return; }
        draw(el, el.getAttribute("data-series"), h.samples);
      });
      setTimeout(refresh, Math.max(2, h.every_seconds) * 1000);
    }).catch(function () { setTimeout(refresh, 10000); });
  }
  refresh();
})();
