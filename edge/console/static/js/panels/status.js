// The node's status (no plugin needed): bundle versions and plugin readiness from /readyz, request rate
// and latency of the /v1 API and model time from /metrics, compared with the previous sample.
import { activeBundlesText } from '../api.js';
import { fill, h, say, scrolling } from '../dom.js';
import { formatTime } from '../i18n.js';
import { activeBundles, difference, histograms, parse, quantile } from '../metrics.js';

const EVERY_MS = 5000;
const REQUESTS = 'storefront_edge_request_duration_seconds';
const INFERENCE = 'storefront_edge_inference_seconds';

const ms = (seconds) => (seconds === null || Number.isNaN(seconds) ? '–' : (seconds * 1000).toFixed(1));

function merged(series) {
  const all = { count: 0, sum: 0, buckets: new Map() };
  for (const entry of series) {
    all.count += entry.count;
    all.sum += entry.sum;
    for (const [le, n] of entry.buckets) all.buckets.set(le, (all.buckets.get(le) || 0) + n);
  }
  return { ...all, buckets: [...all.buckets].sort((a, b) => a[0] - b[0]) };
}

function table(captionKey, headKeys, rows) {
  const data = h('table', { class: 'data' },
    h('caption', { i18n: captionKey }),
    h('thead', {}, h('tr', {}, headKeys.map((key) => h('th', { scope: 'col', i18n: key })))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell, i) => (i === 0 ? h('th', { scope: 'row' }, cell) : h('td', {}, cell)))))));
  return scrolling(data, captionKey);
}

function pluginRows(report) {
  return Object.entries(report.plugins || {}).map(([name, p]) => [
    name, p.version || '–',
    h('span', { class: p.ready ? 'ok' : 'error', i18n: p.ready ? 'status.ready' : 'status.not_ready' }),
    (p.reasons || []).join('; ') || '–',
  ]);
}

function tile(titleKey, value, detail) {
  return h('article', { class: 'tile' }, h('h3', { i18n: titleKey }), h('p', { class: 'tile-value' }, value), detail);
}

function apiSeries(samples) {
  return Object.fromEntries(Object.entries(histograms(samples, REQUESTS)).filter(([, s]) => s.labels.route.startsWith('/v1/')));
}

function render(parts, report, text, previous) {
  const samples = parse(text);
  const now = { at: Date.now(), api: apiSeries(samples) };
  const window = previous ? difference(now.api, previous.api) : now.api;
  const seconds = previous ? (now.at - previous.at) / 1000 : null;
  const all = merged(Object.values(window));
  const rate = seconds ? (all.count / seconds).toFixed(2) : '–';
  const served = activeBundles(samples).map((b) => `${b.name} ${b.version}`).join(', ') || '–';
  parts.tiles.dataset.windowSeconds = String(seconds || 0);
  fill(parts.tiles,
    tile('status.bundle', activeBundlesText(report) || '–', h('p', { class: 'hint', i18n: 'status.served', vars: { versions: served } })),
    tile('status.rate', rate, h('p', { class: 'hint', i18n: seconds ? 'status.rate_window' : 'status.rate_first', vars: { seconds: Math.round(seconds || 0) } })),
    tile('status.latency', `${ms(quantile(all.buckets, 0.5))} / ${ms(quantile(all.buckets, 0.95))}`, h('p', { class: 'hint', i18n: 'status.latency_detail', vars: { count: all.count } })));
  const routes = Object.values(window).filter((s) => s.count > 0).sort((a, b) => b.count - a.count).map((s) => [
    s.labels.route, s.labels.method, s.labels.status, String(s.count), seconds ? (s.count / seconds).toFixed(2) : '–', ms(s.sum / s.count), ms(quantile(s.buckets, 0.95))]);
  const models = Object.values(histograms(samples, INFERENCE)).map((s) => [s.labels.model, String(s.count), ms(s.count ? s.sum / s.count : null)]);
  fill(parts.tables,
    table('status.plugins', ['status.plugin', 'status.version', 'status.state', 'status.reasons'], pluginRows(report)),
    table('status.routes', ['status.route', 'status.method', 'status.code', 'status.requests', 'status.per_second', 'status.mean_ms', 'status.p95_ms'], routes),
    table('status.models', ['status.model', 'status.runs', 'status.mean_ms'], models));
  say(parts.message, 'status.updated', { time: formatTime(now.at) });
  return now;
}

function create(ctx) {
  const parts = { tiles: h('div', { class: 'tiles' }), tables: h('div', { class: 'tables' }), message: h('p', { class: 'message', role: 'status' }) };
  const refresh = h('button', { type: 'button', class: 'secondary', i18n: 'status.refresh' });
  let previous = null;
  let timer = null;
  async function update() {
    try {
      const [report, text] = await Promise.all([
        ctx.call('readyz', { role: null, as: 'response' }).then((r) => r.json()),
        ctx.call('metrics', { role: null, as: 'text' })]);
      previous = render(parts, report, text, previous);
    } catch (exc) {
      say(parts.message, 'status.failed', { reason: exc.message }, 'error');
    }
  }
  refresh.addEventListener('click', update);
  const element = h('section', { id: 'view-status', class: 'view', 'aria-labelledby': 'status-heading' },
    h('h2', { id: 'status-heading', tabindex: '-1', i18n: 'status.title' }), parts.tiles, h('div', { class: 'actions' }, refresh), parts.message, parts.tables);
  const show = () => { update(); timer = setInterval(update, EVERY_MS); };
  const hide = () => clearInterval(timer);
  return { element, show, hide };
}

export default { id: 'status', titleKey: 'status.title', requires: [], staff: false, kind: 'view', create };
