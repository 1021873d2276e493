// What the panels need to know about the catalog as a whole: its categories (read once per page).
const PAGE = 500;
const MAX_PAGES = 20;
let categories = null;

/** The sorted distinct categories of the catalog (empty when it cannot be read). */
export function loadCategories(call) {
  categories ??= (async () => {
    const seen = new Set();
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const answer = await call(`v1/catalog/items?limit=${PAGE}&offset=${page * PAGE}`);
      for (const item of answer.items) if (item.category) seen.add(item.category);
      if ((page + 1) * PAGE >= answer.total) break;
    }
    return [...seen].sort((a, b) => a.localeCompare(b));
  })().catch(() => {
    categories = null;
    return [];
  });
  return categories;
}

/** Fill a <select> with "any" and every category. */
export async function fillCategories(call, select) {
  for (const category of await loadCategories(call)) {
    const option = document.createElement('option');
    option.value = category;
    option.textContent = category;
    select.append(option);
  }
}
