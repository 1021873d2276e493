// Staff: the node's sync with the hub (GET /v1/admin/sync/status): last round, pending changes, lag.
import { fill, h, unsay } from '../dom.js';
import { formatTime } from '../i18n.js';
import { adminCall } from './staff.js';

const EVERY_MS = 10000;

function row(key, value) {
  return [h('dt', { i18n: key }), h('dd', {}, value instanceof Node ? value : String(value ?? '–'))];
}

function when(seconds) {
  return seconds ? formatTime(seconds * 1000) : '–';
}

function summary(status) {
  const last = status.last_round || {};
  const result = last.last_result;
  return [
    row('sync.joined', h('span', { i18n: status.joined ? 'sync.joined_yes' : 'sync.joined_no', vars: { url: status.hub_url || '' } })),
    row('sync.pending', status.pending_changes),
    row('sync.lag', status.lag_seconds === null ? h('span', { i18n: 'sync.never' }) : h('span', { i18n: 'sync.seconds', vars: { seconds: Math.round(status.lag_seconds) } })),
    row('sync.last_success', when(last.last_success)),
    row('sync.last_failure', last.last_failure ? `${when(last.last_failure)} — ${last.error || ''}` : '–'),
    row('sync.last_result', result ? h('span', { i18n: 'sync.result', vars: { pushed: result.pushed ?? 0, pulled: result.pulled ?? 0 } }) : '–'),
    row('sync.sequence', h('span', { i18n: 'sync.sequence_value', vars: { last: status.last_seq, acked: status.acked_seq, hub: status.hub_cursor } })),
    row('sync.origin', status.origin || '–'),
  ].flat();
}

function create(ctx) {
  const message = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const details = h('dl', { class: 'facts' });
  const refresh = h('button', { type: 'button', class: 'secondary', i18n: 'sync.refresh' });
  let timer = null;
  async function load() {
    const status = await adminCall(ctx, message, 'v1/admin/sync/status');
    if (!status) return;
    fill(details, summary(status));
    unsay(message);
  }
  refresh.addEventListener('click', load);
  const element = h('section', { id: 'view-sync', class: 'view', 'aria-labelledby': 'sync-heading' },
    h('h2', { id: 'sync-heading', tabindex: '-1', i18n: 'sync.title' }), h('p', { class: 'hint', i18n: 'sync.help' }),
    h('div', { class: 'actions' }, refresh), message, details);
  const show = () => { load(); timer = setInterval(load, EVERY_MS); };
  const hide = () => clearInterval(timer);
  return { element, show, hide };
}

export default { id: 'sync', titleKey: 'sync.title', requires: [], staff: true, kind: 'view', create };
