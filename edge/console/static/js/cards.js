// A result card: photo, title, price and (for a search hit) score; a click opens the item.
import { h } from './dom.js';
import { showImage } from './images.js';

/**
 * The <li> for `item` ({sku, title, price, currency, image_url, score?}); `source` and `rank` go with the
 * 'item:open' event so that the events strip can record where the view came from.
 */
export function resultCard(ctx, item, { source, rank }) {
  const img = h('img', { class: 'card-image', alt: '', width: '240', height: '240', loading: 'lazy' });
  const imageUrl = item.image_url ?? item.image_urls?.[0] ?? null;
  showImage(ctx.call, img, imageUrl);
  const score = typeof item.score === 'number'
    ? h('span', { class: 'score', i18n: 'card.score', vars: { score: item.score.toFixed(3) } })
    : null;
  const button = h('button', {
    type: 'button', class: 'card', dataset: { sku: item.sku },
    on: { click: () => ctx.emit('item:open', { ...item, image_url: imageUrl, source, rank }) },
  }, img, h('span', { class: 'card-title' }, item.title), h('span', { class: 'price', price: item }), score);
  return h('li', { class: 'card-cell' }, button);
}
