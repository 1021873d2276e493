// API keys, typed in by a person and kept only in this tab's session storage (never in the page).
const STORAGE = { client: 'storefront-edge.client-key', admin: 'storefront-edge.admin-key' };

/** The stored key for `role` ('client' or 'admin'), or ''. */
export function getKey(role) {
  return sessionStorage.getItem(STORAGE[role]) || '';
}

/** Store (or with '' remove) the key for `role`. */
export function setKey(role, value) {
  const key = (value || '').trim();
  if (key) sessionStorage.setItem(STORAGE[role], key);
  else sessionStorage.removeItem(STORAGE[role]);
}

/** Forget both keys. */
export function forgetKeys() {
  for (const role of Object.keys(STORAGE)) sessionStorage.removeItem(STORAGE[role]);
}
