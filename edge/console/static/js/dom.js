// A small element builder: h('button', {i18n: 'search.go', on: {click}}, child, ...).
import { apply } from './i18n.js';

const SPECIAL = new Set(['i18n', 'vars', 'attrs18n', 'on', 'dataset', 'class', 'price', 'time', 'datetime']);

function setProp(el, name, value) {
  if (name === 'i18n') el.dataset.i18n = value;
  else if (name === 'vars') el.dataset.i18nVars = JSON.stringify(value);
  else if (name === 'attrs18n') el.dataset.i18nAttr = Object.entries(value).map(([a, k]) => `${a}:${k}`).join(';');
  else if (name === 'on') for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
  else if (name === 'dataset') Object.assign(el.dataset, value);
  else if (name === 'class') el.className = value;
  else if (name === 'price') Object.assign(el.dataset, { price: value.price, currency: value.currency });
  else if (name === 'time') el.dataset.time = value;
  else if (name === 'datetime') el.dataset.datetime = value;
}

/** Build an element; labels given as keys are filled from the current catalogue. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (SPECIAL.has(name)) setProp(el, name, value);
    else if (typeof value === 'boolean') el[name] = value;
    else el.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  apply(el);
  return el;
}

/** `table` in a wrapper that scrolls sideways when it is too wide, reachable by keyboard to scroll. */
export function scrolling(table, labelKey, vars = {}) {
  return h('div', { class: 'table-scroll', tabindex: '0', role: 'region', attrs18n: { 'aria-label': labelKey }, vars }, table);
}

/** Replace the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/** Show a message (by catalogue key) in a status element; `kind` is '', 'error' or 'ok'. */
export function say(el, key, vars = {}, kind = '') {
  el.dataset.i18n = key;
  el.dataset.i18nVars = JSON.stringify(vars);
  el.classList.remove('ok', 'error');
  if (kind) el.classList.add(kind);
  apply(el);
}

/** Clear a status element. */
export function unsay(el) {
  delete el.dataset.i18n;
  el.textContent = '';
  el.classList.remove('ok', 'error');
}

/** A random id kept in this tab's sessionStorage under ``key`` (made on first use; ``bytes`` random bytes, hex). */
export function tabId(key, bytes = 12) {
  let id = sessionStorage.getItem(key);
  if (!id) {
    id = [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
    sessionStorage.setItem(key, id);
  }
  return id;
}
