// Staff: try a fraud precheck (POST /v1/fraud/precheck with the admin key) and see the decision, its
// score, reasons and rule hits. Every precheck sent from here is logged like any other.
import { fill, h, say, unsay } from '../dom.js';
import { adminCall } from './staff.js';

const FIELDS = [
  ['amount', 'fraud.amount', { type: 'number', min: '0', step: '0.01', inputmode: 'decimal', required: true, value: '25.00' }],
  ['currency', 'fraud.currency', { type: 'text', maxlength: '3', required: true, value: 'USD', autocomplete: 'off' }],
  ['account_id', 'fraud.account', { type: 'text', autocomplete: 'off' }],
  ['card_hash', 'fraud.card_hash', { type: 'text', autocomplete: 'off', spellcheck: 'false' }],
  ['device_id', 'fraud.device', { type: 'text', autocomplete: 'off' }],
  ['ip', 'fraud.ip', { type: 'text', autocomplete: 'off', inputmode: 'decimal' }],
  ['email', 'fraud.email', { type: 'email', autocomplete: 'off' }],
];

const KIND = { allow: 'ok', block: 'error' };
const DECISION = { allow: 'fraud.decision_allow', review: 'fraud.decision_review', block: 'fraud.decision_block' };

function field(name, labelKey, attrs) {
  const id = `fraud-${name.replace('_', '-')}`;
  return h('div', { class: 'field' }, h('label', { for: id, i18n: labelKey }), h('input', { id, name, ...attrs }));
}

function requestOf(form) {
  const data = new FormData(form);
  const body = { amount: Number(data.get('amount')), currency: String(data.get('currency') || '').trim() };
  for (const [name] of FIELDS.slice(2)) {
    const value = String(data.get(name) || '').trim();
    if (value) body[name] = value;
  }
  return body;
}

function answerView(answer) {
  const list = (items, empty) => (items.length ? h('ul', {}, items.map((text) => h('li', {}, text))) : h('p', { i18n: empty }));
  return [
    h('p', { class: `decision decision-${answer.decision} ${KIND[answer.decision] || ''}` },
      h('span', { i18n: DECISION[answer.decision] }), ' ',
      h('span', { class: 'score', i18n: 'fraud.score_value', vars: { score: answer.score.toFixed(1) } })),
    h('h3', { i18n: 'fraud.reasons' }),
    list(answer.reasons.map((r) => `${r.text} (${r.code})`), 'fraud.no_reasons'),
    h('h3', { i18n: 'fraud.rule_hits' }),
    list(answer.rule_hits, 'fraud.no_rule_hits'),
    h('p', { class: 'hint', i18n: 'fraud.latency', vars: { ms: answer.latency_ms.toFixed(1), id: answer.id } }),
  ];
}

function detailsText(exc) {
  return (exc.details || []).map((d) => `${d.field}: ${d.problem}`).join('; ');
}

/** The console's call, with the fields a 422 names added to its message. */
function withDetails(ctx) {
  return {
    call: (path, options) => ctx.call(path, options).catch((exc) => {
      if (exc.status === 422 && exc.details) exc.message = `${exc.message}: ${detailsText(exc)}`;
      throw exc;
    }),
  };
}

function create(ctx) {
  const message = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const result = h('div', { class: 'fraud-answer', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary', i18n: 'fraud.check' });
  const form = h('form', { class: 'fraud-form', novalidate: true }, FIELDS.map((f) => field(...f)), h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    unsay(message);
    fill(result);
    const answer = await adminCall(withDetails(ctx), message, 'v1/fraud/precheck', { method: 'POST', body: requestOf(form) });
    if (answer) fill(result, answerView(answer));
  });
  const element = h('section', { id: 'view-fraud', class: 'view', 'aria-labelledby': 'fraud-heading' },
    h('h2', { id: 'fraud-heading', tabindex: '-1', i18n: 'fraud.title' }), h('p', { class: 'hint', i18n: 'fraud.help' }),
    form, message, result);
  return { element, show: () => say(message, 'fraud.ready') };
}

export default { id: 'fraud', titleKey: 'fraud.title', requires: ['fraud'], staff: true, kind: 'view', create };
