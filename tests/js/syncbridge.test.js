// @ts-check
// syncbridge.js: a blocking call from one thread, answered from another through the buffer.
import assert from "node:assert/strict";
import { BridgeError, BUFFER_SIZE, createSyncBridge } from "../../throwaway/sandbox/runtime/syncbridge.js";

/**
 * The next message of `type` from a worker.
 * @param {Worker} worker @param {string} type
 */
function next(worker, type) {
  return new Promise((resolve) => {
    worker.addEventListener("message", function on(event) {
      if (event.data.type !== type) return;
      worker.removeEventListener("message", on);
      resolve(event.data);
    });
  });
}

/** A bridge whose host (main.js's part) is host_worker.js on its own thread. */
async function bridgeWithHost() {
  const buffer = new SharedArrayBuffer(BUFFER_SIZE);
  const interrupt = new Uint8Array(new SharedArrayBuffer(1));
  const host = new Worker(new URL("./host_worker.js", import.meta.url), { type: "module" });
  const ready = next(host, "ready");
  host.postMessage({ type: "init", buffer });
  await ready;
  /** @type {number[]} */
  const seqs = [];
  const call = createSyncBridge({
    buffer, interrupt, post: (msg) => (seqs.push(msg.seq), host.postMessage(msg)),
  });
  return { call, host, interrupt, buffer, seqs };
}

/** @param {() => unknown} fn @param {string} code */
function throwsBridgeError(fn, code) {
  assert.throws(fn, (err) => err instanceof BridgeError && err.code === code);
}

Deno.test("a call blocks until the host's reply and data arrive", async () => {
  const { call, host } = await bridgeWithHost();
  try {
    const first = call({ answer: "echo", n: 1 }, new Uint8Array([1, 2, 3]), 10_000);
    assert.deepEqual(first.reply, { answer: "echo", n: 1 });
    assert.deepEqual([...first.data], [1, 2, 3]);
    const second = call({ answer: "echo", n: 2 }, null, 10_000);
    assert.deepEqual(second.reply, { answer: "echo", n: 2 });
    assert.equal(second.data.length, 0);
  } finally {
    host.terminate();
  }
});

Deno.test("an unanswered call times out, and its late answer is dropped", async () => {
  const { call, host, buffer, seqs } = await bridgeWithHost();
  try {
    throwsBridgeError(() => call({ answer: "none" }, null, 100), "ETIMEDOUT");
    const delivered = next(host, "delivered");
    host.postMessage({ type: "late", seq: seqs.at(-1) });
    await delivered;
    assert.equal(new Int32Array(buffer)[0], 0); // still idle: nothing was written
    assert.deepEqual(call({ answer: "echo", n: 3 }, null, 10_000).reply, { answer: "echo", n: 3 });
  } finally {
    host.terminate();
  }
});

Deno.test("the time limit's interrupt ends a blocked call with EINTR", async () => {
  const { call, host, interrupt } = await bridgeWithHost();
  try {
    interrupt[0] = 2; // SIGINT, as main.js sets it at the limit
    throwsBridgeError(() => call({ answer: "none" }, null, 10_000), "EINTR");
  } finally {
    host.terminate();
  }
});

Deno.test("a reply too big for the buffer arrives as EFBIG, without its data", async () => {
  const { call, host } = await bridgeWithHost();
  try {
    const { reply, data } = call({ answer: "big" }, null, 10_000);
    assert.deepEqual(reply, { errno: "EFBIG" });
    assert.equal(data.length, 0);
  } finally {
    host.terminate();
  }
});
