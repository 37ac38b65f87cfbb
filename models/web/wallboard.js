'use strict';
// The wallboard: one row per call and alert kind, worst unacknowledged call
// on top (the server sorts), redrawn from each snapshot on the stream.
let pending = null;   // the row being acknowledged: {call_id, ids, label}

function severityCell(r) {
  const open = r.ids.length > 0;
  return CW.el('td', {}, CW.el('span', { class: 'sev ' + (open ? r.severity : 'acked'),
    text: open ? r.severity : 'ack ' + (r.acked_by || '') }),
  !open && !r.acked_verified ? CW.unverified() : null);
}

function rowFor(c, r, first) {
  const tr = CW.el('tr', {
    class: (first ? 'call-first ' : '') + (c.ended ? 'ended' : ''),
    'data-call': c.call_id, 'data-kind': r ? r.kind : '', 'data-severity': r ? r.severity : '',
    onclick: (e) => { if (e.target.tagName !== 'BUTTON') location.href = '/call?id=' + encodeURIComponent(c.call_id); },
  });
  const legs = (c.degraded || []).map((l) => CW.el('span', { class: 'badge', title: 'this leg is transcribed in cue mode: phrases are spotted, not recognised', text: l + ' leg: cue mode' }));
  if (r) {
    tr.append(severityCell(r),
      CW.el('td', { class: 'reason', title: r.text }, CW.el('span', { class: 'kind', text: r.kind.replace('_', ' ') + ': ' }), r.text));
  } else {
    tr.append(CW.el('td', {}, CW.el('span', { class: 'sev none', text: c.ended ? 'ended' : 'ok' })),
      CW.el('td', { class: 'muted', text: c.ended ? 'call ended ' + CW.ago(c.ended_ago_s) : 'no alerts' }));
  }
  const agent = CW.el('td', {}, CW.el('b', { text: c.agent || '?' }), ' ', ...legs);
  tr.append(agent, CW.el('td', { text: c.team || '' }),
    CW.el('td', { class: 'num', text: CW.dur(c.dur_s) + (c.ended ? ' (ended)' : '') }),
    CW.el('td', { class: 'num' }, CW.heat(c.heat[0]), CW.heat(c.heat[1])),
    CW.el('td', { class: 'num', text: r ? CW.ago(r.ago_s) : '' }));
  const act = CW.el('td');
  if (r && r.ids.length && CW.me.role === 'supervisor')
    act.append(CW.el('button', { class: 'ack', text: 'Acknowledge', onclick: () => openAck(c, r) }));
  tr.append(act);
  return tr;
}

function render(snap) {
  const body = document.getElementById('rows');
  const rows = [];
  for (const c of snap.calls) {
    const kinds = c.rows.slice().sort((a, b) => (b.open_rank - a.open_rank) || (b.rank - a.rank));
    if (!kinds.length) rows.push(rowFor(c, null, true));
    kinds.forEach((r, i) => rows.push(rowFor(c, r, i === 0)));
  }
  body.replaceChildren(...rows);
  document.getElementById('empty').hidden = snap.calls.length > 0;
  const teams = document.getElementById('teams');
  teams.replaceChildren(...Object.entries(snap.teams).map(([name, t]) => CW.el('span', { class: 'team' },
    CW.el('b', { text: name }), ' ' + t.live + ' live',
    t.critical ? CW.el('span', { class: 'c', text: ' · ' + t.critical + ' critical' }) : '',
    t.warning ? CW.el('span', { class: 'w', text: ' · ' + t.warning + ' warning' }) : '')));
  CW.daemonUp = snap.connected; CW.showConn();
}

function openAck(c, r) {
  pending = { call_id: c.call_id, ids: r.ids.slice() };
  document.getElementById('ack-what').textContent =
    'Acknowledge ' + r.severity + ' ' + r.kind.replace('_', ' ') + ' on ' + (c.agent || '?') + "'s call";
  document.getElementById('ack-box').hidden = false;
  document.getElementById('ack-note').focus();
}

async function sendAck() {
  const msg = document.getElementById('ack-msg');
  try {
    await CW.post('/api/ack', { call_id: pending.call_id, alert_ids: pending.ids,
      note: document.getElementById('ack-note').value });
    msg.textContent = 'acknowledged'; msg.className = 'msg';
    document.getElementById('ack-box').hidden = true;
    document.getElementById('ack-note').value = '';
  } catch (e) {
    msg.textContent = 'not acknowledged: ' + e.message; msg.className = 'msg err';
  }
}

(async () => {
  await CW.start('wallboard');
  const box = CW.el('div', { id: 'ack-box', class: 'panel', hidden: true },
    CW.el('div', { id: 'ack-what' }),
    CW.el('div', { class: 'note-box' },
      CW.el('input', { id: 'ack-note', placeholder: 'note (optional)', maxlength: '500' }),
      CW.el('button', { id: 'ack-send', class: 'primary', text: 'Send', onclick: sendAck }),
      CW.el('button', { text: 'Cancel', onclick: () => { document.getElementById('ack-box').hidden = true; } })));
  box.style.position = 'fixed'; box.style.bottom = '12px'; box.style.left = '16px'; box.style.right = '16px';
  document.body.append(box, CW.el('p', { id: 'ack-msg', class: 'msg' }));
  render(await CW.api('/api/board'));
  CW.stream('stream=board', { board: render });
})();
