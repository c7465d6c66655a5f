// @ts-check
// syncbridge.js: blocking calls from the Pyodide worker to the host.
//
// Python code in the worker cannot await (a file read is a plain C call), so
// the worker posts {type:"sync", seq, json, blob} to Deno's main thread and
// blocks in Atomics.wait on a SharedArrayBuffer; main.js relays the request to
// the host and writes the reply into the buffer with deliver(). Used by
// hostfs.js (the /mnt file systems) and by host functions called from Python.
// Layout of the buffer:
//   Int32 [0] state (0 idle, 1 waiting, 2 answered)  [1] seq of the request
//   Int32 [2] JSON length  [3] data length
//   bytes from 64: the reply's JSON, then its data (together at most PAYLOAD_MAX)

export const DATA_MAX = 8 << 20; // the most a read asks for at once
const PAYLOAD_MAX = DATA_MAX + (4 << 20); // room for the JSON beside a full read
export const BUFFER_SIZE = 64 + PAYLOAD_MAX;
const SLICE_MS = 50; // how often a blocked call checks for the time-limit interrupt

export class BridgeError extends Error {
  /** @param {"EINTR" | "ETIMEDOUT"} code */
  constructor(code) {
    super(code);
    this.code = code; // "EINTR" (time limit reached) or "ETIMEDOUT"
  }
}

/**
 * A blocking call to the host: the request (made JSON), data beside it, and how long to
 * wait. Returns the host's reply and its data; throws BridgeError.
 * @typedef {(request: object, data: Uint8Array | null, timeoutMs: number) =>
 *   {reply: any, data: Uint8Array}} Bridge
 */
/**
 * What the worker posts to main.js for each call.
 * @typedef {{type: "sync", seq: number, json: string, blob: Uint8Array | null}} SyncMessage
 */

/**
 * @param {{buffer: SharedArrayBuffer, interrupt: Uint8Array,
 *   post: (msg: SyncMessage) => void}} options
 * @returns {Bridge}
 */
export function createSyncBridge({ buffer, interrupt, post }) {
  const ctl = new Int32Array(buffer, 0, 16);
  const bytes = new Uint8Array(buffer);
  const decoder = new TextDecoder();
  let seq = 0;

  /** @param {"EINTR" | "ETIMEDOUT"} code @returns {never} */
  function abandon(code) {
    Atomics.store(ctl, 1, 0); // a late answer no longer matches any request
    Atomics.store(ctl, 0, 0);
    throw new BridgeError(code);
  }

  return function call(request, data, timeoutMs) {
    seq = (seq + 1) | 0;
    Atomics.store(ctl, 1, seq);
    Atomics.store(ctl, 0, 1);
    post({ type: "sync", seq, json: JSON.stringify(request), blob: data ?? null });
    const deadline = performance.now() + timeoutMs;
    while (Atomics.wait(ctl, 0, 1, SLICE_MS) === "timed-out") {
      if (interrupt[0] !== 0) return abandon("EINTR");
      if (performance.now() > deadline) return abandon("ETIMEDOUT");
    }
    const dataAt = 64 + ctl[2];
    const reply = JSON.parse(decoder.decode(bytes.slice(64, dataAt)));
    const out = bytes.slice(dataAt, dataAt + ctl[3]);
    Atomics.store(ctl, 0, 0);
    return { reply, data: out };
  };
}

/**
 * Used by main.js: put a host reply into the shared buffer and wake the worker.
 * @param {SharedArrayBuffer} buffer
 * @param {number} seq the request's number; a reply to an abandoned request is dropped
 * @param {string} json
 * @param {Uint8Array | null} data
 */
export function deliver(buffer, seq, json, data) {
  const ctl = new Int32Array(buffer, 0, 16);
  if (Atomics.load(ctl, 0) !== 1 || Atomics.load(ctl, 1) !== seq) return; // abandoned
  const bytes = new Uint8Array(buffer);
  let text = new TextEncoder().encode(json);
  let body = data ?? new Uint8Array();
  if (text.length + body.length > PAYLOAD_MAX) {
    text = new TextEncoder().encode('{"errno":"EFBIG"}');
    body = new Uint8Array();
  }
  bytes.set(text, 64);
  bytes.set(body, 64 + text.length);
  Atomics.store(ctl, 2, text.length);
  Atomics.store(ctl, 3, body.length);
  Atomics.store(ctl, 0, 2);
  Atomics.notify(ctl, 0);
}
