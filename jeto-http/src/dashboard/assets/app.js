// The dashboard: routes (#/instances, #/instances/1, #/hosts, #/projects, #/new, #/keys, #/people, #/webhooks,
// #/signin),
// the signed-in key, and how errors and a lost connection are shown.

import { ApiError, get, session } from './api.js';
import { fill, h } from './dom.js';
import { hosts, projects } from './catalog.js';
import { create } from './create.js';
import { instance } from './instance.js';
import { instances } from './instances.js';
import { keys } from './keys.js';
import { people } from './people.js';
import { webhooks } from './webhooks.js';
import { signIn } from './signin.js';

const main = document.getElementById('main');
const errorBox = document.getElementById('error');
const connectionBox = document.getElementById('connection');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const signOutButton = document.getElementById('signout');

let me = null;
let hostsOnce = null;
let view = null;

const ui = {
  /** Shows what failed, the API's message, and what to do about it. */
  showError(what, error) {
    // A key refused once signed in (revoked, or the server's tokens changed): sign in again.
    if (error instanceof ApiError && error.status === 401 && me) {
      signOut(session.key ? 'Your key is no longer accepted. Sign in again.' : 'Your sign-in has ended. Sign in again.');
      return;
    }
    const advice = error instanceof ApiError ? error.advice : '';
    fill(errorBox,
      h('p', {}, h('strong', {}, `Could not ${what}`), error.status ? ` (${error.status})` : '', ': ', error.message),
      advice ? h('p', {}, advice) : null,
      h('button', { type: 'button', class: 'dismiss', onclick: () => ui.clearError() }, 'Dismiss'));
    errorBox.hidden = false;
  },
  clearError() {
    errorBox.hidden = true;
    errorBox.replaceChildren();
  },
  /** Whether the server answers; while it does not, the page says so and keeps trying. */
  connection(ok) {
    if (ok) {
      connectionBox.hidden = true;
      connectionBox.textContent = '';
    } else {
      connectionBox.textContent = 'The connection to the server is lost; retrying every few seconds. What is shown may be out of date.';
      connectionBox.hidden = false;
    }
  },
  async loadMe() {
    me = await get('/api/me');
    hostsOnce = null;
    who.textContent = `Signed in as ${me.name}${me.admin ? ' (admin)' : ''}`;
    nav.hidden = false;
    nav.querySelector('a[href="#/people"]').hidden = !me.admin;
    nav.querySelector('a[href="#/webhooks"]').hidden = !me.admin;
    signOutButton.hidden = false;
    return me;
  },
  /** Whether the signed-in key or person is an admin. */
  isAdmin() { return Boolean(me && me.admin); },
  /** Whether the key may run `action` (an action's wire name, or `create`). */
  can(action) {
    if (!me) return false;
    if (me.admin) return true;
    if (me.actions === null || me.actions === undefined) return action !== 'run_own_vagrantfile';
    return me.actions.includes(action);
  },
  /** The hosts the key may use, read once per sign-in. */
  hosts() {
    if (!hostsOnce) hostsOnce = get('/api/hosts').catch((error) => { hostsOnce = null; throw error; });
    return hostsOnce;
  },
};

function signOut(message) {
  session.signOut();
  me = null;
  hostsOnce = null;
  who.textContent = '';
  nav.hidden = true;
  signOutButton.hidden = true;
  if (view) view.stop();
  view = signIn(main, ui, message);
  if (location.hash !== '#/signin') history.replaceState(null, '', '#/signin');
}

signOutButton.addEventListener('click', () => signOut('Signed out.'));

async function route() {
  if (view) view.stop();
  view = null;
  ui.clearError();
  const hash = location.hash || '#/instances';
  if (hash === '#/signin' || !session.signedIn) {
    signOut();
    return;
  }
  // Who the key is, once; retried while the server is away.
  while (!me) {
    try {
      await ui.loadMe();
      ui.connection(true);
    } catch (error) {
      if (error instanceof ApiError && error.status === 0) {
        ui.connection(false);
        await new Promise((resolve) => setTimeout(resolve, 2000));
      } else {
        const refused = session.key ? 'That key was refused. Check it and sign in again.' : 'Your sign-in has ended. Sign in again.';
        signOut(error.status === 401 ? refused : error.message);
        return;
      }
    }
  }
  for (const link of nav.querySelectorAll('a')) {
    if (hash.startsWith(link.getAttribute('href'))) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = 'Jeto';
  const one = hash.match(/^#\/instances\/(\d+)$/);
  if (one) view = instance(main, ui, Number(one[1]));
  else if (hash === '#/instances' || hash === '#/') view = instances(main, ui);
  else if (hash === '#/hosts') view = hosts(main, ui);
  else if (hash === '#/projects') view = projects(main, ui);
  else if (hash === '#/new') view = create(main, ui);
  else if (hash === '#/keys') view = keys(main, ui);
  else if (hash === '#/people') view = people(main, ui);
  else if (hash === '#/webhooks') view = webhooks(main, ui);
  else {
    fill(main, h('h1', {}, 'Not found'), h('p', {}, 'No such page. ', h('a', { href: '#/instances' }, 'See the instances.')));
    view = { stop() {} };
  }
}

window.addEventListener('hashchange', route);
route();
