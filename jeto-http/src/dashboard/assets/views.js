// The pages. Each takes the <main> element and the shared `ui`, draws itself, refreshes on
// its own, and returns `{ stop() }` for when the person goes elsewhere.

import { ApiError, del, followConsole, get, post, session } from './api.js';
import { ago, badge, field, fill, h } from './dom.js';

const REFRESH_MS = 4000;

/** Runs `load` now and every `ms`; unreachable servers are shown as a lost connection. */
function every(ms, ui, what, load) {
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

function table(caption, columns, body) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
      body));
}

function machinesCell(instance) {
  const status = instance.status || [];
  if (!status.length) return h('span', { class: 'muted' }, instance.status_error ? 'status unavailable' : 'not read yet');
  return h('ul', { class: 'machines' }, status.map((m) => h('li', {},
    h('span', { class: 'machine-name' }, m.name), ' ', badge(m.status),
    m.ip ? h('span', { class: 'ip' }, ` ${m.ip}`) : null)));
}

// ---------------------------------------------------------------------------------------
// Sign-in

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

// ---------------------------------------------------------------------------------------
// Instances

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
  const stop = every(REFRESH_MS, ui, 'load the instances', async () => {
    list = await get('/api/instances');
    render();
    readStates();
  });
  return { stop };
}

// ---------------------------------------------------------------------------------------
// One instance

const ACTIONS = [
  ['start', 'Start'], ['stop', 'Stop'], ['reload', 'Reload'], ['provision', 'Provision'], ['rsync', 'Rsync'],
];

export function instance(main, ui, id) {
  const base = `/api/instances/${id}`;
  const heading = h('h1', {}, `Instance ${id}`);
  const facts = h('dl', { class: 'facts' });
  const machines = h('tbody', { id: 'machine-rows' });
  const machineChoice = h('select', { id: 'machine-choice' }, h('option', { value: '' }, 'All machines'));
  const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Actions' });
  const scripts = h('div', { class: 'actions', role: 'group', 'aria-label': 'Scripts' });
  const danger = h('div', { class: 'danger' });
  const history = h('tbody', { id: 'command-rows' });
  const consoleTitle = h('h2', { id: 'console-title' }, 'Console');
  const consoleStatus = h('p', { id: 'console-status', class: 'muted', role: 'status' }, 'Run an action or pick a command to see its console.');
  const cancel = h('button', { type: 'button', id: 'cancel', hidden: true }, 'Cancel command');
  const output = h('pre', { id: 'console', class: 'console', tabindex: '0', 'aria-labelledby': 'console-title' });
  fill(main,
    h('p', {}, h('a', { href: '#/instances' }, '← All instances')),
    heading, facts,
    h('div', { class: 'instance-grid' },
      h('div', {},
        h('section', { 'aria-labelledby': 'machines-title' },
          h('h2', { id: 'machines-title' }, 'Machines'),
          table('Machines of this instance', ['Machine', 'State', 'IP'], machines)),
        h('section', { 'aria-labelledby': 'actions-title' },
          h('h2', { id: 'actions-title' }, 'Actions'),
          field('On', machineChoice), actions, scripts, danger)),
      h('section', { class: 'console-panel', 'aria-labelledby': 'console-title' },
        consoleTitle, consoleStatus, cancel, output)),
    h('section', { 'aria-labelledby': 'history-title' },
      h('h2', { id: 'history-title' }, 'Commands'),
      table('Commands run on this instance, newest first', ['#', 'Action', 'Status', 'By', 'When', ''], history)));

  let current = null; // the instance
  let following = null; // { id, abort }
  let stopped = false;

  const run = async (state, extra = {}) => {
    ui.clearError();
    const body = { state, async: true, ...extra };
    const machines = (current && current.status) || [];
    if (machineChoice.value) body.machine = machineChoice.value;
    else if (state === 'runScript') {
      // A script runs on one machine: the only one, or the one chosen.
      if (machines.length === 1) body.machine = machines[0].name;
      else {
        ui.showError(`run script ${extra.script}`, new ApiError(400, 'machine_needed',
          'A script runs on one machine: choose it in "On" above, then run the script again.'));
        machineChoice.focus();
        return;
      }
    }
    try {
      const answer = await post(base, body);
      await refresh();
      openConsole(answer.command);
    } catch (error) {
      ui.showError(`run ${extra.script ? `script ${extra.script}` : state}`, error);
    }
  };

  const button = (label, onclick, attributes = {}) => h('button', { type: 'button', onclick, ...attributes }, label);

  const drawActions = (instance) => {
    const seen = new Set([...machineChoice.options].map((o) => o.value));
    for (const m of instance.status || []) {
      if (!seen.has(m.name)) machineChoice.appendChild(h('option', { value: m.name }, m.name));
    }
    fill(actions, ACTIONS.filter(([a]) => ui.can(a)).map(([a, label]) => button(label, () => run(a), { 'data-action': a })));
    const named = Object.keys((instance.jeto_infos && instance.jeto_infos.scripts) || {});
    fill(scripts, ui.can('runScript') && named.length
      ? [h('span', { class: 'label' }, 'Scripts:'), named.map((s) => button(`Run ${s}`, () => run('runScript', { script: s }), { 'data-script': s }))]
      : null);
    if (ui.can('destroy') && !danger.firstChild) {
      fill(danger, button('Destroy…', askDestroy, { class: 'destructive', id: 'destroy' }));
    }
  };

  const askDestroy = () => {
    const yes = button('Yes, destroy its machines and forget it', destroy, { class: 'destructive', id: 'destroy-confirm' });
    const no = button('Keep it', () => { fill(danger, button('Destroy…', askDestroy, { class: 'destructive', id: 'destroy' })); });
    fill(danger, h('div', { class: 'confirm', role: 'alertdialog', 'aria-labelledby': 'confirm-text' },
      h('p', { id: 'confirm-text' }, `Destroy every machine of ${current ? current.name : 'this instance'} and remove it from Jeto? This cannot be undone.`),
      yes, ' ', no));
    yes.focus();
  };

  const destroy = async () => {
    ui.clearError();
    fill(danger, h('p', { role: 'status' }, 'Destroying… (vagrant destroy runs; this can take a while)'));
    try {
      await del(base);
      location.hash = '#/instances';
    } catch (error) {
      ui.showError('destroy the instance', error);
      fill(danger, button('Destroy…', askDestroy, { class: 'destructive', id: 'destroy' }));
    }
  };

  const drawCommands = (commands) => {
    const fragment = document.createDocumentFragment();
    for (const c of commands) {
      const what = [c.action, c.script, c.machine].filter(Boolean).join(' ');
      fragment.appendChild(h('tr', { 'data-command': c.id },
        h('td', {}, c.id), h('td', {}, what), h('td', {}, badge(c.status)),
        h('td', {}, c.requested_by || ''), h('td', {}, ago(c.created_at)),
        h('td', {}, button('Console', () => openConsole(c), { 'aria-label': `Console of command ${c.id}` }))));
    }
    history.replaceChildren(fragment);
  };

  const describe = (command) => {
    const what = [command.action, command.script, command.machine].filter(Boolean).join(' ');
    return `Command ${command.id} (${what}): ${String(command.status).replace(/_/g, ' ')}`;
  };

  const openConsole = async (command) => {
    if (following) following.abort.abort();
    const abort = new AbortController();
    following = { id: command.id, abort };
    const path = `${base}/commands/${command.id}`;
    output.textContent = command.console || '';
    consoleStatus.textContent = describe(command);
    const live = command.status === 'queued' || command.status === 'running';
    cancel.hidden = !live;
    cancel.onclick = async () => {
      consoleStatus.textContent = `Command ${command.id}: cancelling…`;
      cancel.disabled = true;
      try {
        await del(path);
      } catch (error) {
        ui.showError(`cancel command ${command.id}`, error);
      }
    };
    try {
      await followConsole(`${path}/console`, (text) => {
        output.textContent = text;
        output.scrollTop = output.scrollHeight;
        consoleStatus.textContent = `${describe({ ...command, status: 'running' })}, console live`;
      }, abort.signal);
    } catch (error) {
      if (!abort.signal.aborted) ui.showError(`follow the console of command ${command.id}`, error);
    }
    if (abort.signal.aborted || stopped) return;
    try {
      const done = await get(path);
      cancel.hidden = true;
      cancel.disabled = false;
      consoleStatus.textContent = describe(done);
      // Cancelled on purpose is not a failure to report.
      if (done.error && done.status !== 'cancelled') {
        ui.showError(`finish command ${done.id} (${done.action})`,
          new ApiError(502, done.error.kind || 'failed', done.error.message || 'it failed'));
      }
      refresh();
    } catch (error) {
      ui.showError(`read command ${command.id}`, error);
    }
  };

  const refresh = async () => {
    const [instance, commands] = await Promise.all([get(base), get(`${base}/commands`)]);
    current = instance;
    heading.textContent = instance.name;
    document.title = `${instance.name} · Jeto`;
    fill(facts,
      h('dt', {}, 'Host'), h('dd', {}, instance.host.name),
      h('dt', {}, 'Source'), h('dd', {}, instance.path || instance.git_url || instance.archive_url || ''),
      instance.environment ? [h('dt', {}, 'Environment'), h('dd', {}, instance.environment)] : null,
      h('dt', {}, 'Checked'), h('dd', {}, instance.status_checked_at ? ago(instance.status_checked_at) : 'not yet'));
    const frag = document.createDocumentFragment();
    for (const m of instance.status || []) {
      frag.appendChild(h('tr', { 'data-machine': m.name },
        h('td', {}, m.name), h('td', {}, badge(m.status)), h('td', {}, m.ip || '')));
    }
    machines.replaceChildren(frag);
    drawActions(instance);
    drawCommands([...commands].sort((a, b) => b.id - a.id));
    const live = commands.find((c) => c.status === 'running');
    if (live && !following) openConsole(live);
  };

  const stopLoop = every(REFRESH_MS, ui, 'load the instance', refresh);
  return {
    stop() {
      stopped = true;
      stopLoop();
      if (following) following.abort.abort();
    },
  };
}

// ---------------------------------------------------------------------------------------
// Hosts and projects

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

// ---------------------------------------------------------------------------------------
// Creating an instance

export function create(main, ui) {
  const name = h('input', { type: 'text', required: true, autocomplete: 'off' });
  const host = h('select', { required: true });
  const byPath = h('input', { type: 'radio', name: 'source', value: 'path', id: 'source-path', checked: true });
  const byProject = h('input', { type: 'radio', name: 'source', value: 'project', id: 'source-project' });
  const path = h('input', { type: 'text', autocomplete: 'off' });
  const project = h('select', {});
  const reference = h('input', { type: 'text', autocomplete: 'off' });
  const pathFields = h('div', {}, field('Folder', path, 'A folder holding a Vagrantfile, inside the server\'s instance roots.'));
  const projectFields = h('div', { hidden: true },
    field('Project', project), field('Reference', reference, 'A branch or tag the project allows, such as main or tags/v1.2.'));
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create');
  const toggle = () => {
    pathFields.hidden = !byPath.checked;
    projectFields.hidden = !byProject.checked;
  };
  byPath.addEventListener('change', toggle);
  byProject.addEventListener('change', toggle);
  const form = h('form', { class: 'card' },
    h('h1', {}, 'New instance'),
    field('Name', name),
    field('Host', host),
    h('fieldset', {}, h('legend', {}, 'Source'),
      h('label', { for: 'source-path', class: 'inline' }, byPath, ' A folder on the server'),
      h('label', { for: 'source-project', class: 'inline' }, byProject, ' A project and a reference')),
    pathFields, projectFields, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    ui.clearError();
    const body = { name: name.value.trim(), host: Number(host.value) };
    if (byPath.checked) body.path = path.value.trim();
    else {
      body.project = Number(project.value);
      body.gitReference = reference.value.trim();
      body.async = true;
    }
    submit.disabled = true;
    try {
      const answer = await post('/api/instances', body);
      const id = answer.command ? answer.command.instance_id : answer.id;
      location.hash = `#/instances/${id}`;
    } catch (error) {
      ui.showError('create the instance', error);
    } finally {
      submit.disabled = false;
    }
  });
  fill(main, form);
  ui.hosts().then((list) => {
    for (const x of list) host.appendChild(h('option', { value: x.id }, `${x.name} (#${x.id})`));
  }).catch((error) => ui.showError('load the hosts', error));
  get('/api/projects').then((list) => {
    for (const p of list) project.appendChild(h('option', { value: p.id }, p.name));
  }).catch(() => {});
  name.focus();
  return { stop() {} };
}
