// Every panel the console knows, in the order of its tabs. A panel is a module whose default export is
//   { id, titleKey, requires: [plugin names], staff: bool, kind: 'view' | 'strip', create(ctx) }
// and create(ctx) returns { element, show?(), hide?() }. The console mounts a panel only when /readyz
// lists every plugin it requires, so a new plugin's panel is one new module and one line here.
import catalog from './catalog.js';
import events from './events.js';
import fraud from './fraud.js';
import bundles from './bundles.js';
import search from './search.js';
import status from './status.js';
import sync from './sync.js';
import voice from './voice.js';
import recommend from './recommend.js';

export const PANELS = [search, catalog, voice, status, bundles, sync, fraud, events, recommend];
