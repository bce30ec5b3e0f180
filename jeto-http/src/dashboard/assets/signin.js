// The sign-in page.

import { session } from './api.js';
import { field, fill, h } from './dom.js';

export function signIn(main, ui, message) {
  const key = h('input', { type: 'password', name: 'key', autocomplete: 'off', required: true, spellcheck: 'false' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to Jeto'),
    message ? h('p', { class: 'notice', role: 'status' }, message) : null,
    field('Access key', key, 'The key an admin gave you. It is kept in this browser tab only, until you sign out or close it.'),
    submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    ui.clearError();
    session.signIn(key.value.trim());
    try {
      await ui.loadMe();
      location.hash = '#/instances';
    } catch (error) {
      session.signOut();
      ui.showError('sign in', error);
      key.focus();
    } finally {
      submit.disabled = false;
    }
  });
  fill(main, form);
  key.focus();
  return { stop() {} };
}
