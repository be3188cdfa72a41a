// Test harness: starts a real `oag serve` process on an ephemeral port with a
// temp data dir and temp config, and offers helpers for the admin API, tenants
// (company + key + provider pointing at a fake upstream), the openai SDK, raw
// HTTP/SSE calls, kill / kill -9 / restart on the same data dir, and cleanup.
//
// OAG_BIN overrides the daemon path (default <repo>/build/bin/oag).
// The daemon's stdout/stderr go to tests/artifacts/<name>-<n>.log.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..');
export const OAG_BIN = process.env.OAG_BIN || path.join(REPO, 'build', 'bin', 'oag');
export const PRICES_FILE = path.join(REPO, 'config', 'prices.json');
export const ARTIFACTS = path.join(REPO, 'tests', 'artifacts');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let instanceCounter = 0;

/** Starts oag. Options: name, config (merged over the defaults), env, dataDir (reuse). */
export async function startOag(opts = {}) {
  if (!fs.existsSync(OAG_BIN)) {
    throw new Error(`oag binary not found at ${OAG_BIN} (build it with scripts/build.sh or set OAG_BIN)`);
  }
  const name = (opts.name || 'oag').replace(/[^A-Za-z0-9_.-]/g, '_');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `oag-it-${name}-`));
  const dataDir = opts.dataDir || path.join(root, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const config = {
    listen: '127.0.0.1:0',
    demo: false,
    prices_file: PRICES_FILE,
    body_limit_bytes: 4194304,
    durability: 'wal',
    // As in config/oag.json: the built-in mock provider is declared there.
    providers: { mock: { kind: 'mock' } },
    ...(opts.config || {}),
  };
  const configFile = path.join(root, 'oag.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  const adminToken = opts.adminToken || `adm_${crypto.randomBytes(18).toString('hex')}`;
  const masterKey = opts.masterKey || crypto.randomBytes(32).toString('base64');
  fs.mkdirSync(ARTIFACTS, { recursive: true });

  const inst = {
    name,
    root,
    dataDir,
    configFile,
    config,
    adminToken,
    masterKey,
    env: opts.env || {},
    logFormat: opts.logFormat,
    proc: null,
    port: 0,
    url: '',
    baseURL: '',
    logFile: '',
    exit: null,
    ownsRoot: !opts.dataDir,
  };
  Object.setPrototypeOf(inst, OagInstance.prototype);
  await inst.spawn();
  return inst;
}

class OagInstance {
  async spawn() {
    instanceCounter += 1;
    this.logFile = path.join(ARTIFACTS, `${this.name}-${process.pid}-${instanceCounter}.log`);
    const log = fs.openSync(this.logFile, 'a');
    const args = ['serve', '--config', this.configFile, '--data-dir', this.dataDir, '--listen', '127.0.0.1:0'];
    if (this.logFormat) args.push('--log-format', this.logFormat);
    const proc = spawn(OAG_BIN, args, {
      env: { ...process.env, OAG_ADMIN_TOKEN: this.adminToken, OAG_MASTER_KEY: this.masterKey, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    this.exit = null;
    this.stdout = '';
    proc.on('exit', (code, signal) => {
      this.exit = { code, signal };
    });
    this.stderr = '';
    proc.stderr.on('data', (d) => {
      fs.writeSync(log, d);
      if (this.stderr.length < 65536) this.stderr += d.toString('utf8');
    });
    const port = await new Promise((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => {
        const where = /OAG listening on/.test(this.stderr) ? ' on stdout (it went to stderr)' : '';
        reject(new Error(`oag did not print its listening line${where} within 15s; log: ${this.logFile}\n${tail(this.logFile)}`));
      }, 15000);
      proc.stdout.on('data', (d) => {
        fs.writeSync(log, d);
        const s = d.toString('utf8');
        this.stdout += s;
        buf += s;
        const m = buf.match(/OAG listening on http:\/\/[^:\s]+:(\d+)/);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      proc.on('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`oag exited before listening (code ${code}, signal ${signal}); log: ${this.logFile}\n${tail(this.logFile)}`));
      });
      proc.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    proc.on('exit', () => {
      try {
        fs.closeSync(log);
      } catch {}
    });
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.baseURL = `${this.url}/v1`;
    return this;
  }

  get alive() {
    return this.proc && this.exit === null;
  }

  async waitExit(timeoutMs = 10000) {
    if (!this.proc || this.exit) return this.exit;
    return await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('oag did not exit in time')), timeoutMs);
      this.proc.once('exit', (code, signal) => {
        clearTimeout(t);
        resolve({ code, signal });
      });
    });
  }

  /** SIGTERM and wait (graceful drain). */
  async stop() {
    if (!this.alive) return this.exit;
    this.proc.kill('SIGTERM');
    try {
      return await this.waitExit(15000);
    } catch {
      this.proc.kill('SIGKILL');
      return await this.waitExit(5000);
    }
  }

  /** kill -9 and wait. */
  async kill9() {
    if (!this.alive) return this.exit;
    this.proc.kill('SIGKILL');
    return await this.waitExit(5000);
  }

  /** Start again on the same data dir and config (new port). */
  async restart() {
    if (this.alive) await this.stop();
    return await this.spawn();
  }

  /** Stop and remove the temp dirs. */
  async cleanup() {
    try {
      await this.stop();
    } finally {
      if (this.ownsRoot) fs.rmSync(this.root, { recursive: true, force: true });
    }
  }

  // ---- HTTP helpers --------------------------------------------------------

  /** Raw request; returns { status, headers, text, json }. */
  async request(method, p, { body, headers = {}, token, raw } = {}) {
    const h = { ...headers };
    if (token !== undefined && token !== null) h.authorization = `Bearer ${token}`;
    let payload;
    if (raw !== undefined) payload = raw;
    else if (body !== undefined) {
      payload = JSON.stringify(body);
      h['content-type'] = h['content-type'] || 'application/json';
    }
    const res = await fetch(this.url + p, { method, headers: h, body: payload });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, headers: res.headers, text, json };
  }

  admin(method, p, body) {
    return this.request(method, p, { body, token: this.adminToken });
  }

  async createCompany(name, credit_ot = '1000') {
    const r = await this.admin('POST', '/admin/v1/companies', { name, credit_ot });
    if (r.status !== 201) throw new Error(`create company: ${r.status} ${r.text}`);
    return r.json;
  }

  async createKey(companyId, name = 'test') {
    const r = await this.admin('POST', `/admin/v1/companies/${companyId}/keys`, { name });
    if (r.status !== 201) throw new Error(`create key: ${r.status} ${r.text}`);
    return r.json;
  }

  async putProvider(companyId, name, spec) {
    const r = await this.admin('PUT', `/admin/v1/companies/${companyId}/providers/${name}`, spec);
    if (r.status !== 200) throw new Error(`put provider: ${r.status} ${r.text}`);
    return r.json;
  }

  async adminWallet(companyId) {
    const r = await this.admin('GET', `/admin/v1/companies/${companyId}/wallet`);
    if (r.status !== 200) throw new Error(`admin wallet: ${r.status} ${r.text}`);
    return r.json;
  }

  /**
   * A company with credit, one API key and (when `fake` is given) a provider
   * named `providerName` (default "fake") of kind openai at the fake upstream.
   */
  async tenant({ name, credit = '1000', fake, providerName = 'fake', upstreamKey } = {}) {
    const co = await this.createCompany(name || `co-${crypto.randomBytes(3).toString('hex')}`, credit);
    const key = await this.createKey(co.id);
    const t = { company: co, companyId: co.id, key: key.key, keyId: key.id, upstreamKey: null };
    if (fake) {
      t.upstreamKey = upstreamKey || `sk-fake-${crypto.randomBytes(12).toString('hex')}`;
      await this.putProvider(co.id, providerName, { kind: 'openai', base_url: fake.url, api_key: t.upstreamKey });
    }
    t.client = this.client(t.key);
    t.get = (p) => this.request('GET', p, { token: t.key });
    t.post = (p, body, extra = {}) => this.request('POST', p, { body, token: t.key, ...extra });
    t.wallet = async () => {
      const r = await this.request('GET', '/v1/wallet', { token: t.key });
      if (r.status !== 200) throw new Error(`wallet: ${r.status} ${r.text}`);
      return r.json;
    };
    t.ledger = (q = {}) => this.ledgerAll(t.key, q);
    return t;
  }

  client(apiKey, extra = {}) {
    return new OpenAI({ apiKey, baseURL: this.baseURL, maxRetries: 0, timeout: 20000, ...extra });
  }

  /** All ledger entries for a key (follows has_more/after). */
  async ledgerAll(key, { limit = 100 } = {}) {
    const all = [];
    let after = null;
    for (let page = 0; page < 1000; page++) {
      const q = new URLSearchParams({ limit: String(limit) });
      if (after) q.set('after', after);
      const r = await this.request('GET', `/v1/ledger?${q}`, { token: key });
      if (r.status !== 200) throw new Error(`ledger: ${r.status} ${r.text}`);
      all.push(...r.json.data);
      if (!r.json.has_more || !r.json.data.length) break;
      after = r.json.last_id ?? r.json.data[r.json.data.length - 1].id;
    }
    return all;
  }

  /** Raw streamed POST; returns { status, headers, bytes (Buffer), text, events, error }. */
  async stream(p, body, { token, headers = {} } = {}) {
    return await rawStream(this.url + p, body, { token, headers });
  }

  logTail(n = 40) {
    return tail(this.logFile, n);
  }
}

/** POSTs and reads the whole (SSE) response as bytes, tolerating a cut connection. */
export async function rawStream(url, body, { token, headers = {} } = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: 'POST', headers: h, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const parts = [];
  let error = null;
  try {
    for await (const c of res.body) parts.push(Buffer.from(c));
  } catch (e) {
    error = e;
  }
  const bytes = Buffer.concat(parts);
  const text = bytes.toString('utf8');
  return { status: res.status, headers: res.headers, bytes, text, events: parseSSE(text), error };
}

/** Parses an SSE body into [{ event, data, json }]. */
export function parseSSE(text) {
  const out = [];
  const blocks = text.replace(/\r\n/g, '\n').split('\n\n');
  for (const block of blocks) {
    if (!block.trim()) continue;
    let event = null;
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
    }
    if (!data.length && !event) continue;
    const d = data.join('\n');
    let json = null;
    try {
      json = d && d !== '[DONE]' ? JSON.parse(d) : null;
    } catch {}
    out.push({ event, data: d, json });
  }
  return out;
}

// ---- prices / cost ---------------------------------------------------------

let pricesCache = null;
export function prices() {
  if (!pricesCache) pricesCache = JSON.parse(fs.readFileSync(PRICES_FILE, 'utf8'));
  return pricesCache;
}

/** Price entry for "kind/model" from config/prices.json. */
export function priceOf(kindModel) {
  const doc = prices();
  const models = doc.models || doc;
  const p = models[kindModel];
  if (!p) throw new Error(`no price for ${kindModel} in ${PRICES_FILE}`);
  return p;
}

function toMicroUsd(x) {
  // USD per Mtok → µUSD per Mtok, exact for prices with ≤ 6 decimals.
  return BigInt(Math.round(Number(x) * 1e6));
}

/** cost_uot = ceil(Σ tokens × usd_per_mtok × 1000), cached prompt tokens at the cached rate. */
export function expectedCost(kindModel, { prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0 }) {
  const p = priceOf(kindModel);
  const inRate = toMicroUsd(p.input ?? 0);
  const cachedRate = toMicroUsd(p.cached_input ?? p.input ?? 0);
  const outRate = toMicroUsd(p.output ?? 0);
  const cached = BigInt(Math.min(cached_tokens, prompt_tokens));
  const uncached = BigInt(prompt_tokens) - cached;
  const pico = uncached * inRate + cached * cachedRate + BigInt(completion_tokens) * outRate;
  return Number((pico + 999n) / 1000n);
}

/** Checks the wallet invariant; returns the numbers as BigInt-safe Numbers. */
export function walletInvariantHolds(w) {
  return BigInt(w.credits_uot) === BigInt(w.balance_uot) + BigInt(w.reserved_uot) + BigInt(w.spent_uot);
}

export function tail(file, n = 40) {
  try {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    return lines.slice(-n).join('\n');
  } catch {
    return '';
  }
}

export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 50, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

export { sleep };
