// The string catalogues: one JSON file per language under console/i18n/, every string of the page in it.
// Elements carry their key (data-i18n, data-i18n-attr="attr:key;..."); prices and times carry their value
// (data-price + data-currency, data-time, data-datetime) and are formatted in the current language by apply().

export const LANGUAGES = { en: 'en.json', 'zh-CN': 'zh.json' };
const STORAGE = 'storefront-edge.lang';
let strings = {};
let current = 'en';

/** The string for `key` with `{name}` placeholders filled from `vars` (the key itself when missing). */
export function t(key, vars = {}) {
  const text = strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ''));
}

/** The current language code (`en` or `zh-CN`). */
export function language() {
  return current;
}

/** The language to start in: the one chosen before, else the browser's. */
export function preferredLanguage() {
  const saved = localStorage.getItem(STORAGE);
  if (saved && saved in LANGUAGES) return saved;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

/** A price in the current language's notation. */
export function formatPrice(price, currency) {
  try {
    return new Intl.NumberFormat(current, { style: 'currency', currency }).format(price);
  } catch {
    return `${Number(price).toFixed(2)} ${currency || ''}`.trim();
  }
}

/** A time of day (from an ISO string or epoch milliseconds) in the current language. */
export function formatTime(value) {
  const date = new Date(typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString(current);
}

/** A date and time in the current language. */
export function formatDateTime(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString(current);
}

/** Relabel `root` and everything in it from the current catalogue. */
export function apply(root = document) {
  const all = (selector) => [...(root.matches?.(selector) ? [root] : []), ...root.querySelectorAll(selector)];
  for (const el of all('[data-i18n]')) el.textContent = t(el.dataset.i18n, JSON.parse(el.dataset.i18nVars || '{}'));
  for (const el of all('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':');
      el.setAttribute(attr, t(key, JSON.parse(el.dataset.i18nVars || '{}')));
    }
  }
  for (const el of all('[data-price]')) el.textContent = formatPrice(Number(el.dataset.price), el.dataset.currency);
  for (const el of all('[data-time]')) el.textContent = formatTime(el.dataset.time);
  for (const el of all('[data-datetime]')) el.textContent = formatDateTime(el.dataset.datetime);
}

/** Load the catalogue of `code`, relabel the page and remember the choice. */
export async function setLanguage(code) {
  const chosen = code in LANGUAGES ? code : 'en';
  const response = await fetch(`console/i18n/${LANGUAGES[chosen]}`, { cache: 'no-cache' });
  strings = await response.json();
  current = chosen;
  document.documentElement.lang = chosen;
  localStorage.setItem(STORAGE, chosen);
  apply(document);
  document.dispatchEvent(new CustomEvent('console:language', { detail: chosen }));
}
