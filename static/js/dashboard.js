// The delivery dashboard: draws its charts with Chart.js (static/vendor/chartjs) from the series the
// page was rendered with, and every 15 seconds, while the tab is visible, asks the insights API
// (same cookie session) for fresh figures and redraws the figures, charts and tables.
"use strict";

(function () {
  const root = document.querySelector("[data-insights]");
  if (!root) return;
  const interval = root.dataset.interval;
  const zone = root.dataset.timezone || "UTC";
  const groupBy = root.dataset.groupBy;
  const charts = {};
  const COLORS = { sent: "#4c6ef5", delivered: "#2f9e44", failed: "#e03131", undelivered: "#f08c00",
    received: "#7048e8", opt_outs: "#868e96", rate: "#2f9e44", median: "#1c7ed6", p95: "#ae3ec9" };

  const dateFormat = new Intl.DateTimeFormat(undefined, interval === "hour"
    ? { timeZone: zone, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }
    : { timeZone: zone, month: "short", day: "numeric" });
  const regionNames = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames(undefined, { type: "region" }) : null;

  const duration = (s) => s == null ? "—" : s < 60 ? `${s.toFixed(1)} s` : s < 3600 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`;
  const percent = (r) => r == null ? "—" : `${(r * 100).toFixed(1)}%`;
  const number = (n) => String(n);

  function line(label, data, color, extra = {}) {
    return { label, data, borderColor: color, backgroundColor: color, borderWidth: 2, pointRadius: 0,
      pointHitRadius: 6, tension: 0.25, ...extra };
  }

  function draw(series) {
    if (typeof Chart === "undefined") return;
    const labels = series.map((p) => dateFormat.format(new Date(p.start)));
    const pick = (key) => series.map((p) => p[key]);
    const common = { responsive: true, maintainAspectRatio: false, animation: false,
      interaction: { mode: "index", intersect: false }, plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } } };
    const volume = {
      labels,
      datasets: [line("Sent", pick("sent"), COLORS.sent), line("Delivered", pick("delivered"), COLORS.delivered),
        line("Failed", pick("failed"), COLORS.failed), line("Undelivered", pick("undelivered"), COLORS.undelivered),
        line("Received", pick("received"), COLORS.received), line("Opt-outs", pick("opt_outs"), COLORS.opt_outs, { borderDash: [4, 3] })],
    };
    const quality = {
      labels,
      datasets: [
        line("Delivery rate (%)", series.map((p) => p.delivery_rate == null ? null : +(p.delivery_rate * 100).toFixed(1)), COLORS.rate, { yAxisID: "rate", spanGaps: true, pointRadius: 2 }),
        line("Median to delivered (s)", pick("median_seconds_to_delivered"), COLORS.median, { yAxisID: "seconds", spanGaps: true, pointRadius: 2 }),
        line("p95 to delivered (s)", pick("p95_seconds_to_delivered"), COLORS.p95, { yAxisID: "seconds", spanGaps: true, pointRadius: 2, borderDash: [4, 3] }),
      ],
    };
    const scales = {
      volume: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { ticks: { maxRotation: 0, autoSkip: true } } },
      quality: { rate: { position: "left", min: 0, max: 100, title: { display: true, text: "%" } },
        seconds: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "s" } },
        x: { ticks: { maxRotation: 0, autoSkip: true } } },
    };
    for (const [name, data] of [["volume", volume], ["quality", quality]]) {
      if (charts[name]) {
        charts[name].data = data;
        charts[name].update();
      } else {
        const canvas = root.querySelector(`[data-chart="${name}"]`);
        if (canvas) charts[name] = new Chart(canvas, { type: "line", data, options: { ...common, scales: scales[name] } });
      }
    }
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function fillTable(table, rows, columns, emptyText) {
    const body = table.querySelector("tbody");
    body.replaceChildren();
    if (!rows.length) {
      const tr = document.createElement("tr");
      tr.className = "empty-row";
      const td = cell(emptyText, "muted");
      td.colSpan = columns;
      tr.append(td);
      body.append(tr);
      return;
    }
    rows.forEach((cells) => {
      const tr = document.createElement("tr");
      tr.append(...cells);
      body.append(tr);
    });
    if (typeof labelTableCells === "function") labelTableCells(table.parentElement);
  }

  function render(report) {
    const totals = report.totals;
    const shown = { delivery_rate: percent(totals.delivery_rate),
      median_seconds_to_delivered: duration(totals.median_seconds_to_delivered),
      p95_seconds_to_delivered: duration(totals.p95_seconds_to_delivered) };
    root.querySelectorAll("[data-figure]").forEach((el) => {
      const key = el.dataset.figure;
      el.textContent = key in shown ? shown[key] : number(totals[key]);
    });
    draw(report.series);
    const breakdown = root.querySelector("[data-breakdown]");
    if (breakdown) {
      fillTable(breakdown, report.breakdown.map((row) => {
        const first = cell(groupBy === "error_code" ? row.key : (row.label || "Unknown"), "mono");
        first.dataset.key = row.key || "";
        if (groupBy === "error_code" && row.error && row.error.meaning) {
          const note = document.createElement("span");
          note.className = "small muted";
          note.textContent = row.error.meaning;
          first.append(document.createElement("br"), note);
        }
        return [first, cell(number(row.sent)), cell(number(row.delivered)), cell(number(row.failed)),
          cell(number(row.undelivered)), cell(number(row.received)), cell(percent(row.delivery_rate)),
          cell(duration(row.median_seconds_to_delivered)), cell(duration(row.p95_seconds_to_delivered))];
      }), 9, "Nothing in this period yet.");
    }
    const errors = root.querySelector("[data-top-errors]");
    if (errors) {
      fillTable(errors, report.top_errors.map((e) => [cell(e.provider ? `${e.code} ${e.provider}` : e.code, "mono nowrap"),
        cell(number(e.count)), cell(e.meaning || "No description for this code."),
        cell(e.fix || "See the carrier's documentation of this code.")]), 4, "No errors in this period.");
    }
  }

  function nameCountries() {
    if (groupBy !== "country" || !regionNames) return;
    root.querySelectorAll("[data-breakdown] td[data-key]").forEach((td) => {
      const code = td.dataset.key;
      try { if (code) td.textContent = `${regionNames.of(code)} (${code})`; } catch { /* not a region code */ }
    });
  }

  async function refresh() {
    if (document.visibilityState !== "visible") return;
    const to = new Date();
    const from = new Date(to.getTime() - Number(root.dataset.span) * 1000);
    const url = `${root.dataset.api}&from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      render(await response.json());
      nameCountries();
      root.dataset.refreshedAt = to.toISOString();
    } catch { /* offline: the next round tries again */ }
  }

  const initial = document.getElementById("insights-series");
  draw(initial ? JSON.parse(initial.textContent) : []);
  nameCountries();
  setInterval(refresh, 15000);
  document.addEventListener("visibilitychange", refresh);
})();
