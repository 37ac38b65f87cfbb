'use strict';
// Shared by every page: who is logged in, the header, API calls with the
// CSRF token, event streams with the connection shown, small formatters.
const CW = {
  me: null,
  daemonUp: true,
  streamUp: false,

  el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  },

  // Marks an acknowledgement whose name nobody checked (the daemon has no
  // users file): anyone could have typed it.
  unverified() {
    return CW.el('span', { class: 'badge unverified', title: 'the daemon has no users file: this name was not checked', text: 'unverified' });
  },

  async api(path) {
    const r = await fetch(path, { credentials: 'same-origin' });
    if (r.status === 401) { location.href = '/login'; throw new Error('logged out'); }
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(j.error || ('HTTP ' + r.status));
    return j;
  },

  async post(path, body) {
    const r = await fetch(path, {
      method: 'POST', credentials: 'same-origin', body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': CW.me ? CW.me.csrf : '' },
    });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(j.error || ('HTTP ' + r.status));
    return j;
  },

  async start(page) {
    CW.me = await CW.api('/api/me');
    const links = CW.me.role === 'agent'
      ? [['agent', '/agent', 'My prompts']]
      : [['wallboard', '/wallboard', 'Wallboard'], ['alerts', '/alerts', 'Alerts'], ['qa', '/qa', 'QA']];
    const nav = CW.el('nav', {}, ...links.map(([id, href, label]) =>
      CW.el('a', { href, class: id === page ? 'here' : '', text: label })));
    const out = CW.el('button', { id: 'logout', text: 'Log out', onclick: async () => {
      await CW.post('/logout', {}).catch(() => {});
      location.href = '/login';
    } });
    const top = document.getElementById('top');
    top.replaceChildren(CW.el('span', { class: 'brand', text: 'callwatch' }), nav,
      CW.el('span', { id: 'conn', class: 'down', text: 'connecting…' }),
      CW.el('span', { class: 'who', text: CW.me.name + ' (' + CW.me.role + ')' }), out);
    return CW.me;
  },

  showConn() {
    const c = document.getElementById('conn');
    if (!c) return;
    if (!CW.streamUp) { c.className = 'down'; c.textContent = 'server lost - reconnecting…'; }
    else if (!CW.daemonUp) { c.className = 'down'; c.textContent = 'daemon not answering - reconnecting…'; }
    else { c.className = 'live'; c.textContent = 'LIVE'; }
  },

  // EventSource reconnects by itself (the server says retry: 2000).
  stream(query, handlers) {
    const es = new EventSource('/events?' + query);
    es.onopen = () => { CW.streamUp = true; CW.showConn(); };
    es.onerror = () => { CW.streamUp = false; CW.showConn(); };
    es.addEventListener('daemon', (e) => {
      CW.daemonUp = JSON.parse(e.data).connected; CW.showConn();
    });
    for (const [name, fn] of Object.entries(handlers))
      es.addEventListener(name, (e) => fn(JSON.parse(e.data)));
    return es;
  },

  dur(s) {
    s = Math.max(0, Math.floor(s || 0));
    const m = Math.floor(s / 60), h = Math.floor(m / 60);
    const ss = String(s % 60).padStart(2, '0');
    return h ? h + ':' + String(m % 60).padStart(2, '0') + ':' + ss : m + ':' + ss;
  },

  ago(s) {
    s = Math.max(0, Math.floor(s || 0));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    return Math.floor(s / 3600) + ' h ago';
  },

  heat(v) {
    const cls = v >= 0.85 ? 'heat h-crit' : v >= 0.6 ? 'heat h-warn' : 'heat';
    const i = CW.el('i');
    i.style.width = Math.round(Math.min(1, Math.max(0, v)) * 100) + '%';
    return CW.el('span', { class: cls, title: 'heat ' + v.toFixed(2) }, i);
  },

  param(name) { return new URLSearchParams(location.search).get(name); },
};
