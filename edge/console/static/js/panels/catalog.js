// The catalog (the catalog plugin): browse every item by category and stock, a page at a time.
import { resultCard } from '../cards.js';
import { fillCategories } from '../catalog_data.js';
import { fill, h, say } from '../dom.js';

const PAGE = 24;

function query(form, offset) {
  const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  const data = new FormData(form);
  if (data.get('category')) params.set('category', data.get('category'));
  if (data.get('in_stock')) params.set('in_stock', 'true');
  return `v1/catalog/items?${params}`;
}

function create(ctx) {
  const category = h('select', { id: 'catalog-category', name: 'category' }, h('option', { value: '', i18n: 'search.any_category' }));
  const form = h('form', { class: 'catalog-form' },
    h('div', { class: 'field' }, h('label', { for: 'catalog-category', i18n: 'search.category' }), category),
    h('div', { class: 'field check' }, h('input', { type: 'checkbox', id: 'catalog-in-stock', name: 'in_stock', value: 'true' }),
      h('label', { for: 'catalog-in-stock', i18n: 'search.in_stock' })),
    h('button', { type: 'submit', class: 'primary', i18n: 'catalog.show' }));
  const grid = h('ul', { class: 'results', attrs18n: { 'aria-label': 'catalog.items' } });
  const message = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'secondary more-button', i18n: 'catalog.more', hidden: true });
  const state = { offset: 0, loaded: false };

  async function load(reset) {
    if (reset) { state.offset = 0; fill(grid); }
    try {
      const page = await ctx.call(query(form, state.offset));
      grid.append(...page.items.map((item, i) => resultCard(ctx, item, { source: 'catalog', rank: state.offset + i + 1 })));
      state.offset += page.items.length;
      more.hidden = state.offset >= page.total;
      say(message, 'catalog.count', { shown: state.offset, total: page.total });
    } catch (exc) {
      say(message, 'catalog.failed', { reason: exc.message }, 'error');
    }
  }

  form.addEventListener('submit', (event) => { event.preventDefault(); load(true); });
  more.addEventListener('click', () => load(false));
  const element = h('section', { id: 'view-catalog', class: 'view', 'aria-labelledby': 'catalog-heading' },
    h('h2', { id: 'catalog-heading', tabindex: '-1', i18n: 'catalog.title' }), form, message, grid, more);
  const show = () => {
    if (state.loaded) return;
    state.loaded = true;
    fillCategories(ctx.call, category);
    load(true);
  };
  return { element, show };
}

export default { id: 'catalog', titleKey: 'catalog.title', requires: ['catalog'], staff: false, kind: 'view', create };
