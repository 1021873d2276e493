// The keys dialog: opened by the Keys button, or by a call the node refused for want of a key.
import { apply, t } from './i18n.js';
import { forgetKeys, getKey, setKey } from './keys.js';

const REASONS = { client: 'keys.need_client', admin: 'keys.need_admin' };
const pending = {};

function dialogParts() {
  const dialog = document.getElementById('keys-dialog');
  return {
    dialog,
    form: dialog.querySelector('form'),
    reason: document.getElementById('keys-reason'),
    inputs: { client: document.getElementById('client-key'), admin: document.getElementById('admin-key') },
    states: { client: document.getElementById('client-key-state'), admin: document.getElementById('admin-key-state') },
  };
}

function showState(parts) {
  for (const role of ['client', 'admin']) {
    parts.inputs[role].value = '';
    parts.states[role].dataset.i18n = getKey(role) ? 'keys.saved' : 'keys.not_saved';
  }
  apply(parts.dialog);
}

/** Open the dialog; resolves to 'save', 'forget' or 'cancel'. `role` and `refused` explain why it opened. */
export function openKeys(role = null, refused = null) {
  const parts = dialogParts();
  showState(parts);
  parts.reason.textContent = role ? t(REASONS[role]) + (refused?.status === 403 ? ` ${t('keys.rejected')}` : '') : '';
  parts.reason.hidden = !role;
  return new Promise((resolve) => {
    parts.dialog.addEventListener('close', () => {
      const choice = parts.dialog.returnValue || 'cancel';
      if (choice === 'forget') forgetKeys();
      if (choice === 'save') for (const r of ['client', 'admin']) if (parts.inputs[r].value.trim()) setKey(r, parts.inputs[r].value);
      parts.inputs.client.value = parts.inputs.admin.value = '';
      resolve(choice);
    }, { once: true });
    parts.dialog.returnValue = '';
    parts.dialog.showModal();
    parts.inputs[role || 'client'].focus();
  });
}

/** Ask once for the key of `role` however many calls were refused at the same time; true when saved. */
export function askForKey(role, refused) {
  pending[role] ??= openKeys(role, refused).then((choice) => {
    delete pending[role];
    return choice === 'save' && Boolean(getKey(role));
  });
  return pending[role];
}
