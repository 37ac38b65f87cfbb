'use strict';
// A call: its transcript as spoken (partials in grey until final), alerts
// inline with their evidence, the heat per leg over time, the agent's
// prompts; acknowledgements go to the daemon.
const callId = CW.param('id');
const st = { info: {}, lines: [], partial: {}, alerts: new Map(), whispers: [], acks: new Map(), ended: false, t: 0 };

function phrasesOf(a) {
  return ((a.evidence && a.evidence.words) || []).map((w) => (w.phrase || w.w || '').toLowerCase()).filter(Boolean);
}

// The line's text with the words of alerts on its leg and time marked.
function marked(line) {
  const phrases = [];
  for (const a of st.alerts.values())
    if (a.leg === line.leg && line.t_end >= a.t_start - 0.5 && line.t_start <= a.t_end + 0.5) phrases.push(...phrasesOf(a));
  const span = CW.el('span', { class: 'txt' });
  let text = line.text, lower = text.toLowerCase();
  while (text) {
    let best = -1, len = 0;
    for (const p of phrases) {
      const i = lower.indexOf(p);
      if (i >= 0 && (best < 0 || i < best)) { best = i; len = p.length; }
    }
    if (best < 0) { span.append(text); break; }
    span.append(text.slice(0, best), CW.el('mark', { text: text.slice(best, best + len) }));
    text = text.slice(best + len); lower = lower.slice(best + len);
  }
  return span;
}

function prosodyText(p) {
  const out = [];
  for (const [k, v] of Object.entries(p || {})) {
    if (k.startsWith('norm_')) continue;
    const norm = p['norm_' + k];
    out.push(k.replace(/_/g, ' ') + ' ' + v + (norm !== undefined ? ' (baseline ' + norm + ')' : ''));
  }
  return out.join(' · ');
}

function alertBox(a) {
  const ack = st.acks.get(a.id);
  const ev = a.evidence || {};
  const parts = [];
  if (ev.words && ev.words.length) parts.push('said: ' + ev.words.map((w) => '"' + (w.phrase || w.w) + '"' + (w.category ? ' (' + w.category + ')' : '')).join(', '));
  if (ev.prosody) parts.push('voice: ' + prosodyText(ev.prosody));
  return CW.el('div', { class: 'alert ' + a.severity, 'data-alert': a.id },
    CW.el('span', { class: 'sev ' + a.severity, text: a.severity }), ' ',
    CW.el('b', { text: a.kind.replace('_', ' ') }), ' ', CW.el('span', { class: 'muted', text: a.leg + ' leg, ' + a.t_start.toFixed(1) + '-' + a.t_end.toFixed(1) + ' s' }),
    CW.el('div', { text: a.text }),
    parts.length ? CW.el('div', { class: 'ev', text: parts.join(' — ') }) : null,
    ack ? CW.el('div', { class: 'ackd', text: 'acknowledged by ' + ack.by + ' at ' + ack.at + (ack.note ? ': ' + ack.note : '') },
      ack.verified === false ? CW.unverified() : null) : null);
}

function lineEl(l, partial) {
  return CW.el('div', { class: 'line ' + l.leg + (partial ? ' partial' : '') + (l.spotted ? ' spotted' : '') },
    CW.el('span', { class: 't', text: l.t_start.toFixed(1) + ' s' }),
    CW.el('span', { class: 'who', text: l.leg }), partial ? CW.el('span', { class: 'txt', text: l.text }) : marked(l));
}

function renderTranscript() {
  const box = document.getElementById('transcript');
  const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 30;
  const items = st.lines.map((l) => ({ t: l.t_start, el: () => lineEl(l, false) }));
  for (const a of st.alerts.values()) items.push({ t: a.t_end + 0.001, el: () => alertBox(a) });
  for (const w of st.whispers)
    items.push({ t: w.t + 0.002, el: () => CW.el('div', { class: 'whisper' }, CW.el('span', { class: 'k', text: 'prompt to the agent: ' }), w.prompt) });
  items.sort((x, y) => x.t - y.t);
  const els = items.map((i) => i.el());
  for (const leg of ['agent', 'customer']) if (st.partial[leg]) els.push(lineEl(st.partial[leg], true));
  if (!els.length) els.push(CW.el('p', { class: 'muted', text: 'nothing said yet' }));
  box.replaceChildren(...els);
  if (atEnd) box.scrollTop = box.scrollHeight;
}

function renderTimeline() {
  const W = 600, H = 120, pad = 4;
  const dur = Math.max(st.t, 10);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H); svg.setAttribute('class', 'timeline');
  svg.setAttribute('preserveAspectRatio', 'none');
  const x = (t) => pad + (W - 2 * pad) * (t / dur), y = (v) => H - pad - (H - 2 * pad) * v;
  for (const [v, col] of [[0.85, '#ff4d4f'], [0.6, '#f5a623']]) {
    const l = document.createElementNS(ns, 'line');
    Object.entries({ x1: 0, x2: W, y1: y(v), y2: y(v), stroke: col, 'stroke-dasharray': '4 4', 'stroke-opacity': '0.5' }).forEach(([k, val]) => l.setAttribute(k, val));
    svg.append(l);
  }
  for (const [leg, col] of [['agent', '#6ea8fe'], ['customer', '#ffb347']]) {
    const pts = [...st.alerts.values()].filter((a) => a.leg === leg).sort((a, b) => a.t_end - b.t_end);
    // Heat: the strongest alert so far, each fading to nothing over 10 s
    // after it became apparent; sampled every 0.25 s and at each alert.
    const heat = (t) => pts.reduce((h, a) => (a.t_end <= t ? Math.max(h, a.score * Math.max(0, 1 - (t - a.t_end) / 10)) : h), 0);
    const times = [];
    for (let t = 0; t <= dur; t += 0.25) times.push(t);
    for (const a of pts) times.push(a.t_end);
    times.sort((p, q) => p - q);
    let d = 'M' + x(0) + ' ' + y(0);
    for (const t of times) d += ' L' + x(t) + ' ' + y(heat(t));
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', d); p.setAttribute('fill', 'none'); p.setAttribute('stroke', col); p.setAttribute('stroke-width', '2');
    svg.append(p);
    for (const a of pts) {
      const c = document.createElementNS(ns, 'circle');
      c.setAttribute('cx', x(a.t_end)); c.setAttribute('cy', y(a.score)); c.setAttribute('r', 4); c.setAttribute('fill', col);
      const t = document.createElementNS(ns, 'title'); t.textContent = leg + ' ' + a.kind + ' ' + a.severity + ' at ' + a.t_end.toFixed(1) + ' s';
      c.append(t); svg.append(c);
    }
  }
  const legend = CW.el('div', { class: 'legs', text: 'agent (blue) and customer (orange) alert scores over ' + CW.dur(dur) + '; dashed: warning and critical' });
  document.getElementById('timeline').replaceChildren(svg, legend);
}

function renderSide() {
  const sel = document.getElementById('ack-alert');
  const keep = sel.value;
  const open = [...st.alerts.values()].filter((a) => !st.acks.has(a.id));
  sel.replaceChildren(...open.map((a) => CW.el('option', { value: a.id, text: a.severity + ' ' + a.kind.replace('_', ' ') + ' at ' + a.t_end.toFixed(1) + ' s' })));
  if (open.some((a) => a.id === keep)) sel.value = keep;
  document.getElementById('ack-send').disabled = !open.length;
  const ws = document.getElementById('whispers');
  if (st.whispers.length)
    ws.replaceChildren(...st.whispers.map((w) => CW.el('div', { class: 'whisper' }, CW.el('div', { class: 'k', text: w.t.toFixed(1) + ' s · ' + w.severity + ' ' + w.kind }), w.prompt)));
  const i = st.info;
  document.getElementById('title').textContent = 'Call of ' + (i.agent_id || i.agent || '?') + (i.team ? ' (' + i.team + ')' : '');
  document.getElementById('summary').textContent = callId + ' · ' + CW.dur(st.t) + (st.ended ? ' · ended' : ' · live') + ' · ' + st.alerts.size + ' alerts';
}

function apply(ev) {
  if (typeof ev.t === 'number' && ev.t > st.t) st.t = ev.t;
  switch (ev.type) {
    case 'call_start': Object.assign(st.info, ev); break;
    case 'call_end': st.ended = true; if (ev.duration_s) st.t = ev.duration_s; break;
    case 'transcript':
      if (ev.final === false) { st.partial[ev.leg] = ev; break; }
      delete st.partial[ev.leg];
      if (ev.text) st.lines.push({ leg: ev.leg, t_start: ev.t_start, t_end: ev.t_end, text: ev.text, spotted: ev.mode === 'cue' || ev.spotted === true });
      break;
    case 'alert': st.alerts.set(ev.id, ev); break;
    case 'whisper': st.whispers.push(ev); break;
    case 'ack': st.acks.set(ev.alert_id, ev); break;
    default: return;
  }
}

function renderAll() { renderTranscript(); renderTimeline(); renderSide(); }

(async () => {
  const me = await CW.start('call');
  document.getElementById('ack-panel').hidden = me.role !== 'supervisor';
  document.getElementById('ack-send').addEventListener('click', async () => {
    const msg = document.getElementById('ack-msg');
    const id = document.getElementById('ack-alert').value;
    try {
      await CW.post('/api/ack', { call_id: callId, alert_ids: [id], note: document.getElementById('ack-note').value });
      msg.textContent = 'acknowledged'; msg.className = 'msg';
      document.getElementById('ack-note').value = '';
    } catch (e) { msg.textContent = 'not acknowledged: ' + e.message; msg.className = 'msg err'; }
  });
  try {
    const c = await CW.api('/api/call?id=' + encodeURIComponent(callId));
    Object.assign(st.info, c.info || {});
    if (c.info && c.info.ended) st.ended = true;
    c.events.forEach(apply);
    if (!c.live) { st.ended = true; if (c.info && c.info.duration_s) st.t = c.info.duration_s; CW.streamUp = true; CW.showConn(); }
  } catch (e) {
    document.getElementById('summary').textContent = e.message;
  }
  renderAll();
  let queued = false;
  CW.stream('stream=call&id=' + encodeURIComponent(callId), {
    ev: (ev) => { apply(ev); if (!queued) { queued = true; setTimeout(() => { queued = false; renderAll(); }, 50); } },
    reset: () => location.reload(),
  });
})();
