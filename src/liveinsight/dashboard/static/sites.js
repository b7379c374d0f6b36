/* Sites list: each tile loads today's visitors (in the site's time zone), a sparkline of the
 * last complete days and the current
 * visitors from the stats and realtime APIs, independently. */
(function () {
  'use strict';
  const nf = new Intl.NumberFormat('en');
  async function getJSON(url) {
    const res = await fetch(url, { credentials: 'same-origin' });
    if (!res.ok) throw new Error(res.statusText);
    return res.json();
  }
  function spark(box, values) {
    const w = 200, h = 44, max = Math.max(...values, 1);
    const step = values.length > 1 ? w / (values.length - 1) : w;
    const pts = values.map((v, i) => (i * step).toFixed(1) + ',' + (h - 4 - (v / max) * (h - 8)).toFixed(1));
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.setAttribute('preserveAspectRatio', 'none');
    const area = document.createElementNS(ns, 'polygon');
    area.setAttribute('points', '0,' + h + ' ' + pts.join(' ') + ' ' + w + ',' + h);
    area.setAttribute('fill', 'rgba(79,70,229,.12)');
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', pts.join(' '));
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', '#4f46e5');
    line.setAttribute('stroke-width', '2');
    line.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.append(area, line);
    box.replaceChildren(svg);
  }
  for (const tile of document.querySelectorAll('[data-site]')) {
    const id = tile.dataset.site;
    getJSON('/api/stats/aggregate?site_id=' + id + '&period=day&metrics=visitors')
      .then((d) => { tile.querySelector('[data-metric=visitors]').textContent = nf.format(d.results.visitors.value); })
      .catch(() => {});
    getJSON('/api/stats/timeseries?site_id=' + id + '&period=7d&interval=day&metrics=visitors')
      .then((d) => spark(tile.querySelector('[data-spark]'), d.results.slice(0, -1).map((r) => r.visitors)))
      .catch(() => {});
    getJSON('/api/realtime?site_id=' + id)
      .then((d) => { tile.querySelector('[data-metric=now]').textContent = nf.format(d.visitors); })
      .catch(() => {});
  }
})();
