// DOM helpers. Everything that comes from the API goes into the page as
// text (textContent, attributes set one by one): never as HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'text') el.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** h('div', {class: 'x', onclick: fn}, 'text', child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  return append(el, children);
}

/** The same for SVG elements. */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, String(v));
  }
  return append(el, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** Replaces the children of `el`. */
export function put(el, ...children) {
  clear(el);
  return append(el, children);
}

// ---- formatting -------------------------------------------------------------

/** µO₮ (integer) → "12.345678" trimmed ("12.35" style only when asked). */
export function uotToOt(uot) {
  if (uot === null || uot === undefined || uot === '') return '—';
  const n = typeof uot === 'bigint' ? uot : BigInt(Math.trunc(Number(uot)));
  const neg = n < 0n;
  const a = neg ? -n : n;
  const whole = a / 1000000n;
  let frac = (a % 1000000n).toString().padStart(6, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac ? '.' + frac : ''}`;
}

/** "0.001234" → "0.001234 O₮"; null → "—". */
export function ot(text) {
  if (text === null || text === undefined || text === '') return '—';
  return `${text} O₮`;
}

export function dateTime(unix) {
  if (!unix) return '—';
  const d = new Date(unix * 1000);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** Seconds → "2h 03m", "4m 05s", "12s". */
export function duration(s) {
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  if (d) return `${d}d ${String(hh).padStart(2, '0')}h`;
  if (hh) return `${hh}h ${String(mm).padStart(2, '0')}m`;
  if (mm) return `${mm}m ${String(ss).padStart(2, '0')}s`;
  return `${ss}s`;
}

export function ago(unix) {
  if (!unix) return '';
  const s = Math.floor(Date.now() / 1000) - unix;
  if (s < 5) return 'just now';
  return `${duration(s)} ago`;
}

/** A JSON text (or value) pretty-printed; a text that is not JSON as it is. */
export function prettyJson(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') {
    try {
      return JSON.stringify(JSON.parse(v), null, 2);
    } catch {
      return v;
    }
  }
  return JSON.stringify(v, null, 2);
}

export function tokens(usage) {
  if (!usage) return '—';
  const p = usage.prompt_tokens ?? usage.input_tokens;
  const c = usage.completion_tokens ?? usage.output_tokens;
  const t = usage.total_tokens ?? (p ?? 0) + (c ?? 0);
  return `${t} tokens (${p ?? 0} in, ${c ?? 0} out)`;
}

// ---- small widgets ------------------------------------------------------------

export function statusBadge(status) {
  const s = String(status || 'unknown');
  const tone =
    {
      completed: 'ok', approved: 'ok',
      failed: 'bad', rejected: 'bad', expired: 'bad', cancelled: 'muted', incomplete: 'warn',
      pending: 'warn', awaiting_approval: 'warn', requires_action: 'warn',
      in_progress: 'info', queued: 'info', cancelling: 'muted',
    }[s] || 'muted';
  return h('span', { class: `badge badge-${tone}` }, s.replace(/_/g, ' '));
}

export function emptyState(title, detail) {
  return h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, title), detail ? h('p', { class: 'muted' }, detail) : null);
}

export function errorBox(err, retry) {
  return h(
    'div',
    { class: 'error-box', role: 'alert' },
    h('strong', {}, err && err.status ? `Error ${err.status}: ` : 'Error: '),
    h('span', {}, (err && err.message) || String(err)),
    retry ? h('button', { type: 'button', class: 'btn btn-small', onclick: retry }, 'Retry') : null,
  );
}

export function loading(what = 'Loading…') {
  return h('p', { class: 'muted loading', 'aria-busy': 'true' }, what);
}

/** A definition list from [[label, value], …] (values may be nodes). */
export function facts(rows) {
  return h(
    'dl',
    { class: 'facts' },
    rows.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v === null || v === undefined || v === '' ? '—' : v)]),
  );
}

export function codeBlock(text, cls) {
  return h('pre', { class: ['code', cls] }, h('code', {}, text));
}
