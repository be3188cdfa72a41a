// The Cockpit: a single page app with hash routes (#/approvals, #/agents,
// #/agents/<id>, #/runs/<id>, #/spend, #/chat, #/signin).

import { api, ApiError, auth, LiveFeed, onUnauthorized } from './api.js';
import { h, put } from './dom.js';
import * as approvals from './pages/approvals.js';
import * as agents from './pages/agents.js';
import * as spend from './pages/spend.js';
import * as chat from './pages/chat.js';

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');
const banner = document.getElementById('banner');
const feed = new LiveFeed();

const NAV = [
  ['approvals', 'Approvals'],
  ['agents', 'Agents'],
  ['spend', 'Spend'],
  ['chat', 'Chat'],
];

let cleanup = null;
let signInNotice = null;

function showBanner(message) {
  if (!message) {
    banner.hidden = true;
    put(banner);
    return;
  }
  banner.hidden = false;
  put(banner, h('span', {}, message), h('button', { type: 'button', class: 'btn btn-small', onclick: () => showBanner(null) }, 'Dismiss'));
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function signOut(notice) {
  auth.clear();
  feed.stop();
  signInNotice = notice || null;
  navigate('#/signin');
}

onUnauthorized((err) => signOut(`Your key was refused: ${err.message}`));

function renderTopbar(current) {
  const nav = h(
    'nav',
    { class: 'nav', 'aria-label': 'Cockpit pages' },
    NAV.map(([id, label]) => h('a', { href: `#/${id}`, class: 'nav-link', 'aria-current': current === id ? 'page' : null }, label)),
  );
  put(
    topbar,
    h('a', { class: 'brand', href: '#/approvals' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '◆'), 'OAG Cockpit'),
    nav,
    h('button', { type: 'button', class: 'btn btn-ghost signout', onclick: () => signOut('You are signed out.') }, 'Sign out'),
  );
  topbar.hidden = false;
}

function renderSignIn() {
  topbar.hidden = true;
  const error = h('p', { class: 'form-error', id: 'signin-error', role: 'alert' });
  const input = h('input', {
    id: 'key',
    name: 'key',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    autocapitalize: 'off',
    required: true,
    placeholder: 'oag-…',
    'aria-describedby': 'key-hint signin-error',
  });
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const notice = signInNotice ? h('p', { class: 'notice', role: 'status' }, signInNotice) : null;
  signInNotice = null;
  const form = h(
    'form',
    {
      class: 'signin card',
      // Never submitted natively: the key must not end up in a URL.
      action: '#',
      method: 'post',
      onsubmit: async (e) => {
        e.preventDefault();
        const key = input.value.trim();
        error.textContent = '';
        if (!key) {
          error.textContent = 'Enter your company API key.';
          input.focus();
          return;
        }
        button.disabled = true;
        button.textContent = 'Signing in…';
        try {
          // Any cheap call with the key tells whether it is valid.
          await api('GET', '/v1/wallet', { key });
          auth.set(key);
          input.value = '';
          navigate('#/approvals');
        } catch (err) {
          error.textContent =
            err instanceof ApiError && err.status === 401 ? `Sign-in failed: ${err.message}` : `Sign-in failed: ${err.message || err}`;
          input.select();
          input.focus();
        } finally {
          button.disabled = false;
          button.textContent = 'Sign in';
        }
      },
    },
    h('h1', { tabindex: '-1' }, 'OAG Cockpit'),
    h('p', { class: 'muted' }, 'Approvals, agents, spend and chat for your company.'),
    notice,
    h('label', { for: 'key' }, 'Company API key'),
    input,
    h('p', { class: 'hint', id: 'key-hint' }, 'The key (oag-…) is kept in this tab’s session storage only and is forgotten when you sign out or close the tab.'),
    error,
    button,
  );
  put(main, h('div', { class: 'signin-wrap' }, form));
  input.focus();
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const parts = raw.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return parts;
}

function route() {
  if (cleanup) {
    try {
      cleanup();
    } catch (e) {
      console.warn('cleanup failed', e);
    }
    cleanup = null;
  }
  const [page = '', ...rest] = parseHash();
  if (!auth.key) {
    feed.stop();
    if (page !== 'signin') {
      history.replaceState(null, '', '#/signin');
    }
    document.title = 'Sign in · OAG Cockpit';
    return renderSignIn();
  }
  if (page === 'signin' || page === '') return navigate('#/approvals');
  feed.start();
  const ctx = { main, api, feed, navigate, params: rest, showBanner };
  const pages = { approvals, agents, runs: agents, spend, chat };
  const mod = pages[page];
  renderTopbar(page === 'runs' ? 'agents' : page);
  if (!mod) {
    document.title = 'Not found · OAG Cockpit';
    put(main, h('h1', { tabindex: '-1' }, 'Page not found'), h('p', {}, h('a', { href: '#/approvals' }, 'Go to the approvals')));
    return;
  }
  put(main);
  cleanup = (page === 'runs' ? agents.renderRun : mod.render)(ctx) || null;
  const title = main.querySelector('h1');
  document.title = `${title ? title.textContent : page} · OAG Cockpit`;
  if (title && document.activeElement === document.body) title.focus({ preventScroll: true });
}

window.addEventListener('hashchange', route);
window.addEventListener('unhandledrejection', (e) => {
  showBanner(`Something went wrong: ${e.reason && e.reason.message ? e.reason.message : e.reason}`);
});
route();
