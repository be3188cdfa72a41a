// Spend: the wallet, spend per day / model / agent as a bar chart (inline
// SVG, no library) and the most recent ledger entries.

import { dateTime, emptyState, errorBox, h, loading, ot, put, svg, uotToOt } from '../dom.js';

const GROUPS = [
  ['day', 'Per day'],
  ['model', 'Per model'],
  ['agent', 'Per agent'],
];

/** Horizontal bars, one per row: label, bar, value. `width` in CSS pixels. */
export function barChart(rows, { width, label }) {
  const rowH = 28;
  const gap = 6;
  const labelW = Math.min(200, Math.max(90, Math.floor(width * 0.32)));
  const valueW = 110;
  const barMax = Math.max(20, width - labelW - valueW - 12);
  const max = rows.reduce((m, r) => Math.max(m, r.value), 0) || 1;
  const height = rows.length * (rowH + gap) + gap;
  const chart = svg('svg', { class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label });
  chart.append(svg('title', { text: label }));
  rows.forEach((r, i) => {
    const y = gap + i * (rowH + gap);
    const w = Math.max(r.value > 0 ? 2 : 0, Math.round((r.value / max) * barMax));
    const g = svg('g', { class: 'bar-row' });
    g.append(
      svg('text', { x: labelW - 8, y: y + rowH / 2, class: 'bar-label', 'text-anchor': 'end', 'dominant-baseline': 'middle', text: clip(r.label, Math.floor(labelW / 7)) }),
      svg('rect', { x: labelW, y, width: barMax, height: rowH, rx: 4, class: 'bar-track' }),
      svg('rect', { x: labelW, y, width: w, height: rowH, rx: 4, class: 'bar' }),
      svg('text', { x: labelW + barMax + 8, y: y + rowH / 2, class: 'bar-value', 'dominant-baseline': 'middle', text: r.valueText }),
    );
    g.append(svg('title', { text: `${r.label}: ${r.valueText}${r.extra ? ` (${r.extra})` : ''}` }));
    chart.append(g);
  });
  return chart;
}

function clip(s, n) {
  s = String(s ?? '');
  return s.length > n ? `${s.slice(0, Math.max(1, n - 1))}…` : s;
}

export function render(ctx) {
  const { main, api } = ctx;
  let group = 'day';
  let days = 30;
  let alive = true;
  let agentNames = null;
  let lastRows = null;

  const walletSlot = h('div', { class: 'wallet' }, loading());
  const chartSlot = h('div', { class: 'chart-wrap', id: 'spend-chart' }, loading());
  const totalSlot = h('p', { class: 'total' });
  const ledgerSlot = h('div', {}, loading());

  const groupButtons = GROUPS.map(([id, label]) =>
    h('button', { type: 'button', class: 'seg', 'data-group': id, 'aria-pressed': id === group ? 'true' : 'false', onclick: () => setGroup(id) }, label),
  );
  const daysSelect = h(
    'select',
    { id: 'spend-days', 'aria-label': 'Period', onchange: (e) => { days = Number(e.target.value); loadSpend(); } },
    [7, 30, 90, 366].map((d) => h('option', { value: d, selected: d === days }, d === 366 ? 'Last year' : `Last ${d} days`)),
  );

  put(
    main,
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Spend')),
    h('section', { 'aria-labelledby': 'wallet-h' }, h('h2', { id: 'wallet-h' }, 'Wallet'), walletSlot),
    h(
      'section',
      { 'aria-labelledby': 'spend-h' },
      h('div', { class: 'section-head' }, h('h2', { id: 'spend-h' }, 'Spend'), h('div', { class: 'controls' }, h('div', { class: 'segmented', role: 'group', 'aria-label': 'Group spend' }, groupButtons), daysSelect)),
      totalSlot,
      chartSlot,
    ),
    h('section', { 'aria-labelledby': 'ledger-h' }, h('h2', { id: 'ledger-h' }, 'Recent ledger'), ledgerSlot),
  );

  function setGroup(id) {
    group = id;
    for (const b of groupButtons) b.setAttribute('aria-pressed', b.dataset.group === id ? 'true' : 'false');
    loadSpend();
  }

  async function loadWallet() {
    try {
      const w = await api('GET', '/v1/wallet');
      if (!alive) return;
      const card = (label, value, cls) => h('div', { class: ['stat', cls] }, h('span', { class: 'stat-label' }, label), h('span', { class: 'stat-value' }, value));
      put(
        walletSlot,
        h(
          'div',
          { class: 'stats' },
          card('Balance', ot(w.balance_ot ?? uotToOt(w.balance_uot)), 'stat-main'),
          card('Reserved (calls in flight)', ot(uotToOt(w.reserved_uot))),
          card('Spent', ot(uotToOt(w.spent_uot))),
          card('Credited', ot(uotToOt(w.credits_uot))),
        ),
      );
    } catch (e) {
      if (alive) put(walletSlot, errorBox(e, loadWallet));
    }
  }

  function drawChart() {
    if (!lastRows) return;
    const { rows, label } = lastRows;
    if (!rows.length) {
      put(chartSlot, emptyState('No spend in this period', 'Calls and agent runs show up here once they are charged.'));
      return;
    }
    const width = Math.max(280, Math.floor(chartSlot.clientWidth || main.clientWidth || 600));
    put(chartSlot, barChart(rows, { width, label }), tableOf(rows));
  }

  function tableOf(rows) {
    return h(
      'details',
      { class: 'chart-table' },
      h('summary', {}, 'As a table'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'table' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, GROUPS.find((g) => g[0] === group)[1].replace('Per ', '')), h('th', { scope: 'col', class: 'num' }, 'Cost'), h('th', { scope: 'col', class: 'num' }, group === 'agent' ? 'Runs' : 'Calls'))), h('tbody', {}, rows.map((r) => h('tr', {}, h('td', {}, r.label), h('td', { class: 'num' }, r.valueText), h('td', { class: 'num' }, r.count)))))),
    );
  }

  async function loadSpend() {
    put(chartSlot, loading());
    totalSlot.textContent = '';
    try {
      const [s, names] = await Promise.all([
        api('GET', `/v1/spend?group_by=${group}&days=${days}`),
        group === 'agent' && !agentNames ? api('GET', '/v1/agents?limit=100').catch(() => ({ data: [] })) : null,
      ]);
      if (!alive) return;
      if (names) agentNames = new Map((names.data || []).map((a) => [a.id, a.name || a.id]));
      const data = s.data || [];
      const rows = data.map((d) => {
        const key = d[group];
        const labelText = group === 'agent' ? (agentNames && agentNames.get(key)) || key : key || '(none)';
        return { label: labelText, value: Number(d.cost_uot || 0), valueText: ot(d.cost_ot), count: d.calls ?? d.runs ?? 0, extra: `${d.calls ?? d.runs ?? 0} ${group === 'agent' ? 'runs' : 'calls'}` };
      });
      if (group !== 'day') rows.sort((a, b) => b.value - a.value);
      totalSlot.textContent = `Total over the last ${days} days: ${ot(s.total_ot)}`;
      lastRows = { rows, label: `Spend ${GROUPS.find((g) => g[0] === group)[1].toLowerCase()}, last ${days} days, total ${s.total_ot} O₮` };
      drawChart();
    } catch (e) {
      if (alive) put(chartSlot, errorBox(e, loadSpend));
    }
  }

  async function loadLedger() {
    try {
      const l = await api('GET', '/v1/ledger?limit=25&order=desc');
      if (!alive) return;
      const rows = l.data || [];
      if (!rows.length) {
        put(ledgerSlot, emptyState('The ledger is empty', 'Every charged call writes one entry.'));
        return;
      }
      put(
        ledgerSlot,
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'table ledger' },
            h('thead', {}, h('tr', {}, ['When', 'Kind', 'Model', 'Tokens in / cached / out', 'Cost', 'Status'].map((t, i) => h('th', { scope: 'col', class: [i === 3 || i === 4 ? 'num' : null, i === 1 ? 'hide-narrow' : null].filter(Boolean).join(' ') || null }, t)))),
            h(
              'tbody',
              {},
              rows.map((e) =>
                h(
                  'tr',
                  {},
                  h('td', {}, dateTime(e.created_at)),
                  h('td', { class: 'hide-narrow' }, e.kind || ''),
                  h('td', {}, e.model || ''),
                  h('td', { class: 'num' }, `${e.input_tokens ?? 0} / ${e.cached_input_tokens ?? 0} / ${e.output_tokens ?? 0}`),
                  h('td', { class: 'num' }, ot(uotToOt(e.cost_uot))),
                  h('td', {}, e.status || ''),
                ),
              ),
            ),
          ),
        ),
      );
    } catch (e) {
      if (alive) put(ledgerSlot, errorBox(e, loadLedger));
    }
  }

  let resizeTimer = null;
  const onResize = () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawChart, 100);
  };
  window.addEventListener('resize', onResize);
  loadWallet();
  loadSpend();
  loadLedger();
  return () => {
    alive = false;
    window.removeEventListener('resize', onResize);
    clearTimeout(resizeTimer);
  };
}
