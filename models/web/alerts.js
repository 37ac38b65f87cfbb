'use strict';
// The alerts feed, newest first, filtered in the page (team, agent, kind,
// severity, unacknowledged); filters are kept in the URL.
let last = { feed: [] };
const F = ['team', 'agent', 'kind', 'sev'];

function val(id) { return document.getElementById('f-' + id).value.trim().toLowerCase(); }

function render(snap) {
  last = snap;
  const f = Object.fromEntries(F.map((k) => [k, val(k)]));
  const open = document.getElementById('f-open').checked;
  const rows = snap.feed.filter((a) => (!f.team || a.team.toLowerCase() === f.team) &&
    (!f.agent || a.agent.toLowerCase() === f.agent) && (!f.kind || a.kind.toLowerCase().includes(f.kind)) &&
    (!f.sev || a.severity === f.sev) && (!open || !a.acked)).map((a) => CW.el('tr', {
    'data-alert': a.id, onclick: () => { location.href = '/call?id=' + encodeURIComponent(a.call_id); } },
  CW.el('td', { class: 'num', text: CW.ago(a.ago_s) }),
  CW.el('td', {}, CW.el('span', { class: 'sev ' + a.severity, text: a.severity })),
  CW.el('td', { class: 'kind', text: a.kind.replace('_', ' ') }),
  CW.el('td', { text: a.agent || '?' }), CW.el('td', { text: a.team }),
  CW.el('td', {}, CW.el('div', { text: a.text }), CW.el('div', { class: 'legs', text: a.evidence })),
  CW.el('td', { class: 'muted', text: a.acked ? a.acked_by + ' at ' + (a.acked_at || '').replace('T', ' ').slice(0, 19) : '' },
    a.acked && !a.acked_verified ? CW.unverified() : null)));
  document.getElementById('feed').replaceChildren(...rows);
  document.getElementById('empty').hidden = rows.length > 0;
  CW.daemonUp = snap.connected; CW.showConn();
}

(async () => {
  await CW.start('alerts');
  const q = new URLSearchParams(location.search);
  for (const k of F) {
    const e = document.getElementById('f-' + k);
    e.value = q.get(k) || '';
    e.addEventListener('input', () => {
      const u = new URLSearchParams(location.search);
      if (e.value) u.set(k, e.value); else u.delete(k);
      history.replaceState(null, '', '?' + u.toString());
      render(last);
    });
  }
  document.getElementById('f-open').checked = q.get('open') === '1';
  document.getElementById('f-open').addEventListener('change', () => render(last));
  render(await CW.api('/api/board'));
  CW.stream('stream=board', { board: render });
})();
