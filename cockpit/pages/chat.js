// Chat on the real-time WebSocket (docs/REALTIME.md): pick a model, an
// assistant or an agent; the answer streams into its bubble token by
// token; Stop sends chat.cancel; usage and O₮ cost show when a message
// completes; follow-ups continue the same thread.

import { ASSISTANTS_BETA, openRealtime } from '../api.js';
import { h, ot, put } from '../dom.js';

export function render(ctx) {
  const { main, api } = ctx;
  let alive = true;
  let ws = null;
  let connecting = null;
  let threadId = null;
  let generating = false;
  let bubbles = new Map(); // message_id → { node, text, foot }
  let current = null; // the bubble deltas go to when they carry no message id
  let turnNode = null; // the container of the current generation's output
  let runStarted = false; // run.created seen for the current generation

  const kind = h(
    'select',
    { id: 'chat-kind', 'aria-label': 'Answer with' },
    h('option', { value: 'model' }, 'Model'),
    h('option', { value: 'assistant' }, 'Assistant'),
    h('option', { value: 'agent' }, 'Agent'),
  );
  const target = h('select', { id: 'chat-target', 'aria-label': 'Which one' }, h('option', { value: '' }, 'Loading…'));
  const instructions = h('textarea', { id: 'chat-instructions', rows: '2', placeholder: 'Instructions for the model (optional)', 'aria-label': 'Instructions (optional)' });
  const instructionsRow = h('div', { class: 'field' }, instructions);
  const newChat = h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => reset() }, 'New conversation');
  const status = h('p', { class: 'chat-status muted', role: 'status', 'aria-live': 'polite', id: 'chat-status' }, 'Not connected.');
  const log = h('div', { class: 'chat-log', id: 'chat-log', role: 'log', 'aria-live': 'polite', 'aria-label': 'Conversation' });
  const input = h('textarea', { id: 'chat-input', rows: '2', placeholder: 'Write a message… (Enter sends, Shift+Enter for a new line)', 'aria-label': 'Message', maxlength: '100000' });
  const send = h('button', { type: 'submit', class: 'btn btn-primary', id: 'chat-send' }, 'Send');
  const stop = h('button', { type: 'button', class: 'btn btn-danger', id: 'chat-stop', disabled: true, onclick: () => cancel() }, 'Stop');
  const form = h('form', { class: 'composer', action: '#', onsubmit: (e) => { e.preventDefault(); submit(); } }, input, h('div', { class: 'composer-actions' }, send, stop));

  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });

  put(
    main,
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Chat')),
    h('div', { class: 'chat-controls card' }, h('div', { class: 'row' }, h('label', { for: 'chat-kind' }, 'Answer with'), kind, target, newChat), instructionsRow),
    status,
    log,
    form,
  );
  put(log, h('p', { class: 'muted chat-empty' }, 'Say something to start a conversation. It is an ordinary thread: you can continue it over the API.'));

  let options = { model: [], assistant: [], agent: [] };
  const optionErrors = {};

  async function loadOptions() {
    const [models, assistants, agents] = await Promise.allSettled([
      api('GET', '/v1/models'),
      api('GET', '/v1/assistants?limit=100', { headers: ASSISTANTS_BETA }),
      api('GET', '/v1/agents?limit=100'),
    ]);
    if (!alive) return;
    const take = (r, key, map) => {
      if (r.status === 'fulfilled') options[key] = (r.value.data || []).map(map);
      else optionErrors[key] = r.reason;
    };
    take(models, 'model', (m) => ({ id: m.id, label: m.id }));
    take(assistants, 'assistant', (a) => ({ id: a.id, label: `${a.name || a.id} (${a.model})` }));
    take(agents, 'agent', (a) => ({ id: a.id, label: a.name || a.id }));
    // A likely default: the first model that is not the built-in echo.
    options.model.sort((a, b) => (a.id.startsWith('mock/') - b.id.startsWith('mock/')) || a.id.localeCompare(b.id));
    fillTargets();
  }

  function fillTargets() {
    const list = options[kind.value] || [];
    const err = optionErrors[kind.value];
    put(target, list.length ? list.map((o) => h('option', { value: o.id }, o.label)) : h('option', { value: '' }, err ? `Could not load: ${err.message}` : `No ${kind.value}s`));
    instructionsRow.hidden = kind.value !== 'model';
  }
  kind.addEventListener('change', () => {
    fillTargets();
    // Another kind of persona starts another conversation.
    reset();
  });

  function setStatus(text) {
    status.textContent = text;
  }

  function setGenerating(on) {
    generating = on;
    stop.disabled = !on;
    send.disabled = on;
    kind.disabled = on;
    target.disabled = on;
  }

  function bubble(role, text = '') {
    const body = h('div', { class: 'bubble-text' }, text);
    const foot = h('div', { class: 'bubble-foot' });
    const node = h('div', { class: `bubble bubble-${role}`, 'data-role': role }, body, foot);
    const empty = log.querySelector('.chat-empty');
    if (empty) empty.remove();
    (role === 'user' ? log : turnNode || log).append(node);
    log.scrollTop = log.scrollHeight;
    return { node, body, foot, text };
  }

  function note(text, tone = 'info', parent) {
    const n = h('div', { class: `chat-note note-${tone}` }, text);
    (parent || turnNode || log).append(n);
    log.scrollTop = log.scrollHeight;
    return n;
  }

  function bubbleFor(messageId) {
    if (messageId && bubbles.has(messageId)) return bubbles.get(messageId);
    if (current && (!messageId || !current.messageId)) {
      if (messageId) {
        current.messageId = messageId;
        bubbles.set(messageId, current);
      }
      return current;
    }
    const b = bubble('assistant');
    b.messageId = messageId || null;
    b.node.classList.add('streaming');
    if (messageId) bubbles.set(messageId, b);
    current = b;
    return b;
  }

  function endTurn() {
    for (const b of bubbles.values()) b.node.classList.remove('streaming');
    if (current) current.node.classList.remove('streaming');
    current = null;
    bubbles = new Map();
    setGenerating(false);
  }

  function onEvent(ev) {
    switch (ev.type) {
      case 'session.created':
        setStatus(threadId ? `Connected · thread ${threadId}` : 'Connected.');
        break;
      case 'run.created':
        runStarted = true;
        if (kind.value !== 'agent') threadId = ev.thread_id || threadId;
        setStatus(`Generating · thread ${ev.thread_id} · run ${ev.run_id}`);
        break;
      case 'delta': {
        const b = bubbleFor(ev.message_id);
        b.text += ev.text || '';
        b.body.textContent = b.text;
        log.scrollTop = log.scrollHeight;
        break;
      }
      case 'tool_call':
        current = null; // text after a tool call is another message
        note(`Tool call: ${ev.name}(${ev.arguments || ''})`, 'tool').dataset.callId = ev.id || '';
        break;
      case 'tool_result':
        note(`Tool result: ${typeof ev.output === 'string' ? ev.output : JSON.stringify(ev.output)}`, 'tool');
        break;
      case 'approval.requested':
        if (ev.approval) {
          const n = note(`Waiting for a person to approve ${ev.approval.tool} — `, 'warn');
          n.append(h('a', { href: '#/approvals' }, 'open Approvals'));
        }
        break;
      case 'approval.decided':
        if (ev.approval) note(`${ev.approval.tool}: ${ev.approval.status}${ev.approval.decided_by ? ` by ${ev.approval.decided_by}` : ''}`, ev.approval.status === 'approved' ? 'ok' : 'warn');
        break;
      case 'message.completed': {
        const b = bubbleFor(ev.message_id);
        if (typeof ev.text === 'string' && ev.text) {
          b.text = ev.text;
          b.body.textContent = ev.text;
        }
        b.node.classList.remove('streaming');
        const u = ev.usage || {};
        const parts = [];
        if (ev.model) parts.push(ev.model);
        if (u.total_tokens !== undefined) parts.push(`${u.total_tokens} tokens (${u.prompt_tokens ?? 0} in, ${u.completion_tokens ?? 0} out)`);
        parts.push(ev.cost_ot !== null && ev.cost_ot !== undefined ? ot(ev.cost_ot) : 'cost: see the ledger');
        if (ev.status && ev.status !== 'completed') parts.push(ev.status);
        b.foot.textContent = parts.join(' · ');
        b.foot.classList.add('has-cost');
        current = null;
        break;
      }
      case 'run.completed':
        endTurn();
        setStatus(`Ready · thread ${threadId || ev.run?.thread_id || ''}`);
        break;
      case 'run.failed': {
        const err = ev.run && ev.run.last_error;
        note(`The run failed: ${(err && err.message) || (ev.error && ev.error.message) || 'unknown error'}`, 'bad');
        endTurn();
        setStatus('Ready.');
        break;
      }
      case 'run.cancelled':
        note('Stopped.', 'muted');
        endTurn();
        setStatus('Ready.');
        break;
      case 'run.incomplete':
        note(`The answer is incomplete${ev.run?.incomplete_details?.reason ? `: ${ev.run.incomplete_details.reason}` : ''}.`, 'warn');
        endTurn();
        setStatus('Ready.');
        break;
      case 'run.requires_action':
        note('The run waits for outputs of client-side tools: submit them over the API (submit_tool_outputs).', 'warn');
        endTurn();
        break;
      case 'error': {
        const e = ev.error || {};
        note(`Error: ${e.message || 'unknown error'}`, 'bad');
        // An error before run.created means nothing was started; after it,
        // a run.* event ends the generation.
        if (generating && !runStarted && e.code !== 'generation_in_progress') {
          endTurn();
          setStatus('Ready.');
        }
        break;
      }
      default:
        break;
    }
  }

  function connect() {
    if (ws && ws.readyState === WebSocket.OPEN) return Promise.resolve(ws);
    if (connecting) return connecting;
    setStatus('Connecting…');
    connecting = (async () => {
      const sock = await openRealtime();
      await new Promise((resolve, reject) => {
        sock.onopen = resolve;
        sock.onerror = () => reject(new Error('The WebSocket connection failed.'));
        sock.onclose = (e) => reject(new Error(`The WebSocket closed (${e.code}${e.reason ? `: ${e.reason}` : ''}).`));
      });
      if (!alive) {
        sock.close(1000);
        throw new Error('left the page');
      }
      sock.onerror = () => {};
      sock.onmessage = (m) => {
        let ev;
        try {
          ev = JSON.parse(m.data);
        } catch {
          return;
        }
        onEvent(ev);
      };
      sock.onclose = (e) => {
        if (ws === sock) ws = null;
        if (!alive) return;
        if (generating) {
          note(`The connection closed (${e.code}${e.reason ? `: ${e.reason}` : ''}). The answer goes on in the thread; it shows in the Assistants API.`, 'bad');
          endTurn();
        }
        setStatus(threadId ? `Disconnected · thread ${threadId} (reconnects when you send)` : 'Disconnected (reconnects when you send).');
      };
      ws = sock;
      return sock;
    })();
    connecting.finally(() => {
      connecting = null;
    }).catch(() => {});
    return connecting;
  }

  async function submit() {
    const content = input.value.trim();
    if (!content || generating) return;
    if (!target.value) {
      note(`Pick a ${kind.value} first.`, 'warn', log);
      return;
    }
    const msg = { type: 'chat.message', content };
    if (kind.value === 'model') {
      msg.model = target.value;
      if (instructions.value.trim()) msg.instructions = instructions.value.trim();
    } else if (kind.value === 'assistant') msg.assistant_id = target.value;
    else msg.agent_id = target.value;
    if (threadId && kind.value !== 'agent') msg.thread_id = threadId;
    setGenerating(true);
    runStarted = false;
    input.value = '';
    bubble('user', content);
    turnNode = h('div', { class: 'turn' });
    log.append(turnNode);
    try {
      const sock = await connect();
      sock.send(JSON.stringify(msg));
    } catch (e) {
      note(`Could not send: ${e.message}`, 'bad');
      input.value = content;
      endTurn();
      setStatus('Not connected.');
    }
  }

  function cancel() {
    if (ws && ws.readyState === WebSocket.OPEN && generating) {
      ws.send(JSON.stringify({ type: 'chat.cancel' }));
      stop.disabled = true;
      setStatus('Stopping…');
    }
  }

  function reset() {
    threadId = null;
    if (ws) {
      const old = ws;
      ws = null;
      old.onclose = null;
      old.close(1000, 'new conversation');
    }
    endTurn();
    put(log, h('p', { class: 'muted chat-empty' }, 'A new conversation: say something.'));
    setStatus('Not connected.');
  }

  loadOptions().catch(() => {});
  input.focus();

  return () => {
    alive = false;
    if (ws) {
      ws.onclose = null;
      ws.close(1000, 'left the page');
      ws = null;
    }
  };
}
