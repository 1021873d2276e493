// The events strip (the events plugin): every item the person opens is posted as a 'view' event, every
// "add to cart" as a 'cart' event, with this tab's session id, and shown in a strip of this session's
// activity. Each event also carries the structured commerce fields (session_id, sku) the recommendations
// strip and the node's recommender read.
import { fill, h, tabId } from '../dom.js';
import { showImage } from '../images.js';

const KEEP = 12;
const STORAGE = 'storefront-edge.activity';
const SESSION = 'storefront-edge.session';
const KIND_LABELS = { view: 'events.viewed', cart: 'events.carted' };

/** This tab's shopping session id (the recommendation strip follows it). */
export function sessionId() {
  return tabId(SESSION);
}

function remembered() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE) || '[]');
  } catch {
    return [];
  }
}

function chip(ctx, entry) {
  const img = h('img', { class: 'chip-image', alt: '', width: '56', height: '56' });
  showImage(ctx.call, img, entry.image_url);
  const state = entry.id ? null : h('span', { class: 'chip-error', i18n: 'events.not_recorded' });
  return h('li', { class: `chip ${entry.id ? '' : 'failed'}`.trim(), dataset: { eventId: entry.id || '', kind: entry.kind, sku: entry.sku } },
    img,
    h('span', { class: 'chip-text' },
      h('span', { class: 'chip-kind', i18n: KIND_LABELS[entry.kind] }),
      h('span', { class: 'chip-title' }, entry.title || entry.sku),
      h('span', { class: 'chip-time', time: entry.at }), state));
}

function create(ctx) {
  // tabindex: the strip scrolls sideways once it is full, and the keyboard must reach it to scroll.
  const list = h('ol', { class: 'chips', tabindex: '0', attrs18n: { 'aria-label': 'events.title' } });
  const empty = h('p', { class: 'hint', i18n: 'events.empty' });
  const live = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  let entries = remembered();
  const render = () => {
    fill(list, entries.map((entry) => chip(ctx, entry)));
    empty.hidden = entries.length > 0;
  };

  async function record(kind, item) {
    const payload = { sku: item.sku, source: item.source || 'console', session: sessionId() };
    if (item.rank) payload.rank = item.rank;
    if (typeof item.score === 'number') payload.score = item.score;
    const entry = { kind, sku: item.sku, title: item.title, image_url: item.image_url, at: Date.now(), id: '' };
    try {
      entry.id = (await ctx.call('v1/events', { method: 'POST', body: { kind, session_id: sessionId(), sku: item.sku, payload } })).id;
    } catch {
      entry.id = '';
    }
    entries = [entry, ...entries].slice(0, KEEP);
    sessionStorage.setItem(STORAGE, JSON.stringify(entries));
    render();
    live.textContent = `${list.firstChild.textContent}`;
    ctx.emit('event:recorded', entry);
  }

  ctx.on('item:open', (item) => record('view', item));
  ctx.on('item:cart', (item) => record('cart', item));
  render();
  const element = h('section', { class: 'strip events-strip', 'aria-labelledby': 'events-heading' },
    h('h2', { id: 'events-heading', i18n: 'events.title' }), empty, list, live);
  return { element };
}

export default { id: 'events', titleKey: 'events.title', requires: ['events'], staff: false, kind: 'strip', create };
