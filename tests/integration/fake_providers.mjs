// Fake upstreams speaking the native wire formats of Anthropic Messages,
// Google Gemini (generateContent / streamGenerateContent?alt=sse) and Ollama
// (/api/chat, JSON and NDJSON), as described in shared/spec/WIRE.md §5–7.
// Each records every request and answers from a per-test script:
//
//   const a = await startFakeAnthropic();
//   a.next({ blocks: [{ type: 'text', text: 'Let me check.' },
//                     { type: 'tool_use', name: 'get_weather', input: { city: 'Oslo' } }],
//            usage: { input_tokens: 40, output_tokens: 12 } });
//   ... call OAG with a provider { kind: 'anthropic', base_url: a.origin } ...
//   a.requests[0]   // { method, path, url, query, headers, raw, body, at }
//
// The three share one scripting/transport layer. Script fields common to all:
//   status, error     answer with an HTTP error in the provider's own error shape
//                     (error: { message, type|status, details, ... } overrides)
//   headers           extra response headers (e.g. { 'retry-after': '1' })
//   body              exact response body (string/object) with `status` (default 200)
//   rawStream         exact stream body (string) for a streamed request
//   split             'byte' | n (every n bytes) | [offsets]: write the body in pieces
//   writeDelayMs      pause between pieces (default 1 when split is set)
//   dieAfterBytes     destroy the socket after writing this many body bytes
//   delayMs           wait before answering; hang: never answer
//   model, id         ids/model names reported upstream
//
// Anthropic (`startFakeAnthropic`, POST …/v1/messages):
//   blocks            [{type:'text', text, chunks?}, {type:'tool_use', id?, name, input, partial?},
//                      {type:'thinking', thinking, signature?}]; default: one text block of `text`
//   text, toolCalls   shortcuts: text block, then one tool_use block per {name, arguments|input, id?}
//   stopReason        default 'tool_use' when a tool_use block exists, else 'end_turn'
//   usage             Anthropic usage {input_tokens, output_tokens, cache_read_input_tokens,
//                     cache_creation_input_tokens} (default 12 / 9)
//   pings             emit ping events (default true: one after message_start, one mid-stream)
//   errorEvent        {type, message}: an `error` event after `errorAfterBlocks` blocks (default 0),
//                     then the socket closes (as the API does)
//   cutBeforeStop     end the body after the last content_block_stop (no message_delta/message_stop)
//   argChunk          size of partial_json fragments (default 5)
//
// Gemini (`startFakeGemini`, POST …/models/{model}:generateContent | :streamGenerateContent?alt=sse):
//   parts             candidate parts for the answer ([{text}|{functionCall:{name,args}}])
//   text, toolCalls   shortcuts: text parts (streamed word by word), then functionCall parts
//   finishReason      default 'STOP'
//   usage             usageMetadata {promptTokenCount, candidatesTokenCount, cachedContentTokenCount,
//                     thoughtsTokenCount} (default 10 / 5)
//   promptFeedback    a blocked prompt: 200 with promptFeedback and no candidates
//   cutBeforeFinish   streamed: leave out the last chunk (the one with finishReason)
//   crlf              separate SSE events with \r\n\r\n as Google does (default true)
//
// Ollama (`startFakeOllama`, POST /api/chat):
//   text, chunks      assistant content (streamed as `chunks` or word by word)
//   toolCalls         [{name, arguments (object)}]; toolCallsSeparate: one NDJSON line per call
//   doneReason        default 'stop'
//   usage             {prompt_eval_count, eval_count} (default 26 / 8)
//   cutBeforeDone     streamed: leave out the done:true line
//   midStreamError    streamed: after the content lines send {"error": "..."} (HTTP stays 200)
//
// fake.next(script) queues one script (FIFO); fake.setDefault(script) answers
// when the queue is empty; fake.reset() clears queue, default and request log.

import http from 'node:http';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let idCounter = 0;
function newId(prefix) {
  idCounter += 1;
  return `${prefix}${Date.now().toString(36)}${idCounter.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/** Splits text into word fragments that concatenate back to the text. */
export function words(text) {
  const out = String(text).match(/\S+\s*|\s+/g);
  return out && out.length ? out : [''];
}

function chop(s, n) {
  const out = [];
  for (let i = 0; i < s.length; i += n) out.push(s.slice(i, i + n));
  return out.length ? out : [''];
}

// ---- transport: write a body in pieces, optionally dying part-way ---------

function splitPoints(split, length) {
  if (split === undefined || split === null) return [];
  const pts = [];
  if (split === 'byte') for (let i = 1; i < length; i++) pts.push(i);
  else if (typeof split === 'number') for (let i = split; i < length; i += split) pts.push(i);
  else if (Array.isArray(split)) for (const p of split) if (p > 0 && p < length) pts.push(p);
  return [...new Set(pts)].sort((a, b) => a - b);
}

async function writeBody(res, buf, script, dieAt) {
  const pts = splitPoints(script.split, buf.length);
  const die = dieAt !== undefined && dieAt !== null;
  if (die && dieAt < buf.length && !pts.includes(dieAt)) {
    pts.push(dieAt);
    pts.sort((a, b) => a - b);
  }
  const delay = script.writeDelayMs ?? (script.split !== undefined ? 1 : 0);
  const bounds = [0, ...pts, buf.length];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const from = bounds[i];
    const to = bounds[i + 1];
    if (die && from >= dieAt) break;
    if (to > from) {
      await new Promise((resolve) => res.write(buf.subarray(from, to), resolve));
      if (delay > 0 && i + 2 < bounds.length) await sleep(delay);
    }
    if (res.destroyed || res.socket?.destroyed) return false;
  }
  if (die) {
    await sleep(30); // let the bytes already written leave the socket
    res.socket?.destroy();
    return false;
  }
  res.end();
  return true;
}

/**
 * A scripted HTTP server. `answer(ctx)` returns
 *   { status, headers, body (Buffer|string), dieAt? } or null (404).
 */
async function startScripted(kindName, answer, { host = '127.0.0.1' } = {}) {
  const queue = [];
  let defaultScript = {};
  const requests = [];
  const sockets = new Set();
  const waiters = [];

  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body = null;
    try {
      body = raw.length ? JSON.parse(raw) : null;
    } catch {
      body = null;
    }
    const url = new URL(req.url, `http://${req.headers.host || host}`);
    const record = {
      method: req.method,
      path: url.pathname,
      url: req.url,
      query: Object.fromEntries(url.searchParams),
      headers: { ...req.headers },
      raw,
      body,
      at: Date.now(),
    };
    requests.push(record);
    for (const w of waiters.splice(0)) w(record);
    const script = queue.length ? queue.shift() : defaultScript;
    try {
      if (script.hang) return;
      if (script.delayMs) await sleep(script.delayMs);
      const a = answer({ req, url, body, raw, script, record });
      if (!a) {
        const b = JSON.stringify({ error: `fake ${kindName}: no route for ${req.method} ${url.pathname}` });
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(b);
        return;
      }
      const buf = Buffer.isBuffer(a.body) ? a.body : Buffer.from(a.body ?? '', 'utf8');
      const headers = { ...a.headers, ...(script.headers || {}) };
      if (!a.stream) headers['content-length'] = buf.length;
      res.writeHead(a.status ?? 200, headers);
      if (a.stream) res.flushHeaders();
      await writeBody(res, buf, script, script.dieAfterBytes ?? a.dieAt);
    } catch (e) {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `fake ${kindName} crashed: ${e.message}` }));
      } else {
        res.socket?.destroy();
      }
    }
  });
  server.keepAliveTimeout = 30000;
  server.on('connection', (s) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, host, resolve));
  const port = server.address().port;
  return {
    kind: kindName,
    port,
    origin: `http://${host}:${port}`,
    requests,
    next(script) {
      queue.push(script || {});
      return this;
    },
    setDefault(script) {
      defaultScript = script || {};
    },
    reset() {
      queue.length = 0;
      defaultScript = {};
      requests.length = 0;
    },
    pending() {
      return queue.length;
    },
    last() {
      return requests[requests.length - 1];
    },
    waitForRequest(timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`fake ${kindName}: no request within timeout`)), timeoutMs);
        waiters.push((r) => {
          clearTimeout(t);
          resolve(r);
        });
      });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function rawBodyAnswer(script, contentType) {
  const b = typeof script.body === 'string' || Buffer.isBuffer(script.body) ? script.body : JSON.stringify(script.body);
  return { status: script.status ?? 200, headers: { 'content-type': contentType }, body: b };
}

// ---- Anthropic Messages ----------------------------------------------------

const ANTHROPIC_ERROR_TYPES = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

/** The content blocks a script describes (Anthropic response shape). */
export function anthropicBlocks(script) {
  if (script.blocks) {
    return script.blocks.map((b, i) => {
      if (b.type === 'tool_use') return { ...b, id: b.id ?? `toolu_fake${i}${Math.random().toString(36).slice(2, 8)}`, input: b.input ?? {} };
      return { ...b };
    });
  }
  const blocks = [];
  const calls = script.toolCalls || [];
  if (script.text !== undefined || !calls.length) blocks.push({ type: 'text', text: script.text ?? 'Hello from fake Anthropic' });
  calls.forEach((c, i) => {
    let input = c.input ?? c.arguments ?? {};
    if (typeof input === 'string') input = JSON.parse(input);
    blocks.push({ type: 'tool_use', id: c.id ?? `toolu_fake${i}${Math.random().toString(36).slice(2, 8)}`, name: c.name, input });
  });
  return blocks;
}

function anthropicUsage(script) {
  return { input_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 9, ...(script.usage || {}) };
}

function anthropicStop(script, blocks) {
  return script.stopReason ?? (blocks.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn');
}

/** A non-streamed Messages response object. */
export function anthropicMessage(script, reqBody) {
  const blocks = anthropicBlocks(script).map((b) => {
    if (b.type === 'text') return { type: 'text', text: b.text };
    if (b.type === 'tool_use') return { type: 'tool_use', id: b.id, name: b.name, input: b.input };
    if (b.type === 'thinking') return { type: 'thinking', thinking: b.thinking, signature: b.signature ?? 'sig_fake' };
    const { chunks, partial, ...rest } = b;
    return rest;
  });
  return {
    id: script.id ?? newId('msg_fake'),
    type: 'message',
    role: 'assistant',
    model: script.model ?? reqBody?.model ?? 'claude-fake',
    content: blocks,
    stop_reason: anthropicStop(script, blocks),
    stop_sequence: script.stopSequence ?? null,
    usage: anthropicUsage(script),
  };
}

function sseEvent(name, data) {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The SSE body of a streamed Messages response; also returns byte marks. */
export function anthropicSSE(script, reqBody) {
  const blocks = anthropicBlocks(script);
  const usage = anthropicUsage(script);
  const pings = script.pings ?? true;
  const ev = [];
  ev.push(
    sseEvent('message_start', {
      type: 'message_start',
      message: {
        id: script.id ?? newId('msg_fake'),
        type: 'message',
        role: 'assistant',
        model: script.model ?? reqBody?.model ?? 'claude-fake',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: usage.input_tokens, cache_creation_input_tokens: usage.cache_creation_input_tokens, cache_read_input_tokens: usage.cache_read_input_tokens, output_tokens: 1 },
      },
    }),
  );
  if (pings) ev.push(sseEvent('ping', { type: 'ping' }));
  const errorAt = script.errorEvent ? (script.errorAfterBlocks ?? 0) : -1;
  const argChunk = script.argChunk ?? 5;
  let cutAt = null;
  for (let i = 0; i < blocks.length; i++) {
    if (i === errorAt) break;
    const b = blocks[i];
    if (b.type === 'text') {
      ev.push(sseEvent('content_block_start', { type: 'content_block_start', index: i, content_block: { type: 'text', text: '' } }));
      for (const t of b.chunks ?? words(b.text)) ev.push(sseEvent('content_block_delta', { type: 'content_block_delta', index: i, delta: { type: 'text_delta', text: t } }));
    } else if (b.type === 'thinking') {
      ev.push(sseEvent('content_block_start', { type: 'content_block_start', index: i, content_block: { type: 'thinking', thinking: '' } }));
      for (const t of b.chunks ?? words(b.thinking)) ev.push(sseEvent('content_block_delta', { type: 'content_block_delta', index: i, delta: { type: 'thinking_delta', thinking: t } }));
      ev.push(sseEvent('content_block_delta', { type: 'content_block_delta', index: i, delta: { type: 'signature_delta', signature: b.signature ?? 'sig_fake' } }));
    } else if (b.type === 'tool_use') {
      ev.push(sseEvent('content_block_start', { type: 'content_block_start', index: i, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } }));
      const json = JSON.stringify(b.input ?? {});
      // The API's first fragment is often "" (WIRE.md §5.4).
      const parts = b.partial ?? ['', ...chop(json, argChunk)];
      for (const p of parts) ev.push(sseEvent('content_block_delta', { type: 'content_block_delta', index: i, delta: { type: 'input_json_delta', partial_json: p } }));
    } else {
      ev.push(sseEvent('content_block_start', { type: 'content_block_start', index: i, content_block: b }));
    }
    ev.push(sseEvent('content_block_stop', { type: 'content_block_stop', index: i }));
    if (pings && i === 0 && blocks.length > 1) ev.push(sseEvent('ping', { type: 'ping' }));
  }
  if (script.errorEvent) {
    ev.push(sseEvent('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded', ...script.errorEvent } }));
  } else if (script.cutBeforeStop) {
    cutAt = Buffer.byteLength(ev.join(''));
  } else {
    ev.push(
      sseEvent('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: anthropicStop(script, blocks), stop_sequence: script.stopSequence ?? null },
        usage: { output_tokens: usage.output_tokens },
      }),
    );
    ev.push(sseEvent('message_stop', { type: 'message_stop' }));
  }
  return { sse: ev.join(''), cutAt };
}

export async function startFakeAnthropic(opts = {}) {
  return startScripted(
    'anthropic',
    ({ req, url, body, script }) => {
      const reqId = newId('req_');
      if (script.status && script.status >= 400 && script.body === undefined) {
        const err = { type: ANTHROPIC_ERROR_TYPES[script.status] ?? 'api_error', message: 'fake anthropic error', ...(script.error || {}) };
        return { status: script.status, headers: { 'content-type': 'application/json', 'request-id': reqId }, body: JSON.stringify({ type: 'error', error: err, request_id: reqId }) };
      }
      if (script.body !== undefined) return rawBodyAnswer(script, 'application/json');
      if (req.method !== 'POST' || !url.pathname.endsWith('/v1/messages')) return null;
      if (!body) {
        return { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'invalid JSON body' } }) };
      }
      if (body.stream) {
        if (script.rawStream !== undefined) return { stream: true, headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' }, body: script.rawStream };
        const { sse, cutAt } = anthropicSSE(script, body);
        return { stream: true, status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': reqId }, body: sse, dieAt: cutAt ?? (script.errorEvent ? Buffer.byteLength(sse) : undefined) };
      }
      return { status: 200, headers: { 'content-type': 'application/json', 'request-id': reqId }, body: JSON.stringify(anthropicMessage(script, body)) };
    },
    opts,
  );
}

// ---- Gemini ------------------------------------------------------------------

const GEMINI_STATUS = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

function geminiUsage(script) {
  const u = { promptTokenCount: 10, candidatesTokenCount: 5, ...(script.usage || {}) };
  u.totalTokenCount = u.totalTokenCount ?? u.promptTokenCount + u.candidatesTokenCount + (u.thoughtsTokenCount ?? 0);
  return u;
}

function geminiCallParts(script) {
  return (script.toolCalls || []).map((c) => {
    let args = c.args ?? c.arguments ?? {};
    if (typeof args === 'string') args = JSON.parse(args);
    return { functionCall: { name: c.name, args } };
  });
}

/** The candidate parts of a whole answer. */
export function geminiParts(script) {
  if (script.parts) return script.parts;
  const parts = [];
  const calls = geminiCallParts(script);
  if (script.text !== undefined || !calls.length) parts.push({ text: script.text ?? 'Hello from fake Gemini' });
  return [...parts, ...calls];
}

export function geminiResponse(script, model) {
  if (script.promptFeedback) {
    return { promptFeedback: script.promptFeedback, usageMetadata: geminiUsage(script), modelVersion: script.model ?? model, responseId: script.id ?? 'resp-fake' };
  }
  return {
    candidates: [{ content: { role: 'model', parts: geminiParts(script) }, finishReason: script.finishReason ?? 'STOP', index: 0 }],
    usageMetadata: geminiUsage(script),
    modelVersion: script.model ?? model,
    responseId: script.id ?? newId('resp'),
  };
}

/** The SSE body of a streamed answer (no [DONE]; the end is the close). */
export function geminiSSE(script, model) {
  const sep = script.crlf === false ? '\n\n' : '\r\n\r\n';
  const usage = geminiUsage(script);
  const responseId = script.id ?? newId('resp');
  const modelVersion = script.model ?? model;
  let pieces;
  if (script.streamParts) pieces = script.streamParts; // [[parts of chunk 1], [parts of chunk 2], …]
  else if (script.parts) pieces = script.parts.map((p) => [p]);
  else {
    pieces = [];
    const calls = geminiCallParts(script);
    if (script.text !== undefined || !calls.length) for (const w of script.chunks ?? words(script.text ?? 'Hello from fake Gemini')) pieces.push([{ text: w }]);
    for (const c of calls) pieces.push([c]);
  }
  const events = pieces.map((parts, i) => {
    const last = i === pieces.length - 1;
    const cand = { content: { role: 'model', parts }, index: 0 };
    if (last) cand.finishReason = script.finishReason ?? 'STOP';
    const doc = {
      candidates: [cand],
      usageMetadata: last ? usage : { promptTokenCount: usage.promptTokenCount, candidatesTokenCount: i + 1, totalTokenCount: usage.promptTokenCount + i + 1 },
      modelVersion,
      responseId,
    };
    return `data: ${JSON.stringify(doc)}${sep}`;
  });
  if (script.cutBeforeFinish) events.pop();
  return events.join('');
}

export async function startFakeGemini(opts = {}) {
  return startScripted(
    'gemini',
    ({ req, url, body, script }) => {
      if (script.status && script.status >= 400 && script.body === undefined) {
        const err = { code: script.status, message: 'fake gemini error', status: GEMINI_STATUS[script.status] ?? 'INTERNAL', ...(script.error || {}) };
        return { status: script.status, headers: { 'content-type': 'application/json; charset=UTF-8' }, body: JSON.stringify({ error: err }) };
      }
      if (script.body !== undefined) return rawBodyAnswer(script, 'application/json; charset=UTF-8');
      const m = url.pathname.match(/\/models\/([^/:]+):(generateContent|streamGenerateContent)$/);
      if (req.method !== 'POST' || !m) return null;
      const model = decodeURIComponent(m[1]);
      if (!body) return { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { code: 400, message: 'Invalid JSON payload received.', status: 'INVALID_ARGUMENT' } }) };
      if (m[2] === 'streamGenerateContent') {
        if (url.searchParams.get('alt') !== 'sse') {
          // Without alt=sse Google streams one JSON array: not what OAG parses.
          return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify([geminiResponse(script, model)]) };
        }
        const sse = script.rawStream ?? geminiSSE(script, model);
        return { stream: true, status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }, body: sse };
      }
      return { status: 200, headers: { 'content-type': 'application/json; charset=UTF-8' }, body: JSON.stringify(geminiResponse(script, model)) };
    },
    opts,
  );
}

// ---- Ollama --------------------------------------------------------------------

function ollamaCalls(script) {
  return (script.toolCalls || []).map((c, i) => {
    let args = c.arguments ?? c.args ?? {};
    if (typeof args === 'string') args = JSON.parse(args);
    return { function: { index: i, name: c.name, arguments: args } };
  });
}

function ollamaStats(script) {
  return {
    total_duration: 4883583458,
    load_duration: 1334875,
    prompt_eval_count: 26,
    prompt_eval_duration: 342546000,
    eval_count: 8,
    eval_duration: 4535599000,
    ...(script.usage || {}),
  };
}

export function ollamaResponse(script, model) {
  const calls = ollamaCalls(script);
  const message = { role: 'assistant', content: calls.length && script.text === undefined ? '' : script.text ?? 'Hello from fake Ollama' };
  if (calls.length) message.tool_calls = calls;
  return { model: script.model ?? model, created_at: '2025-07-07T20:22:19.184789Z', message, done_reason: script.doneReason ?? 'stop', done: true, ...ollamaStats(script) };
}

export function ollamaNDJSON(script, model) {
  const m = script.model ?? model;
  const at = '2025-07-07T20:22:19.18Z';
  const lines = [];
  const calls = ollamaCalls(script);
  if (script.text !== undefined || !calls.length) {
    for (const w of script.chunks ?? words(script.text ?? 'Hello from fake Ollama')) lines.push({ model: m, created_at: at, message: { role: 'assistant', content: w }, done: false });
  }
  if (calls.length) {
    if (script.toolCallsSeparate) for (const c of calls) lines.push({ model: m, created_at: at, message: { role: 'assistant', content: '', tool_calls: [c] }, done: false });
    else lines.push({ model: m, created_at: at, message: { role: 'assistant', content: '', tool_calls: calls }, done: false });
  }
  if (script.midStreamError) lines.push({ error: script.midStreamError });
  else if (!script.cutBeforeDone) lines.push({ model: m, created_at: at, message: { role: 'assistant', content: '' }, done_reason: script.doneReason ?? 'stop', done: true, ...ollamaStats(script) });
  return lines.map((l) => JSON.stringify(l) + '\n').join('');
}

export async function startFakeOllama(opts = {}) {
  return startScripted(
    'ollama',
    ({ req, url, body, script }) => {
      if (script.status && script.status >= 400 && script.body === undefined) {
        return { status: script.status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ error: script.error?.message ?? 'fake ollama error' }) };
      }
      if (script.body !== undefined) return rawBodyAnswer(script, 'application/json; charset=utf-8');
      if (req.method !== 'POST' || url.pathname !== '/api/chat') return null;
      if (!body) return { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 'invalid character' }) };
      // Ollama streams unless told not to.
      if (body.stream !== false) {
        const nd = script.rawStream ?? ollamaNDJSON(script, body.model);
        return { stream: true, status: 200, headers: { 'content-type': 'application/x-ndjson' }, body: nd };
      }
      return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(ollamaResponse(script, body.model)) };
    },
    opts,
  );
}

// ---- Azure OpenAI (deployments path, api-key header, api-version query) ------

import { buildCompletion, buildSSE } from './fake_openai.mjs';

/**
 * Azure OpenAI: POST /openai/deployments/{deployment}/chat/completions?api-version=…
 * Answers with the OpenAI wire format (fake_openai.mjs builders and script
 * fields: text, chunks, toolCalls, usage, …); without api-version it answers
 * 404 "Resource not found" as Azure does.
 */
export async function startFakeAzure(opts = {}) {
  return startScripted(
    'azure',
    ({ req, url, body, script }) => {
      if (script.status && script.status >= 400 && script.body === undefined) {
        const err = { message: 'fake azure error', type: 'server_error', param: null, code: null, ...(script.error || {}) };
        return { status: script.status, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: err }) };
      }
      if (script.body !== undefined) return rawBodyAnswer(script, 'application/json');
      const m = url.pathname.match(/^\/openai\/deployments\/([^/]+)\/chat\/completions$/);
      if (req.method !== 'POST' || !m) return null;
      if (!url.searchParams.get('api-version')) {
        return { status: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { code: '404', message: 'Resource not found' } }) };
      }
      const deployment = decodeURIComponent(m[1]);
      const s = { model: script.model ?? `${deployment}-2024-07-18`, ...script };
      if (body?.stream) {
        return { stream: true, status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' }, body: script.rawStream ?? buildSSE(s, body) };
      }
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(buildCompletion(s, body)) };
    },
    opts,
  );
}
