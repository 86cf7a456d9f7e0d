// The tether protocol for the browser pages: loads web/wasm/tether_protocol.wasm (the protocol
// crate compiled to wasm32 through shim/, built by scripts/build-wasm.sh) and wraps its exports
// as JSON-in, JSON-out functions. Every message the pages encode or decode and every rule they
// pre-check goes through here, so the browser runs the protocol crate's own code, never a second
// implementation in JavaScript. An ES module: no bundler, no npm.
//
//   import { loadProtocol } from "/js/protocol.js";
//   const protocol = await loadProtocol();
//   const r = protocol.checkClient({ type: "start_activity", activity: "view_desktop" });
//   if (r.error) show(r.error); else socket.send(JSON.stringify(r.ok));
//
// Every function returns the module's answer: { ok: value } or { error: "a sentence",
// code: "a_code", ... } (a RuleViolation's fields, `request` for a refused client message).
// `unwrap(answer)` returns the value or throws a ProtocolError.

const MODULE_URL = new URL("../wasm/tether_protocol.wasm", import.meta.url);

/** An { error, code, ... } answer, thrown by `unwrap`. */
export class ProtocolError extends Error {
  constructor(answer) {
    super(answer.error);
    this.name = "ProtocolError";
    this.code = answer.code;
    this.answer = answer;
  }
}

/** The value of an { ok } answer; throws a ProtocolError for an { error } answer. */
export function unwrap(answer) {
  if ("ok" in answer) return answer.ok;
  throw new ProtocolError(answer);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Load the module (once per page is enough) and return the protocol's functions.
 * @param {string|URL} url where the .wasm is served; by default next to this file's folder.
 */
export async function loadProtocol(url = MODULE_URL) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`loading ${url}: HTTP ${response.status}`);
  // instantiate (not instantiateStreaming): works whatever Content-Type the server sends.
  const { instance } = await WebAssembly.instantiate(await response.arrayBuffer(), {});
  return wrap(instance.exports);
}

/** The protocol's functions over an instantiated module's exports. */
export function wrap(exports) {
  const { memory, alloc, dealloc } = exports;

  // One call: the input text into the module's memory, the length-prefixed JSON answer out.
  function call(name, text) {
    const input = encoder.encode(text);
    const ptr = alloc(input.length);
    let out;
    try {
      // memory.buffer must be read after alloc: growing the memory replaces the buffer.
      new Uint8Array(memory.buffer, ptr, input.length).set(input);
      out = exports[name](ptr, input.length);
    } finally {
      dealloc(ptr, input.length);
    }
    const length = new DataView(memory.buffer).getUint32(out, true);
    const json = decoder.decode(new Uint8Array(memory.buffer, out + 4, length));
    dealloc(out, 4 + length);
    return JSON.parse(json);
  }
  const json = (name) => (value) => call(name, JSON.stringify(value));
  const text = (name) => (value) => call(name, typeof value === "string" ? value : JSON.stringify(value));

  return {
    /** Version, limits, channel name, message types, activities and capabilities. */
    info: () => call("protocol_info", "null"),
    /**
     * A message for the service (object or frame text), checked as the service checks it.
     * ok: the message as the service reads it; send JSON.stringify(ok).
     */
    checkClient: text("check_client"),
    /** The text of a WebSocket frame from the service. ok: the message, normalised. */
    decodeServer: text("decode_server"),
    /**
     * The text received from peer on the control channel, checked as the protocol's receiver
     * does (`me`: this participant's id). ok: the message.
     */
    decodePeer: (me, received) => call("decode_peer", JSON.stringify({ me, text: received })),
    /** A peer message object. ok: the text to send on the control channel. */
    encodePeer: json("encode_peer"),
    /** A remote-control input event object. ok: the event, normalised. */
    validateInput: json("validate_input"),
    /** A file name (string) that must stay in the chosen folder. ok: the name. */
    checkFileName: json("check_file_name"),
    /** A chat line's text. ok: the text to send (trimmed). */
    checkChatText: json("check_chat_text"),
    /** ok: the ids a chat from `me` to `to` (empty: everyone) goes to, among `present`. */
    chatRecipients: (present, me, to = []) => call("chat_recipients", JSON.stringify({ present, me, to })),
    /** A short code as typed. ok: { session_number, secret, code: "1234-56789" }. */
    parseShortCode: json("parse_short_code"),
    /**
     * Would the service accept `command` from `known.me` now? `known`: { roster, me, policy?,
     * relinquished?, departed? } (see shim/src/rules.rs). ok: { events, roster, relinquished }
     * after the command; error: the rule it breaks.
     */
    checkCommand: (known, command, now = Date.now()) =>
      call("check_command", JSON.stringify({ ...known, command, now })),
    /**
     * Which activities `known.me` may start now: a list of { activity, allowed, error?, code? }.
     */
    startableActivities: json("startable_activities"),
    /**
     * An incremental SHA-256 (no JSON): `const h = protocol.sha256(); h.update(bytes); ...;
     * const hex = h.finish();` (`bytes`: a Uint8Array or ArrayBuffer). Throws a ProtocolError
     * when too many hashes are open or the hash was finished already.
     */
    sha256: () => sha256(exports),
  };
}

/** One incremental SHA-256 over the module's `sha256_begin/update/finish` exports. */
function sha256(exports) {
  const { memory, alloc, dealloc } = exports;
  const handle = exports["sha256_begin"]();
  if (handle === 0) throw new ProtocolError({ error: "too many SHA-256 hashes are open", code: "too_large" });
  let open = true;
  return {
    update(bytes) {
      const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
      const ptr = alloc(view.length);
      try {
        new Uint8Array(memory.buffer, ptr, view.length).set(view);
        if (!open || exports["sha256_update"](handle, ptr, view.length) !== 1) {
          throw new ProtocolError({ error: "this SHA-256 hash is finished already", code: "bad_input" });
        }
      } finally {
        dealloc(ptr, view.length);
      }
    },
    /** The lower-case hex digest of every byte given; the hash is closed. */
    finish() {
      open = false;
      const out = exports["sha256_finish"](handle);
      const length = new DataView(memory.buffer).getUint32(out, true);
      const json = decoder.decode(new Uint8Array(memory.buffer, out + 4, length));
      dealloc(out, 4 + length);
      return unwrap(JSON.parse(json));
    },
  };
}

/** The module's export names each function above calls, for tests. */
export const CALLS = [
  "protocol_info",
  "check_client",
  "decode_server",
  "decode_peer",
  "encode_peer",
  "validate_input",
  "check_file_name",
  "check_chat_text",
  "chat_recipients",
  "parse_short_code",
  "check_command",
  "startable_activities",
];

/** The module's raw exports `sha256()` calls, for tests. */
export const HASH_CALLS = ["sha256_begin", "sha256_update", "sha256_finish"];
