// Voice customer service (the voice plugin): ask by recording, by a WAV file or by typing; the answer
// shows what was heard, the intent, the answer, which speech path answered, a hand-off, and plays the reply.
import { fill, h, say, tabId } from '../dom.js';
import { apply, language as uiLanguage } from '../i18n.js';
import { canRecord, startRecording } from '../wav.js';

const SESSION = 'storefront-edge.voice-session';

function sessionId() {
  return tabId(SESSION, 8);
}

function language() {
  return uiLanguage().startsWith('zh') ? 'zh' : 'en';
}

function fact(labelKey, value, cls) {
  return [h('dt', { i18n: labelKey }), h('dd', { class: cls }, value ?? '–')];
}

function showTurn(result, player, turn) {
  const handoff = turn.escalated ? h('span', { class: 'error', i18n: 'voice.handed_off', vars: { ticket: turn.ticket_id } }) : '–';
  fill(result,
    fact('voice.heard', turn.transcript, 'voice-transcript'),
    fact('voice.intent', turn.intent, 'voice-intent'),
    fact('voice.answer', turn.answer, 'voice-answer'),
    fact('voice.engine', turn.engine, 'voice-engine'),
    fact('voice.handoff', handoff, 'voice-handoff'),
    fact('voice.time', `${Math.round(turn.timings?.total ?? 0)} ms`, 'voice-time'));
  if (player.src) URL.revokeObjectURL(player.src);
  if (!turn.audio_wav_base64) return;
  const bytes = Uint8Array.from(atob(turn.audio_wav_base64), (c) => c.charCodeAt(0));
  player.src = URL.createObjectURL(new Blob([bytes], { type: 'audio/wav' }));
  player.hidden = false;
}

function recorder(send, message) {
  const button = h('button', { type: 'button', class: 'secondary voice-record', i18n: 'voice.record', 'aria-pressed': 'false', hidden: !canRecord() });
  let active = null;
  button.addEventListener('click', async () => {
    try {
      if (!active) {
        active = await startRecording();
        button.setAttribute('aria-pressed', 'true');
        button.dataset.i18n = 'voice.stop';
        say(message, 'voice.recording');
      } else {
        const wav = await active.stop();
        active = null;
        button.setAttribute('aria-pressed', 'false');
        button.dataset.i18n = 'voice.record';
        await send(wav);
      }
      apply(button);
    } catch {
      active = null;
      say(message, 'voice.mic_failed', {}, 'error');
    }
  });
  return button;
}

function create(ctx) {
  const message = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const result = h('dl', { class: 'facts voice-result' });
  const player = h('audio', { controls: '', class: 'voice-player', hidden: true, attrs18n: { 'aria-label': 'voice.reply' } });
  const ask = async (path, body) => {
    say(message, 'voice.thinking');
    try {
      const turn = await ctx.call(path, { method: 'POST', body });
      showTurn(result, player, turn);
      say(message, turn.escalated ? 'voice.done_handoff' : 'voice.done', {}, turn.escalated ? 'error' : 'ok');
    } catch (exc) {
      fill(result);
      say(message, 'voice.failed', { reason: exc.message }, 'error');
    }
  };
  const sendWav = (wav) => ask(`v1/voice/turn?language=${language()}&session_id=${sessionId()}`, wav);
  const file = h('input', { type: 'file', id: 'voice-file', accept: 'audio/wav,audio/x-wav,.wav', class: 'visually-hidden' });
  file.addEventListener('change', () => file.files[0] && sendWav(file.files[0].slice(0, file.files[0].size, 'audio/wav')));
  const pick = h('label', { for: 'voice-file', class: 'button secondary file-button', i18n: 'voice.choose_wav' });
  const text = h('input', { type: 'text', id: 'voice-text', maxlength: '500', autocomplete: 'off' });
  const form = h('form', { class: 'voice-form', novalidate: '' },
    h('div', { class: 'photo-row' }, recorder(sendWav, message), file, pick),
    h('div', { class: 'field' }, h('label', { for: 'voice-text', i18n: 'voice.type_question' }), text),
    h('button', { type: 'submit', class: 'primary voice-ask', i18n: 'voice.ask' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!text.value.trim()) return say(message, 'voice.need_input', {}, 'error');
    ask('v1/voice/text', { text: text.value.trim(), language: language(), session_id: sessionId(), speak: true });
  });
  const element = h('section', { id: 'view-voice', class: 'view', 'aria-labelledby': 'voice-heading' },
    h('h2', { id: 'voice-heading', tabindex: '-1', i18n: 'voice.title' }), h('p', { class: 'hint', i18n: 'voice.hint' }),
    form, message, result, player);
  return { element };
}

export default { id: 'voice', titleKey: 'voice.title', requires: ['voice'], staff: false, kind: 'view', create };
