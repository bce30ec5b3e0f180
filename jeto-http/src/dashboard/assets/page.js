// What the pages share: the refresh loop, tables, machine states.

import { ApiError } from './api.js';
import { badge, h } from './dom.js';

/** How often pages read again what they show. */
export const REFRESH_MS = 4000;

/** Runs `load` now and every `ms`; unreachable servers are shown as a lost connection. */
export function every(ms, ui, what, load) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    try {
      await load();
      ui.connection(true);
    } catch (error) {
      if (error instanceof ApiError && error.status === 0) ui.connection(false);
      else ui.showError(what, error);
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

/** A captioned table that scrolls sideways on its own on narrow screens. */
export function table(caption, columns, body) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
      body));
}

/** An instance's machines, each with its state and IP. */
export function machinesCell(instance) {
  const status = instance.status || [];
  if (!status.length) return h('span', { class: 'muted' }, instance.status_error ? 'status unavailable' : 'not read yet');
  return h('ul', { class: 'machines' }, status.map((m) => h('li', {},
    h('span', { class: 'machine-name' }, m.name), ' ', badge(m.status),
    m.ip ? h('span', { class: 'ip' }, ` ${m.ip}`) : null)));
}
