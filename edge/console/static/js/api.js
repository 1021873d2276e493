// Calls to the node: the key of the role in the Authorization header, JSON errors as ApiError.
import { getKey } from './keys.js';

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    Object.assign(this, { status, code, details });
  }

  /** Whether a (different) key would help: 401 always, 403 unless the node answers loopback only. */
  get wantsKey() {
    return this.status === 401 || (this.status === 403 && this.code !== 'loopback_only');
  }
}

async function errorOf(response) {
  let error = {};
  try {
    error = (await response.json()).error || {};
  } catch {
    error = {};
  }
  return new ApiError(response.status, error.code || `http_${response.status}`, error.message || response.statusText, error.details);
}

function bodyOf(body, headers) {
  if (body === undefined || body instanceof Blob || body instanceof FormData) return body;
  headers.set('Content-Type', 'application/json');
  return JSON.stringify(body);
}

/**
 * One request. `role` picks the key ('client', 'admin' or null for none), `as` the answer: 'json',
 * 'blob', 'text' or 'response'.
 */
export async function request(path, { role = 'client', method = 'GET', body, as = 'json' } = {}) {
  const headers = new Headers();
  const key = role ? getKey(role) : '';
  if (key) headers.set('Authorization', `Bearer ${key}`);
  let response;
  try {
    response = await fetch(path, { method, headers, body: bodyOf(body, headers), cache: 'no-store', credentials: 'omit' });
  } catch (exc) {
    throw new ApiError(0, 'network', String(exc));
  }
  if (as === 'response') return response;
  if (!response.ok) throw await errorOf(response);
  if (as === 'blob') return response.blob();
  if (as === 'text') return response.text();
  return response.json();
}

/** "name version, name version" for every bundle name active in a /readyz report ('' when none). */
export function activeBundlesText(report) {
  return Object.entries(report?.bundles || {}).sort(([a], [b]) => a.localeCompare(b))
    .map(([name, bundle]) => `${name} ${bundle.version}`).join(', ');
}
