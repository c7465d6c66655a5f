// @ts-check
// host_worker.js: main.js's part of a blocking call, on another thread, for syncbridge tests.
//
// {type: "init", buffer} first; then each {type: "sync", seq, json, blob} the bridge posts is
// answered by its request's `answer` field: "echo" (the request and its data back), "big"
// (data too large for the buffer), or "none" (no answer, until {type: "late", seq}).
import { DATA_MAX, deliver } from "../../throwaway/sandbox/runtime/syncbridge.js";

/** @type {SharedArrayBuffer} */
let buffer;

self.onmessage = (/** @type {MessageEvent} */ event) => {
  const msg = event.data;
  if (msg.type === "init") {
    buffer = msg.buffer;
    self.postMessage({ type: "ready" });
  } else if (msg.type === "late") {
    deliver(buffer, msg.seq, JSON.stringify({ late: true }), null);
    self.postMessage({ type: "delivered" });
  } else if (msg.type === "sync") {
    const request = JSON.parse(msg.json);
    if (request.answer === "echo") deliver(buffer, msg.seq, msg.json, msg.blob);
    if (request.answer === "big") deliver(buffer, msg.seq, "{}", new Uint8Array(DATA_MAX + (5 << 20)));
  }
};
