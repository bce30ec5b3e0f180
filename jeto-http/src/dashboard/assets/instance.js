// One instance: machines, actions, scripts, destroy, history, and the live console.

import { ApiError, del, followConsole, followEvents, get, patch, post, put } from './api.js';
import { ago, badge, field, fill, h } from './dom.js';
import { REFRESH_MS, every, table } from './page.js';

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

  // Admins: rename it, change its ENVIRONMENT, or move it to another host.
  if (ui.isAdmin()) {
    const newName = h('input', { type: 'text', name: 'change-name', maxlength: 128 });
    const environment = h('input', { type: 'text', name: 'change-environment' });
    const host = h('input', { type: 'number', name: 'change-host', min: 1 });
    const change = h('form', { class: 'card', id: 'instance-change' },
      h('h2', {}, 'Change'),
      field('Name', newName), field('Environment', environment), field('Host (id)', host, 'Refused while commands run, or when that host cannot read its machines.'),
      h('button', { type: 'submit' }, 'Change'));
    change.addEventListener('submit', async (event) => {
      event.preventDefault();
      const body = {};
      if (newName.value.trim()) body.name = newName.value.trim();
      if (environment.value.trim()) body.environment = environment.value.trim();
      if (host.value) body.host = Number(host.value);
      try {
        await patch(base, body);
        change.reset();
        ui.clearError();
        await refresh();
      } catch (error) {
        ui.showError('change the instance', error);
      }
    });
    main.appendChild(change);
  }

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
      // The stream also ends when the server stops: ask until it answers again (restarted).
      let done = null;
      for (let tries = 0; !done; tries += 1) {
        try {
          done = await get(path);
        } catch (error) {
          if (!(error instanceof ApiError) || error.status !== 0 || tries >= 30 || abort.signal.aborted || stopped) throw error;
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      }
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

  // When it expires and what happens then; extending adds an hour to what is left.
  const expiryText = (expiry) => {
    if (!expiry) return 'never';
    const left = Math.round((Date.parse(expiry.at) - Date.now()) / 60000);
    const what = expiry.action === 'destroy' ? 'destroyed' : 'halted';
    if (expiry.done) return `expired ${ago(expiry.at)} (${what})`;
    return `${new Date(expiry.at).toLocaleString()}: ${what} in ${left} min`;
  };
  const changeExpiry = async (instance) => {
    const left = instance.expiry && !instance.expiry.done
      ? Math.max(0, Math.round((Date.parse(instance.expiry.at) - Date.now()) / 1000)) : 0;
    try {
      await put(`${base}/expiry`, { in_secs: left + 3600, action: (instance.expiry && instance.expiry.action) || 'halt' });
      ui.clearError();
      await refresh();
    } catch (error) {
      ui.showError('extend the expiry', error);
    }
  };
  // When idle stop halts the machines if nothing happens, and the last activity it saw.
  const idleText = (idle) => {
    const left = Math.max(0, Math.round((Date.parse(idle.at) - Date.now()) / 60000));
    return `halted in ${left} min (${new Date(idle.at).toLocaleString()}) unless something happens: `
      + `last activity ${ago(idle.last_activity)} (commands, Keep up, open SSH sessions count)`;
  };
  const keepUp = async () => {
    try {
      await post(`${base}/keep-up`, {});
      ui.clearError();
      await refresh();
    } catch (error) {
      ui.showError('keep the instance up', error);
    }
  };

  // The instance's domains, as links where the proxy serves them (none when it cannot list).
  const domainLinks = (domains) => domains.map((d) => (d.url
    ? h('a', { href: d.url, class: 'domain' }, d.name)
    : h('span', {}, d.name))).flatMap((link, i) => (i ? [', ', link] : [link]));

  const refresh = async () => {
    const [instance, commands, allDomains] = await Promise.all([
      get(base), get(`${base}/commands`), get('/api/domains').catch(() => [])]);
    const domains = allDomains.filter((d) => d.instance === instance.id);
    current = instance;
    heading.textContent = instance.name;
    document.title = `${instance.name} · Jeto`;
    fill(facts,
      h('dt', {}, 'Host'), h('dd', {}, instance.host.name),
      h('dt', {}, 'Source'), h('dd', {}, instance.path || instance.git_url || instance.archive_url || ''),
      instance.environment ? [h('dt', {}, 'Environment'), h('dd', {}, instance.environment)] : null,
      h('dt', {}, 'Checked'), h('dd', {}, instance.status_checked_at ? ago(instance.status_checked_at) : 'not yet'),
      h('dt', {}, 'Expires'), h('dd', { id: 'expiry' }, expiryText(instance.expiry), ' ',
        ui.can('start') ? [
          h('button', { type: 'button', id: 'extend', onclick: () => changeExpiry(instance) }, instance.expiry ? 'Extend by 1 h' : 'Expire in 1 h'), ' ',
          h('button', { type: 'button', id: 'keep-up', onclick: keepUp }, 'Keep up'),
        ] : null),
      instance.idle_stop ? [h('dt', {}, 'Idle stop'), h('dd', { id: 'idle-stop' }, idleText(instance.idle_stop))] : null,
      domains.length ? [h('dt', {}, 'Domains'), h('dd', { id: 'domains' }, ...domainLinks(domains))] : null);
    const frag = document.createDocumentFragment();
    for (const m of instance.status || []) {
      const change = lastChange.get(m.name);
      const outside = change && change.outside && change.to === m.status
        ? h('span', { class: 'note', 'data-outside': 'true', title: 'No Jeto command ran on this instance since the state before was read' },
          ` changed outside Jeto ${ago(change.at)}`)
        : null;
      const sessions = m.ssh_sessions ? h('span', { class: 'note', 'data-ssh-sessions': m.ssh_sessions },
        ` ${m.ssh_sessions} SSH session${m.ssh_sessions === 1 ? '' : 's'} open`) : null;
      frag.appendChild(h('tr', { 'data-machine': m.name },
        h('td', {}, m.name), h('td', {}, badge(m.status), outside, sessions), h('td', {}, m.ip || '')));
    }
    machines.replaceChildren(frag);
    drawActions(instance);
    drawCommands([...commands].sort((a, b) => b.id - a.id));
    const live = commands.find((c) => c.status === 'running');
    if (live && !following) openConsole(live);
  };

  // Live from the event stream of this instance; polling only if the stream is refused.
  const live = new AbortController();
  let stopLoop = () => {};
  let pending = null;
  const changed = () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      refresh().then(() => ui.connection(true)).catch((error) => ui.showError('load the instance', error));
    }, 150);
  };
  // The last state change of each machine (the stream starts with this instance's retained
  // history), to say when a state was changed outside Jeto.
  const lastChange = new Map();
  const onEvent = (type, event) => {
    if (type === 'machine_state_changed') lastChange.set(event.machine, event);
    changed();
  };
  refresh().catch((error) => ui.showError('load the instance', error));
  followEvents(`?instance=${id}&after=0`, onEvent, changed, live.signal, (ok) => ui.connection(ok))
    .catch(() => { stopLoop = every(REFRESH_MS, ui, 'load the instance', refresh); });
  return {
    stop() {
      stopped = true;
      live.abort();
      stopLoop();
      clearTimeout(pending);
      if (following) following.abort.abort();
    },
  };
}
