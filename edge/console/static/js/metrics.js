// Reading the node's Prometheus text exposition: request rate and latency between two samples.

const LINE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** Every sample of the text: [{name, labels, value}]. */
export function parse(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const labels = {};
    for (const [, key, value] of (match[2] || '').matchAll(LABEL)) labels[key] = value.replace(/\\(.)/g, '$1');
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** The histogram `name` by series (labels other than `le`): {key: {labels, count, sum, buckets: [[le, n]]}}. */
export function histograms(samples, name) {
  const series = {};
  for (const sample of samples) {
    if (!sample.name.startsWith(name)) continue;
    const { le, ...labels } = sample.labels;
    const key = JSON.stringify(labels);
    const entry = (series[key] ??= { labels, count: 0, sum: 0, buckets: [] });
    if (sample.name === `${name}_count`) entry.count = sample.value;
    else if (sample.name === `${name}_sum`) entry.sum = sample.value;
    else if (sample.name === `${name}_bucket`) entry.buckets.push([le === '+Inf' ? Infinity : Number(le), sample.value]);
  }
  for (const entry of Object.values(series)) entry.buckets.sort((a, b) => a[0] - b[0]);
  return series;
}

/** What happened between `before` and `now` (series absent before count from zero). */
export function difference(now, before = {}) {
  const out = {};
  for (const [key, entry] of Object.entries(now)) {
    const old = before[key];
    const oldBuckets = new Map(old ? old.buckets : []);
    out[key] = {
      labels: entry.labels,
      count: entry.count - (old?.count || 0),
      sum: entry.sum - (old?.sum || 0),
      buckets: entry.buckets.map(([le, n]) => [le, n - (oldBuckets.get(le) || 0)]),
    };
  }
  return out;
}

/** The q-quantile of cumulative buckets, interpolated inside its bucket as Prometheus does (seconds). */
export function quantile(buckets, q) {
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (!total) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lower;
      return lower + (le - lower) * ((rank - below) / Math.max(count - below, 1e-12));
    }
    lower = le;
    below = count;
  }
  return lower;
}

/** Bundles that some worker serves: [{name, version}] from the storefront_edge_bundle_active gauge. */
export function activeBundles(samples) {
  return samples
    .filter((s) => s.name === 'storefront_edge_bundle_active' && s.value >= 1)
    .map((s) => ({ name: s.labels.name, version: s.labels.version }));
}
