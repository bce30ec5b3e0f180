// "My keys": a user's keys (every user's for admins), making one (shown once) and revoking.

import { del, get, post } from './api.js';
import { ago, field, fill, h } from './dom.js';
import { REFRESH_MS, every, table } from './page.js';

export function keys(main, ui) {
  const rows = h('tbody', { id: 'key-rows' });
  const made = h('div', { id: 'made-key', role: 'status', 'aria-live': 'polite' });
  const name = h('input', { type: 'text', required: true, maxlength: 128, autocomplete: 'off' });
  const expires = h('input', { type: 'date' });
  const form = h('form', { class: 'card', id: 'new-key' },
    h('h2', {}, 'Make a key'),
    field('Name', name, 'What it is for: a laptop, a CI job.'),
    field('Expires on (optional)', expires, 'From that day on it is refused.'),
    h('button', { type: 'submit' }, 'Make the key'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { name: name.value };
    if (expires.value) body.expires_at = new Date(`${expires.value}T00:00:00Z`).toISOString();
    try {
      const key = await post('/api/keys', body);
      ui.clearError();
      fill(made, h('p', {}, h('strong', {}, `Key "${key.name}": `), h('code', { id: 'new-key-value' }, key.key)),
        h('p', { class: 'hint' }, 'Copy it now: it is shown this once, and only its hash is kept.'));
      name.value = '';
      expires.value = '';
      await load();
    } catch (error) {
      ui.showError('make the key', error);
    }
  });
  const load = async () => {
    const list = await get('/api/keys');
    rows.replaceChildren(...list.map((key) => h('tr', { 'data-key': key.id },
      h('td', {}, key.id), h('td', {}, key.name), h('td', {}, key.user),
      h('td', {}, key.expires_at ? new Date(key.expires_at).toLocaleDateString() : 'never'),
      h('td', {}, key.last_used_at ? ago(key.last_used_at) : 'never'),
      h('td', {}, h('button', {
        type: 'button',
        class: 'revoke',
        onclick: async () => {
          try {
            await del(`/api/keys/${key.id}`);
            await load();
          } catch (error) {
            ui.showError('revoke the key', error);
          }
        },
      }, 'Revoke')))));
  };
  fill(main, h('h1', {}, 'Keys'),
    h('p', {}, 'Keys made here have at most your rights, checked at every request.'),
    made, form,
    table('Keys', ['#', 'Name', 'User', 'Expires', 'Last used', ''], rows));
  const stop = every(REFRESH_MS * 2, ui, 'load the keys', load);
  return { stop };
}
