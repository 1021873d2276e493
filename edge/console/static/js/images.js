// Catalog images live under /v1 behind the client key: fetched with the key, shown from blob URLs.
const cache = new Map();
const LIMIT = 300;

function remember(url, promise) {
  cache.set(url, promise);
  if (cache.size > LIMIT) {
    const [oldest, old] = cache.entries().next().value;
    cache.delete(oldest);
    old.then((objectUrl) => objectUrl && URL.revokeObjectURL(objectUrl));
  }
}

/** A blob URL for the image at `url` (fetched with `call`), or '' when it cannot be had. */
export function imageUrl(call, url) {
  if (!url) return Promise.resolve('');
  if (!cache.has(url)) {
    const promise = call(url, { as: 'blob' }).then((blob) => URL.createObjectURL(blob)).catch(() => {
      cache.delete(url);
      return '';
    });
    remember(url, promise);
  }
  return cache.get(url);
}

/** Point `img` at the catalog image `url` once it has arrived (a grey placeholder until then). */
export async function showImage(call, img, url) {
  img.classList.add('loading');
  const objectUrl = await imageUrl(call, url);
  if (objectUrl) img.src = objectUrl;
  img.classList.remove('loading');
  img.classList.toggle('missing', !objectUrl);
}
