// The bytes of a file transfer for both pages (docs/protocol.md section 9.2, "File transfer"):
// hashing a File while reading it in slices (the protocol module's incremental SHA-256, so a file
// of any size is never held whole), sending a File on a `file-ID` data channel in messages of
// FILE_CHUNK_BYTES with back-pressure on `bufferedAmount`, and receiving one into a Blob while
// hashing it, checking the announced size and SHA-256. The control messages (file_offer,
// file_accept, file_result, refused...) are the pages' business, not this module's.

/** One SCTP chunk, unfragmented: the protocol's FILE_CHUNK_BYTES. */
export const CHUNK = 1152;
/** The sender waits while this much is outstanding on the channel (protocol 9.2). */
const HIGH_WATER = 4 * 1024 * 1024;
/** ... and goes on once the channel has drained to this. */
const LOW_WATER = 1024 * 1024;
/** The digest message that ends a file channel when the offer had no `sha256`. */
const DIGEST_BYTES = 32;
/** A receiver hands what it received to a Blob every this many bytes. */
const BLOB_STEP = 16 * 1024 * 1024;
/** Files are read in slices of this size. */
const SLICE = 1024 * 1024;
/** Progress callbacks come at most this often. */
const PROGRESS_MS = 150;

/** A size in words: "812 bytes", "3.4 KiB", "18.0 MiB", "1.20 GiB". */
export function bytesText(n) {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

/** A throttled progress reporter: call it with bytes done; it calls `report(done)` now and then. */
function throttled(report) {
  let shown = 0;
  return (done, force = false) => {
    const now = Date.now();
    if (force || now - shown >= PROGRESS_MS) {
      shown = now;
      report?.(done);
    }
  };
}

/**
 * The lower-case hex SHA-256 of `file` (a File or Blob), read slice by slice.
 * @param {object} protocol the functions of js/protocol.js
 * @param {Blob} file
 * @param {(done:number) => void} [onProgress] bytes hashed so far
 * @param {() => boolean} [cancelled] stops early (throws) when it returns true
 */
export async function hashFile(protocol, file, onProgress, cancelled = () => false) {
  const hash = protocol.sha256();
  const progress = throttled(onProgress);
  try {
    for (let at = 0; at < file.size; at += SLICE) {
      if (cancelled()) throw new Error("cancelled");
      hash.update(await file.slice(at, Math.min(at + SLICE, file.size)).arrayBuffer());
      progress(Math.min(at + SLICE, file.size));
    }
  } catch (e) {
    try { hash.finish(); } catch { /* closed already */ }
    throw e;
  }
  progress(file.size, true);
  return hash.finish();
}

/**
 * Send `file` from byte `offset` on a new `file-ID` channel of `pc`. Resolves once every byte
 * is handed to the channel (the receiver's `file_result` says the rest); rejects with an Error
 * in words when the channel closes first or `live()` turns false (the transfer was stopped).
 * @returns {{ channel: RTCDataChannel, done: Promise<void> }}
 */
export function sendFile({ pc, id, file, offset = 0, onProgress, live = () => true }) {
  const channel = pc.createDataChannel(`file-${id}`, { ordered: true });
  channel.binaryType = "arraybuffer";
  channel.bufferedAmountLowThreshold = LOW_WATER;
  const done = (async () => {
    let closed = false;
    let wake = null;
    await new Promise((resolve, reject) => {
      channel.onopen = resolve;
      channel.onclose = () => reject(new Error("the connection closed before the transfer started"));
      channel.onerror = () => reject(new Error("the data channel failed"));
    });
    channel.onclose = () => { closed = true; wake?.(); };
    const progress = throttled(onProgress);
    const total = file.size;
    for (let at = offset; at < total; ) {
      const end = Math.min(at + SLICE, total);
      const slice = new Uint8Array(await file.slice(at, end).arrayBuffer());
      for (let i = 0; i < slice.length; i += CHUNK) {
        if (channel.bufferedAmount > HIGH_WATER) {
          await new Promise((resolve) => { wake = resolve; channel.onbufferedamountlow = resolve; });
          channel.onbufferedamountlow = null;
          wake = null;
        }
        if (!live()) throw new Error("the transfer was stopped");
        if (closed || channel.readyState !== "open") throw new Error("the connection was lost");
        channel.send(slice.subarray(i, Math.min(i + CHUNK, slice.length)));
        progress(at + Math.min(i + CHUNK, slice.length));
      }
      at = end;
    }
    progress(total, true);
  })();
  return { channel, done };
}

/** Listeners for incoming `file-ID` channels, per connection: label → resolve. */
const awaited = new WeakMap();

/**
 * The data channel labelled `file-ID` that the sender will open on `pc`. Call it before
 * sending `file_accept`, so the channel can't arrive unseen. Resolves with the channel; rejects
 * after `timeoutMs` without it.
 */
export function incomingChannel(pc, id, timeoutMs = 60000) {
  let waiting = awaited.get(pc);
  if (!waiting) {
    waiting = new Map();
    awaited.set(pc, waiting);
    // The shared mesh handles the control channel through `ondatachannel`; this listener sits
    // beside it and takes only the file channels asked for.
    pc.addEventListener("datachannel", (e) => {
      const take = waiting.get(e.channel.label);
      if (!take) return;
      waiting.delete(e.channel.label);
      take(e.channel);
    });
  }
  const label = `file-${id}`;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(label);
      reject(new Error("the sender did not start sending"));
    }, timeoutMs);
    waiting.set(label, (channel) => { clearTimeout(timer); resolve(channel); });
  });
}

/**
 * Receive `size` bytes announced with `sha256` on `channel` into a Blob, hashing them on the
 * way. Resolves { ok: true, blob, sha256 } when all arrived and the SHA-256 matched, { ok: false,
 * reason } when it did not or more bytes came than announced; rejects when the channel closes
 * first or `live()` turns false.
 * @param {object} o
 * @param {object} o.protocol the functions of js/protocol.js
 * @param {RTCDataChannel} o.channel
 * @param {number} o.size
 * @param {string} o.sha256
 * @param {string} [o.type] the Blob's MIME type
 * @param {(done:number) => void} [o.onProgress]
 * @param {() => boolean} [o.live]
 */
export function receiveFile({ protocol, channel, size, sha256, type = "application/octet-stream", onProgress, live = () => true }) {
  channel.binaryType = "arraybuffer";
  const progress = throttled(onProgress);
  return new Promise((resolve, reject) => {
    const hash = protocol.sha256();
    // Received bytes are gathered into Blobs of BLOB_STEP bytes, which the browser may keep
    // outside the page's memory (on disk for large ones).
    const blobs = [];
    let parts = [];
    let pending = 0;
    let received = 0;
    let over = false;
    const end = (value, error) => {
      if (over) return;
      over = true;
      clearInterval(watch);
      channel.onmessage = null;
      channel.onclose = null;
      try { channel.close(); } catch { /* closed */ }
      let digest = "";
      try { digest = hash.finish(); } catch { /* closed */ }
      if (error) { reject(error); return; }
      if (!value.ok) { resolve(value); return; }
      if (digest !== sha256.toLowerCase()) {
        resolve({ ok: false, reason: "the SHA-256 of the bytes received does not match the one announced" });
        return;
      }
      resolve({ ok: true, blob: new Blob([...blobs, ...parts], { type }), sha256: digest });
    };
    const watch = setInterval(() => { if (!live()) end(null, new Error("the transfer was stopped")); }, 250);
    // An offer without `sha256`: the sender hashed while sending, and the 32-byte digest
    // follows the file's bytes as one last message (protocol 9.2, `file_offer`).
    const trailing = !sha256 && size > 0;
    channel.onmessage = (e) => {
      if (over) return;
      if (!live()) { end(null, new Error("the transfer was stopped")); return; }
      const bytes = typeof e.data === "string" ? new TextEncoder().encode(e.data) : new Uint8Array(e.data);
      if (trailing && received === size) {
        if (bytes.length !== DIGEST_BYTES) {
          end({ ok: false, reason: `more bytes arrived than the ${size} announced` });
          return;
        }
        sha256 = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
        end({ ok: true });
        return;
      }
      received += bytes.length;
      if (received > size) {
        end({ ok: false, reason: `more bytes arrived than the ${size} announced` });
        return;
      }
      hash.update(bytes);
      parts.push(bytes);
      pending += bytes.length;
      if (pending >= BLOB_STEP) {
        blobs.push(new Blob(parts));
        parts = [];
        pending = 0;
      }
      progress(received);
      if (received === size) {
        progress(size, true);
        if (!trailing) end({ ok: true });
      }
    };
    channel.onclose = () => end(null, new Error("the connection was lost before every byte arrived"));
    if (size === 0) {
      // Nothing to wait for: an empty file is complete as soon as the channel is there.
      if (channel.readyState === "open") end({ ok: true });
      else channel.onopen = () => end({ ok: true });
    }
  });
}

/** An <a download> for `blob` saved as `name`; the object URL lives as long as the page. */
export function saveLink(blob, name, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.className = "file-save";
  a.textContent = text;
  return a;
}
