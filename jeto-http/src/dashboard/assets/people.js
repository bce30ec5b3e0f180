// Users and teams (admins): who they are, what they are granted, who is in which team.

import { del, get, post, put } from './api.js';
import { field, fill, h } from './dom.js';
import { REFRESH_MS, every, table } from './page.js';

const ids = (text) => text.split(/[\s,]+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
const words = (text) => text.split(/[\s,]+/).filter(Boolean);

/** The fields of a grant (admin, hosts, instances, projects, actions), read and filled. */
function grantFields(prefix) {
  const admin = h('input', { type: 'checkbox', name: `${prefix}-admin` });
  const hosts = h('input', { type: 'text', name: `${prefix}-hosts`, placeholder: '1, 2' });
  const instances = h('input', { type: 'text', name: `${prefix}-instances`, placeholder: '7' });
  const projects = h('input', { type: 'text', name: `${prefix}-projects`, placeholder: '1' });
  const actions = h('input', { type: 'text', name: `${prefix}-actions`, placeholder: 'status, start, stop' });
  return {
    fields: [
      field('Admin', admin, 'Sees and does everything.'),
      field('Hosts (ids)', hosts, 'Their instances are visible.'),
      field('Instances (ids)', instances),
      field('Projects (ids)', projects, 'Instances may be created from them.'),
      field('Actions', actions, 'Wire names: status, start, stop, runScript, create, destroy...'),
    ],
    read: () => ({
      admin: admin.checked,
      hosts: ids(hosts.value),
      instances: ids(instances.value),
      projects: ids(projects.value),
      actions: words(actions.value),
    }),
    set(grants = {}) {
      admin.checked = Boolean(grants.admin);
      hosts.value = (grants.hosts || []).join(', ');
      instances.value = (grants.instances || []).join(', ');
      projects.value = (grants.projects || []).join(', ');
      actions.value = (grants.actions || []).join(', ');
    },
  };
}

/** The fields of a quota (instances, running machines, queued commands; empty: no limit). */
function quotaFields(prefix) {
  const input = (name) => h('input', { type: 'number', min: 0, step: 1, name: `${prefix}-quota-${name}`, placeholder: 'no limit' });
  const instances = input('instances');
  const running = input('running');
  const queued = input('queued');
  const number = (el) => (el.value === '' ? undefined : Number(el.value));
  return {
    fields: [
      field('Quota: instances', instances), field('Quota: running machines', running), field('Quota: queued commands', queued),
    ],
    read: () => JSON.parse(JSON.stringify({ instances: number(instances), running: number(running), queued: number(queued) })),
    set(quota = {}) {
      instances.value = quota.instances ?? '';
      running.value = quota.running ?? '';
      queued.value = quota.queued ?? '';
    },
  };
}

/** Usage bars: `{instances, running, queued}` of `{limit, usage}`. */
function usageBars(usage) {
  return h('ul', { class: 'usage' }, ['instances', 'running', 'queued'].map((what) => {
    const { limit, usage: used } = usage[what];
    return h('li', { 'data-usage': what }, `${what} ${used}${limit == null ? '' : ` of ${limit}`} `,
      limit == null ? null : h('meter', { min: 0, max: limit, value: used, high: limit, optimum: 0 }));
  }));
}

function describe(grants = {}) {
  if (grants.admin) return 'admin';
  const parts = [];
  if (grants.hosts && grants.hosts.length) parts.push(`hosts ${grants.hosts.join(', ')}`);
  if (grants.instances && grants.instances.length) parts.push(`instances ${grants.instances.join(', ')}`);
  if (grants.projects && grants.projects.length) parts.push(`projects ${grants.projects.join(', ')}`);
  if (grants.actions && grants.actions.length) parts.push(grants.actions.join(', '));
  return parts.join('; ') || 'nothing';
}

/** A form that creates, or updates the one chosen with Edit; `save(body, id)`. */
function editor(title, id, controls, read, save, ui, done) {
  let editing = null;
  const heading = h('h2', {}, `New ${title}`);
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const cancel = h('button', { type: 'button', hidden: true }, 'Cancel');
  const form = h('form', { class: 'card', id }, heading, controls, submit, ' ', cancel);
  const reset = () => {
    editing = null;
    form.reset();
    heading.textContent = `New ${title}`;
    cancel.hidden = true;
  };
  cancel.addEventListener('click', reset);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await save(read(), editing);
      ui.clearError();
      reset();
      await done();
    } catch (error) {
      ui.showError(`save the ${title}`, error);
    } finally {
      submit.disabled = false;
    }
  });
  return {
    form,
    edit(item, fillIn) {
      editing = item.id;
      heading.textContent = `Edit ${title} ${item.name}`;
      cancel.hidden = false;
      fillIn(item);
      form.scrollIntoView();
    },
  };
}

function removeButton(what, path, ui, done) {
  return h('button', {
    type: 'button',
    class: 'remove',
    onclick: async () => {
      if (!window.confirm(`Remove ${what}?`)) return;
      try {
        await del(path);
        await done();
      } catch (error) {
        ui.showError(`remove ${what}`, error);
      }
    },
  }, 'Remove');
}

export function people(main, ui) {
  const userRows = h('tbody', { id: 'user-rows' });
  const teamRows = h('tbody', { id: 'team-rows' });
  let users = [];

  const userName = h('input', { type: 'text', name: 'user-name', required: true, maxlength: 128 });
  const userGrants = grantFields('user');
  const userQuota = quotaFields('user');
  const userEditor = editor('user', 'user-form', [field('Name', userName, 'A login or an e-mail address, as the identity provider names them.'), userGrants.fields, userQuota.fields],
    () => ({ name: userName.value.trim(), grants: userGrants.read(), quota: userQuota.read() }),
    (body, id) => (id ? put(`/api/users/${id}`, body) : post('/api/users', body)), ui, () => load());

  const teamName = h('input', { type: 'text', name: 'team-name', required: true, maxlength: 128 });
  const members = h('input', { type: 'text', name: 'team-members', placeholder: 'ann@example.org, bob' });
  const teamGrants = grantFields('team');
  const teamQuota = quotaFields('team');
  const teamEditor = editor('team', 'team-form',
    [field('Name', teamName, 'The identity provider\'s groups of this name count as members too.'),
      field('Members', members, 'User names, separated by commas.'), teamGrants.fields, teamQuota.fields],
    () => {
      const named = words(members.value);
      const unknown = named.filter((n) => !users.some((u) => u.name === n));
      if (unknown.length) throw new Error(`no user named ${unknown.join(', ')}: add them first`);
      return { name: teamName.value.trim(), members: users.filter((u) => named.includes(u.name)).map((u) => u.id), grants: teamGrants.read(), quota: teamQuota.read() };
    },
    (body, id) => (id ? put(`/api/teams/${id}`, body) : post('/api/teams', body)), ui, () => load());

  const load = async () => {
    const [userList, teams] = await Promise.all([get('/api/users'), get('/api/teams')]);
    users = userList;
    const nameOf = (id) => (users.find((u) => u.id === id) || { name: `#${id}` }).name;
    userRows.replaceChildren(...users.map((user) => h('tr', { 'data-user': user.id },
      h('td', {}, user.id), h('td', {}, user.name), h('td', {}, describe(user.grants)),
      h('td', {}, teams.filter((t) => t.members.includes(user.id)).map((t) => t.name).join(', ')),
      h('td', {},
        h('button', { type: 'button', class: 'edit', onclick: () => userEditor.edit(user, (u) => { userName.value = u.name; userGrants.set(u.grants); userQuota.set(u.quota); }) }, 'Edit'), ' ',
        removeButton(`user ${user.name} and their keys`, `/api/users/${user.id}`, ui, load)))));
    const usages = await Promise.all(teams.map((team) => get(`/api/teams/${team.id}/usage`).catch(() => null)));
    teamRows.replaceChildren(...teams.map((team, index) => h('tr', { 'data-team': team.id },
      h('td', {}, team.id), h('td', {}, team.name), h('td', {}, team.members.map(nameOf).join(', ')),
      h('td', {}, describe(team.grants)),
      h('td', {}, usages[index] ? usageBars(usages[index]) : ''),
      h('td', {},
        h('button', { type: 'button', class: 'edit', onclick: () => teamEditor.edit(team, (t) => { teamName.value = t.name; members.value = t.members.map(nameOf).join(', '); teamGrants.set(t.grants); teamQuota.set(t.quota); }) }, 'Edit'), ' ',
        removeButton(`team ${team.name}`, `/api/teams/${team.id}`, ui, load)))));
  };
  fill(main, h('h1', {}, 'People'),
    h('p', {}, 'A person\'s rights are their own grants and their teams\', checked again at every request.'),
    table('Users', ['#', 'Name', 'Granted', 'Teams', ''], userRows), userEditor.form,
    table('Teams', ['#', 'Name', 'Members', 'Granted', 'Usage', ''], teamRows), teamEditor.form);
  const stop = every(REFRESH_MS * 3, ui, 'load users and teams', load);
  return { stop };
}
