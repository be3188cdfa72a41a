// A fake Telegram Bot API server for the approval tests (agents.test.mjs).
//
// Speaks the Bot API's wire format (https://core.telegram.org/bots/api):
// requests are `POST /bot<token>/<method>` with a JSON (or form-encoded)
// body; every answer is JSON, `{"ok":true,"result":…}` on success or
// `{"ok":false,"error_code":N,"description":"…"}` (HTTP status N) on failure.
//
//   const tg = await startFakeTelegram({ token: '123456:ABC…' });
//   // configure OAG with telegram_api_base: tg.origin
//   tg.calls                        // [{ method, token, path, httpMethod, headers, raw, body, at, status, reply }]
//   tg.callsOf('sendMessage')       // calls of one method (known tokens only)
//   tg.messages                     // Message objects sent so far (latest text after edits)
//   tg.callbackUpdate(message, data, { from, update_id })   // an Update as Telegram would POST it
//
// Methods: getMe, sendMessage, editMessageText, answerCallbackQuery (others:
// 404 "Not Found", as the Bot API answers an unknown method). An unknown token
// is 401 "Unauthorized". Parameter checks follow the Bot API's descriptions:
// sendMessage needs chat_id and a non-empty text of at most 4096 characters;
// inline keyboard buttons need a text and callback_data of 1..64 bytes
// ("Bad Request: BUTTON_DATA_INVALID"); editMessageText needs chat_id +
// message_id of a message it sent ("Bad Request: message to edit not found");
// answerCallbackQuery needs callback_query_id and a text of at most 200 characters.

import http from 'node:http';

export const DEFAULT_BOT_TOKEN = '7012345678:AAHfakeFAKEfake_fake-FAKEfake0123456789';

export async function startFakeTelegram({ token = DEFAULT_BOT_TOKEN, host = '127.0.0.1' } = {}) {
  const tokens = new Set([token]);
  const calls = [];
  const messages = [];
  const sockets = new Set();
  const waiters = [];
  let nextMessageId = 100;
  let nextUpdateId = 500000;
  let nextCallbackId = 1;
  const botId = Number(token.split(':')[0]) || 7012345678;
  const me = { id: botId, is_bot: true, first_name: 'OAG Test Bot', username: 'oag_test_bot' };

  const ok = (result) => ({ status: 200, reply: { ok: true, result } });
  const err = (code, description) => ({ status: code, reply: { ok: false, error_code: code, description } });
  const chatOf = (chatId) =>
    typeof chatId === 'string' && chatId.startsWith('@')
      ? { id: -1001000000000 - chatId.length, title: chatId.slice(1), username: chatId.slice(1), type: 'channel' }
      : { id: Number(chatId), first_name: 'Ann', username: 'ann', type: 'private' };
  const sameChat = (m, chatId) => String(m.chat.id) === String(chatId) || (typeof chatId === 'string' && m.chat.username === chatId.slice(1));
  const utf16 = (s) => String(s).length;

  function checkKeyboard(markup) {
    if (markup === undefined) return null;
    let m = markup;
    if (typeof m === 'string') {
      try {
        m = JSON.parse(m);
      } catch {
        return err(400, "Bad Request: can't parse reply keyboard markup JSON object");
      }
    }
    if (!m || typeof m !== 'object') return err(400, "Bad Request: can't parse reply keyboard markup JSON object");
    if (m.inline_keyboard === undefined) return null;
    if (!Array.isArray(m.inline_keyboard) || !m.inline_keyboard.every(Array.isArray))
      return err(400, 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays');
    for (const row of m.inline_keyboard)
      for (const b of row) {
        if (!b || typeof b.text !== 'string' || !b.text) return err(400, 'Bad Request: text buttons are unallowed in the inline keyboard');
        if (b.callback_data !== undefined) {
          const n = Buffer.byteLength(String(b.callback_data), 'utf8');
          if (typeof b.callback_data !== 'string' || n < 1 || n > 64) return err(400, 'Bad Request: BUTTON_DATA_INVALID');
        }
      }
    return null;
  }

  function handle(method, body) {
    switch (method) {
      case 'getMe':
        return ok(me);
      case 'sendMessage': {
        if (body.chat_id === undefined || body.chat_id === null || body.chat_id === '') return err(400, 'Bad Request: chat_id is empty');
        if (typeof body.text !== 'string' || !body.text.trim()) return err(400, 'Bad Request: message text is empty');
        if (utf16(body.text) > 4096) return err(400, 'Bad Request: message is too long');
        const bad = checkKeyboard(body.reply_markup);
        if (bad) return bad;
        const msg = { message_id: nextMessageId++, from: me, chat: chatOf(body.chat_id), date: Math.floor(Date.now() / 1000), text: body.text };
        if (body.reply_markup !== undefined) msg.reply_markup = typeof body.reply_markup === 'string' ? JSON.parse(body.reply_markup) : body.reply_markup;
        messages.push(msg);
        return ok(msg);
      }
      case 'editMessageText': {
        if (typeof body.text !== 'string' || !body.text.trim()) return err(400, 'Bad Request: message text is empty');
        if (utf16(body.text) > 4096) return err(400, 'Bad Request: MESSAGE_TOO_LONG');
        if (body.inline_message_id === undefined && (body.chat_id === undefined || body.message_id === undefined))
          return err(400, 'Bad Request: message identifier is not specified');
        const bad = checkKeyboard(body.reply_markup);
        if (bad) return bad;
        const msg = messages.find((m) => m.message_id === Number(body.message_id) && sameChat(m, body.chat_id));
        if (!msg) return err(400, 'Bad Request: message to edit not found');
        if (msg.text === body.text && JSON.stringify(msg.reply_markup ?? null) === JSON.stringify(body.reply_markup ?? null))
          return err(400, 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message');
        msg.text = body.text;
        msg.edit_date = Math.floor(Date.now() / 1000);
        if (body.reply_markup === undefined) delete msg.reply_markup;
        else msg.reply_markup = body.reply_markup;
        return ok({ ...msg });
      }
      case 'answerCallbackQuery': {
        if (typeof body.callback_query_id !== 'string' || !body.callback_query_id) return err(400, 'Bad Request: query is too old and response timeout expired or query ID is invalid');
        if (body.text !== undefined && utf16(body.text) > 200) return err(400, 'Bad Request: MESSAGE_TOO_LONG');
        return ok(true);
      }
      default:
        return err(404, 'Not Found');
    }
  }

  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url, `http://${req.headers.host || host}`);
    let body = {};
    const ctype = String(req.headers['content-type'] || '');
    if (raw.length) {
      if (ctype.includes('application/x-www-form-urlencoded')) body = Object.fromEntries(new URLSearchParams(raw));
      else {
        try {
          body = JSON.parse(raw);
        } catch {
          body = null;
        }
      }
    }
    for (const [k, v] of url.searchParams) if (body && !(k in body)) body[k] = v;
    const m = url.pathname.match(/^\/bot([^/]+)\/([A-Za-z]+)$/);
    const record = { httpMethod: req.method, path: url.pathname, headers: { ...req.headers }, raw, body, at: Date.now(), token: m?.[1] ?? null, method: m?.[2] ?? null };
    let out;
    if (!m) out = err(404, 'Not Found');
    else if (!tokens.has(m[1])) out = err(401, 'Unauthorized');
    else if (body === null || typeof body !== 'object' || Array.isArray(body)) out = err(400, "Bad Request: can't parse JSON");
    else out = handle(m[2], body);
    record.status = out.status;
    record.reply = out.reply;
    calls.push(record);
    for (const w of waiters.splice(0)) w(record);
    const b = Buffer.from(JSON.stringify(out.reply), 'utf8');
    res.writeHead(out.status, { 'content-type': 'application/json', 'content-length': b.length, server: 'nginx/1.18.0' });
    res.end(b);
  });
  server.keepAliveTimeout = 30000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, host, resolve));
  const port = server.address().port;

  return {
    port,
    origin: `http://${host}:${port}`,
    token,
    calls,
    messages,
    /** Also accept this bot token. */
    addToken(t) {
      tokens.add(t);
    },
    /** Successful or failed calls of one Bot API method made with a known token. */
    callsOf(method) {
      return calls.filter((c) => c.method === method && tokens.has(c.token));
    },
    /** The messages sent to a chat (chat id or @username). */
    messagesTo(chatId) {
      return messages.filter((m) => sameChat(m, chatId));
    },
    /**
     * The Update Telegram POSTs to a webhook when a user presses an inline
     * button of `message` (a Message this server sent) carrying `data`.
     */
    callbackUpdate(message, data, { from = { id: 4242, is_bot: false, first_name: 'Ann', last_name: 'Approver', username: 'ann', language_code: 'en' }, update_id, id } = {}) {
      return {
        update_id: update_id ?? nextUpdateId++,
        callback_query: {
          id: id ?? `${4242000000000 + nextCallbackId++}`,
          from,
          message: { ...message },
          chat_instance: '-1234567890123456789',
          data,
        },
      };
    },
    reset() {
      calls.length = 0;
      messages.length = 0;
    },
    waitForCall(timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('fake telegram: no call within timeout')), timeoutMs);
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

// Run standalone: `node fake_telegram.mjs` (handy for manual checks).
if (import.meta.url === `file://${process.argv[1]}`) {
  const t = await startFakeTelegram();
  console.log(`fake telegram listening on ${t.origin} (token ${t.token})`);
}
