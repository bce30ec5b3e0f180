// The hosts (with their workers) and the projects.

import { get } from './api.js';
import { badge, fill, h } from './dom.js';
import { REFRESH_MS, every, table } from './page.js';

export function hosts(main, ui) {
  const rows = h('tbody', { id: 'host-rows' });
  fill(main, h('h1', {}, 'Hosts'), table('Hosts this key may use', ['#', 'Name', 'Provider', 'Workers'], rows));
  const stop = every(REFRESH_MS * 2, ui, 'load the hosts', async () => {
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
        h('td', {}, host.id), h('td', {}, host.name), h('td', {}, host.provider), h('td', {}, cell)));
    });
    rows.replaceChildren(frag);
  });
  return { stop };
}

export function projects(main, ui) {
  const rows = h('tbody', { id: 'project-rows' });
  fill(main, h('h1', {}, 'Projects'), table('Projects instances can be created from', ['#', 'Name', 'Repository', 'References'], rows));
  const stop = every(REFRESH_MS * 2, ui, 'load the projects', async () => {
    const list = await get('/api/projects');
    rows.replaceChildren(...list.map((p) => h('tr', { 'data-project': p.id },
      h('td', {}, p.id), h('td', {}, p.name), h('td', {}, p.git_url || p.archive_url || ''),
      h('td', {}, (p.references || []).join(', ')))));
  });
  return { stop };
}
