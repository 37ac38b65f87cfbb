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

(async () => {
  const me = await CW.start('qa');
  CW.streamUp = true; CW.showConn();
  document.getElementById('search').addEventListener('submit', search);
  document.getElementById('search').addEventListener('input', links);
  if (!me.archive) { document.getElementById('msg').textContent = 'No archive: start callwatch web with --db FILE.db to search ended calls.'; return; }
  search();
})();
