// The form that creates an instance from a folder, or from a project and a reference.

import { post, get } from './api.js';
import { field, fill, h } from './dom.js';

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
