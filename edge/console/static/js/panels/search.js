// Photo search (the visual_search plugin): a photo from a file or the camera, optional words and
// filters, and a grid of hits with photo, title, price and score.
import { resultCard } from '../cards.js';
import { fillCategories } from '../catalog_data.js';
import { fill, h, say } from '../dom.js';
import { cameraAvailable, captureFrame, preparePhoto, startCamera, stopCamera } from '../photo.js';

const K_CHOICES = [8, 16, 32];

function field(id, labelKey, input) {
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id, i18n: labelKey }), input);
}

function filterFields() {
  const category = h('select', { name: 'category' }, h('option', { value: '', i18n: 'search.any_category' }));
  const number = (name) => h('input', { name, type: 'number', min: '0', step: '0.01', inputmode: 'decimal' });
  const k = h('select', { name: 'k' }, K_CHOICES.map((n) => h('option', { value: String(n) }, String(n))));
  const inStock = h('input', { type: 'checkbox', name: 'in_stock', id: 'search-in-stock', value: 'true' });
  return {
    category,
    element: h('fieldset', { class: 'filters' },
      h('legend', { i18n: 'search.filters' }),
      field('search-category', 'search.category', category),
      field('search-min-price', 'search.min_price', number('min_price')),
      field('search-max-price', 'search.max_price', number('max_price')),
      field('search-k', 'search.how_many', k),
      h('div', { class: 'field check' }, inStock, h('label', { for: 'search-in-stock', i18n: 'search.in_stock' }))),
  };
}

function photoControls(state) {
  const file = h('input', { type: 'file', id: 'search-photo', name: 'photo', accept: 'image/jpeg,image/png,image/webp', capture: 'environment', class: 'visually-hidden' });
  const preview = h('img', { class: 'preview-image', alt: '', attrs18n: { alt: 'search.preview_alt' } });
  const clear = h('button', { type: 'button', class: 'secondary', i18n: 'search.clear_photo' });
  const previewBox = h('div', { class: 'preview', hidden: true }, preview, clear);
  const camera = h('button', { type: 'button', class: 'secondary camera-button', i18n: 'search.use_camera', hidden: !cameraAvailable() });
  const setPhoto = (blob) => {
    state.photo = blob;
    if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
    state.previewUrl = blob ? URL.createObjectURL(blob) : '';
    preview.src = state.previewUrl;
    previewBox.hidden = !blob;
  };
  file.addEventListener('change', async () => file.files[0] && setPhoto(await preparePhoto(file.files[0])));
  clear.addEventListener('click', () => { file.value = ''; setPhoto(null); });
  const pick = h('label', { for: 'search-photo', class: 'button primary file-button', i18n: 'search.choose_photo' });
  return { file, camera, setPhoto, element: h('div', { class: 'photo-row' }, file, pick, camera, previewBox) };
}

function cameraBox(photo, message) {
  const video = h('video', { playsinline: 'true', muted: 'true', attrs18n: { 'aria-label': 'search.camera_view' } });
  const take = h('button', { type: 'button', class: 'primary', i18n: 'search.take_photo' });
  const cancel = h('button', { type: 'button', class: 'secondary', i18n: 'search.cancel_camera' });
  const box = h('div', { class: 'camera', hidden: true }, video, h('div', { class: 'actions' }, cancel, take));
  let stream = null;
  const close = () => { stopCamera(stream); stream = null; box.hidden = true; };
  photo.camera.addEventListener('click', async () => {
    try {
      box.hidden = false;
      stream = await startCamera(video);
      take.focus();
    } catch {
      close();
      say(message, 'search.camera_failed', {}, 'error');
    }
  });
  take.addEventListener('click', async () => {
    try {
      photo.setPhoto(await captureFrame(video));
    } catch {
      say(message, 'search.camera_failed', {}, 'error');
    }
    close();
  });
  cancel.addEventListener('click', close);
  return { element: box, close };
}

function searchBody(form, photo) {
  const body = new FormData();
  if (photo) body.append('image', photo, 'photo.jpg');
  for (const [name, value] of new FormData(form)) {
    if (name !== 'photo' && typeof value === 'string' && value.trim()) body.append(name, value.trim());
  }
  return body;
}

function showResults(ctx, grid, message, answer) {
  const items = answer.items || [];
  fill(grid, items.map((item, i) => resultCard(ctx, item, { source: 'visual_search', rank: i + 1 })));
  if (!items.length) return say(message, 'search.no_results', {}, '');
  say(message, 'search.result_count', { count: items.length, ms: Math.round(answer.timings_ms?.total ?? 0), bundle: answer.bundle }, 'ok');
}

function create(ctx) {
  const state = { photo: null, previewUrl: '' };
  const message = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const grid = h('ul', { class: 'results', attrs18n: { 'aria-label': 'search.results' } });
  const photo = photoControls(state);
  const camera = cameraBox(photo, message);
  const filters = filterFields();
  const text = h('input', { type: 'search', name: 'q', maxlength: '500', autocomplete: 'off' });
  const form = h('form', { class: 'search-form', novalidate: '' },
    photo.element, camera.element, field('search-text', 'search.text', text), filters.element,
    h('button', { type: 'submit', class: 'primary search-button', i18n: 'search.go' }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!state.photo && !text.value.trim()) return say(message, 'search.need_input', {}, 'error');
    say(message, 'search.searching');
    try {
      showResults(ctx, grid, message, await ctx.call('v1/visual-search', { method: 'POST', body: searchBody(form, state.photo) }));
    } catch (exc) {
      fill(grid);
      say(message, 'search.failed', { reason: exc.message }, 'error');
    }
  });
  if (ctx.has('catalog')) fillCategories(ctx.call, filters.category);
  const element = h('section', { id: 'view-search', class: 'view', 'aria-labelledby': 'search-heading' },
    h('h2', { id: 'search-heading', tabindex: '-1', i18n: 'search.title' }), form, message, grid);
  return { element, hide: camera.close };
}

export default { id: 'search', titleKey: 'search.title', requires: ['visual_search'], staff: false, kind: 'view', create };
