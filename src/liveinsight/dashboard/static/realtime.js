/* LiveInsight realtime page: the last 30 minutes of a site and its live events.
 * The numbers come from POST /api/v2/query over ranges ending at the server's time (the
 * ``generated_at`` of the stream's snapshots), with the page's filters; they are read again
 * each time the stream (GET /api/realtime/stream) sends new numbers, i.e. once new events
 * are stored, and every 15 s. The live list shows the stream's events, filtered here in the
 * page (the stream itself is not filtered) with the stats API's semantics. A shared link's
 * page (GET /share/{token}/realtime) sends the link's ``auth`` with each of them. */
(function () {
  'use strict';
  const root = document.getElementById('rt');
  const SITE = root.dataset.siteId;
  const TZ = root.dataset.timezone;
  // A shared link's page reads the APIs with its ``auth`` (the token, or the grant given for
  // its password) and links back to the link's dashboard (data-dashboard), not the site's.
  const AUTH = root.dataset.auth || '';
  const DASHBOARD = root.dataset.dashboard || '/sites/' + encodeURIComponent(SITE);
  const FEED_MAX = 50;
  const regionNames = window.Intl && Intl.DisplayNames ? new Intl.DisplayNames(['en'], { type: 'region' }) : null;
  const nf = new Intl.NumberFormat('en');
  const FILTER_LABELS = {
    'visit:source': 'Source', 'visit:channel': 'Channel', 'visit:referrer': 'Referrer',
    'visit:utm_source': 'UTM source', 'visit:utm_medium': 'UTM medium', 'visit:utm_campaign': 'UTM campaign',
    'event:page': 'Page', 'visit:entry_page': 'Entry page', 'visit:exit_page': 'Exit page',
    'visit:country': 'Country', 'visit:region': 'Region', 'visit:city': 'City',
    'visit:browser': 'Browser', 'visit:os': 'OS', 'visit:device': 'Device',
    'event:goal': 'Goal', 'event:name': 'Event',
    'visit:utm_content': 'UTM content', 'visit:utm_term': 'UTM term', 'event:hostname': 'Hostname',
    'visit:browser_version': 'Browser version', 'visit:os_version': 'OS version',
  };
  const OPS = { '==': 'is', '!=': 'is not', '~': 'contains', '!~': 'does not contain', '=~': 'matches', '!=~': 'does not match' };
  // The fields a live event carries (query/live.py FEED_FIELDS) for each filterable dimension.
  const FEED_FIELD = {
    'event:page': 'pathname', 'event:hostname': 'hostname', 'event:name': 'name',
    'visit:source': 'referrer_source', 'visit:channel': 'channel', 'visit:country': 'country_code',
    'visit:region': 'region', 'visit:city': 'city', 'visit:device': 'device',
    'visit:browser': 'browser', 'visit:os': 'os',
  };
  // Dashboard keys (site.js): back to the dashboard with that range and these filters.
  const KEYS = { d: 'day', e: 'yesterday', w: '7d', t: '30d', m: 'month', l: 'last_month', y: 'year', a: 'all' };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v; else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
  }
  function countryName(code) {
    try { return (regionNames && code && regionNames.of(code)) || code; } catch (e) { return code; }
  }
  function badge(code) {
    return /^[A-Z]{2}$/.test(code || '') ? el('span', { class: 'cc', 'aria-hidden': 'true', text: code }) : null;
  }
  function displayValue(dim, value) {
    if (value === '' || value == null) return dim === 'visit:country' ? '(unknown)' : '(none)';
    return dim === 'visit:country' ? countryName(value) : String(value);
  }

  // --- filters: the dashboard's URL syntax and its v2 conditions (as site.js) --------------
  function parseFilters(text) {
    return text.split(';').filter(Boolean).map((part) => {
      const m = part.match(/^([A-Za-z0-9_:.$-]+?)(==|!=~|!=|!~|=~|~)(.*)$/);
      return m ? { dim: m[1], op: m[2], value: m[3] } : null;
    }).filter(Boolean);
  }
  function serializeFilters(list) { return list.map((f) => f.dim + f.op + f.value).join(';'); }
  function globRegex(value) {
    return '^' + value.split(/(\*\*|\*)/).map((p) => (p === '**' ? '.*' : p === '*' ? '[^/]*' : p.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&'))).join('') + '$';
  }
  function v2Condition(dim, op, value) {
    if (op === '=~') return ['matches', dim, [value]];
    if (op === '!=~') return ['matches_not', dim, [value]];
    const values = value.split('|');
    if (op === '~') return ['contains', dim, values];
    if (op === '!~') return ['contains_not', dim, values];
    const wild = value.includes('*');
    if (op === '==') return wild ? ['matches', dim, values.map(globRegex)] : ['is', dim, values];
    return wild ? ['matches_not', dim, values.map(globRegex)] : ['is_not', dim, values];
  }

  let filters = parseFilters(new URLSearchParams(location.search).get('filters') || '');
  function conditions() { return filters.map((f) => v2Condition(f.dim, f.op, f.value)); }

  // A condition as a test of one live event, with the stats API's semantics (case-sensitive;
  // an empty source is "Direct / None"); null when the event does not carry the dimension
  // or a pattern is not a JavaScript regular expression.
  function feedTest([op, dim, values]) {
    const field = FEED_FIELD[dim];
    if (!field) return null;
    const base = op.replace(/_not$/, '');
    let test;
    if (base === 'is') test = (v) => values.includes(v);
    else if (base === 'contains') test = (v) => values.some((x) => v.includes(x));
    else {
      let patterns;
      try { patterns = values.map((x) => new RegExp(x)); } catch (e) { return null; }
      test = (v) => patterns.some((re) => re.test(v));
    }
    const value = (item) => {
      const v = item[field] == null ? '' : String(item[field]);
      return dim === 'visit:source' && v === '' ? 'Direct / None' : v;
    };
    return op.endsWith('_not') ? (item) => !test(value(item)) : (item) => test(value(item));
  }
  let feedTests = [];
  let feedUnsupported = [];
  function prepareFeedFilters() {
    feedTests = [];
    feedUnsupported = [];
    for (const f of filters) {
      const t = feedTest(v2Condition(f.dim, f.op, f.value));
      if (t) feedTests.push(t); else feedUnsupported.push(f);
    }
    const note = document.getElementById('rt-feed-note');
    note.hidden = !feedUnsupported.length;
    note.textContent = feedUnsupported.length
      ? 'Paused: live events do not carry ' + feedUnsupported.map((f) => dimLabel(f.dim)).join(', ') +
        ', so this list cannot apply that filter; the numbers above do.' : '';
  }
  function dimLabel(dim) { return FILTER_LABELS[dim] || dim.replace(/^event:props:/, 'Property '); }

  function renderChips() {
    const box = document.getElementById('filters');
    box.replaceChildren();
    for (const f of filters) {
      const label = dimLabel(f.dim) + ' ' + OPS[f.op] + ' ' + (f.op === '==' || f.op === '!=' ? displayValue(f.dim, f.value) : f.value);
      box.append(el('span', { class: 'chip', 'data-filter': f.dim },
        el('span', { text: label }),
        el('button', { type: 'button', 'aria-label': 'Remove filter ' + label, text: '×', onclick: () => setFilters(filters.filter((g) => g !== f)) })));
    }
  }
  function setFilters(list) {
    filters = list;
    const q = new URLSearchParams(location.search);  // keeps a shared page's embed and auth
    if (filters.length) q.set('filters', serializeFilters(filters)); else q.delete('filters');
    const text = q.toString();
    history.pushState(null, '', location.pathname + (text ? '?' + text : ''));
    filtersChanged();
  }
  function addFilter(dim, value) {
    setFilters(filters.filter((f) => f.dim !== dim).concat([{ dim, op: '==', value: String(value) }]));
  }
  function filtersChanged() {
    renderChips();
    prepareFeedFilters();
    const back = document.getElementById('rt-back');
    back.href = dashboardUrl(null);
    document.getElementById('rt-feed').replaceChildren(el('li', { class: 'muted', text: 'Waiting for events…' }));
    if (serverNow) refresh();
  }
  function dashboardUrl(period) {
    const url = new URL(DASHBOARD, location.href);
    if (period) url.searchParams.set('period', period);
    if (filters.length) url.searchParams.set('filters', serializeFilters(filters));
    return url.pathname + url.search;
  }

  // --- numbers ---------------------------------------------------------------------------
  let serverNow = null;  // Date of the latest snapshot the stream sent
  let loading = null;
  let again = false;
  let chart = null;

  function iso(d) { return d.toISOString().replace(/\.\d{3}Z$/, 'Z'); }
  function minutes(d, n) { return new Date(d.getTime() + n * 60000); }
  const localFmt = new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  // The stats API's label of a minute: "YYYY-MM-DD HH:MM:00" in the site's time zone.
  function minuteLabel(d) {
    const p = Object.fromEntries(localFmt.formatToParts(d).map((x) => [x.type, x.value]));
    return p.year + '-' + p.month + '-' + p.day + ' ' + p.hour + ':' + p.minute + ':00';
  }

  async function query(body) {
    const res = await fetch('/api/v2/query' + (AUTH ? '?auth=' + encodeURIComponent(AUTH) : ''), { method: 'POST', credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ site_id: SITE, filters: conditions(), ...body }) });
    if (res.status === 401) { location.reload(); throw new Error('signed out'); }
    const doc = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((doc.error && doc.error.message) || res.statusText);
    return doc.results;
  }

  // Read everything again; calls while a read is under way make one more read after it.
  function refresh() {
    if (loading) { again = true; return; }
    loading = load().finally(() => { loading = null; if (again) { again = false; refresh(); } });
  }

  async function load() {
    const now = serverNow;
    const end = new Date(now.getTime() + 1000);
    const last30 = [iso(minutes(now, -30)), iso(end)];
    const thisMinute = new Date(Math.floor(now.getTime() / 60000) * 60000);
    const status = document.getElementById('rt-status');
    try {
      const [current, totals, series, pages, sources, countries] = await Promise.all([
        query({ metrics: ['visitors'], date_range: [iso(minutes(now, -5)), iso(end)] }),
        query({ metrics: ['visitors', 'pageviews'], date_range: last30 }),
        query({ metrics: ['visitors'], dimensions: ['time:minute'], date_range: [iso(minutes(thisMinute, -29)), iso(minutes(thisMinute, 1))] }),
        ...['event:page', 'visit:source', 'visit:country'].map((dim) => query({ metrics: ['visitors'], dimensions: [dim], date_range: last30, pagination: { limit: 10 } })),
      ]);
      const currentValue = current.length ? current[0].metrics[0] : 0;
      const node = document.getElementById('rt-current');
      node.textContent = nf.format(currentValue);
      node.dataset.value = String(currentValue);
      node.nextElementSibling.textContent = currentValue === 1 ? 'current visitor' : 'current visitors';
      const visitors = document.getElementById('rt-visitors');
      visitors.textContent = nf.format(totals.length ? totals[0].metrics[0] : 0);
      visitors.dataset.value = String(totals.length ? totals[0].metrics[0] : 0);
      document.getElementById('rt-pageviews').textContent = nf.format(totals.length ? totals[0].metrics[1] : 0);
      drawSeries(thisMinute, series);
      renderCard('pages', 'event:page', pages);
      renderCard('sources', 'visit:source', sources);
      renderCard('countries', 'visit:country', countries);
      status.textContent = 'Updated ' + now.toLocaleTimeString('en-GB');
    } catch (e) {
      status.textContent = 'Could not load: ' + e.message;
    }
  }

  function drawSeries(thisMinute, rows) {
    const byLabel = new Map(rows.map((r) => [r.dimensions[0], r.metrics[0]]));
    const labels = [];
    for (let i = -29; i <= 0; i++) labels.push(minuteLabel(minutes(thisMinute, i)));
    const data = [labels.map((_, i) => i), labels.map((l) => byLabel.get(l) || 0)];
    const box = document.getElementById('rt-graph');
    box.dataset.values = data[1].join(',');
    if (!window.uPlot) { box.textContent = 'Graph unavailable'; return; }
    const opts = {
      width: Math.max(280, box.clientWidth), height: window.innerWidth < 560 ? 180 : 220,
      series: [{ label: 'Minute', value: (u, i) => (i == null ? '' : labels[Math.round(i)] || '').slice(11, 16) },
        { label: 'Visitors', stroke: '#4f46e5', width: 2, fill: 'rgba(79,70,229,.15)', points: { show: false }, paths: uPlot.paths.bars({ size: [0.7, 24] }) }],
      legend: { live: true },
      scales: { x: { time: false, range: [-0.5, 29.5] }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        { values: (u, splits) => splits.map((i) => (Number.isInteger(i) && labels[i] ? labels[i].slice(11, 16) : '')), incrs: [1, 5, 10, 15], space: 48, grid: { show: false }, stroke: '#5a6275' },
        { values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? nf.format(v) : '')), grid: { stroke: '#eceef4' }, stroke: '#5a6275', size: 50 },
      ],
    };
    if (chart) chart.destroy();
    box.replaceChildren();
    chart = new uPlot(opts, data, box);
  }
  window.addEventListener('resize', () => { if (chart) chart.setSize({ width: Math.max(280, document.getElementById('rt-graph').clientWidth), height: chart.height }); });

  function renderCard(name, dim, rows) {
    const body = document.querySelector('[data-rt-card="' + name + '"] .card-body');
    if (!rows.length) { body.replaceChildren(el('p', { class: 'empty-body', text: 'No visitors in the last 30 minutes.' })); return; }
    const max = Math.max(...rows.map((r) => r.metrics[0]), 1);
    const list = el('ol', { class: 'rows' });
    for (const r of rows) {
      const value = r.dimensions[0];
      const label = displayValue(dim, value);
      const count = nf.format(r.metrics[0]);
      list.append(el('li', {}, el('button', { class: 'row', type: 'button', title: 'Filter by ' + label,
        'aria-label': 'Filter by ' + label + ': ' + count, 'data-value': String(value), 'data-visitors': String(r.metrics[0]),
        onclick: () => addFilter(dim, value) },
      el('span', { class: 'bar', style: 'width:' + Math.max(2, (100 * r.metrics[0]) / max) + '%' }),
      el('span', { class: 'label' }, dim === 'visit:country' ? badge(value) : null, label),
      el('span', { class: 'num', text: count }))));
    }
    body.replaceChildren(list);
  }

  // --- the stream: snapshots (the server's time, new data stored) and live events --------
  function showEvents(items) {
    if (feedUnsupported.length) return;
    const feed = document.getElementById('rt-feed');
    const shown = items.filter((item) => feedTests.every((t) => t(item)));
    if (!shown.length) return;
    const placeholder = feed.querySelector('.muted');
    if (placeholder) placeholder.remove();
    for (const item of shown) {
      const when = new Date(item.timestamp.replace(' ', 'T') + 'Z');
      const what = item.name === 'pageview' ? item.pathname : item.name + ' on ' + item.pathname;
      const meta = [item.city || countryName(item.country_code) || '', item.browser, item.device, item.referrer_source || 'Direct'].filter((x) => x && x.trim()).join(' · ');
      feed.prepend(el('li', { class: 'new' }, el('time', { datetime: when.toISOString(), text: when.toLocaleTimeString('en-GB') }),
        el('span', { class: 'what', text: what }), el('span', { class: 'meta' }, badge(item.country_code), meta)));
    }
    while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
  }

  let source = null;
  function connect() {
    source = new EventSource('/api/realtime/stream?site_id=' + encodeURIComponent(SITE) + (AUTH ? '&auth=' + encodeURIComponent(AUTH) : ''));
    source.addEventListener('realtime', (ev) => {
      serverNow = new Date(JSON.parse(ev.data).generated_at);
      refresh();
    });
    source.addEventListener('events', (ev) => showEvents(JSON.parse(ev.data)));
    source.onerror = () => { document.getElementById('rt-status').textContent = 'Reconnecting to the live stream…'; };
  }
  document.addEventListener('visibilitychange', () => {
    if (document.hidden && source) { source.close(); source = null; } else if (!document.hidden && !source) connect();
  });

  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    const target = e.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    const period = KEYS[e.key];
    if (!period) return;
    e.preventDefault();
    location.href = dashboardUrl(period);
  });
  window.addEventListener('popstate', () => {
    filters = parseFilters(new URLSearchParams(location.search).get('filters') || '');
    filtersChanged();
  });

  filtersChanged();
  connect();
})();
