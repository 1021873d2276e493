// The item dialog: opened by a click on any result card ('item:open'); may add the item to the cart.
import { apply, formatPrice } from './i18n.js';
import { say, unsay } from './dom.js';
import { showImage } from './images.js';

function fillKnown(item) {
  const price = document.getElementById('item-price');
  document.getElementById('item-title').textContent = item.title || item.sku;
  Object.assign(price.dataset, { price: item.price, currency: item.currency });
  price.textContent = formatPrice(item.price, item.currency);
  document.getElementById('item-image').alt = item.title || item.sku;
  const sku = document.getElementById('item-sku');
  sku.dataset.i18n = 'item.sku';
  sku.dataset.i18nVars = JSON.stringify({ sku: item.sku });
  apply(sku);
}

async function fillDetails(ctx, item) {
  const description = document.getElementById('item-description');
  const stock = document.getElementById('item-stock');
  description.textContent = '';
  stock.textContent = '';
  if (!ctx.has('catalog')) return;
  try {
    const full = await ctx.call(`v1/catalog/items/${encodeURIComponent(item.sku)}`);
    description.textContent = full.description || '';
    say(stock, full.in_stock > 0 ? 'item.in_stock' : 'item.out_of_stock', { count: full.in_stock });
    stock.className = 'stock';
  } catch {
    stock.textContent = '';
  }
}

/** Wire the dialog to the context's 'item:open' events. */
export function createItemDialog(ctx) {
  const dialog = document.getElementById('item-dialog');
  const cart = document.getElementById('item-cart');
  const message = document.getElementById('item-message');
  let current = null;
  cart.hidden = !ctx.has('events');
  document.getElementById('item-close').addEventListener('click', () => dialog.close());
  cart.addEventListener('click', () => {
    ctx.emit('item:cart', current);
    say(message, 'item.added', {}, 'ok');
  });
  ctx.on('item:open', (item) => {
    current = item;
    unsay(message);
    fillKnown(item);
    const img = document.getElementById('item-image');
    img.removeAttribute('src');
    showImage(ctx.call, img, item.image_url);
    fillDetails(ctx, item);
    if (!dialog.open) dialog.showModal();
    document.getElementById('item-close').focus();
  });
}
