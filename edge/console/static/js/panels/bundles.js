// Staff: the installed bundles, which version is active, activate another, roll back.
//
// Everything that knows the shape of /v1/admin/bundles is in BUNDLE_ROUTES and adaptBundleList below;
// the view renders only the adapted lines ({name, active, rollbackTo, versions}).
import { fill, h, say, scrolling } from '../dom.js';
import { adminCall } from './staff.js';

/** The admin routes the view calls: one version line per bundle name. */
export const BUNDLE_ROUTES = {
  list: () => 'v1/admin/bundles',
  activate: (line, version) => `v1/admin/bundles/${encodeURIComponent(line.name)}/${encodeURIComponent(version)}/activate`,
  rollback: (line) => `v1/admin/bundles/${encodeURIComponent(line.name)}/rollback`,
};

function byVersionDescending(a, b) {
  const parts = (v) => v.split(/[.+-]/).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const [x, y] = [parts(a.version), parts(b.version)];
  for (let i = 0; i < Math.max(x.length, y.length); i += 1) {
    if (x[i] === y[i]) continue;
    if (x[i] === undefined) return 1;
    if (y[i] === undefined) return -1;
    return x[i] < y[i] ? 1 : -1;
  }
  return 0;
}

/**
 * The answer {active: {name: version}, history: {name: [older, newest last]}, bundles: [{name, version,
 * created, active, models}]} → one line per bundle name: {name, active: version|null, rollbackTo:
 * version|null, versions: [{version, created, models, active}]}. Each name rolls back along its own
 * history, to the newest earlier version still installed.
 */
export function adaptBundleList(answer) {
  const lines = new Map();
  for (const bundle of answer.bundles) {
    const line = lines.get(bundle.name) ?? { name: bundle.name, active: null, rollbackTo: null, versions: [] };
    line.versions.push({ version: bundle.version, created: bundle.created, models: bundle.models, active: bundle.active });
    if (bundle.active) line.active = bundle.version;
    lines.set(bundle.name, line);
  }
  for (const line of lines.values()) {
    const installed = new Set(line.versions.map((v) => v.version));
    const history = (answer.history || {})[line.name] || [];
    line.active = (answer.active || {})[line.name] ?? line.active;
    line.rollbackTo = line.active ? [...history].reverse().find((v) => installed.has(v)) || null : null;
    line.versions.sort(byVersionDescending);
  }
  return [...lines.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function versionRow(line, entry, act) {
  const action = entry.active
    ? h('span', { class: 'ok', i18n: 'bundles.active' })
    : h('button', { type: 'button', class: 'secondary', i18n: 'bundles.activate', vars: { name: line.name, version: entry.version },
      attrs18n: { 'aria-label': 'bundles.activate_label' }, on: { click: () => act(BUNDLE_ROUTES.activate(line, entry.version), 'bundles.activated', entry.version) } });
  return h('tr', { dataset: { version: entry.version } },
    h('th', { scope: 'row' }, entry.version), h('td', entry.created ? { datetime: entry.created } : {}, entry.created ? '' : '–'), h('td', { class: 'models-column' }, (entry.models || []).join(', ')), h('td', {}, action));
}

function lineCard(line, act) {
  const rollback = h('button', {
    type: 'button', class: 'secondary rollback', disabled: !line.rollbackTo,
    i18n: line.rollbackTo ? 'bundles.rollback_to' : 'bundles.no_rollback', vars: { version: line.rollbackTo || '' },
    on: { click: () => act(BUNDLE_ROUTES.rollback(line), 'bundles.rolled_back', line.rollbackTo) } });
  return h('article', { class: 'bundle-line', dataset: { name: line.name } },
    h('h3', {}, line.name),
    h('p', { i18n: line.active ? 'bundles.active_version' : 'bundles.none_active', vars: { version: line.active || '' } }),
    scrolling(h('table', { class: 'data' },
      h('caption', { class: 'visually-hidden', i18n: 'bundles.versions_of', vars: { name: line.name } }),
      h('thead', {}, h('tr', {}, ['bundles.version', 'bundles.created', 'bundles.models', 'bundles.state'].map((k) => h('th', { scope: 'col', i18n: k, class: k === 'bundles.models' ? 'models-column' : null })))),
      h('tbody', {}, line.versions.map((entry) => versionRow(line, entry, act)))), 'bundles.versions_of', { name: line.name }),
    h('div', { class: 'actions' }, rollback));
}

function create(ctx) {
  const message = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const lines = h('div', { class: 'bundle-lines' });
  const refresh = h('button', { type: 'button', class: 'secondary', i18n: 'bundles.refresh' });

  function render(answer) {
    const adapted = adaptBundleList(answer);
    fill(lines, adapted.length ? adapted.map((line) => lineCard(line, act)) : h('p', { i18n: 'bundles.none' }));
  }
  async function load() {
    const answer = await adminCall(ctx, message, BUNDLE_ROUTES.list());
    if (answer) render(answer);
  }
  async function act(path, doneKey, version) {
    say(message, 'bundles.working');
    const answer = await adminCall(ctx, message, path, { method: 'POST', body: {} });
    if (!answer) return;
    render(answer);
    say(message, doneKey, { version }, 'ok');
  }
  refresh.addEventListener('click', load);
  const element = h('section', { id: 'view-bundles', class: 'view', 'aria-labelledby': 'bundles-heading' },
    h('h2', { id: 'bundles-heading', tabindex: '-1', i18n: 'bundles.title' }), h('p', { class: 'hint', i18n: 'bundles.help' }),
    h('div', { class: 'actions' }, refresh), message, lines);
  return { element, show: load };
}

export default { id: 'bundles', titleKey: 'bundles.title', requires: [], staff: true, kind: 'view', create };
