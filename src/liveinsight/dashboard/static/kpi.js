/* KPI board: new numbers as events arrive. GET /admin/analytics/kpi/stream (Server-Sent
 * Events, fed by the live feed of the board's sites) sends the whole board again once new
 * events were stored, at most every 10 s; each KPI's value, growth, sparkline and status are
 * written in place. The stream is closed while the page is hidden and opened again when it is
 * shown. A KPI that appears later (a new goal) shows after a reload. */
(function () {
  'use strict';
  const live = document.querySelector('[data-kpi-live]');
  if (!live || !window.EventSource) return;

  function growth(value) {
    return value == null ? '–' : (value > 0 ? '+' : '') + value + ' %';
  }

  function points(values, width, height) { // as the page draws them (behaviour_pages._spark)
    const top = Math.max(1, ...values.map((v) => Number(v || 0)));
    const step = width / Math.max(values.length - 1, 1);
    return values.map((v, i) => (i * step).toFixed(1) + ',' +
      (height - Number(v || 0) * height / top).toFixed(1)).join(' ');
  }

  function set(node, text) {
    if (node && node.textContent !== text) node.textContent = text;
  }

  function update(entry, name) {
    const card = [...document.querySelectorAll('[data-kpi-site]')].find((c) => c.dataset.kpiSite === name);
    if (!card) return;
    if (entry.date_range) set(card.querySelector('[data-range]'), entry.date_range[0] + ' to ' + entry.date_range[1]);
    for (const row of card.querySelectorAll('tr[data-kpi]')) {
      const kpi = entry.kpis[row.dataset.kpi];
      if (!kpi) continue;
      set(row.querySelector('[data-value]'), String(kpi.value));
      set(row.querySelector('[data-growth]'), growth(kpi.growth));
      const line = row.querySelector('[data-trend]');
      if (line && kpi.sparkline) line.setAttribute('points', points(kpi.sparkline, 120, 24));
      if (kpi.status !== undefined) set(row.querySelector('[data-status]'), String(kpi.status));
    }
    const revenue = card.querySelector('[data-revenue]');
    if (revenue && entry.revenue) {
      set(revenue, 'Revenue: ' + Object.entries(entry.revenue).map(([cur, amount]) => amount + ' ' + cur).join(', '));
    }
  }

  let source = null;
  function connect() {
    source = new EventSource(live.dataset.stream);
    source.addEventListener('kpi', (ev) => {
      const board = JSON.parse(ev.data);
      for (const entry of board.sites) update(entry, entry.site_id);
      if (board.total) update(board.total, 'All sites');
      live.dataset.updated = new Date().toISOString();
      set(live, 'Updated at ' + new Date().toLocaleTimeString('en-GB') + ' from new events (at most every 10 seconds).');
    });
  }
  connect();
  document.addEventListener('visibilitychange', () => {
    if (document.hidden && source) { source.close(); source = null; } else if (!document.hidden && !source) connect();
  });
})();
