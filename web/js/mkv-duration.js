// Gives a Matroska file from the browser's MediaRecorder its length: MediaRecorder writes a live
// stream whose Segment Info has no Duration, so players can't show the length or seek. This adds
// a Duration element to the Info (and grows the sizes that hold it); a file it can't patch
// safely (no Info in the first 64 KiB, a SeekHead whose offsets would move, a Duration already
// there) comes back unchanged.

const EBML = 0x1a45dfa3, SEGMENT = 0x18538067, SEEK_HEAD = 0x114d9b74, INFO = 0x1549a966;
const DURATION = 0x4489, TIMECODE_SCALE = 0x2ad7b1;
const HEAD_BYTES = 64 * 1024;

/** An element ID at `p`: { value, len } (the marker bits are part of an ID), or null. */
function readId(b, p) {
  const first = b[p];
  if (first === undefined) return null;
  const len = first >= 0x80 ? 1 : first >= 0x40 ? 2 : first >= 0x20 ? 3 : first >= 0x10 ? 4 : 0;
  if (!len || p + len > b.length) return null;
  let value = 0;
  for (let i = 0; i < len; i++) value = value * 256 + b[p + i];
  return { value, len };
}

/** An element size at `p`: { value, len, unknown }, or null. */
function readSize(b, p) {
  const first = b[p];
  if (first === undefined || first === 0) return null;
  let len = 1;
  while (!(first & (0x80 >> (len - 1)))) len++;
  if (p + len > b.length) return null;
  let value = first & (0xff >> len);
  let ones = value === (0xff >> len);
  for (let i = 1; i < len; i++) {
    value = value * 256 + b[p + i];
    ones = ones && b[p + i] === 0xff;
  }
  return { value, len, unknown: ones };
}

/** Write `value` as a size of exactly `len` bytes at `p`; false when it does not fit. */
function writeSize(b, p, len, value) {
  if (value >= 2 ** (7 * len) - 1) return false;
  let v = value;
  for (let i = len - 1; i >= 0; i--) {
    b[p + i] = v % 256;
    v = Math.floor(v / 256);
  }
  b[p] |= 0x80 >> (len - 1);
  return true;
}

function readUint(b, p, len) {
  let v = 0;
  for (let i = 0; i < len; i++) v = v * 256 + b[p + i];
  return v;
}

/** `blob` with a Segment Info Duration of `ms` milliseconds, or `blob` itself. */
export async function withDuration(blob, ms) {
  if (!(ms > 0)) return blob;
  const b = new Uint8Array(await blob.slice(0, Math.min(blob.size, HEAD_BYTES)).arrayBuffer());
  const ebml = readId(b, 0);
  const ebmlSize = ebml && readSize(b, ebml.len);
  if (!ebml || ebml.value !== EBML || !ebmlSize || ebmlSize.unknown) return blob;
  const segAt = ebml.len + ebmlSize.len + ebmlSize.value;
  const seg = readId(b, segAt);
  const segSize = seg && readSize(b, segAt + seg.len);
  if (!seg || seg.value !== SEGMENT || !segSize) return blob;
  let p = segAt + seg.len + segSize.len;
  while (p < b.length) {
    const id = readId(b, p);
    const size = id && readSize(b, p + id.len);
    if (!id || !size || size.unknown || id.value === SEEK_HEAD) return blob;
    const start = p + id.len + size.len, end = start + size.value;
    if (id.value !== INFO) { p = end; continue; }
    if (end > b.length) return blob;
    let scale = 1e6;
    for (let q = start; q < end;) {
      const cid = readId(b, q);
      const cs = cid && readSize(b, q + cid.len);
      if (!cid || !cs || cs.unknown) return blob;
      const data = q + cid.len + cs.len;
      if (cid.value === DURATION) return blob;
      if (cid.value === TIMECODE_SCALE) scale = readUint(b, data, cs.value) || 1e6;
      q = data + cs.value;
    }
    const duration = new Uint8Array(11);
    duration.set([0x44, 0x89, 0x88]);
    new DataView(duration.buffer).setFloat64(3, (ms * 1e6) / scale);
    const head = b.slice(0, end);
    if (!writeSize(head, p + id.len, size.len, size.value + duration.length)) return blob;
    if (!segSize.unknown && !writeSize(head, segAt + seg.len, segSize.len, segSize.value + duration.length)) return blob;
    return new Blob([head, duration, blob.slice(end)], { type: blob.type });
  }
  return blob;
}
