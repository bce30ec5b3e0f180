// The instance list: states and IPs, filters, kept current by the event stream.

import { followEvents, get } from './api.js';
import { field, fill, h } from './dom.js';
import { REFRESH_MS, every, machinesCell, table } from './page.js';

export function instances(main, ui) {
  const hostFilter = h('select', { id: 'filter-host' }, h('option', { value: '' }, 'All hosts'));
  const nameFilter = h('input', { type: 'search', id: 'filter-name', autocomplete: 'off' });
  const summary = h('p', { class: 'summary', role: 'status' });
  const rows = h('tbody', { id: 'instance-rows' });
  fill(main,
    h('div', { class: 'title-row' }, h('h1', {}, 'Instances'), ui.can('create') ? h('a', { class: 'button', href: '#/new' }, 'New instance') : null),
    h('div', { class: 'filters' }, field('Host', hostFilter), field('Name contains', nameFilter)),
    summary,
    table('Instances, their machines and states', ['Name', 'Host', 'Machines', 'Environment'], rows));
  let list = [];
  let painted = false;
  const render = () => {
    const host = hostFilter.value;
    const name = nameFilter.value.trim().toLowerCase();
    const shown = list.filter((i) => (!host || String(i.host.id) === host)
      && (!name || i.name.toLowerCase().includes(name)));
    const fragment = document.createDocumentFragment();
    for (const i of shown) {
      fragment.appendChild(h('tr', { 'data-instance': i.id },
        h('td', {}, h('a', { href: `#/instances/${i.id}` }, i.name)),
        h('td', {}, i.host.name),
        h('td', {}, machinesCell(i)),
        h('td', {}, i.environment || '')));
    }
    rows.replaceChildren(fragment);
    summary.textContent = shown.length === list.length
      ? `${list.length} instance${list.length === 1 ? '' : 's'}`
      : `${shown.length} of ${list.length} instances`;
    if (!painted) {
      painted = true;
      requestAnimationFrame(() => {
        performance.mark('jeto-instances-painted');
        rows.setAttribute('data-painted', 'true');
      });
    }
  };
  // The list answers from the server's cache; instances whose states were never read are
  // read here, a few of those shown at a time, one after another (each is a vagrant call).
  let reading = false;
  const readStates = async () => {
    if (reading) return;
    reading = true;
    try {
      const host = hostFilter.value;
      const name = nameFilter.value.trim().toLowerCase();
      const unread = list.filter((i) => !i.status_checked_at && !i.status_error
        && (!host || String(i.host.id) === host) && (!name || i.name.toLowerCase().includes(name)))
        .slice(0, 10);
      for (const stale of unread) {
        const fresh = await get(`/api/instances/${stale.id}`);
        const at = list.findIndex((i) => i.id === fresh.id);
        if (at >= 0) list[at] = fresh;
      }
      if (unread.length) render();
    } catch { /* shown by the next refresh */ } finally {
      reading = false;
    }
  };
  hostFilter.addEventListener('change', render);
  nameFilter.addEventListener('input', render);
  ui.hosts().then((hosts) => {
    for (const host of hosts) hostFilter.appendChild(h('option', { value: host.id }, host.name));
  }).catch(() => {});
  const load = async () => {
    list = await get('/api/instances');
    render();
    readStates();
  };
  // Live from the event stream: the list is read again when something changed (a few events
  // at once read it once), never while idle. If the stream is refused, it polls instead.
  const live = new AbortController();
  let stopPolling = () => {};
  let pending = null;
  const changed = () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      load().then(() => ui.connection(true)).catch((error) => ui.showError('load the instances', error));
    }, 150);
  };
  load().catch((error) => ui.showError('load the instances', error));
  followEvents('?type=instance_created,instance_updated,instance_deleted,machine_state_changed,command_ended',
    changed, changed, live.signal, (ok) => ui.connection(ok))
    .catch(() => { stopPolling = every(REFRESH_MS, ui, 'load the instances', load); });
  return {
    stop() {
      live.abort();
      stopPolling();
      clearTimeout(pending);
    },
  };
}
