// Audio for the voice panel: any recording the browser can decode (MediaRecorder's webm/ogg, a WAV file)
// becomes a 16 kHz mono 16-bit WAV, resampled by an OfflineAudioContext (which filters before it decimates).
const RATE = 16000;

/** A 16-bit mono PCM WAV file of float samples at `rate`. */
export function encodeWav(samples, rate = RATE) {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, 'RIFF');
  view.setUint32(4, 36 + samples.length * 2, true);
  text(8, 'WAVE');
  text(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, 'data');
  view.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 0x7fff, true));
  return new Blob([buffer], { type: 'audio/wav' });
}

/** Decode a recorded blob and return it as a 16 kHz mono WAV blob. */
export async function toWav16k(blob) {
  const decoded = await new AudioContext().decodeAudioData(await blob.arrayBuffer());
  const frames = Math.max(1, Math.ceil(decoded.duration * RATE));
  const offline = new OfflineAudioContext(1, frames, RATE);
  const source = offline.createBufferSource();
  source.buffer = decoded;
  source.connect(offline.destination);
  source.start();
  const rendered = await offline.startRendering();
  return encodeWav(rendered.getChannelData(0));
}

export const canRecord = () => Boolean(navigator.mediaDevices?.getUserMedia && window.MediaRecorder);

/** Start recording the microphone; `stop()` resolves with the recording as a 16 kHz WAV blob. */
export async function startRecording() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const recorder = new MediaRecorder(stream);
  const chunks = [];
  recorder.addEventListener('dataavailable', (event) => event.data.size && chunks.push(event.data));
  recorder.start();
  return {
    stop: () => new Promise((resolve, reject) => {
      recorder.addEventListener('stop', () => {
        stream.getTracks().forEach((track) => track.stop());
        toWav16k(new Blob(chunks, { type: recorder.mimeType })).then(resolve, reject);
      }, { once: true });
      recorder.stop();
    }),
  };
}
