// Approvals: the tool calls of the company's agents that wait for a person.
// Live over the WebSocket (`subscribe` approvals); polled every 5 s while
// the socket is down.

import { ApiError } from '../api.js';
import { ago, codeBlock, dateTime, duration, emptyState, errorBox, facts, h, loading, prettyJson, put, statusBadge } from '../dom.js';

const POLL_MS = 5000;

export function render(ctx) {
  const { main, api, feed } = ctx;
  const byId = new Map(); // approval id → approval
  let loaded = false;
  let loadError = null;
  const countdowns = []; // { el, expiresAt, card }
  const busy = new Set(); // ids with a decision in flight
  let pendingCountdown = null;

  const liveBadge = h('span', { class: 'live-badge', role: 'status', 'aria-live': 'polite' });
  const notice = h('div', { class: 'notices', 'aria-live': 'polite' });
  const pendingCount = h('span', { class: 'count' });
  const pendingList = h('div', { class: 'list', id: 'pending-approvals' });
  const decidedList = h('div', { class: 'list', id: 'decided-approvals' });

  put(
    main,
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Approvals'), liveBadge),
    h('p', { class: 'muted lead' }, 'Tool calls your agents may only make once a person approves them. Each is decided exactly once: here, over the API or on Telegram.'),
    notice,
    h('section', { 'aria-labelledby': 'pending-h' }, h('h2', { id: 'pending-h' }, 'Pending ', pendingCount), pendingList),
    h('section', { 'aria-labelledby': 'decided-h' }, h('h2', { id: 'decided-h' }, 'Decided'), decidedList),
  );

  function say(text, tone = 'info') {
    const item = h('p', { class: `notice notice-${tone}` }, text, h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '×'));
    notice.prepend(item);
    while (notice.children.length > 3) notice.lastChild.remove();
  }

  function setLive(state) {
    const text = { live: 'Live', connecting: 'Connecting…', down: `Offline: refreshing every ${POLL_MS / 1000} s` }[state] || state;
    liveBadge.textContent = text;
    liveBadge.className = `live-badge live-${state}`;
  }

  function upsert(a) {
    if (!a || !a.id) return;
    const old = byId.get(a.id);
    // Never let an older pending copy overwrite a decision we already know.
    if (old && old.status !== 'pending' && a.status === 'pending') return;
    byId.set(a.id, { ...old, ...a });
  }

  async function load() {
    try {
      const [pending, all] = await Promise.all([
        api('GET', '/v1/approvals?status=pending&limit=100'),
        api('GET', '/v1/approvals?limit=100'),
      ]);
      const seen = new Set();
      for (const a of [...(all.data || []), ...(pending.data || [])]) {
        seen.add(a.id);
        byId.set(a.id, a);
      }
      // A pending one that left the lists was decided elsewhere.
      for (const [id, a] of byId) if (!seen.has(id) && a.status === 'pending') byId.delete(id);
      loadError = null;
    } catch (e) {
      if (e.name === 'AbortError') return;
      loadError = e;
    }
    loaded = true;
    draw();
  }

  async function decide(a, verdict, reasonInput, buttons) {
    busy.add(a.id);
    for (const b of buttons) b.disabled = true;
    const reason = reasonInput.value.trim();
    try {
      const decided = await api('POST', `/v1/approvals/${encodeURIComponent(a.id)}/${verdict}`, { body: reason ? { reason } : {} });
      upsert(decided);
      say(`${verdict === 'approve' ? 'Approved' : 'Rejected'}: ${a.tool} for ${a.agent_name || a.agent_id}.`, verdict === 'approve' ? 'ok' : 'info');
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) say(e.message, 'warn');
      else say(`Could not ${verdict} ${a.tool}: ${e.message}`, 'bad');
      busy.delete(a.id);
      await load();
      return;
    }
    busy.delete(a.id);
    draw();
  }

  function pendingCard(a) {
    const reason = h('input', { type: 'text', class: 'reason', placeholder: 'Reason (optional)', 'aria-label': `Reason for the decision on ${a.tool}`, maxlength: '1000' });
    const approve = h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'approve' }, 'Approve');
    const reject = h('button', { type: 'button', class: 'btn btn-danger', 'data-action': 'reject' }, 'Reject');
    const buttons = [approve, reject];
    if (busy.has(a.id)) for (const b of buttons) b.disabled = true;
    approve.addEventListener('click', () => decide(a, 'approve', reason, buttons));
    reject.addEventListener('click', () => decide(a, 'reject', reason, buttons));
    const countdown = h('span', { class: 'countdown' });
    const card = h(
      'article',
      { class: 'card approval', 'data-approval-id': a.id, 'aria-label': `Approval of ${a.tool}` },
      h('header', { class: 'card-head' }, h('h3', {}, h('code', {}, a.tool || '(tool)')), statusBadge(a.status)),
      facts([
        ['Agent', a.agent_id ? h('a', { href: `#/agents/${encodeURIComponent(a.agent_id)}` }, a.agent_name || a.agent_id) : a.agent_name],
        ['Run', a.agent_run_id ? h('a', { href: `#/runs/${encodeURIComponent(a.agent_run_id)}` }, a.agent_run_id) : null],
        ['Requested', h('span', { title: dateTime(a.created_at) }, ago(a.created_at))],
        ['Expires in', countdown],
      ]),
      h('p', { class: 'label' }, 'Arguments'),
      codeBlock(prettyJson(a.arguments) || '{}', 'args'),
      h('div', { class: 'actions' }, reason, approve, reject),
    );
    pendingCountdown = { el: countdown, expiresAt: a.expires_at, card, buttons };
    return card;
  }

  function decidedCard(a) {
    return h(
      'article',
      { class: 'card approval decided', 'data-approval-id': a.id },
      h('header', { class: 'card-head' }, h('h3', {}, h('code', {}, a.tool || '(tool)')), statusBadge(a.status)),
      facts([
        ['Agent', a.agent_id ? h('a', { href: `#/agents/${encodeURIComponent(a.agent_id)}` }, a.agent_name || a.agent_id) : a.agent_name],
        ['Run', a.agent_run_id ? h('a', { href: `#/runs/${encodeURIComponent(a.agent_run_id)}` }, a.agent_run_id) : null],
        ['Decided', a.decided_at ? `${dateTime(a.decided_at)}${a.decided_by ? ` by ${a.decided_by}` : ''}` : null],
        a.reason ? ['Reason', a.reason] : null,
      ]),
      h('details', {}, h('summary', {}, 'Arguments'), codeBlock(prettyJson(a.arguments) || '{}', 'args')),
    );
  }

  function tick() {
    const now = Date.now() / 1000;
    for (const c of countdowns) {
      const left = (c.expiresAt || 0) - now;
      if (left <= 0) {
        c.el.textContent = 'expired';
        c.card.classList.add('is-expired');
        for (const b of c.buttons) b.disabled = true;
      } else {
        c.el.textContent = duration(left);
        c.el.classList.toggle('soon', left < 300);
      }
    }
  }

  // Cards are kept while their approval does not change, so a reason being
  // typed survives a live update.
  const cards = new Map(); // id → { status, node, countdown? }

  function cardFor(a) {
    const c = cards.get(a.id);
    if (c && c.status === a.status && c.busy === busy.has(a.id)) return c.node;
    pendingCountdown = null;
    const node = a.status === 'pending' ? pendingCard(a) : decidedCard(a);
    cards.set(a.id, { status: a.status, node, busy: busy.has(a.id), countdown: pendingCountdown });
    return node;
  }

  function draw() {
    if (!loaded) {
      put(pendingList, loading());
      put(decidedList);
      return;
    }
    const all = [...byId.values()];
    const pending = all.filter((a) => a.status === 'pending').sort((x, y) => (x.created_at || 0) - (y.created_at || 0));
    const decided = all.filter((a) => a.status !== 'pending').sort((x, y) => (y.decided_at || y.created_at || 0) - (x.decided_at || x.created_at || 0));
    for (const id of cards.keys()) if (!byId.has(id)) cards.delete(id);
    countdowns.length = 0;
    pendingCount.textContent = pending.length ? `(${pending.length})` : '';
    const err = loadError ? errorBox(loadError, load) : null;
    const pendingNodes = pending.map(cardFor);
    for (const a of pending) {
      const c = cards.get(a.id);
      if (c.countdown) countdowns.push(c.countdown);
    }
    if (pending.length) put(pendingList, err, pendingNodes);
    else put(pendingList, err, loadError ? null : emptyState('No pending approvals', 'When an agent wants to call a gated tool, it shows up here at once.'));
    if (decided.length) put(decidedList, decided.slice(0, 50).map(cardFor));
    else put(decidedList, loadError ? null : emptyState('Nothing decided yet'));
    tick();
  }

  const offEvent = feed.onEvent((ev) => {
    if (typeof ev.type === 'string' && ev.type.startsWith('approval.') && ev.approval) {
      upsert(ev.approval);
      if (ev.type === 'approval.requested') say(`New approval request: ${ev.approval.tool} for ${ev.approval.agent_name || ev.approval.agent_id}.`);
      draw();
    }
  });
  const offState = feed.onState((s) => {
    setLive(s);
    // Catch up on what happened while the socket was down.
    if (s === 'live') load();
  });
  setLive(feed.state);
  const ticker = setInterval(tick, 1000);
  const poller = setInterval(() => {
    if (feed.state !== 'live') load();
  }, POLL_MS);
  draw();
  load();

  return () => {
    offEvent();
    offState();
    clearInterval(ticker);
    clearInterval(poller);
  };
}
