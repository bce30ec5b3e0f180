// Webhooks (admins): endpoints that receive events, their recent deliveries, resume and
// send again.

import { del, get, post, put } from './api.js';
import { ago, field, fill, h } from './dom.js';
import { REFRESH_MS, every, table } from './page.js';

const words = (text) => text.split(/[\s,]+/).filter(Boolean);

export function webhooks(main, ui) {
  const rows = h('tbody', { id: 'webhook-rows' });
  const deliveryRows = h('tbody', { id: 'delivery-rows' });
  const deliveriesTitle = h('h2', { id: 'deliveries-title' }, 'Deliveries');
  const secretBox = h('p', { class: 'note', id: 'webhook-secret', hidden: true });
  let shown = null; // the webhook whose deliveries are shown

  const url = h('input', { type: 'url', name: 'webhook-url', required: true, placeholder: 'https://chat.example.org/hooks/jeto' });
  const types = h('input', { type: 'text', name: 'webhook-types', placeholder: 'command_ended, machine_state_changed' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Add');
  const form = h('form', { class: 'card', id: 'webhook-form' }, h('h2', {}, 'New webhook'),
    field('URL', url, 'Events are POSTed here, signed per Standard Webhooks.'),
    field('Event types', types, 'Empty: every type.'), submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const made = await post('/api/webhooks', { url: url.value.trim(), types: words(types.value) });
      ui.clearError();
      form.reset();
      secretBox.textContent = `Webhook ${made.id} made. Its signing secret, shown this once: ${made.secret}`;
      secretBox.hidden = false;
      await load();
    } catch (error) {
      ui.showError('add the webhook', error);
    } finally {
      submit.disabled = false;
    }
  });

  const act = (what, work) => async () => {
    try {
      await work();
      ui.clearError();
      await load();
    } catch (error) {
      ui.showError(what, error);
    }
  };

  const showDeliveries = async (hook) => {
    shown = hook;
    deliveriesTitle.textContent = `Deliveries to webhook ${hook.id} (${hook.url})`;
    const deliveries = await get(`/api/webhooks/${hook.id}/deliveries?limit=30`);
    deliveryRows.replaceChildren(...deliveries.map((d) => h('tr', { 'data-delivery': d.id },
      h('td', {}, d.event), h('td', {}, d.event_type), h('td', {}, d.attempt),
      h('td', {}, d.status ?? ''), h('td', { class: `outcome-${d.outcome}` }, d.outcome),
      h('td', {}, d.error || ''), h('td', {}, ago(d.at)),
      h('td', {}, d.outcome === 'delivered' ? null : h('button', {
        type: 'button', class: 'send-again',
        onclick: act(`send event ${d.event} again`, () => post(`/api/webhooks/${hook.id}/deliveries/${d.id}`, {})),
      }, 'Send again')))));
  };

  const load = async () => {
    const hooks = await get('/api/webhooks');
    rows.replaceChildren(...hooks.map((hook) => h('tr', { 'data-webhook': hook.id },
      h('td', {}, hook.id), h('td', {}, hook.url),
      h('td', {}, hook.types.length ? hook.types.join(', ') : 'every type'),
      h('td', {}, hook.paused ? h('span', { class: 'paused' }, `paused: ${hook.paused}`) : 'delivering'),
      h('td', {}, `after event ${hook.cursor}`),
      h('td', {},
        h('button', { type: 'button', class: 'show', onclick: act('read the deliveries', () => showDeliveries(hook)) }, 'Deliveries'), ' ',
        hook.paused ? h('button', {
          type: 'button', class: 'resume',
          onclick: act(`resume webhook ${hook.id}`, () => put(`/api/webhooks/${hook.id}`, { ...hook, paused: null })),
        }, 'Resume') : null, ' ',
        h('button', {
          type: 'button', class: 'remove',
          onclick: async () => {
            if (!window.confirm(`Remove webhook ${hook.id} (${hook.url}) and its deliveries?`)) return;
            await act(`remove webhook ${hook.id}`, () => del(`/api/webhooks/${hook.id}`))();
          },
        }, 'Remove')))));
    const still = shown && hooks.find((hook) => hook.id === shown.id);
    if (still) await showDeliveries(still);
  };
  fill(main, h('h1', {}, 'Webhooks'),
    h('p', {}, 'Endpoints receive events as they happen, in order, at least once; one that fails for too long is paused until resumed here, nothing lost.'),
    table('Webhooks', ['#', 'URL', 'Events', 'State', 'Place in the log', ''], rows), secretBox, form,
    deliveriesTitle,
    table('Recent deliveries', ['Event', 'Type', 'Attempt', 'Status', 'Outcome', 'Error', 'When', ''], deliveryRows));
  const stop = every(REFRESH_MS, ui, 'load the webhooks', load);
  return { stop };
}
