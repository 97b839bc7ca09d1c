// VIP CRM report charts: draws every <canvas data-chart="ID"> from the JSON in <script id="ID">
// (written by Django's json_script), with the vendored Chart.js. The data says what to draw:
// {type: "line"|"doughnut"|"bar", labels: [...], datasets: [{label, data, color | colors,
// titles?}], percent?: true, money?: true}. `titles` are the hover texts of the points (a rate's
// formula with its numerator and denominator). Also turns on Bootstrap tooltips for the
// [data-bs-toggle="tooltip"] elements (formulas on hover, or on tap on a phone).
(function () {
  "use strict";

  function money(value) {
    return "¥" + Number(value).toLocaleString("zh-CN", { maximumFractionDigits: 0 });
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof window.Chart === "undefined") {
      return;
    }
    var spec = JSON.parse(source.textContent);
    var datasets = spec.datasets.map(function (d) {
      var set = { label: d.label, data: d.data };
      if (spec.type === "doughnut") {
        set.backgroundColor = d.colors;
        set.borderWidth = 1;
      } else if (spec.type === "line") {
        set.borderColor = d.color;
        set.backgroundColor = d.color;
        set.tension = 0.2;
        set.pointRadius = 3;
        set.spanGaps = false; // a month without a snapshot stays a gap
      } else {
        set.backgroundColor = d.color;
        set.maxBarThickness = 56;
      }
      return set;
    });
    var tooltip = {};
    if (spec.type === "line" || spec.type === "bar") {
      tooltip.callbacks = {
        label: function (item) {
          var d = spec.datasets[item.datasetIndex];
          if (item.raw === null) {
            return d.label + "：—";
          }
          var value = spec.percent ? item.raw + "%" : spec.money ? money(item.raw) : item.raw;
          var detail = d.details && d.details[item.dataIndex];
          return d.label + " " + value + (detail ? "（" + detail + "）" : ""); // 流失率 4.1%（9 / 220）
        },
        footer: function () {
          // What each rate is: its formula (numerator / denominator).
          return spec.datasets.map(function (d) { return d.formula; }).filter(Boolean);
        }
      };
      tooltip.footerFont = { weight: "normal", size: 11 };
    }
    var options = {
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } }, tooltip: tooltip }
    };
    if (spec.type === "line") {
      // A tap or hover anywhere over a month shows all its rates (points are small on a phone).
      options.interaction = { mode: "index", intersect: false };
    }
    if (spec.type !== "doughnut") {
      options.scales = {
        y: {
          beginAtZero: true,
          ticks: {
            callback: function (value) {
              return spec.percent ? value + "%" : spec.money ? money(value) : value;
            }
          }
        }
      };
    }
    new window.Chart(canvas, { type: spec.type, data: { labels: spec.labels, datasets: datasets }, options: options });
  }

  document.querySelectorAll("canvas[data-chart]").forEach(draw);

  if (window.bootstrap && window.bootstrap.Tooltip) {
    document.querySelectorAll('[data-bs-toggle="tooltip"]').forEach(function (el) {
      window.bootstrap.Tooltip.getOrCreateInstance(el, { trigger: "hover focus" });
    });
  }
})();
