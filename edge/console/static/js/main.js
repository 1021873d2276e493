// The console's start: language, readiness (which plugins are loaded), then every panel whose plugins are.
import { ApiError, activeBundlesText, request } from './api.js';
import { apply, preferredLanguage, setLanguage } from './i18n.js';
import { createItemDialog } from './item_dialog.js';
import { askForKey, openKeys } from './keys_dialog.js';
import { PANELS } from './panels/index.js';
import { h, say } from './dom.js';

const READINESS_EVERY_MS = 15000;

/** `request` that, when the node refuses for want of a key, asks for it once and tries again. */
async function call(path, options = {}) {
  const role = options.role === undefined ? 'client' : options.role;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await request(path, options);
    } catch (exc) {
      if (!(exc instanceof ApiError) || !exc.wantsKey || !role || attempt >= 3) throw exc;
      if (!(await askForKey(role, exc))) throw exc;
    }
  }
}

async function readiness() {
  const response = await request('readyz', { role: null, as: 'response' });
  return response.json();
}

function showNodeState(report) {
  const el = document.getElementById('node-state');
  if (!report) return say(el, 'state.unreachable', {}, 'error');
  if (report.ready) say(el, 'state.ready', { bundles: activeBundlesText(report) }, 'ok');
  else say(el, 'state.not_ready', {}, 'error');
}

function makeContext(report) {
  const bus = new EventTarget();
  return {
    call,
    readiness: report,
    plugins: new Set(Object.keys(report.plugins || {})),
    has(name) {
      return this.plugins.has(name);
    },
    emit(type, detail) {
      bus.dispatchEvent(new CustomEvent(type, { detail }));
    },
    on(type, handler) {
      bus.addEventListener(type, (event) => handler(event.detail));
    },
  };
}

function mountable(panel, ctx) {
  return panel.requires.every((name) => ctx.has(name));
}

function tabFor(panel) {
  const badge = panel.staff ? h('span', { class: 'badge', i18n: 'nav.staff' }) : null;
  const link = h('a', { href: `#${panel.id}`, class: 'tab' }, h('span', { i18n: panel.titleKey }), badge);
  return h('li', { class: panel.staff ? 'staff' : '' }, link);
}

function mountPanels(ctx) {
  const main = document.getElementById('main');
  const views = new Map();
  for (const panel of PANELS.filter((p) => mountable(p, ctx))) {
    const mounted = panel.create(ctx);
    if (panel.kind === 'strip') {
      document.getElementById('strips').append(mounted.element);
      continue;
    }
    mounted.element.hidden = true;
    main.append(mounted.element);
    document.getElementById('tab-list').append(tabFor(panel));
    views.set(panel.id, mounted);
  }
  document.getElementById('boot-message').remove();
  return views;
}

function route(views, focus) {
  const wanted = location.hash.slice(1);
  const id = views.has(wanted) ? wanted : views.keys().next().value;
  for (const [key, view] of views) {
    const active = key === id;
    if (active === !view.element.hidden) continue;
    view.element.hidden = !active;
    if (active) view.show?.();
    else view.hide?.();
  }
  for (const link of document.querySelectorAll('#tab-list a')) {
    if (link.getAttribute('href') === `#${id}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (focus) views.get(id)?.element.querySelector('h2')?.focus();
}

function bindTopBar() {
  for (const button of document.querySelectorAll('.lang-button')) {
    button.addEventListener('click', () => setLanguage(button.dataset.lang).then(markLanguage));
  }
  document.getElementById('keys-button').addEventListener('click', () => openKeys());
}

function markLanguage() {
  for (const button of document.querySelectorAll('.lang-button')) {
    button.setAttribute('aria-pressed', String(button.dataset.lang === document.documentElement.lang));
  }
}

async function start() {
  await setLanguage(preferredLanguage());
  markLanguage();
  bindTopBar();
  let report = null;
  try {
    report = await readiness();
  } catch {
    showNodeState(null);
    return;
  }
  showNodeState(report);
  const ctx = makeContext(report);
  createItemDialog(ctx);
  const views = mountPanels(ctx);
  route(views, false);
  window.addEventListener('hashchange', () => route(views, true));
  setInterval(() => readiness().then((r) => { ctx.readiness = r; showNodeState(r); ctx.emit('readiness', r); }).catch(() => showNodeState(null)), READINESS_EVERY_MS);
  document.addEventListener('console:language', () => apply(document));
  document.body.dataset.ready = 'true';
}

start();
