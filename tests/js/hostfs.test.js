// @ts-check
// hostfs.js: /mnt as Pyodide's real emscripten FS sees it, over a host that keeps files in a Map.
import assert from "node:assert/strict";
// @ts-types="../../build/pyodide/pyodide.d.ts"
import { loadPyodide } from "../../build/pyodide/pyodide.mjs";
import { createHostFS } from "../../throwaway/sandbox/runtime/hostfs.js";
import { BridgeError } from "../../throwaway/sandbox/runtime/syncbridge.js";

/** @typedef {import("../../throwaway/sandbox/runtime/emscripten.d.ts").Pyodide} Pyodide */

const indexURL = new URL("../../build/pyodide/", import.meta.url).pathname;
const pyodide = /** @type {Pyodide} */ (/** @type {unknown} */ (await loadPyodide({ indexURL })));
const { FS } = pyodide;
const ERRNO = pyodide._module.ERRNO_CODES;
const encoder = new TextEncoder();

/**
 * A host in the wire format of throwaway/vfs/table.py, for the few operations these tests
 * make. `files` maps a path in the mount to its bytes; `failures` a path (or "op path") to
 * an errno name, an exception the bridge throws, or a reply to give as it is; `ops`
 * records every request's op.
 */
class MapHost {
  /**
   * @param {Record<string, string>} files
   * @param {Record<string, string | Error | object>} failures
   */
  constructor(files, failures = {}) {
    /** @type {Map<string, Uint8Array>} */
    this.files = new Map(Object.entries(files).map(([p, text]) => [p, encoder.encode(text)]));
    this.failures = failures;
    /** @type {string[]} */
    this.ops = [];
  }

  /** @type {import("../../throwaway/sandbox/runtime/syncbridge.js").Bridge} */
  bridge = (request, data) => {
    const { op, path, prefetch, offset, size } = /** @type {any} */ (request);
    this.ops.push(op);
    const failure = this.failures[`${op} ${path}`] ?? this.failures[path];
    if (failure instanceof Error) throw failure;
    if (typeof failure === "string") return { reply: { errno: failure }, data: new Uint8Array() };
    if (failure) return { reply: failure, data: new Uint8Array() };
    const file = this.files.get(path);
    const stat = { dir: path === "", size: file?.length ?? 0, mtime: 0, mode: 0o644 };
    const none = new Uint8Array();
    if (!file && path !== "" && op !== "create") return { reply: { errno: "ENOENT" }, data: none };
    if (op === "stat") return { reply: { ok: true, stat }, data: none };
    if (op === "open") return { reply: { ok: true, stat }, data: file?.slice(0, prefetch) ?? none };
    if (op === "read") return { reply: { ok: true }, data: file?.slice(offset, offset + size) ?? none };
    if (op === "create") this.files.set(path, new Uint8Array());
    if (op === "write") this.files.set(path, (data ?? none).slice());
    if (op === "list") return { reply: { ok: true, names: [...this.files.keys()], entries: [] }, data: none };
    return { reply: { ok: true, stat }, data: none };
  };
}

/** @param {MapHost} host @param {string} name @param {boolean} [writable] */
function mount(host, name, writable = true) {
  const hostfs = createHostFS(FS, ERRNO, { bridge: host.bridge, timeoutMs: 1000, module: pyodide._module });
  FS.mkdirTree(`/mnt/${name}`);
  FS.mount(hostfs, { name, writable }, `/mnt/${name}`);
  return hostfs;
}

/** @param {() => unknown} fn @param {string} name the errno name expected */
function throwsErrno(fn, name) {
  assert.throws(fn, (err) => err instanceof FS.ErrnoError && err.errno === ERRNO[name]);
}

Deno.test("a small file comes with its open reply: no read request", () => {
  const host = new MapHost({ "a.txt": "hello" });
  mount(host, "small");
  assert.equal(new TextDecoder().decode(FS.readFile("/mnt/small/a.txt")), "hello");
  assert.equal(host.ops.filter((op) => op === "open").length, 1);
  assert.deepEqual(host.ops.filter((op) => op === "read"), []);
  assert.deepEqual(FS.readdir("/mnt/small"), [".", "..", "a.txt"]);
});

Deno.test("what a stream writes reaches the host whole, when it is closed", () => {
  const host = new MapHost({});
  mount(host, "out");
  const stream = FS.open("/mnt/out/new.txt", "w");
  FS.write(stream, encoder.encode("some data"), 0, 9);
  assert.equal(host.files.get("new.txt")?.length, 0); // created, not written yet
  FS.close(stream);
  assert.equal(new TextDecoder().decode(host.files.get("new.txt")), "some data");
});

Deno.test("a lookup the host refuses fails with its errno when used, not as ENOENT", () => {
  const host = new MapHost({ secret: "x" }, { "stat secret": "EACCES" });
  mount(host, "refusing");
  throwsErrno(() => FS.readFile("/mnt/refusing/secret"), "EACCES");
  throwsErrno(() => FS.readFile("/mnt/refusing/missing"), "ENOENT");
});

Deno.test("a bridge that times out gives ETIMEDOUT; anything unexpected gives EIO", () => {
  const host = new MapHost({ slow: "x", odd: "x" }, {
    slow: new BridgeError("ETIMEDOUT"),
    "open odd": { ok: true }, // no stat: reading it fails inside a hook
  });
  mount(host, "failing");
  throwsErrno(() => FS.readFile("/mnt/failing/slow"), "ETIMEDOUT");
  throwsErrno(() => FS.readFile("/mnt/failing/odd"), "EIO"); // Pyodide lives on
  assert.equal(pyodide.runPython("6 * 7"), 42);
});

Deno.test("a read-only mount shows no write permission", () => {
  mount(new MapHost({ "r.txt": "r" }), "ro", false);
  assert.equal(FS.stat("/mnt/ro/r.txt").mode & 0o222, 0);
  assert.notEqual(FS.stat("/mnt/ro/r.txt").mode & 0o444, 0);
});
