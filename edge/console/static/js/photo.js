// Photos for visual search: a picked file as it is when small, otherwise scaled down on the device
// (the node reads 165 px on the shorter side at most: sending more costs time and bytes, not accuracy).
const SEND_AS_IS_BYTES = 1_500_000;
const SHORTER_SIDE = 480;
const TYPES = new Set(['image/jpeg', 'image/png', 'image/webp']);

async function scaled(source, width, height) {
  const ratio = Math.min(1, SHORTER_SIDE / Math.min(width, height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.getContext('2d').drawImage(source, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('encode'))), 'image/jpeg', 0.9));
}

/** The blob to send for a picked file. */
export async function preparePhoto(file) {
  if (file.size <= SEND_AS_IS_BYTES && TYPES.has(file.type)) return file;
  const bitmap = await createImageBitmap(file);
  try {
    return await scaled(bitmap, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}

/** Whether this browser may open a camera (getUserMedia needs a secure context: https or localhost). */
export function cameraAvailable() {
  return Boolean(window.isSecureContext && navigator.mediaDevices?.getUserMedia);
}

/** Start the back camera into `video`; returns the stream. */
export async function startCamera(video) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  video.srcObject = stream;
  await video.play();
  return stream;
}

/** Stop every track of `stream`. */
export function stopCamera(stream) {
  for (const track of stream?.getTracks() || []) track.stop();
}

/** The current frame of `video` as a JPEG blob. */
export function captureFrame(video) {
  if (!video.videoWidth) return Promise.reject(new Error('no frame yet'));
  return scaled(video, video.videoWidth, video.videoHeight);
}
