// What the staff views share: calls with the admin key, and a clear note when it is missing or wrong.
import { h, say } from '../dom.js';
import { openKeys } from '../keys_dialog.js';

/** Call `path` with the admin key; on failure show why in `message` (with a way to enter the key). */
export async function adminCall(ctx, message, path, options = {}) {
  try {
    return await ctx.call(path, { ...options, role: 'admin' });
  } catch (exc) {
    if (exc.wantsKey) {
      say(message, 'staff.need_admin', {}, 'error');
      message.append(' ', h('button', { type: 'button', class: 'secondary', i18n: 'staff.enter_key',
        on: { click: () => openKeys('admin', exc) } }));
    } else {
      say(message, 'staff.failed', { reason: exc.message }, 'error');
    }
    return null;
  }
}
