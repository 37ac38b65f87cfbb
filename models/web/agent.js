'use strict';
// An agent's own prompts (whispers), newest on top, live.
const list = [];

function render() {
  const latest = document.getElementById('latest');
  if (list.length) {
    const w = list[list.length - 1];
    latest.className = 'panel prompt';
    latest.replaceChildren(CW.el('div', { class: 'k muted', text: w.severity + ' ' + w.kind.replace('_', ' ') + ' at ' + CW.dur(w.t) }), w.prompt);
  }
  document.getElementById('earlier').replaceChildren(...list.slice(0, -1).reverse().map((w) =>
    CW.el('div', { class: 'whisper' }, CW.el('div', { class: 'k', text: CW.dur(w.t) + ' · ' + w.kind.replace('_', ' ') }), w.prompt)));
}

(async () => {
  const me = await CW.start('agent');
  const name = CW.param('name') || me.name;
  document.getElementById('title').textContent = 'Prompts for ' + name;
  const r = await CW.api('/api/agent?name=' + encodeURIComponent(name));
  list.push(...r.whispers);
  render();
  CW.stream('stream=agent&name=' + encodeURIComponent(name), { ev: (w) => { list.push(w); render(); } });
})();
