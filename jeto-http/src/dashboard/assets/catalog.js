// The hosts (with their workers) and the projects.

import { del, get, put } from './api.js';
import { badge, field, fill, h } from './dom.js';
import { REFRESH_MS, every, table } from './page.js';

/** Admins: a form editing one item of a list (shown by its Edit button), and a Remove button. */
function adminTools(ui, what, controls, fillIn, read, path, reload) {
  if (!ui.isAdmin()) return { form: null, cells: () => null };
  let editing = null;
  const heading = h('h2', {}, `Edit ${what}`);
  const form = h('form', { class: 'card', id: `${what}-edit`, hidden: true }, heading, controls,
    h('button', { type: 'submit', class: 'primary' }, 'Save'), ' ',
    h('button', { type: 'button', onclick: () => { form.hidden = true; } }, 'Cancel'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await put(path(editing.id), read(editing));
      form.hidden = true;
      ui.clearError();
      await reload();
    } catch (error) {
      ui.showError(`save ${what} ${editing.name}`, error);
    }
  });
  const cells = (item) => h('td', {},
    h('button', { type: 'button', class: 'edit', onclick: () => { editing = item; heading.textContent = `Edit ${what} ${item.name}`; fillIn(item); form.hidden = false; form.scrollIntoView(); } }, 'Edit'), ' ',
    h('button', {
      type: 'button',
      class: 'remove',
      onclick: async () => {
        if (!window.confirm(`Remove ${what} ${item.name}?`)) return;
        try {
          await del(path(item.id));
          await reload();
        } catch (error) {
          ui.showError(`remove ${what} ${item.name}`, error);
        }
      },
    }, 'Remove'));
  return { form, cells };
}

export function hosts(main, ui) {
  const rows = h('tbody', { id: 'host-rows' });
  const name = h('input', { type: 'text', name: 'host-name', required: true, maxlength: 128 });
  const provider = h('input', { type: 'text', name: 'host-provider', required: true });
  let load = null;
  const tools = adminTools(ui, 'host', [field('Name', name), field('Provider', provider, 'virtualbox, libvirt, docker...')],
    (host) => { name.value = host.name; provider.value = host.provider; },
    (host) => ({ ...host, name: name.value.trim(), provider: provider.value.trim() }),
    (id) => `/api/hosts/${id}`, () => load());
  fill(main, h('h1', {}, 'Hosts'), table('Hosts this key may use', ['#', 'Name', 'Provider', 'Workers', ''], rows), tools.form);
  load = async () => {
    const list = await get('/api/hosts');
    const workers = await Promise.all(list.map((host) => get(`/api/hosts/${host.id}/workers`)
      .catch((error) => (error.status === 409 ? 'local' : null))));
    const frag = document.createDocumentFragment();
    list.forEach((host, n) => {
      const w = workers[n];
      let cell;
      if (w === 'local') cell = h('span', { class: 'muted' }, 'runs on the server');
      else if (!w) cell = h('span', { class: 'muted' }, 'unknown');
      else if (!w.length) cell = badge('no_worker_online');
      else cell = h('ul', { class: 'machines' }, w.map((x) => h('li', {}, `${x.name} `, badge(x.online ? 'online' : 'offline'))));
      frag.appendChild(h('tr', { 'data-host': host.id },
        h('td', {}, host.id), h('td', {}, host.name), h('td', {}, host.provider), h('td', {}, cell), tools.cells(host)));
    });
    rows.replaceChildren(frag);
  };
  const stop = every(REFRESH_MS * 2, ui, 'load the hosts', () => load());
  return { stop };
}

export function projects(main, ui) {
  const rows = h('tbody', { id: 'project-rows' });
  const name = h('input', { type: 'text', name: 'project-name', required: true, maxlength: 128 });
  const references = h('input', { type: 'text', name: 'project-references', placeholder: 'main, v1.2' });
  let load = null;
  const tools = adminTools(ui, 'project', [field('Name', name), field('References', references, 'Branches or tags tenants may pick, separated by commas.')],
    (project) => { name.value = project.name; references.value = (project.references || []).join(', '); },
    (project) => ({ ...project, name: name.value.trim(), references: references.value.split(/[\s,]+/).filter(Boolean) }),
    (id) => `/api/projects/${id}`, () => load());
  fill(main, h('h1', {}, 'Projects'), table('Projects instances can be created from', ['#', 'Name', 'Repository', 'References', ''], rows), tools.form);
  load = async () => {
    const list = await get('/api/projects');
    rows.replaceChildren(...list.map((p) => h('tr', { 'data-project': p.id },
      h('td', {}, p.id), h('td', {}, p.name), h('td', {}, p.git_url || p.archive_url || ''),
      h('td', {}, (p.references || []).join(', ')), tools.cells(p))));
  };
  const stop = every(REFRESH_MS * 2, ui, 'load the projects', () => load());
  return { stop };
}
