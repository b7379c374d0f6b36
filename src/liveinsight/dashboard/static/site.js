/* LiveInsight site dashboard. Every number comes from the stats and realtime APIs (the
 * session cookie authorises them). The view state (range, comparison, filters, metric,
 * interval) lives in the URL, so a dashboard link is shareable; each card loads on its own. */
(function () {
  'use strict';
  const root = document.getElementById('dash');
  const SITE = root.dataset.siteId;
  const DOMAIN = root.dataset.domain;
  const PROP_KEYS = JSON.parse(document.getElementById('prop-keys').textContent || '{}');
  // Revenue goal name → currency; revenue tiles and columns show only when there are some.
  const REVENUE_GOALS = JSON.parse(document.getElementById('revenue-goals').textContent || '{}');
  const HAS_REVENUE = Object.keys(REVENUE_GOALS).length > 0;
  // Places: whether this server looks up regions and cities (a city database), the credit
  // its licence asks for, and whether the site is a demo site (its places are generated).
  const GEO = JSON.parse(document.getElementById('geo').textContent || '{"cities": true}');
  const PLACE_DIMS = /^visit:(region|city)$/;
  // Shared-link viewers read the same dashboard without a session (set by the template).
  const READ_ONLY = root.dataset.readOnly === 'true';
  // A shared link's page reads the stats with its ``auth`` (the link's token, or a grant
  // given once its password was right); ``embed``: the chrome-less page of an iframe.
  const AUTH = root.dataset.auth || '';
  const EMBED = root.dataset.embed === 'true';
  // The site has completed imports: they are mixed in (with_imported) unless switched off.
  const HAS_IMPORTS = root.dataset.hasImports === 'true';
  const regionNames = window.Intl && Intl.DisplayNames ? new Intl.DisplayNames(['en'], { type: 'region' }) : null;

  const METRIC_LABELS = {
    visitors: 'Unique visitors', visits: 'Total visits', pageviews: 'Total pageviews',
    views_per_visit: 'Views per visit', bounce_rate: 'Bounce rate', visit_duration: 'Visit duration',
  };
  if (HAS_REVENUE) Object.assign(METRIC_LABELS, { total_revenue: 'Total revenue', average_revenue: 'Average revenue' });
  const TOP_METRICS = Object.keys(METRIC_LABELS);
  const MONEY = new Set(['total_revenue', 'average_revenue']);
  const COLUMN_LABELS = { ...METRIC_LABELS, events: 'Events', conversion_rate: 'Conversion rate', time_on_page: 'Time on page', scroll_depth: 'Scroll depth', total_revenue: 'Revenue', average_revenue: 'Average revenue' };
  const LOWER_IS_BETTER = new Set(['bounce_rate']);
  // Periods as the stats API names them; "yesterday" and "last month" are ``day`` and
  // ``month`` anchored on a past ``date`` (state.date; '' is today).
  const INTERVALS = {
    day: ['minute', 'hour'], '7d': ['hour', 'day'], year: ['day', 'week', 'month'], all: ['week', 'month'],
    '30d': ['day', 'week'], month: ['day', 'week'], '6mo': ['day', 'week', 'month'],
    '12mo': ['day', 'week', 'month'], custom: ['day', 'week', 'month'],
  };
  const DEFAULT_INTERVAL = { day: 'hour', '7d': 'day', '30d': 'day', month: 'day', '6mo': 'month', '12mo': 'month', year: 'month', all: 'month', custom: 'day' };
  const SHIFT = { day: [1, 'd'], '7d': [7, 'd'], '30d': [30, 'd'], month: [1, 'm'], '6mo': [6, 'm'], '12mo': [12, 'm'], year: [12, 'm'] };
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
  // URL filter operators: the simple API's (==, !=, ~, !~; * wildcards in == and !=) and
  // =~ for a regular expression (RE2). The page sends them to the API as v2 conditions.
  const OPS = { '==': 'is', '!=': 'is not', '~': 'contains', '!~': 'does not contain', '=~': 'matches', '!=~': 'does not match' };

  // Card views: [tab label, property, metrics, extra filter]
  const CARDS = {
    sources: [['Channels', 'visit:channel'], ['Sources', 'visit:source'], ['Campaigns', 'visit:utm_campaign'],
      ['UTM source', 'visit:utm_source'], ['UTM medium', 'visit:utm_medium']],
    pages: [['Top pages', 'event:page', 'visitors,pageviews'], ['Entry pages', 'visit:entry_page', 'visitors,visits'],
      ['Exit pages', 'visit:exit_page', 'visitors,visits'], ['Engagement', 'event:page', 'visitors,time_on_page,scroll_depth']],
    locations: [['Map', 'visit:country', 'visitors', null, 'map'], ['Countries', 'visit:country'],
      ['Regions', 'visit:region'], ['Cities', 'visit:city']],
    devices: [['Browsers', 'visit:browser'], ['OS', 'visit:os'], ['Devices', 'visit:device']],
    events: [['Goals', 'event:goal', 'visitors,events,conversion_rate' + (HAS_REVENUE ? ',total_revenue,average_revenue' : '')],
      ['Custom events', 'event:name', 'visitors,events', 'event:name!=pageview|engagement'],
      ['Properties', 'props', 'visitors,events', null, 'props']],
  };

  // --- state in the URL ------------------------------------------------------------------
  function readState() {
    const q = new URLSearchParams(location.search);
    let period = q.get('period') || '30d';
    let date = /^\d{4}-\d{2}-\d{2}$/.test(q.get('date') || '') ? q.get('date') : '';
    if (period === 'yesterday') { period = 'day'; date = siteDate(-1); }
    if (period === 'last_month') { period = 'month'; date = addMonths(monthStart(siteDate(0)), -1); }
    const state = {
      period: INTERVALS[period] ? period : '30d',
      date: INTERVALS[period] && period !== 'custom' && period !== 'all' ? date : '',
      from: q.get('from') || '', to: q.get('to') || '',
      compare: ['previous_period', 'year_over_year'].includes(q.get('compare')) ? q.get('compare') : '',
      filters: parseFilters(q.get('filters') || ''),
      metric: TOP_METRICS.includes(q.get('metric')) ? q.get('metric') : 'visitors',
      interval: q.get('interval') || '',
      imports: HAS_IMPORTS && q.get('imports') !== '0',
      tabs: {},
    };
    for (const card of Object.keys(CARDS)) {
      const tab = Number(q.get('tab_' + card) || 0);
      state.tabs[card] = tab >= 0 && tab < CARDS[card].length ? tab : 0;
    }
    if (!INTERVALS[state.period].includes(state.interval)) state.interval = DEFAULT_INTERVAL[state.period];
    return state;
  }

  function writeState(replace) {
    const q = new URLSearchParams();
    if (EMBED) q.set('embed', 'true');
    q.set('period', state.period);
    if (state.date) q.set('date', state.date);
    if (state.period === 'custom') { q.set('from', state.from); q.set('to', state.to); }
    if (state.compare) q.set('compare', state.compare);
    if (state.filters.length) q.set('filters', serializeFilters(state.filters));
    if (state.metric !== 'visitors') q.set('metric', state.metric);
    if (state.interval !== DEFAULT_INTERVAL[state.period]) q.set('interval', state.interval);
    if (HAS_IMPORTS && !state.imports) q.set('imports', '0');
    for (const [card, tab] of Object.entries(state.tabs)) if (tab) q.set('tab_' + card, tab);
    const url = location.pathname + '?' + q.toString();
    if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
  }

  function parseFilters(text) {
    return text.split(';').filter(Boolean).map((part) => {
      const m = part.match(/^([A-Za-z0-9_:.$-]+?)(==|!=~|!=|!~|=~|~)(.*)$/);
      return m ? { dim: m[1], op: m[2], value: m[3] } : null;
    }).filter(Boolean);
  }
  function serializeFilters(list) { return list.map((f) => f.dim + f.op + f.value).join(';'); }

  let state = readState();

  // --- API -------------------------------------------------------------------------------
  // YYYY-MM-DD in the site's time zone, ``days`` from today.
  function siteDate(days) {
    const fmt = new Intl.DateTimeFormat('en-CA', { timeZone: root.dataset.timezone, year: 'numeric', month: '2-digit', day: '2-digit' });
    return fmt.format(new Date(Date.now() + days * 86400000));
  }

  // Calendar arithmetic on YYYY-MM-DD strings (days of the site's calendar).
  function addDays(day, n) {
    const d = new Date(day + 'T00:00:00Z');
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  function monthStart(day) { return day.slice(0, 8) + '01'; }
  function addMonths(day, n) {
    const d = new Date(monthStart(day) + 'T00:00:00Z');
    d.setUTCMonth(d.getUTCMonth() + n);
    return d.toISOString().slice(0, 10);
  }
  function daysBetween(a, b) { return Math.round((new Date(b + 'T00:00:00Z') - new Date(a + 'T00:00:00Z')) / 86400000); }

  function rangeParams() {
    const p = {};
    if (state.period === 'custom') {
      p.period = 'custom'; p.date = state.from + ',' + state.to;
    } else {
      p.period = state.period;
      if (state.date) p.date = state.date;
    }
    return p;
  }

  // The select's entry for the state: a named one, or "shifted" (←/→) with its dates.
  function periodChoice() {
    if (!state.date) return state.period;
    if (state.period === 'day' && state.date === siteDate(-1)) return 'yesterday';
    if (state.period === 'month' && state.date === addMonths(monthStart(siteDate(0)), -1)) return 'last_month';
    return 'shifted';
  }
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  function dayText(day) { return Number(day.slice(8)) + ' ' + MONTHS[Number(day.slice(5, 7)) - 1] + ' ' + day.slice(0, 4); }
  function monthText(day) { return MONTHS[Number(day.slice(5, 7)) - 1] + ' ' + day.slice(0, 4); }
  function shiftedText() {
    const d = state.date;
    const days = { day: 1, '7d': 7, '30d': 30 }[state.period];
    if (state.period === 'day') return dayText(d);
    if (days) return dayText(addDays(d, 1 - days)) + ' – ' + dayText(d);
    if (state.period === 'month') return monthText(d);
    if (state.period === 'year') return d.slice(0, 4);
    const back = state.period === '6mo' ? 5 : 11;
    return monthText(addMonths(d, -back)) + ' – ' + monthText(d);
  }

  // Move the period back (-1) or forward (1) by its own length; never past today.
  function movePeriod(step) {
    const today = siteDate(0);
    if (state.period === 'custom') {
      const length = daysBetween(state.from, state.to) + 1;
      const from = addDays(state.from, step * length), to = addDays(state.to, step * length);
      if (from > today) return;
      state.from = from; state.to = to > today ? today : to;
    } else if (SHIFT[state.period]) {
      const [n, unit] = SHIFT[state.period];
      const base = state.date || today;
      let next = unit === 'd' ? addDays(base, step * n) : addMonths(base, step * n);
      if (state.period === 'year') next = next.slice(0, 4) + '-01-01';
      const current = unit === 'd' ? today : state.period === 'year' ? today.slice(0, 4) + '-01-01' : monthStart(today);
      if (next > current) return;
      state.date = next === current ? '' : next;
    } else return;
    changed();
  }

  function choosePeriod(value) {
    if (value === 'custom') { openCustom(); return; }
    if (value === 'shifted') return;
    if (value === 'realtime') {
      // Its own page (the last 30 minutes and the live events), with the same filters; a
      // shared link's page goes to the link's own realtime page (data-realtime).
      const url = new URL(root.dataset.realtime || '/sites/' + encodeURIComponent(SITE) + '/realtime', location.href);
      if (state.filters.length) url.searchParams.set('filters', serializeFilters(state.filters));
      location.href = url.pathname + url.search;
      return;
    }
    state.date = '';
    if (value === 'yesterday') { state.period = 'day'; state.date = siteDate(-1); }
    else if (value === 'last_month') { state.period = 'month'; state.date = addMonths(monthStart(siteDate(0)), -1); }
    else state.period = value;
    state.interval = DEFAULT_INTERVAL[state.period];
    changed();
  }

  function apiUrl(kind, params, extraFilter) {
    const q = new URLSearchParams({ site_id: SITE, ...rangeParams(), ...params });
    if (AUTH) q.set('auth', AUTH);
    if (state.imports) q.set('with_imported', 'true');
    const conditions = v2Filters(extraFilter);
    if (conditions.length) q.set('filters', JSON.stringify(conditions));
    return '/api/stats/' + kind + '?' + q.toString();
  }

  async function getJSON(url, signal) {
    const res = await fetch(url, { credentials: 'same-origin', signal, headers: { accept: 'application/json' } });
    if (res.status === 401) {
      // A shared or public page asks its own URL again (a new grant, the password form, or
      // "revoked"); a member's page goes to the sign-in.
      if (READ_ONLY) location.reload();
      else location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
      throw new Error('logged out');
    }
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((body.error && body.error.message) || res.statusText);
    return body;
  }

  // --- formatting ------------------------------------------------------------------------
  const nf = new Intl.NumberFormat('en');
  function compact(n) {
    if (n == null) return '–';
    if (Math.abs(n) >= 10000) return new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 }).format(n);
    return nf.format(Math.round(n * 100) / 100);
  }
  function duration(s) {
    if (s == null) return '–';
    s = Math.round(s);
    const m = Math.floor(s / 60), r = s % 60;
    if (m >= 60) return Math.floor(m / 60) + 'h ' + (m % 60) + 'm';
    return m ? m + 'm ' + r + 's' : r + 's';
  }
  // A plotted or compared number: money values ({value, currency, short, long}) by amount.
  function num(v) { return v != null && typeof v === 'object' ? v.value : v; }
  function metricText(metric, v) {
    if (v == null) return '–';
    if (typeof v === 'object') return v.short;
    if (metric === 'bounce_rate' || metric === 'conversion_rate') return Math.round(v * 10) / 10 + '%';
    if (metric === 'visit_duration' || metric === 'time_on_page') return duration(v);
    if (metric === 'scroll_depth') return Math.round(v) + '%';
    if (metric === 'views_per_visit') return (Math.round(v * 100) / 100).toFixed(2);
    return compact(v);
  }
  function badge(code) {
    return /^[A-Z]{2}$/.test(code || '') ? el('span', { class: 'cc', 'aria-hidden': 'true', text: code }) : null;
  }
  function countryName(code) {
    try { return (regionNames && code && regionNames.of(code)) || code; } catch (e) { return code; }
  }
  function displayValue(dim, value) {
    if (value === '' || value == null) {
      if (dim === 'visit:source') return 'Direct / None';
      return /^visit:(country|region|city)$/.test(dim) ? '(unknown)' : '(none)';
    }
    if (dim === 'visit:country') return countryName(value);
    return String(value);
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v; else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
  }

  // --- filters ---------------------------------------------------------------------------
  function renderChips() {
    const box = document.getElementById('filters');
    box.replaceChildren();
    for (const f of state.filters) {
      const label = dimLabel(f.dim) + ' ' + OPS[f.op] + ' ' + (f.op === '==' || f.op === '!=' ? displayValue(f.dim, f.value) : f.value);
      box.append(el('span', { class: 'chip', 'data-filter': f.dim },
        el('span', { text: label }),
        el('button', { type: 'button', 'aria-label': 'Remove filter ' + label, text: '×', onclick: () => removeFilter(f) })));
    }
    if (state.filters.length > 1) {
      box.append(el('button', { class: 'btn ghost small', type: 'button', text: 'Clear all', onclick: () => { state.filters = []; changed(); } }));
    }
  }
  function addFilter(dim, value, extra) {
    state.filters = state.filters.filter((f) => f.dim !== dim);
    state.filters.push({ dim, op: '==', value: String(value) });
    if (extra) { state.filters = state.filters.filter((f) => f.dim !== extra.dim); state.filters.push(extra); }
    changed();
  }
  function removeFilter(gone) { state.filters = state.filters.filter((f) => f !== gone); changed(); }
  function dimLabel(dim) { return FILTER_LABELS[dim] || dim.replace(/^event:props:/, 'Property '); }

  // --- saved segments: named filter sets of the site, shared with its members ----------
  let SEGMENTS = JSON.parse(document.getElementById('segments-data').textContent || '[]');
  const segmentSelect = document.getElementById('segment');
  const CAN_EDIT_SEGMENTS = root.dataset.editSegments === 'true';
  const URL_OP = { is: '==', is_not: '!=', contains: '~', contains_not: '!~', matches: '=~', matches_not: '!=~' };
  function fromCondition([op, dim, values]) {
    const value = op.startsWith('matches') ? (values.length > 1 ? values.map((v) => '(' + v + ')').join('|') : values[0]) : values.join('|');
    return { dim, op: URL_OP[op], value: String(value) };
  }
  function sameFilters(a, b) { return serializeFilters(a) === serializeFilters(b); }
  function renderSegments() {
    if (!segmentSelect) return;
    segmentSelect.replaceChildren(el('option', { value: '', text: 'None' }),
      ...SEGMENTS.map((g) => el('option', { value: String(g.id), text: g.name })));
    const current = SEGMENTS.find((g) => state.filters.length && sameFilters(g.filters.map(fromCondition), state.filters));
    segmentSelect.value = current ? String(current.id) : '';
    const save = document.getElementById('save-segment'), del = document.getElementById('delete-segment');
    if (save) save.disabled = !state.filters.length || Boolean(current);
    if (del) del.disabled = !current;
  }
  function applySegment(id) {
    const found = SEGMENTS.find((g) => String(g.id) === id);
    state.filters = found ? found.filters.map(fromCondition) : [];
    changed();
  }
  async function postForm(url, fields) {
    const body = new URLSearchParams({ csrf: root.dataset.csrf, ...fields });
    const res = await fetch(url, { method: 'POST', credentials: 'same-origin', body });
    const doc = res.status === 204 ? {} : await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((doc.error && doc.error.message) || res.statusText);
    return doc;
  }
  async function saveSegment(ev) {
    ev.preventDefault();
    const error = document.getElementById('sg-error');
    try {
      const made = await postForm('/sites/' + SITE + '/segments', {
        name: document.getElementById('sg-name').value, filters: JSON.stringify(v2Filters('')) });
      SEGMENTS = SEGMENTS.concat([made]).sort((a, b) => a.name.localeCompare(b.name));
      document.getElementById('segment-dialog').close();
      renderSegments();
    } catch (e) { error.textContent = e.message; }
  }
  async function deleteSegment() {
    const found = SEGMENTS.find((g) => String(g.id) === segmentSelect.value);
    if (!found || !window.confirm('Delete the segment "' + found.name + '" for everyone?')) return;
    try {
      await postForm('/sites/' + SITE + '/segments/' + found.id + '/delete', {});
      SEGMENTS = SEGMENTS.filter((g) => g !== found);
      renderSegments();
    } catch (e) { document.getElementById('range-label').textContent = 'Could not delete: ' + e.message; }
  }

  // The filter builder: any dimension (custom properties included), any operator.
  const builder = document.getElementById('filter-builder');
  function openBuilder() {
    const dims = document.getElementById('fb-dim');
    if (!dims.options.length) {
      const keys = [...new Set(Object.values(PROP_KEYS).flat())].sort();
      dims.append(...Object.keys(FILTER_LABELS).map((d) => el('option', { value: d, text: FILTER_LABELS[d] })),
        ...keys.map((k) => el('option', { value: 'event:props:' + k, text: 'Property ' + k })));
    }
    document.getElementById('fb-value').value = '';
    document.getElementById('fb-error').textContent = '';
    builder.showModal();
    suggest();
  }
  let suggestAbort = null;
  async function suggest() {
    // The dimension's top values in the range, as suggestions for the value field.
    if (suggestAbort) suggestAbort.abort();
    suggestAbort = new AbortController();
    const dim = document.getElementById('fb-dim').value;
    const list = document.getElementById('fb-values');
    list.replaceChildren();
    try {
      const doc = await getJSON(apiUrl('breakdown', { property: dim, metrics: 'visitors', limit: '100' }), suggestAbort.signal);
      const key = dim.split(':').pop();
      list.replaceChildren(...doc.results.map((r) => r[key]).filter((v) => v !== '' && v != null).map((v) => el('option', { value: String(v) })));
    } catch (e) { /* suggestions are optional */ }
  }
  function applyBuilder(ev) {
    ev.preventDefault();
    const dim = document.getElementById('fb-dim').value;
    const op = document.getElementById('fb-op').value;
    const value = document.getElementById('fb-value').value.trim();
    const error = document.getElementById('fb-error');
    if (!value) { error.textContent = 'Enter a value.'; return; }
    if (op === '=~') { try { new RegExp(value); } catch (e) { error.textContent = 'Not a regular expression: ' + e.message; return; } }
    if (value.includes(';')) { error.textContent = 'A value cannot contain ";".'; return; }
    state.filters.push({ dim, op, value });
    builder.close();
    changed();
  }

  // --- top tiles and graph ---------------------------------------------------------------
  let topAbort = null;
  async function loadTop() {
    if (topAbort) topAbort.abort();
    topAbort = new AbortController();
    const signal = topAbort.signal;
    const tiles = document.querySelectorAll('.tile');
    tiles.forEach((t) => { t.setAttribute('aria-pressed', String(t.dataset.metric === state.metric)); t.classList.add('loading'); });
    document.getElementById('graph-title').textContent = METRIC_LABELS[state.metric];
    try {
      // Changes under the numbers only when a comparison is chosen (a period in progress is
      // compared over its elapsed part: the server trims both ranges to now).
      const aggParams = { metrics: TOP_METRICS.join(',') };
      if (state.compare) aggParams.compare = state.compare;
      const agg = await getJSON(apiUrl('aggregate', aggParams), signal);
      const label = document.getElementById('range-label');
      label.textContent = agg.comparison_date_range ? 'changes against ' + agg.comparison_date_range.map((d) => d.slice(0, 10)).join(' – ') : '';
      const note = document.getElementById('imports-note');
      if (note) note.textContent = !state.imports ? '' : agg.imports_included ? 'with imported data'
        : 'imported data not included: ' + (IMPORTS_SKIPPED[agg.imports_skip_reason] || agg.imports_skip_reason || '');
      for (const tile of tiles) {
        const m = tile.dataset.metric;
        const r = agg.results[m] || {};
        const value = tile.querySelector('[data-value]');
        value.textContent = metricText(m, r.value);
        value.dataset.raw = String(num(r.value));
        value.title = r.value == null ? ((agg.warnings && agg.warnings[m] && agg.warnings[m].warning) || '')
          : typeof r.value === 'object' ? r.value.long : nf.format(r.value);
        const ch = tile.querySelector('[data-change]');
        tile.classList.remove('loading');
        if (r.change == null || !r.comparison_value) {
          ch.className = 'tile-change flat';
          ch.textContent = state.compare && r.comparison_value === 0 ? 'no data before' : '';
          continue;
        }
        const better = LOWER_IS_BETTER.has(m) ? r.change < 0 : r.change > 0;
        ch.className = 'tile-change ' + (r.change === 0 ? 'flat' : better ? 'up' : 'down');
        const unit = m === 'bounce_rate' ? ' pts' : '%';
        ch.textContent = (r.change > 0 ? '↑ ' : r.change < 0 ? '↓ ' : '') + Math.abs(r.change) + unit;
        ch.setAttribute('aria-label', 'change ' + r.change + unit + ' against the previous period');
      }
    } catch (e) { if (e.name !== 'AbortError') tiles.forEach((t) => { t.querySelector('[data-value]').textContent = '!'; t.title = e.message; }); }
    loadGraph(signal);
  }

  let chart = null;
  function intervalOptions() {
    const select = document.getElementById('interval');
    select.replaceChildren(...INTERVALS[state.period].map((i) => el('option', { value: i, text: i[0].toUpperCase() + i.slice(1) })));
    select.value = state.interval;
  }
  function tickLabel(label, interval) {
    if (!label) return '';
    if (interval === 'minute' || interval === 'hour') return label.slice(11, 16);
    const d = new Date(label.slice(0, 10) + 'T00:00:00Z');
    if (interval === 'month') return d.toLocaleDateString('en', { month: 'short', year: '2-digit', timeZone: 'UTC' });
    return d.toLocaleDateString('en', { month: 'short', day: 'numeric', timeZone: 'UTC' });
  }
  async function loadGraph(signal) {
    const box = document.getElementById('graph');
    try {
      const params = { metrics: state.metric, interval: state.interval };
      if (state.compare) params.compare = state.compare;
      const ts = await getJSON(apiUrl('timeseries', params), signal);
      const labels = ts.results.map((r) => r.date);
      const xs = labels.map((_, i) => i);
      const ys = ts.results.map((r) => num(r[state.metric]));
      const data = [xs, ys];
      const series = [{}, { label: METRIC_LABELS[state.metric], stroke: '#4f46e5', width: 2, fill: 'rgba(79,70,229,.08)', value: (u, v) => metricText(state.metric, v) }];
      if (state.compare && ts.comparison) {
        // Bucket i of the comparison beside bucket i; a shorter comparison simply ends (no
        // padding zeros), and the series only holds the past (future buckets are absent).
        const other = ts.comparison;
        data.push(labels.map((_, i) => (i < other.length ? num(other[i][state.metric]) : null)));
        series.push({ label: state.compare === 'year_over_year' ? 'Last year' : 'Previous period', stroke: '#9aa3b5', width: 1.5, dash: [6, 4],
          value: (u, v, si, i) => (v == null ? '–' : metricText(state.metric, v) + (i != null && other[i] ? ' (' + other[i].date + ')' : '')) });
      }
      const width = Math.max(280, box.clientWidth);
      const opts = {
        width, height: window.innerWidth < 560 ? 220 : 280,
        series, legend: { live: true },
        cursor: { points: { size: 7 } },
        scales: { x: { time: false }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [
          { values: (u, splits) => splits.map((i) => (Number.isInteger(i) ? tickLabel(labels[i], ts.interval) : '')),
            incrs: [1, 2, 3, 4, 6, 7, 12, 14, 24, 30, 48, 60, 120], space: 56, grid: { show: false }, stroke: '#5a6275' },
          { values: (u, splits) => splits.map((v) => metricText(state.metric, v)), grid: { stroke: '#eceef4' }, stroke: '#5a6275', size: 60 },
        ],
      };
      series[0] = { label: 'Time', value: (u, i) => (i == null ? '' : labels[Math.round(i)] || '') };
      if (chart) chart.destroy();
      box.replaceChildren();
      chart = new uPlot(opts, data, box);
      box.setAttribute('aria-label', METRIC_LABELS[state.metric] + ' per ' + ts.interval + ', ' + labels.length + ' points');
    } catch (e) { if (e.name !== 'AbortError') box.replaceChildren(el('p', { class: 'empty-body', text: 'Could not load the graph: ' + e.message })); }
  }
  window.addEventListener('resize', () => { if (chart) chart.setSize({ width: Math.max(280, document.getElementById('graph').clientWidth), height: chart.height }); });

  // --- breakdown cards -------------------------------------------------------------------
  const cardData = {};
  const cardAbort = {};
  let maps = {};

  function setupCard(section) {
    const name = section.dataset.card;
    const tabs = section.querySelector('.tabs');
    CARDS[name].forEach(([label], i) => {
      tabs.append(el('button', { type: 'button', 'aria-pressed': String(i === state.tabs[name]), text: label,
        onclick: () => { state.tabs[name] = i; writeState(false); tabs.querySelectorAll('button').forEach((b, j) => b.setAttribute('aria-pressed', String(i === j))); loadCard(section); } }));
    });
    section.querySelector('.export').addEventListener('click', () => exportCard(section));
    section.querySelector('.details').addEventListener('click', () => openDetails(section));
  }

  function propsChoice(section) {
    const extra = section.querySelector('.extra');
    const options = [];
    for (const [event, keys] of Object.entries(PROP_KEYS)) for (const key of keys) options.push([event, key]);
    if (!extra.querySelector('select')) {
      const select = el('select', { id: 'prop-select', 'aria-label': 'Event property' },
        ...options.map(([e, k]) => el('option', { value: e + '\u0000' + k, text: e + ' → ' + k })));
      select.addEventListener('change', () => loadCard(section));
      extra.replaceChildren(el('label', { for: 'prop-select', class: 'hint', text: 'Property ' }), select);
    }
    const value = extra.querySelector('select').value;
    if (!value) return null;
    const [event, key] = value.split('\u0000');
    return { event, key };
  }

  function cardQuery(section, limit) {
    const name = section.dataset.card;
    const [, prop, metrics, extraFilter, mode] = CARDS[name][state.tabs[name]];
    let property = prop, extra = extraFilter || '', event = null;
    const shown = section.querySelector('.extra');
    shown.hidden = mode !== 'props';
    if (mode === 'props') {
      const choice = propsChoice(section);
      if (!choice) return null;
      property = 'event:props:' + choice.key;
      event = choice.event;
      extra = 'event:name==' + choice.event;
    }
    const params = { property, metrics: metrics || 'visitors', limit: String(limit) };
    if (state.compare && mode !== 'map') params.compare = state.compare;
    return { property, mode, event, extra, metrics: metrics || 'visitors', url: apiUrl('breakdown', params, extra) };
  }

  async function loadCard(section) {
    const name = section.dataset.card;
    if (cardAbort[name]) cardAbort[name].abort();
    const ctl = cardAbort[name] = new AbortController();
    const body = section.querySelector('.card-body');
    const q = cardQuery(section, 9);
    if (!q) { body.replaceChildren(el('p', { class: 'empty-body', text: 'No custom event properties in the last 90 days.' })); return; }
    body.setAttribute('aria-busy', 'true');
    try {
      const doc = await getJSON(q.url, ctl.signal);
      cardData[name] = { q, rows: doc.results };
      renderCard(section, q, doc.results);
      const head = section.querySelector('.col-head');
      head.title = '';
      if (doc.sampled) {
        head.textContent += ' · ≈ sampled';
        head.title = 'Estimated from a sample of whole visitors: each counted event stands for about ' + doc.sample_factor + '. The API answers exactly with sampling=exact.';
      }
    } catch (e) {
      if (e.name !== 'AbortError') body.replaceChildren(el('p', { class: 'empty-body', text: 'Could not load: ' + e.message }));
    } finally { body.removeAttribute('aria-busy'); }
  }

  function renderCard(section, q, rows) {
    const body = section.querySelector('.card-body');
    // Visits without UTM tags are not a campaign: list only tagged ones.
    if (q.property.startsWith('visit:utm_')) rows = rows.filter((r) => r[q.property.split(':').pop()] !== '');
    const key = q.property.split(':').pop();
    const metrics = q.metrics.split(',');
    section.querySelector('.col-head').textContent = metrics.map((m) => COLUMN_LABELS[m] || m).join(' · ');
    const place = PLACE_DIMS.test(q.property);
    // Without a city database a site's stored places are all empty: say why, rather than
    // list every visitor as "(unknown)". Places stored some other way (demo, imports) show.
    if (place && !GEO.cities && !rows.some((r) => r[key])) { body.replaceChildren(noCityNote()); return; }
    if (!rows.length) { body.replaceChildren(el('p', { class: 'empty-body', text: 'No data for this range.' })); return; }
    if (q.mode === 'map') { renderMap(section, rows); return; }
    const max = Math.max(...rows.map((r) => num(r[metrics[0]]) || 0), 1);
    const list = el('ol', { class: 'rows' });
    for (const r of rows) {
      const value = r[key];
      const label = displayValue(q.property, value);
      const change = r.change ? r.change[metrics[0]] : null;
      const nums = el('span', { class: 'num' }, metricText(metrics[0], r[metrics[0]]),
        ...metrics.slice(1).map((m) => el('small', { text: metricText(m, r[m]) })),
        change == null ? null : el('small', { class: 'row-change', 'data-change': '', title: 'before: ' + metricText(metrics[0], r.comparison[metrics[0]]),
          text: (change > 0 ? '↑' : change < 0 ? '↓' : '') + Math.abs(change) + (metrics[0] === 'bounce_rate' || metrics[0] === 'conversion_rate' ? ' pts' : '%') }));
      const dim = q.property;
      const extra = q.event ? { dim: 'event:name', op: '==', value: q.event } : null;
      // data-value / data-raw: the row's dimension value and its metrics' numbers, for tests and tools
      const button = el('button', { class: 'row', type: 'button', title: 'Filter by ' + label, 'aria-label': 'Filter by ' + label + ': ' + nums.textContent,
        'data-value': String(value), 'data-raw': metrics.map((m) => String(num(r[m]))).join(','),
        onclick: () => addFilter(dim, value, extra) },
        el('span', { class: 'bar', style: 'width:' + Math.max(2, (100 * (num(r[metrics[0]]) || 0)) / max) + '%' }),
        el('span', { class: 'label' }, q.property === 'visit:country' ? badge(value) : null, label), nums);
      list.append(el('li', {}, button));
    }
    body.replaceChildren(list, ...(place ? placeNotes() : []));
  }

  const NO_CITY_TEXT = 'Regions and cities need a city database, and this server has none: visitors are located by country only. ' +
    'An administrator can add a free one (DB-IP IP to City Lite or MaxMind GeoLite2 City) with ';

  function noCityNote() {
    return el('p', { class: 'empty-body geo-note', 'data-testid': 'no-city-database' }, NO_CITY_TEXT,
      el('code', { text: 'LIVEINSIGHT_GEO_CITY_DATABASE' }),
      ' (documentation: enrichment.md, “City and region”).');
  }

  function placeNotes() {
    const notes = [];
    if (GEO.demo) notes.push(el('p', { class: 'hint geo-note', 'data-testid': 'demo-places', text: 'Demo site: these places were generated by the demo, not looked up.' }));
    if (GEO.credit) notes.push(el('p', { class: 'hint geo-credit' }, el('a', { href: GEO.credit[1], rel: 'noopener noreferrer', target: '_blank', text: GEO.credit[0] })));
    return notes;
  }

  function renderMap(section, rows) {
    const body = section.querySelector('.card-body');
    const values = {};
    for (const r of rows) if (r.country) values[r.country] = r.visitors;
    const holder = el('div', { class: 'map', id: 'world-map', role: 'img', 'aria-label': 'World map of visitors by country; switch to Countries for a list' });
    body.replaceChildren(holder);
    if (!window.jsVectorMap) { holder.textContent = 'Map unavailable'; return; }
    const all = Object.keys(values);
    try {
      maps.world = new jsVectorMap({
        selector: '#world-map', map: 'world', zoomButtons: false, zoomOnScroll: false,
        regionStyle: { initial: { fill: '#e7e9f0', stroke: '#fff', strokeWidth: 0.4 }, hover: { fillOpacity: 0.8, cursor: 'pointer' } },
        visualizeData: all.length ? { scale: ['#c7d2fe', '#3730a3'], values } : undefined,
        onRegionTooltipShow(event, tooltip, code) {
          tooltip.text(countryName(code) + ': ' + nf.format(values[code] || 0) + ' visitors');
        },
        onRegionClick(event, code) { if (values[code]) addFilter('visit:country', code); },
      });
    } catch (e) { holder.textContent = 'Map unavailable: ' + e.message; }
  }

  async function exportCard(section) {
    const q = cardQuery(section, 1000);
    if (!q) return;
    const doc = await getJSON(q.url);
    const key = q.property.split(':').pop();
    const metrics = q.metrics.split(',');
    const esc = (v) => { const s = v == null ? '' : String(v); return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; };
    const lines = [[key, ...metrics].join(',')].concat(doc.results.map((r) => [r[key], ...metrics.map((m) => num(r[m]))].map(esc).join(',')));
    const blob = new Blob([lines.join('\n') + '\n'], { type: 'text/csv' });
    const a = el('a', { href: URL.createObjectURL(blob), download: DOMAIN + '-' + key + '-' + (state.period === 'custom' ? state.from + '_' + state.to : state.period) + '.csv' });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  // --- details: all rows of a card's view, paginated, searchable, sortable by any column --
  // Read from POST /api/v2/query (pagination, order_by, include.total_rows), with the
  // dashboard's filters as v2 filters and the search as a case-insensitive "contains".
  const DETAILS_PAGE = 50;
  const details = { q: null, title: '', order: null, offset: 0, search: '', abort: null, timer: null };
  const dialog = document.getElementById('details');

  function globRegex(value) {
    return '^' + value.split(/(\*\*|\*)/).map((p) => (p === '**' ? '.*' : p === '*' ? '[^/]*' : p.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&'))).join('') + '$';
  }
  // One filter of the URL's syntax (``dim==a|b``, ``dim!=a``, ``dim~text``, ``*`` wildcards)
  // as the v2 condition the simple endpoints read it as (query/parser.py: _simple_filters).
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
  function v2Filters(extra) {
    const list = state.filters.map((f) => v2Condition(f.dim, f.op, f.value));
    for (const part of (extra || '').split(';').filter(Boolean)) {
      const f = parseFilters(part)[0];
      if (f) list.push(v2Condition(f.dim, f.op, f.value));
    }
    return list;
  }
  function v2Range() {
    const body = {};
    if (state.period === 'custom') body.date_range = [state.from, state.to];
    else { body.date_range = state.period; if (state.date) body.date = state.date; }
    return body;
  }

  function detailsBody() {
    const q = details.q;
    return {
      site_id: SITE, metrics: q.metrics.split(','), dimensions: [q.property], ...v2Range(),
      filters: v2Filters(q.extra).concat(details.search ? [['contains', q.property, [details.search], { case_sensitive: false }]] : []),
      order_by: [details.order],
      pagination: { limit: DETAILS_PAGE, offset: details.offset }, include: { total_rows: true, imports: state.imports },
    };
  }

  function openDetails(section) {
    const q = cardQuery(section, DETAILS_PAGE);
    if (!q) return;
    const name = section.dataset.card;
    const tab = CARDS[name][state.tabs[name]][0];
    details.q = q;
    const heading = section.querySelector('h2').textContent, view = q.mode === 'map' ? 'Countries' : tab;
    details.title = view === heading ? heading : heading + ' · ' + view;
    details.order = [q.metrics.split(',')[0], 'desc'];
    details.offset = 0;
    details.search = '';
    document.getElementById('details-search').value = '';
    document.getElementById('details-title').textContent = details.title;
    if (!dialog.open) dialog.showModal();
    loadDetails();
  }

  async function loadDetails() {
    if (details.abort) details.abort.abort();
    const ctl = details.abort = new AbortController();
    const table = document.getElementById('details-table');
    const status = document.getElementById('details-status');
    table.setAttribute('aria-busy', 'true');
    const body = detailsBody();
    try {
      const url = '/api/v2/query' + (AUTH ? '?auth=' + encodeURIComponent(AUTH) : '');
      const res = await fetch(url, { method: 'POST', credentials: 'same-origin', signal: ctl.signal,
        headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) });
      const doc = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error((doc.error && doc.error.message) || res.statusText);
      renderDetails(body, doc);
    } catch (e) {
      if (e.name !== 'AbortError') status.textContent = 'Could not load: ' + e.message;
    } finally { table.removeAttribute('aria-busy'); }
  }

  function renderDetails(body, doc) {
    const q = details.q;
    if (PLACE_DIMS.test(q.property) && !GEO.cities && !details.search && details.offset === 0 && !doc.results.some((r) => r.dimensions[0])) {
      document.getElementById('details-table').replaceChildren();  // not one "(unknown)" row
      document.getElementById('details-status').textContent = NO_CITY_TEXT + 'LIVEINSIGHT_GEO_CITY_DATABASE.';
      document.getElementById('details-prev').disabled = document.getElementById('details-next').disabled = true;
      return;
    }
    const metrics = body.metrics;
    const columns = [q.property, ...metrics];
    const head = el('tr', {}, ...columns.map((col, i) => {
      const sorted = details.order[0] === col ? details.order[1] : null;
      const label = i === 0 ? (FILTER_LABELS[col] || col.replace(/^event:props:/, '')) : (COLUMN_LABELS[col] || col);
      return el('th', { scope: 'col', 'aria-sort': sorted === 'asc' ? 'ascending' : sorted === 'desc' ? 'descending' : 'none', class: i ? 'n' : '' },
        el('button', { type: 'button', 'data-sort': col, text: label + (sorted ? (sorted === 'desc' ? ' ↓' : ' ↑') : ''),
          onclick: () => sortDetails(col, i === 0) }));
    }));
    const rows = doc.results.map((r) => {
      const value = r.dimensions[0];
      const label = displayValue(q.property, value);
      const extra = q.event ? { dim: 'event:name', op: '==', value: q.event } : null;
      return el('tr', { 'data-row': '' },
        el('th', { scope: 'row' }, el('button', { type: 'button', class: 'link', title: 'Filter by ' + label, text: label,
          onclick: () => { dialog.close(); addFilter(q.property, value, extra); } })),
        ...metrics.map((m, i) => el('td', { class: 'n', 'data-metric': m, 'data-raw': String(num(r.metrics[i])), text: metricText(m, r.metrics[i]) })));
    });
    document.getElementById('details-table').replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows));
    const total = doc.meta.total_rows;
    const first = total ? details.offset + 1 : 0, last = details.offset + doc.results.length;
    document.getElementById('details-status').textContent = total
      ? 'Rows ' + nf.format(first) + '–' + nf.format(last) + ' of ' + nf.format(total) : 'No rows' + (details.search ? ' match the search.' : '.');
    document.getElementById('details-prev').disabled = details.offset === 0;
    document.getElementById('details-next').disabled = last >= total;
  }

  function sortDetails(col, isDimension) {
    const [key, dir] = details.order;
    details.order = key === col ? [col, dir === 'desc' ? 'asc' : 'desc'] : [col, isDimension ? 'asc' : 'desc'];
    details.offset = 0;
    loadDetails();
  }
  document.getElementById('details-search').addEventListener('input', (e) => {
    clearTimeout(details.timer);
    details.timer = setTimeout(() => { details.search = e.target.value.trim().slice(0, 200); details.offset = 0; loadDetails(); }, 250);
  });
  document.getElementById('details-prev').addEventListener('click', () => { details.offset = Math.max(0, details.offset - DETAILS_PAGE); loadDetails(); });
  document.getElementById('details-next').addEventListener('click', () => { details.offset += DETAILS_PAGE; loadDetails(); });
  document.getElementById('details-close').addEventListener('click', () => dialog.close());

  // --- live counter and feed -------------------------------------------------------------
  function startLive() {
    const count = document.getElementById('live-count');
    const feed = document.getElementById('feed');
    let source = null;
    function connect() {
      source = new EventSource('/api/realtime/stream?site_id=' + encodeURIComponent(SITE) + (AUTH ? '&auth=' + encodeURIComponent(AUTH) : ''));
      source.addEventListener('realtime', (ev) => {
        const doc = JSON.parse(ev.data);
        count.textContent = nf.format(doc.visitors);
        count.dataset.value = String(doc.visitors);
        count.nextElementSibling.textContent = doc.visitors === 1 ? 'current visitor' : 'current visitors';
      });
      source.addEventListener('events', (ev) => {
        const items = JSON.parse(ev.data);
        const placeholder = feed.querySelector('.muted');
        if (placeholder) placeholder.remove();
        for (const item of items) {
          const when = new Date(item.timestamp.replace(' ', 'T') + 'Z');
          const what = item.name === 'pageview' ? item.pathname : item.name + ' on ' + item.pathname;
          const meta = [item.city || countryName(item.country_code) || '', item.browser, item.device, item.referrer_source || 'Direct'].filter((x) => x && x.trim()).join(' · ');
          const li = el('li', { class: 'new' }, el('time', { datetime: when.toISOString(), text: when.toLocaleTimeString('en-GB') }),
            el('span', { class: 'what', text: what }), el('span', { class: 'meta' }, badge(item.country_code), meta));
          feed.prepend(li);
        }
        while (feed.children.length > 50) feed.lastElementChild.remove();
      });
      source.onerror = () => { count.textContent = count.dataset.value ? nf.format(Number(count.dataset.value)) : '–'; };
    }
    connect();
    document.addEventListener('visibilitychange', () => {
      if (document.hidden && source) { source.close(); source = null; } else if (!document.hidden && !source) connect();
    });
  }

  // --- controls --------------------------------------------------------------------------
  function syncControls() {
    const toggle = document.getElementById('imports-toggle');
    if (toggle) toggle.checked = state.imports;
    const choice = periodChoice();
    const shifted = document.getElementById('period-shifted');
    shifted.hidden = choice !== 'shifted';
    shifted.textContent = choice === 'shifted' ? shiftedText() : '';
    document.getElementById('period').value = choice;
    document.getElementById('compare').value = state.compare;
    const custom = document.getElementById('custom-range');
    custom.hidden = state.period !== 'custom';
    if (state.period === 'custom') { document.getElementById('from').value = state.from; document.getElementById('to').value = state.to; }
    intervalOptions();
    renderChips();
    renderSegments();
  }

  const IMPORTS_SKIPPED = {
    out_of_range: 'none in this range', unsupported_interval: 'hourly and realtime views are native only',
    unsupported_query: 'not for these filters', no_imported_data: 'no completed import',
  };
  const importsToggle = document.getElementById('imports-toggle');
  if (importsToggle) {
    importsToggle.checked = state.imports;
    importsToggle.addEventListener('change', () => { state.imports = importsToggle.checked; changed(); });
  }

  function changed(replace) {
    writeState(replace);
    refresh();
  }

  function refresh() {
    syncControls();
    loadTop();
    document.querySelectorAll('.breakdown').forEach(loadCard);
  }

  function openCustom() {
    state.from = state.from || siteDate(-13);
    state.to = state.to || siteDate(0);
    document.getElementById('period').value = 'custom';
    document.getElementById('custom-range').hidden = false;
    document.getElementById('from').value = state.from;
    document.getElementById('to').value = state.to;
    document.getElementById('from').focus();
  }
  document.getElementById('period').addEventListener('change', (e) => choosePeriod(e.target.value));

  // Keyboard shortcuts, as Plausible's; not while typing, nor with a modifier key.
  const KEYS = { r: 'realtime', d: 'day', e: 'yesterday', w: '7d', t: '30d', m: 'month', l: 'last_month', y: 'year', a: 'all', c: 'custom' };
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented || document.querySelector('dialog[open]')) return;
    const target = e.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') { e.preventDefault(); movePeriod(e.key === 'ArrowLeft' ? -1 : 1); return; }
    const period = KEYS[e.key];
    if (!period) return;
    e.preventDefault();
    choosePeriod(period);
  });
  document.getElementById('apply-range').addEventListener('click', () => {
    const from = document.getElementById('from').value, to = document.getElementById('to').value;
    if (!from || !to || from > to) { document.getElementById('range-label').textContent = 'Pick a start date before the end date.'; return; }
    state.period = 'custom'; state.date = ''; state.from = from; state.to = to; state.interval = DEFAULT_INTERVAL.custom;
    changed();
  });
  document.getElementById('compare').addEventListener('change', (e) => { state.compare = e.target.value; writeState(false); loadTop(); document.querySelectorAll('.breakdown').forEach(loadCard); });
  document.getElementById('interval').addEventListener('change', (e) => { state.interval = e.target.value; writeState(false); loadGraph(); });
  document.querySelectorAll('.tile').forEach((tile) => tile.addEventListener('click', () => {
    state.metric = tile.dataset.metric;
    document.querySelectorAll('.tile').forEach((t) => t.setAttribute('aria-pressed', String(t === tile)));
    document.getElementById('graph-title').textContent = METRIC_LABELS[state.metric];
    writeState(false);
    loadGraph();
  }));
  window.addEventListener('popstate', () => { state = readState(); refresh(); });

  document.getElementById('add-filter').addEventListener('click', openBuilder);
  if (segmentSelect) segmentSelect.addEventListener('change', (e) => applySegment(e.target.value));
  if (CAN_EDIT_SEGMENTS) {
    const dlg = document.getElementById('segment-dialog');
    document.getElementById('save-segment').addEventListener('click', () => {
      document.getElementById('sg-name').value = '';
      document.getElementById('sg-error').textContent = '';
      dlg.showModal();
    });
    document.getElementById('sg-form').addEventListener('submit', saveSegment);
    document.getElementById('sg-cancel').addEventListener('click', () => dlg.close());
    document.getElementById('delete-segment').addEventListener('click', deleteSegment);
  }
  document.getElementById('fb-dim').addEventListener('change', suggest);
  document.getElementById('fb-form').addEventListener('submit', applyBuilder);
  document.getElementById('fb-cancel').addEventListener('click', () => builder.close());
  document.querySelectorAll('.breakdown').forEach(setupCard);
  writeState(true);
  refresh();
  startLive();
})();
