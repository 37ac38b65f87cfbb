'use strict';
// Posts the form as JSON; the server sets the session cookie.
document.getElementById('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const err = document.getElementById('error');
  err.textContent = '';
  const body = JSON.stringify({
    name: document.getElementById('name').value,
    password: document.getElementById('password').value,
  });
  try {
    const r = await fetch('/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body,
      credentials: 'same-origin' });
    const j = await r.json();
    if (!r.ok) { err.textContent = r.status === 401 ? 'Wrong name or password.' : (j.error || 'Refused.'); return; }
    location.href = j.home;
  } catch (x) {
    err.textContent = 'Cannot reach the server.';
  }
});
