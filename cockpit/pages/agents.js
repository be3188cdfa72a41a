// Agents: the list with triggers and last runs (#/agents), one agent with
// its runs (#/agents/<id>), and the full log of one run (#/runs/<id>).

import { ago, codeBlock, dateTime, duration, emptyState, errorBox, facts, h, loading, ot, prettyJson, put, statusBadge, tokens } from '../dom.js';

const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'expired', 'incomplete']);

export function triggerSummary(t) {
  if (!t || typeof t !== 'object') return String(t);
  switch (t.type) {
    case 'cron':
      return `cron ${t.schedule}${t.timezone && t.timezone !== 'UTC' ? ` (${t.timezone})` : ' UTC'}`;
    case 'webhook':
      return `webhook${t.hook_id ? ` ${t.hook_id}` : ''}`;
    case 'topic':
      return `topic ${t.pattern}`;
    default:
      return t.type || 'trigger';
  }
}

function toolName(t) {
  if (typeof t === 'string') return t;
  if (t && t.type === 'function') return t.function && t.function.name;
  return t && t.type;
}

function gates(agent) {
  const tools = (agent.approval && agent.approval.tools) || {};
  return Object.entries(tools).map(([name, rule]) => `${name}: ${typeof rule === 'string' ? rule : JSON.stringify(rule)}`);
}

function persona(agent) {
  if (agent.assistant_id) return `assistant ${agent.assistant_id}${agent.model ? ` · ${agent.model}` : ''}`;
  return agent.model || '—';
}

function runDuration(r) {
  if (!r.created_at) return '—';
  const end = r.finished_at || (TERMINAL.has(r.status) ? null : Math.floor(Date.now() / 1000));
  return end ? duration(end - r.created_at) : '—';
}

function runsTable(runs, { showAgent = false } = {}) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table runs' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Run'), showAgent ? h('th', { scope: 'col' }, 'Agent') : null, h('th', { scope: 'col' }, 'Trigger'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col', class: 'num' }, 'Cost'), h('th', { scope: 'col' }, 'Started'), h('th', { scope: 'col', class: 'num' }, 'Took'))),
      h(
        'tbody',
        {},
        runs.map((r) =>
          h(
            'tr',
            { 'data-run-id': r.id },
            h('td', {}, h('a', { href: `#/runs/${encodeURIComponent(r.id)}`, class: 'mono' }, r.id)),
            showAgent ? h('td', {}, r.agent_id) : null,
            h('td', {}, (r.trigger && r.trigger.type) || '—'),
            h('td', {}, statusBadge(r.status)),
            h('td', { class: 'num' }, ot(r.cost_ot)),
            h('td', { title: dateTime(r.created_at) }, ago(r.created_at)),
            h('td', { class: 'num' }, runDuration(r)),
          ),
        ),
      ),
    ),
  );
}

// ---- #/agents and #/agents/<id> -------------------------------------------------

export function render(ctx) {
  const { params } = ctx;
  if (params.length) return renderAgent(ctx, params[0]);
  return renderList(ctx);
}

function renderList(ctx) {
  const { main, api } = ctx;
  const body = h('div', {}, loading());
  put(main, h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Agents')), h('p', { class: 'muted lead' }, 'Your agents, what fires them and how their last runs went.'), body);
  let alive = true;

  async function load() {
    put(body, loading());
    let list;
    try {
      list = await api('GET', '/v1/agents?limit=100');
    } catch (e) {
      if (alive) put(body, errorBox(e, load));
      return;
    }
    if (!alive) return;
    const agents = list.data || [];
    if (!agents.length) {
      put(body, emptyState('No agents yet', 'Create one with POST /v1/agents; it shows up here with its triggers and runs.'));
      return;
    }
    const cards = agents.map((a) => {
      const runsSlot = h('div', { class: 'last-runs' }, loading('Loading runs…'));
      const triggers = a.triggers || [];
      const tools = (a.tools || []).map(toolName).filter(Boolean);
      const g = gates(a);
      const card = h(
        'article',
        { class: 'card agent', 'data-agent-id': a.id },
        h('header', { class: 'card-head' }, h('h3', {}, h('a', { href: `#/agents/${encodeURIComponent(a.id)}` }, a.name || a.id)), a.enabled === false ? statusBadge('disabled') : null),
        a.description ? h('p', { class: 'muted' }, a.description) : null,
        facts([
          ['Id', h('span', { class: 'mono' }, a.id)],
          ['Persona', persona(a)],
          ['Triggers', triggers.length ? h('ul', { class: 'chips' }, triggers.map((t) => h('li', { class: 'chip' }, triggerSummary(t)))) : 'manual only (POST /v1/agents/{id}/runs)'],
          ['Tools', tools.length ? tools.join(', ') : 'none'],
          g.length ? ['Needs approval', g.join(', ')] : null,
        ]),
        h('h4', {}, 'Last runs'),
        runsSlot,
      );
      api('GET', `/v1/agents/${encodeURIComponent(a.id)}/runs?limit=3`).then(
        (r) => put(runsSlot, (r.data || []).length ? runsTable(r.data) : h('p', { class: 'muted' }, 'No runs yet.')),
        (e) => put(runsSlot, errorBox(e)),
      );
      return card;
    });
    put(body, h('div', { class: 'grid' }, cards));
  }
  load();
  return () => {
    alive = false;
  };
}

function renderAgent(ctx, id) {
  const { main, api } = ctx;
  const title = h('h1', { tabindex: '-1' }, 'Agent');
  const body = h('div', {}, loading());
  put(main, h('p', { class: 'crumbs' }, h('a', { href: '#/agents' }, '← Agents')), h('div', { class: 'page-head' }, title), body);
  let alive = true;

  async function load() {
    try {
      const [agent, runs] = await Promise.all([
        api('GET', `/v1/agents/${encodeURIComponent(id)}`),
        api('GET', `/v1/agents/${encodeURIComponent(id)}/runs?limit=20`),
      ]);
      if (!alive) return;
      title.textContent = agent.name || agent.id;
      document.title = `${title.textContent} · OAG Cockpit`;
      const b = agent.budget || {};
      put(
        body,
        facts([
          ['Id', h('span', { class: 'mono' }, agent.id)],
          ['Persona', persona(agent)],
          agent.instructions ? ['Instructions', agent.instructions] : null,
          ['Tools', (agent.tools || []).map(toolName).join(', ') || 'none'],
          ['Needs approval', gates(agent).join(', ') || 'nothing'],
          ['Budget', `${b.per_run_ot ? `${b.per_run_ot} O₮ per run` : 'no per-run cap'}, ${b.per_day_ot ? `${b.per_day_ot} O₮ per day` : 'no daily cap'}`],
          ['Enabled', agent.enabled === false ? 'no' : 'yes'],
          ['Created', dateTime(agent.created_at)],
        ]),
        h('h2', {}, 'Triggers'),
        (agent.triggers || []).length
          ? h('ul', { class: 'trigger-list' }, agent.triggers.map((t) => h('li', {}, h('strong', {}, triggerSummary(t)), t.input ? h('span', { class: 'muted' }, ` · input ${t.input}`) : null)))
          : h('p', { class: 'muted' }, 'No triggers: fired by POST /v1/agents/{id}/runs only.'),
        h('h2', {}, 'Last runs'),
        (runs.data || []).length ? runsTable(runs.data) : emptyState('No runs yet'),
      );
    } catch (e) {
      if (alive) put(body, errorBox(e, load));
    }
  }
  load();
  return () => {
    alive = false;
  };
}

// ---- #/runs/<id> -----------------------------------------------------------------------

function logEntry(e, i) {
  if (e.type === 'model_call') {
    const stack = Array.isArray(e.prompt_stack) ? e.prompt_stack : [];
    return h(
      'li',
      { class: 'log-entry log-model', 'data-kind': 'model_call' },
      h('div', { class: 'log-head' }, h('span', { class: 'log-kind' }, 'Model call'), h('strong', {}, e.model || '—'), h('span', { class: 'muted' }, tokens(e.usage)), h('span', { class: 'cost' }, ot(e.cost_ot))),
      h(
        'details',
        {},
        h('summary', {}, `Prompt stack (${stack.length} layer${stack.length === 1 ? '' : 's'})`),
        stack.length
          ? h('ol', { class: 'stack' }, stack.map((l) => h('li', {}, h('span', { class: 'layer' }, l.layer || 'layer'), codeBlock(typeof l.content === 'string' ? l.content : prettyJson(l.content)))))
          : h('p', { class: 'muted' }, 'Empty.'),
      ),
    );
  }
  if (e.type === 'tool_call') {
    const o = e.oag || {};
    const meta = [o.server_side ? 'server tool' : 'client tool', o.duration_ms !== undefined ? `${o.duration_ms} ms` : null, o.http_status ? `HTTP ${o.http_status}` : null, o.ok === false ? 'failed' : null].filter(Boolean).join(' · ');
    return h(
      'li',
      { class: 'log-entry log-tool', 'data-kind': 'tool_call' },
      h('div', { class: 'log-head' }, h('span', { class: 'log-kind' }, 'Tool call'), h('strong', {}, h('code', {}, e.name || '—')), h('span', { class: 'muted' }, meta)),
      h('p', { class: 'label' }, 'Arguments'),
      codeBlock(prettyJson(e.arguments) || '{}'),
      h('p', { class: 'label' }, 'Output'),
      e.output === null || e.output === undefined ? h('p', { class: 'muted' }, 'No output (yet).') : codeBlock(prettyJson(e.output)),
    );
  }
  if (e.type === 'message') {
    return h('li', { class: 'log-entry log-message', 'data-kind': 'message' }, h('div', { class: 'log-head' }, h('span', { class: 'log-kind' }, 'Message'), h('span', { class: 'mono' }, e.message_id || ''), statusBadge(e.status)));
  }
  return h('li', { class: 'log-entry' }, codeBlock(prettyJson(e)), String(i));
}

export function renderRun(ctx) {
  const { main, api, params } = ctx;
  const id = params[0] || '';
  const title = h('h1', { tabindex: '-1' }, 'Run ', h('span', { class: 'mono' }, id));
  const crumbs = h('p', { class: 'crumbs' }, h('a', { href: '#/agents' }, '← Agents'));
  const body = h('div', {}, loading());
  put(main, crumbs, h('div', { class: 'page-head' }, title), body);
  let alive = true;
  let timer = null;
  let agentName = null;

  async function load() {
    let r;
    try {
      r = await api('GET', `/v1/agent-runs/${encodeURIComponent(id)}`);
    } catch (e) {
      if (alive) put(body, errorBox(e, load));
      return;
    }
    if (!alive) return;
    if (agentName === null && r.agent_id) {
      // The run names its agent by id; the agent has the name.
      agentName = await api('GET', `/v1/agents/${encodeURIComponent(r.agent_id)}`).then((a) => a.name || r.agent_id, () => r.agent_id);
      if (!alive) return;
    }
    const agentLabel = agentName || r.agent_id;
    put(crumbs, h('a', { href: '#/agents' }, '← Agents'), ' / ', h('a', { href: `#/agents/${encodeURIComponent(r.agent_id)}` }, agentLabel));
    const open = [...body.querySelectorAll('details')].map((d) => d.open);
    const trigger = r.trigger || {};
    const { type: triggerType, ...triggerRest } = trigger;
    const entries = (r.log && r.log.data) || [];
    const children = r.children || [];
    const approvals = r.approvals || [];
    put(
      body,
      h(
        'div',
        { class: 'run-summary card' },
        facts([
          ['Status', h('span', { id: 'run-status' }, statusBadge(r.status))],
          ['Agent', h('a', { href: `#/agents/${encodeURIComponent(r.agent_id)}` }, agentLabel)],
          ['Trigger', `${triggerType || '—'}${Object.keys(triggerRest).length ? ` · ${JSON.stringify(triggerRest)}` : ''}`],
          ['Cost', h('span', { id: 'run-cost' }, ot(r.cost_ot))],
          r.budget_ot ? ['Budget', ot(r.budget_ot)] : null,
          ['Usage', tokens(r.usage)],
          ['Started', dateTime(r.created_at)],
          ['Finished', r.finished_at ? `${dateTime(r.finished_at)} (${duration(r.finished_at - r.created_at)})` : 'not yet'],
          r.parent ? ['Parent run', h('a', { href: `#/runs/${encodeURIComponent(typeof r.parent === 'string' ? r.parent : r.parent.agent_run_id || r.parent.id)}` }, typeof r.parent === 'string' ? r.parent : r.parent.agent_run_id || r.parent.id || JSON.stringify(r.parent))] : null,
          ['Thread', h('span', { class: 'mono' }, `${r.thread_id} / ${r.run_id}`)],
        ]),
      ),
      r.last_error ? errorBox({ message: `${r.last_error.code ? `${r.last_error.code}: ` : ''}${r.last_error.message || JSON.stringify(r.last_error)}` }) : null,
      h('h2', {}, 'Input'),
      codeBlock(r.input || ''),
      h('h2', {}, 'Log'),
      entries.length ? h('ol', { class: 'log', id: 'run-log' }, entries.map(logEntry)) : emptyState('Nothing logged yet'),
      r.log && r.log.has_more ? h('p', { class: 'muted' }, 'The first 100 steps are shown; GET /v1/agent-runs/{id}/log pages through all.') : null,
      approvals.length ? [h('h2', {}, 'Approvals'), h('ul', { class: 'plain' }, approvals.map((a) => h('li', {}, h('code', {}, a.tool), ' ', statusBadge(a.status), a.decided_by ? h('span', { class: 'muted' }, ` by ${a.decided_by}`) : null, a.reason ? h('span', { class: 'muted' }, ` — ${a.reason}`) : null)))] : null,
      children.length ? [h('h2', {}, 'Children'), h('ul', { class: 'plain' }, children.map((c) => h('li', {}, h('a', { href: `#/runs/${encodeURIComponent(c.id)}`, class: 'mono' }, c.id), ` · ${c.agent_id} `, statusBadge(c.status), ` · ${ot(c.cost_ot)}`)))] : null,
      h('h2', {}, 'Output'),
      r.output === null || r.output === undefined ? h('p', { class: 'muted' }, TERMINAL.has(r.status) ? 'No output.' : 'Not finished yet.') : codeBlock(typeof r.output === 'string' ? r.output : prettyJson(r.output), 'output'),
    );
    body.querySelectorAll('details').forEach((d, i) => {
      if (open[i]) d.open = true;
    });
    // A run that is still going is refreshed until it ends.
    clearTimeout(timer);
    if (!r.finished_at && !TERMINAL.has(r.status)) timer = setTimeout(load, 2000);
  }
  load();
  return () => {
    alive = false;
    clearTimeout(timer);
  };
}
