// Preloaded into the Portkey gateway for the benchmark only (node --import).
//
// Portkey 1.15.2 on Node 20 fails every streamed call through a custom host
// with "TypeError: immutable": @hono/node-server's Response wrapper reuses the
// upstream fetch() response's Headers object (guard "immutable") and Portkey
// then appends x-portkey-* headers to it. This shim re-wraps each fetch()
// response so its headers are mutable; the body stream is passed through
// untouched, so the cost is one object per upstream call.
const NativeResponse = globalThis.Response;
const nativeFetch = globalThis.fetch;
globalThis.fetch = async function fetchWithMutableHeaders(...args) {
  const r = await nativeFetch(...args);
  return new NativeResponse(r.body, { status: r.status, statusText: r.statusText, headers: new Headers(r.headers) });
};
