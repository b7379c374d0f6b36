/* Funnel builder live preview: while a funnel form (a form with data-funnel-site) is edited,
 * its funnel is asked of POST /api/v2/funnels (the ad-hoc funnel API, with the page's session)
 * 400 ms after the last change, and each step's count, conversion and drop-off are drawn in
 * the form's [data-funnel-preview] element; the page is not reloaded. A funnel the API refuses
 * shows the API's reason. Steps are read as the server reads the form (funnel_forms.py:
 * "page /path" or "event Name key=value ..." per line). */
(function () {
  'use strict';
  const DELAY_MS = 400;
  const nf = new Intl.NumberFormat('en');

  function stepsFromLines(text) {
    const steps = [];
    for (const line of text.slice(0, 20000).split(/\r?\n/)) {
      const words = line.split(/\s+/).filter(Boolean);
      if (!words.length) continue;
      const kind = words[0].toLowerCase();
      const value = words[1] || '';
      const step = kind === 'page' ? { type: 'page', path: value } : { type: kind, name: value };
      const props = {};
      for (const word of words.slice(2)) {
        const at = word.indexOf('=');
        if (at >= 0) props[word.slice(0, at)] = word.slice(at + 1);
      }
      if (Object.keys(props).length) step.props = props;
      steps.push(step);
    }
    return steps;
  }

  function field(form, name) {
    const el = form.elements.namedItem(name);
    return el && 'value' in el ? el.value : '';
  }

  function question(form) {
    const body = { site_id: Number(form.dataset.funnelSite), date_range: field(form, 'period') || '30d' };
    const saved = field(form, 'funnel_id');
    if (saved) return { ...body, funnel_id: Number(saved) };
    const steps = stepsFromLines(field(form, 'steps'));
    if (steps.length < 2) return null;
    return { ...body, funnel: { steps, window: field(form, 'window') || '1d',
      order: field(form, 'order') || 'ordered', basis: field(form, 'basis') || 'visitor' } };
  }

  function el(tag, attrs, ...children) {
    const ns = tag === 'svg' || tag === 'rect' ? 'http://www.w3.org/2000/svg' : null;
    const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') node.textContent = v; else node.setAttribute(k, v);
    }
    node.append(...children);
    return node;
  }

  function percent(value) { return value == null ? '–' : value + ' %'; }

  function draw(box, doc) {
    const first = doc.steps[0].count || 1;
    const rows = doc.steps.map((s) => el('tr', { 'data-preview-step': s.step },
      el('td', { text: s.step + '. ' + s.label }),
      el('td', {}, el('svg', { width: '120', height: '10', role: 'img', 'aria-label': percent(s.conversion_from_first) },
        el('rect', { width: '120', height: '10', fill: '#e5e7eb' }),
        el('rect', { width: (120 * s.count / first).toFixed(1), height: '10', fill: '#4f46e5' }))),
      el('td', { 'data-preview-count': '', text: nf.format(s.count) }),
      el('td', { text: percent(s.conversion_from_previous) }),
      el('td', { text: s.step > 1 ? '−' + nf.format(s.dropoff) : '' })));
    const table = el('table', { class: 'plain', 'aria-label': 'Funnel preview' },
      el('thead', {}, el('tr', {}, el('th', { text: 'Preview' }), el('th'), el('th', { text: doc.counted }),
        el('th', { text: 'from previous' }), el('th', { text: 'drop-off' }))),
      el('tbody', {}, ...rows));
    box.replaceChildren(table, el('p', { class: 'hint', text: 'Conversion ' + percent(doc.conversion_rate) +
      ' · ' + doc.date_range[0] + ' to ' + doc.date_range[1] }));
    box.dataset.state = 'ready';
  }

  function say(box, text, state) {
    box.replaceChildren(el('p', { class: state === 'error' ? 'alert' : 'hint', text }));
    box.dataset.state = state;
  }

  function watch(form) {
    const box = form.querySelector('[data-funnel-preview]');
    if (!box) return;
    let timer = 0;
    let pending = null;
    async function ask() {
      const body = question(form);
      if (pending) pending.abort();
      if (!body) { say(box, 'The preview shows once there are two steps.', 'idle'); return; }
      pending = new AbortController();
      box.dataset.state = 'loading';
      try {
        const res = await fetch('/api/v2/funnels', { method: 'POST', credentials: 'same-origin',
          signal: pending.signal, headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(body) });
        const doc = await res.json();
        if (res.ok) draw(box, doc);
        else say(box, (doc.error && doc.error.message) + (doc.error && doc.error.field ? ' (' + doc.error.field + ')' : ''), 'error');
      } catch (e) {
        if (e.name !== 'AbortError') say(box, 'The preview is not available: ' + e.message, 'error');
      }
    }
    const later = () => {
      box.dataset.state = 'waiting'; // what is shown is no longer the form's funnel
      clearTimeout(timer);
      timer = setTimeout(ask, DELAY_MS);
    };
    form.addEventListener('input', later);
    form.addEventListener('change', later);
    if (question(form)) ask();
  }

  document.querySelectorAll('form[data-funnel-site]').forEach(watch);
})();
