// The recommendations strip (the recommend plugin): follows the session. After every recorded event (a
// view or an "add to cart" posted by the events strip) it asks GET /v1/recommendations for this session
// and the item just opened, and shows the results with their reason; a click on one opens that item,
// which posts a view, which refreshes the strip.
import { fill, h } from '../dom.js';
import { showImage } from '../images.js';
import { sessionId } from './events.js';

const K = 8;
const REASONS = { 'co-visited': 'recs.reason_covisited', similar: 'recs.reason_similar', sequence: 'recs.reason_sequence',
  popular: 'recs.reason_popular', 'new item': 'recs.reason_new' };

function chip(ctx, item, rank) {
  const img = h('img', { class: 'chip-image', alt: '', width: '56', height: '56' });
  showImage(ctx.call, img, item.image_url);
  const open = () => ctx.emit('item:open', { ...item, source: 'recommendations', rank });
  return h('li', { class: 'chip-cell' },
    h('button', { type: 'button', class: 'chip rec-chip', dataset: { sku: item.sku, reason: item.reason }, on: { click: open } },
      img,
      h('span', { class: 'chip-text' },
        h('span', { class: 'chip-kind', i18n: REASONS[item.reason] || 'recs.reason_popular' }),
        h('span', { class: 'chip-title' }, item.title),
        h('span', { class: 'price', price: item }))));
}

function create(ctx) {
  const list = h('ol', { class: 'chips', tabindex: '0', attrs18n: { 'aria-label': 'recs.title' } });
  const hint = h('p', { class: 'hint', i18n: 'recs.empty' });
  const element = h('section', { class: 'strip recs-strip', 'aria-labelledby': 'recs-heading', dataset: { anchor: '' } },
    h('h2', { id: 'recs-heading', i18n: 'recs.title' }), hint, list);

  async function refresh(sku) {
    const query = new URLSearchParams({ session_id: sessionId(), k: String(K) });
    if (sku) query.set('sku', sku);
    try {
      const answer = await ctx.call(`v1/recommendations?${query}`);
      fill(list, answer.results.map((item, rank) => chip(ctx, item, rank + 1)));
      element.dataset.anchor = sku || '';
      hint.hidden = answer.results.length > 0;
    } catch {
      fill(list);
      hint.hidden = false;
    }
  }

  ctx.on('event:recorded', (entry) => refresh(entry.sku));
  refresh(null); // a new session: what is popular here now
  return { element };
}

export default { id: 'recommend', titleKey: 'recs.title', requires: ['recommend', 'events'], staff: false, kind: 'strip', create };
