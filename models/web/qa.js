'use strict';
// QA search over the archive (the server runs `callwatch qa`'s queries) and
// export of the same rows as CSV or JSON Lines.
function query() {
  const f = new FormData(document.getElementById('search'));
  const q = new URLSearchParams();
  for (const [k, v] of f.entries()) if (v) q.set(k, v);
  return q;
}

function links() {
  for (const fmt of ['csv', 'jsonl']) {
    const q = query(); q.set('format', fmt); q.set('limit', '20000');
    document.getElementById(fmt).href = '/api/qa?' + q.toString();
  }
}

async function search(e) {
  if (e) e.preventDefault();
  links();
  const msg = document.getElementById('msg');
  try {
    const rows = await CW.api('/api/qa?' + query().toString());
    msg.textContent = rows.length + ' rows' + (rows.length >= 500 ? ' (the first 500; export for all)' : '');
    document.getElementById('results').replaceChildren(...rows.map((r) => CW.el('tr', {
      onclick: () => { location.href = '/call?id=' + encodeURIComponent(r.call_id); } },
    CW.el('td', { class: 'num', text: r.wall || '' }),
    CW.el('td', { text: r.type }),
    CW.el('td', {}, r.severity ? CW.el('span', { class: 'sev ' + r.severity, text: r.severity }) : ''),
    CW.el('td', { class: 'kind', text: r.kind || '' }),
    CW.el('td', { text: r.agent_id || '' }),
    CW.el('td', { class: 'callid', text: r.call_id }),
    CW.el('td', { text: r.text || r.prompt || r.note || '' }))));
  } catch (x) {
    msg.textContent = x.message; msg.className = 'msg err';
  }
}

// The agent's pitch spread per call (lower = flatter): a falling line over
// a shift is the wellbeing signal `callwatch qa shift` reports.
function shiftChart(calls) {
  const pts = calls.map((c, i) => [i, c.f0_spread_st]).filter((p) => typeof p[1] === 'number');
  const box = document.getElementById('shift-chart');
  if (pts.length < 2) { box.replaceChildren(CW.el('p', { class: 'muted', text: 'fewer than two calls with a voice measure' })); return; }
  const W = 600, H = 140, pad = 18, ns = 'http://www.w3.org/2000/svg';
  const max = Math.max(...pts.map((p) => p[1])) * 1.15 || 1;
  const x = (i) => pad + (W - 2 * pad) * (calls.length > 1 ? i / (calls.length - 1) : 0.5);
  const y = (v) => H - pad - (H - 2 * pad) * (v / max);
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H); svg.setAttribute('class', 'timeline');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', pts.map((p, k) => (k ? 'L' : 'M') + x(p[0]) + ' ' + y(p[1])).join(' '));
  path.setAttribute('fill', 'none'); path.setAttribute('stroke', '#6ea8fe'); path.setAttribute('stroke-width', '2');
  svg.append(path);
  for (const [i, v] of pts) {
    const c = document.createElementNS(ns, 'circle');
    c.setAttribute('cx', x(i)); c.setAttribute('cy', y(v)); c.setAttribute('r', 4);
    c.setAttribute('fill', calls[i].hostile ? '#ff4d4f' : '#6ea8fe');
    const t = document.createElementNS(ns, 'title'); t.textContent = calls[i].started + ': ' + v.toFixed(2) + ' st';
    c.append(t); svg.append(c);
  }
  box.replaceChildren(svg, CW.el('div', { class: 'legs', text: 'agent pitch spread (semitones) per call, oldest left; red: hostile customer' }));
}

async function shift(e) {
  e.preventDefault();
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(document.getElementById('shift-form')).entries()) if (v) q.set(k, v);
  const msg = document.getElementById('shift-msg');
  try {
    const s = await CW.api('/api/shift?' + q.toString());
    msg.className = 'msg';
    msg.textContent = s.calls.length + (s.calls.length === 1 ? ' call, ' : ' calls, ') + s.alerts + ' alerts, ' +
      s.hostile_calls + ' with a hostile customer; ' +
      (s.slope_st_per_call === null ? 'too few measured calls for a trend' :
        'pitch spread ' + s.first_third_st.toFixed(2) + ' -> ' + s.last_third_st.toFixed(2) + ' st (slope ' + s.slope_st_per_call.toFixed(3) + ' per call)') +
      (s.drift ? ' — DRIFTING FLAT: check in with the agent' : '');
    shiftChart(s.calls);
    document.getElementById('shift-calls').replaceChildren(...s.calls.map((c) => CW.el('tr', {
      onclick: () => { location.href = '/call?id=' + encodeURIComponent(c.call_id); } },
    CW.el('td', { class: 'num', text: c.started }), CW.el('td', { class: 'num', text: c.duration_s === null ? '' : CW.dur(c.duration_s) }),
    CW.el('td', { text: c.alerts + ' alerts' + (c.critical ? ', ' + c.critical + ' critical' : '') }),
    CW.el('td', { text: c.f0_spread_st === null ? '' : c.f0_spread_st.toFixed(2) + ' st' }),
    CW.el('td', { class: 'callid', text: c.call_id }))));
  } catch (x) { msg.textContent = x.message; msg.className = 'msg err'; }
}

(async () => {
  const me = await CW.start('qa');
  document.getElementById('shift-form').addEventListener('submit', shift);
  CW.streamUp = true; CW.showConn();
  document.getElementById('search').addEventListener('submit', search);
  document.getElementById('search').addEventListener('input', links);
  if (!me.archive) { document.getElementById('msg').textContent = 'No archive: start callwatch web with --db FILE.db to search ended calls.'; return; }
  search();
})();
