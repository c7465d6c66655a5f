// main.js: the Deno main thread. Relays between the host (stdio frames) and the
// Pyodide worker, and enforces the time limit from outside the worker.
//
// Frames (see throwaway/sandbox/protocol.py, which owns the format):
//   host -> here   [u32 json_len][u32 blob_len][json][blob]   (first: a 16-byte tag, then init)
//   here -> host   [16-byte tag][u32 json_len][u32 blob_len][json][blob]
// The tag is known only to this thread and the host, never to the worker, so
// bytes that sandboxed code writes to stdout cannot pass for a frame.
//
// Time limit: when a run starts, a timer is armed; at the limit the interrupt
// buffer gets SIGINT (2). If the worker has not answered after a grace period,
// or the interpreter dies, the pending requests are answered ("restarted": true)
// and this process exits: worker.terminate() cannot stop wasm stuck in a C call,
// so only a new process frees the CPU and memory. The host starts a new one.

import { BUFFER_SIZE, deliver } from "./syncbridge.js";

const GRACE_MS = 800; // time.sleep loops take ~150 ms to see an interrupt; allow for load
const encoder = new TextEncoder();
const decoder = new TextDecoder();

class StdinReader {
  #reader = Deno.stdin.readable.getReader();
  #chunks = [];
  #size = 0;

  async read(n) {
    while (this.#size < n) {
      const { value, done } = await this.#reader.read();
      if (done) return null;
      this.#chunks.push(value);
      this.#size += value.length;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0];
      const take = Math.min(chunk.length, n - filled);
      out.set(chunk.subarray(0, take), filled);
      filled += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    this.#size -= n;
    return out;
  }

  async frame() {
    const header = await this.read(8);
    if (!header) return null;
    const view = new DataView(header.buffer);
    const json = await this.read(view.getUint32(0));
    const blob = await this.read(view.getUint32(4));
    return { msg: JSON.parse(decoder.decode(json)), blob: blob.length ? blob : null };
  }
}

const stdin = new StdinReader();
const tag = await stdin.read(16);
const init = (await stdin.frame()).msg;

function send(msg, blob) {
  const json = encoder.encode(JSON.stringify(msg));
  const head = new Uint8Array(24 + json.length);
  head.set(tag, 0);
  const view = new DataView(head.buffer);
  view.setUint32(16, json.length);
  view.setUint32(20, blob?.length ?? 0);
  head.set(json, 24);
  writeAll(head);
  if (blob?.length) writeAll(blob); // no copy of big blobs into one frame
}

function writeAll(bytes) {
  for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
}

// ---- the worker -----------------------------------------------------------

const interruptBuffer = new SharedArrayBuffer(1);
const syncBuffer = new SharedArrayBuffer(BUFFER_SIZE); // replies to blocking calls (syncbridge.js)
const interrupt = new Uint8Array(interruptBuffer);
const outputBuffer = new SharedArrayBuffer(4); // characters of run output sent (worker.js)
const outputAck = new Int32Array(outputBuffer);
let worker = null;
let ready = false;
let waiting = []; // host requests held until the worker is ready
let inflight = new Map(); // id -> {type, timeoutMs, timer, kill, fired}: requests the worker holds

function startWorker() {
  ready = false;
  worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  worker.onmessage = (event) => onWorkerMessage(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    restart(`the interpreter crashed: ${event.message}`);
  };
  const buffers = { interruptBuffer, syncBuffer, outputBuffer };
  worker.postMessage({ type: "init", config: { ...init.config, ...buffers } });
}

function restart(reason, error = { type: "SandboxCrashed", message: reason }) {
  flushOutput();
  for (const [id, req] of inflight) {
    send({ id, restarted: true, timedOut: req.fired === true, error });
  }
  Deno.exit(3);
}

function onWorkerMessage(msg) {
  if (typeof msg !== "object" || msg === null) return;
  const req = inflight.get(msg.id);
  if (msg.type === "ready" && !ready) {
    ready = true;
    send({ event: "ready" });
    for (const frame of waiting) forward(frame);
    waiting = [];
  } else if (msg.type === "failed" && !ready) {
    Deno.exit(3); // the worker wrote why to stderr, which the host keeps
  } else if (msg.type === "codecache" && init.config.makeSnapshot) {
    send({ event: "codecache" }, msg.blob);
  } else if (msg.type === "snapshot" && init.config.makeSnapshot) {
    send({ event: "snapshot" }, msg.blob);
  } else if (msg.type === "started" && req?.type === "run" && !req.timer) {
    req.timer = setTimeout(() => onTimeout(req), req.timeoutMs);
    // the host's own deadline only matters for long runs: tell it, but not for quick ones
    req.notify = setTimeout(() => send({ event: "started", id: msg.id }), 20);
  } else if (msg.type === "done" && req) {
    clearTimeout(req.timer);
    clearTimeout(req.kill);
    clearTimeout(req.notify);
    flushOutput();
    inflight.delete(msg.id);
    const json = typeof msg.json === "string" ? msg.json : "{}";
    send({ id: msg.id, json, timedOut: req.fired === true },
      msg.blob instanceof Uint8Array ? msg.blob : null);
  } else if (msg.type === "output" && req?.stream && typeof msg.text === "string") {
    queueOutput(msg.id, msg.stream === "stderr" ? "stderr" : "stdout", msg.text);
  } else if (msg.type === "sync" && Number.isInteger(msg.seq)) {
    send({ event: "sync", seq: msg.seq, json: String(msg.json) },
      msg.blob instanceof Uint8Array ? msg.blob : null);
  } else if (msg.type === "call" && Number.isInteger(msg.callId)) {
    send({ event: "call", callId: msg.callId, op: String(msg.op), json: String(msg.json) },
      msg.blob instanceof Uint8Array ? msg.blob : null);
  }
}

// Output of streamed runs, a line at a time from the worker, goes to the host in
// batches: at most OUTPUT_DELAY_MS late, OUTPUT_BATCH characters at once, and all of it
// before the run's reply. The worker waits once too much is unsent (back-pressure).
const OUTPUT_DELAY_MS = 10;
const OUTPUT_BATCH = 1 << 16;
let output = []; // [{id, stream, text}], consecutive text of one stream joined
let outputChars = 0;
let outputTimer = null;

function queueOutput(id, stream, text) {
  const last = output.at(-1);
  if (last?.id === id && last.stream === stream) last.text += text;
  else output.push({ id, stream, text });
  outputChars += text.length;
  if (outputChars >= OUTPUT_BATCH) flushOutput();
  else outputTimer ??= setTimeout(flushOutput, OUTPUT_DELAY_MS);
}

function flushOutput() {
  clearTimeout(outputTimer);
  outputTimer = null;
  for (const { id, stream, text } of output) send({ event: "output", id, stream, text });
  Atomics.add(outputAck, 0, outputChars);
  Atomics.notify(outputAck, 0);
  output = [];
  outputChars = 0;
}

function onTimeout(req) {
  req.fired = true;
  interrupt[0] = 2;
  req.kill = setTimeout(() => {
    const message = `the code did not stop within ${GRACE_MS} ms of the time limit; ` +
      "the interpreter was restarted";
    restart("stopped after a timeout", { type: "TimeoutError", message });
  }, GRACE_MS);
}

function forward({ msg, blob }) {
  interrupt[0] = 0;
  inflight.set(msg.id, { type: msg.type, timeoutMs: msg.timeoutMs, stream: msg.stream === true });
  worker.postMessage({ ...msg, blob: blob ?? null });
}

// ---- the host -------------------------------------------------------------

startWorker();
for (;;) {
  const frame = await stdin.frame();
  if (!frame || frame.msg.type === "shutdown") break;
  if (frame.msg.type === "syncreply") {
    deliver(syncBuffer, frame.msg.seq, frame.msg.json, frame.blob);
  } else if (frame.msg.type === "reply") {
    worker.postMessage({ type: "reply", callId: frame.msg.callId, json: frame.msg.json, blob: frame.blob });
  } else if (ready) {
    forward(frame);
  } else {
    waiting.push(frame);
  }
}
worker.terminate();
Deno.exit(0);
