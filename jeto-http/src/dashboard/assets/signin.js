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
  // With an identity provider configured, a button to sign in through it.
  fetch('/auth/config', { cache: 'no-store' })
    .then((response) => (response.ok ? response.json() : null))
    .then((config) => {
      if (!config || !config.oidc) return;
      form.insertBefore(
        h('p', { class: 'provider' },
          h('a', { href: config.oidc.login, class: 'button primary', id: 'provider-sign-in' }, `Sign in with ${config.oidc.name}`),
          ' or with an access key:'),
        form.children[message ? 2 : 1]);
    })
    .catch(() => {});
  return { stop() {} };
}
