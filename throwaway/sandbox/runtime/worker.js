// @ts-check
// worker.js: the Web Worker that runs Pyodide.
//
// Sandboxed code can reach everything in this file's realm (globalThis, Deno,
// postMessage), so main.js and the host treat every message from here as
// untrusted. This file only makes the honest path work:
//   main -> worker  {type:"init", config} | {type:"run"|"read_file"|..., id, ...}
//                   | {type:"reply", callId, json, blob}
//   worker -> main  {type:"ready"} | {type:"started", id}
//                   | {type:"done", id, json, blob} | {type:"call", callId, op, json}
//                   | {type:"output", id, stream, text}   (a run asked for with stream: true)
import { createRequire } from "node:module";
import vm from "node:vm";
import { loadPyodide } from "npm:pyodide@0.27.7";
import { createHostFS } from "./hostfs.js";
import { createSyncBridge } from "./syncbridge.js";
import {
  compileSideModules, makeSnapshot, readSnapshot, recordSideModules, restorePackages,
} from "./snapshot.js";

// Hygiene: stray console output must not land on the protocol's stdout.
for (const name of /** @type {const} */ (["log", "info", "debug", "warn"])) console[name] = console.error;

/** @typedef {import("./emscripten.d.ts").Pyodide} Pyodide */
/**
 * What main.js boots the worker with (process.py boot_config, plus the shared buffers).
 * @typedef {{memoryMb: number, indexURL: string, packageCacheDir: string,
 *   snapshotPath?: string, codeCache?: string, makeSnapshot?: MakeSnapshot,
 *   interruptBuffer: SharedArrayBuffer, syncBuffer: SharedArrayBuffer,
 *   outputBuffer: SharedArrayBuffer}} BootConfig
 */
/**
 * What a snapshot is made of (warmup.py ensure_snapshot).
 * @typedef {{packages: string[], imports: string, check: string, fontCache: string,
 *   modules: Record<string, string>}} MakeSnapshot
 */
/**
 * A session's set-up (sandbox.py _config).
 * @typedef {{files?: Record<string, string>, mounts: {name: string, writable: boolean}[],
 *   fsTimeoutMs: number, modules: Record<string, string>, outputLimit: number,
 *   memoryMb: number, importMap: Record<string, string>,
 *   wheels: Record<string, string>}} SessionConfig
 */
/**
 * A request from main.js (the host's, relayed); which fields it has depends on `type`.
 * @typedef {{type: string, id: number, config: SessionConfig, code: string, runNo?: number,
 *   stream?: boolean,
 *   path: string, size?: number, offset: number, blob: Uint8Array | null,
 *   json: string}} Request
 */
/** The runner module (runtime/runner.py) as JavaScript sees it. */
/** @typedef {Record<string, (...args: any[]) => any>} Runner */

const FONT_CACHE = "/lib/python3.12/site-packages/matplotlib/fontlist.json";
/** @type {Pyodide} */
let pyodide;
/** @type {Runner} */
let runner;
/** @type {import("./syncbridge.js").Bridge} */
let bridge;
/** @type {ReturnType<typeof createHostFS> | undefined} */
let hostfs; // the /mnt file systems, once mounted
/** @type {Uint8Array} */
let interrupt; // shared with main.js: the interrupt flag
/** @type {Int32Array} */
let outputAck; // shared with main.js: characters of output it sent
let outputSent = 0; // characters of output posted to main.js (wraps, as outputAck does)
const OUTPUT_WINDOW = 1 << 20; // characters of output posted that main.js has not sent yet
let queue = Promise.resolve();
/** @type {Map<number, (reply: {json: string, blob: Uint8Array | null}) => void>} */
const pendingCalls = new Map();
let nextCallId = 1;

self.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === "init") queue = queue.then(() => boot(msg.config)).catch(fail);
  else if (msg.type === "reply") settleCall(msg);
  else queue = queue.then(() => handle(msg));
};

/**
 * A boot that fails ends the worker; the host then starts from a plainer snapshot.
 * @param {any} err
 */
function fail(err) {
  console.error(`boot failed: ${err?.stack ?? err}`);
  self.postMessage({ type: "failed" });
}

// Every WebAssembly.Memory made from JavaScript gets a maximum of at most the cap:
// `WebAssembly.Memory`, `memory.constructor` and `WebAssembly.Memory.prototype.constructor`
// all lead here and cannot be reassigned. Memories declared inside a wasm module, and
// whatever else lives outside the wasm heap, are bounded by the host's RSS watchdog.
// Nested workers (a realm with its own, unclamped constructor) are not offered.
/** @param {number} megabytes */
function clampMemory(megabytes) {
  const Native = WebAssembly.Memory;
  const cap = Math.floor(megabytes * 16); // 64 KiB pages
  /** @param {WebAssembly.MemoryDescriptor} desc */
  function Memory(desc) {
    if (!new.target) throw new TypeError("WebAssembly.Memory must be called with new");
    const maximum = Math.min(desc?.maximum ?? cap, cap);
    return Reflect.construct(Native, [{ ...desc, maximum }], new.target);
  }
  /** @param {unknown} value */
  const fixed = (value) => ({ value, writable: false, configurable: false });
  Object.defineProperty(Memory, "prototype", fixed(Native.prototype));
  Object.defineProperty(Native.prototype, "constructor", fixed(Memory));
  Object.defineProperty(WebAssembly, "Memory", fixed(Memory));
  Object.defineProperty(globalThis, "Worker", fixed(undefined));
}

// Imported before a memory snapshot is taken: pure-Python stdlib (see PYODIDE-NOTES.md).
const WARMUP = `import ast, asyncio, collections, csv, dataclasses, datetime, decimal, email.parser, \
fractions, functools, importlib.metadata, io, itertools, json, math, os, pathlib, random, re, \
signal, statistics, sys, textwrap, traceback, typing, zipfile, pyodide.code, pyodide.ffi
from pyodide.code import find_imports
find_imports("import os")
exec(compile(ast.parse("x = 1"), "<code>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT), {})`;
// Run after every restore: what a snapshot must not share between sandboxes.
const AFTER_RESTORE = `import gc, random, sys
gc.enable()
random.seed()
if "numpy" in sys.modules:
    sys.modules["numpy"].random.seed()`;

// Boot: the interpreter alone (from a snapshot when there is one). The session's
// own set-up (mounts, modules, limits) comes later with "configure", so a booted
// process can wait in a pool until a session takes it.
/** @param {BootConfig} config */
async function boot(config) {
  clampMemory(config.memoryMb);
  const script = runPyodideScript(config.indexURL, config.codeCache);
  /** @type {NonNullable<Parameters<typeof loadPyodide>[0]>} */
  const options = {
    indexURL: config.indexURL,
    packageCacheDir: config.packageCacheDir,
    stdout: (line) => console.error(line),
    stderr: (line) => console.error(line),
  };
  if (config.makeSnapshot) return await makeSnapshotFile(options, config.makeSnapshot, script);
  const snapshot = config.snapshotPath ? readSnapshot(config.snapshotPath) : null;
  const compiling = snapshot && compileSideModules(snapshot);
  if (snapshot) options._loadSnapshot = /** @type {Uint8Array} */ (snapshot.heap);
  pyodide = /** @type {Pyodide} */ (/** @type {unknown} */ (await loadPyodide(options)));
  delete options._loadSnapshot; // Pyodide keeps its options: let the heap bytes go
  if (snapshot) {
    snapshot.heap = null;
    await restorePackages(pyodide, snapshot, compiling);
    pyodide.runPython(AFTER_RESTORE);
    if (snapshot.meta.check) pyodide.runPython(snapshot.meta.check);
  }
  interrupt = new Uint8Array(config.interruptBuffer);
  outputAck = new Int32Array(config.outputBuffer);
  pyodide.setInterruptBuffer(interrupt);
  bridge = createSyncBridge({
    buffer: config.syncBuffer,
    interrupt: new Uint8Array(config.interruptBuffer),
    post: (msg) => self.postMessage(msg, msg.blob ? [/** @type {ArrayBuffer} */ (msg.blob.buffer)] : []),
  });
  self.postMessage({ type: "ready" });
}

// pyodide.asm.js (1.2 MB of JavaScript), run here with a V8 code cache made at setup,
// before loadPyodide would import it. Deno has no writable cache folder (nothing a
// sandbox writes may outlive it), so its own import would parse and compile the file
// anew each time (~0.3 s); V8 checks the cache against the source and ignores a stale one.
/** @param {string} indexURL @param {string} [cachePath] */
function runPyodideScript(indexURL, cachePath) {
  const file = `${indexURL}pyodide.asm.js`;
  let cachedData;
  try {
    cachedData = cachePath ? Deno.readFileSync(cachePath) : undefined;
  } catch {
    // no cache yet: compile from source
  }
  const source = `(function (exports, require, module, __filename, __dirname) {${Deno.readTextFileSync(file)}\n})`;
  const importModuleDynamically = vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER; // its import("node:…")
  const script = new vm.Script(source, { filename: file, cachedData, importModuleDynamically });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, indexURL);
  return script; // the file set globalThis._createPyodideModule, which loadPyodide uses
}

/**
 * A snapshot with `packages` loaded and `imports` run (Agg backend, prebuilt fonts).
 * @param {NonNullable<Parameters<typeof loadPyodide>[0]>} options
 * @param {MakeSnapshot} make
 * @param {vm.Script} script
 */
async function makeSnapshotFile(options, { packages, imports, check, fontCache, modules }, script) {
  pyodide = /** @type {Pyodide} */ (/** @type {unknown} */ (
    await loadPyodide({ ...options, _makeSnapshot: true })));
  const cache = script.createCachedData(); // what V8 compiled of pyodide.asm.js so far
  self.postMessage({ type: "codecache", blob: cache }, [/** @type {ArrayBuffer} */ (cache.buffer)]);
  pyodide.runPython(WARMUP);
  installModules(modules);
  pyodide.runPython("import _throwaway_runner");
  let recorder = null;
  if (packages.length) {
    recorder = recordSideModules(pyodide);
    await pyodide.loadPackage(packages, { messageCallback() {} });
    if (fontCache && packages.includes("matplotlib")) {
      pyodide.FS.writeFile(FONT_CACHE, Deno.readFileSync(fontCache));
    }
    pyodide.runPython("import os; os.environ['MPLBACKEND'] = 'agg'");
    pyodide.runPython(imports);
    if (packages.includes("matplotlib")) pyodide.runPython("import _throwaway_backend");
  }
  const file = makeSnapshot(pyodide, recorder, check);
  self.postMessage({ type: "snapshot", blob: file }, [/** @type {ArrayBuffer} */ (file.buffer)]);
}

// Whether anything in /workspace may have changed since the last call: the runner
// lists the workspace before and after each run only then (a listing of 10,000 files
// takes seconds; of none, a fifth of a trivial run). Emscripten's tracking hooks see
// opens for writing, writes, deletes, moves, new folders and links; truncate, utime
// and chmod are caught around the FS calls that make them.
/** @param {import("./emscripten.d.ts").FS} FS @returns {() => boolean} */
function watchWorkspace(FS) {
  let changed = true;
  /** @param {unknown} path */
  const at = (path) => {
    if (typeof path !== "string" || !path.startsWith("/") || path.startsWith("/workspace")) {
      changed = true;
    }
  };
  Object.assign(FS.trackingDelegate, {
    /** @param {string} path @param {number} flags */
    onOpenFile: (path, flags) => (flags & (3 | 64 | 512)) && at(path), // O_WRONLY|O_RDWR|O_CREAT|O_TRUNC
    onWriteToFile: at,
    onDeletePath: at,
    /** @param {string} from @param {string} to */
    onMovePath: (from, to) => (at(from), at(to)),
    onMakeDirectory: at,
    /** @param {string} _target @param {string} path */
    onMakeSymlink: (_target, path) => at(path),
  });
  const calls = /** @type {Record<string, Function>} */ (/** @type {unknown} */ (FS));
  for (const name of ["truncate", "ftruncate", "utime", "chmod", "fchmod", "lchmod"]) {
    const call = calls[name];
    calls[name] = function (/** @type {unknown[]} */ ...args) {
      changed = true;
      return call.apply(this, args);
    };
  }
  return () => {
    const was = changed;
    changed = false;
    return was;
  };
}

/**
 * Python modules of ours (and host functions') in /lib/throwaway, first on sys.path.
 * @param {Record<string, string>} modules module name -> source
 */
function installModules(modules) {
  pyodide.FS.mkdirTree("/lib/throwaway");
  for (const [name, source] of Object.entries(modules)) {
    const path = `/lib/throwaway/${name.replaceAll(".", "/")}.py`; // tools.github -> tools/github.py
    pyodide.FS.mkdirTree(path.slice(0, path.lastIndexOf("/")));
    pyodide.FS.writeFile(path, source);
  }
  // no importlib.invalidate_caches() (~0.2 s): the folder's new mtime refreshes its finder
  pyodide.runPython(`import sys
if "/lib/throwaway" not in sys.path:
    sys.path.insert(0, "/lib/throwaway")`);
}

/**
 * Configure: the session's files, mounts, modules and limits, before its first run.
 * @param {SessionConfig} config
 */
function configure(config) {
  for (const [path, source] of Object.entries(config.files ?? {})) {
    pyodide.FS.mkdirTree(path.slice(0, path.lastIndexOf("/")));
    pyodide.FS.writeFile(path, Deno.readFileSync(source));
  }
  mountAll(config, bridge);
  pyodide.registerJsModule("_throwaway_host", {
    call: hostCall,
    call_sync: (/** @type {string} */ json, /** @type {number} */ timeoutMs) =>
      callSync(bridge, json, timeoutMs),
  });
  installModules(config.modules);
  runner = pyodide.pyimport("_throwaway_runner"); // already imported when from a snapshot
  runner.setup(config.outputLimit, config.memoryMb, JSON.stringify(config.importMap),
    JSON.stringify(config.wheels), watchWorkspace(pyodide.FS));
  return {};
}

/** @param {SessionConfig} config @param {import("./syncbridge.js").Bridge} bridge */
function mountAll(config, bridge) {
  if (!config.mounts.length) return;
  hostfs = createHostFS(pyodide.FS, pyodide._module.ERRNO_CODES, {
    bridge,
    timeoutMs: config.fsTimeoutMs,
    module: pyodide._module,
  });
  for (const { name, writable } of config.mounts) {
    pyodide.FS.mkdirTree(`/mnt/${name}`);
    pyodide.FS.mount(hostfs, { name, writable }, `/mnt/${name}`);
  }
}

/**
 * A blocking call of a host function (throwaway_tools); answers a JSON string.
 * @param {import("./syncbridge.js").Bridge} bridge @param {string} json
 * @param {number} timeoutMs
 */
function callSync(bridge, json, timeoutMs) {
  try {
    const { reply } = bridge({ op: "call", ...JSON.parse(json) }, null, timeoutMs);
    return JSON.stringify(reply);
  } catch (err) {
    return JSON.stringify({ errno: /** @type {{code?: string}} */ (err).code ?? "EIO" });
  }
}

/**
 * An asynchronous call to the host (micropip.install); resolves with its reply.
 * @param {string} op @param {string} json @param {Uint8Array | null} [blob]
 * @returns {Promise<{json: string, blob: Uint8Array | null}>}
 */
function hostCall(op, json, blob) {
  const callId = nextCallId++;
  return new Promise((resolve) => {
    pendingCalls.set(callId, resolve);
    self.postMessage({ type: "call", callId, op, json, blob: blob ?? null });
  });
}

/** @param {{callId: number, json: string, blob: Uint8Array | null}} msg */
function settleCall(msg) {
  const resolve = pendingCalls.get(msg.callId);
  pendingCalls.delete(msg.callId);
  resolve?.({ json: msg.json, blob: msg.blob });
}

/** @param {Request} msg */
async function handle(msg) {
  /** @type {{blob?: Uint8Array | null, [key: string]: unknown}} */
  let reply;
  try {
    reply = await OPS[/** @type {keyof typeof OPS} */ (msg.type)](msg);
  } catch (err) {
    reply = fsError(err);
  }
  const blob = reply.blob ?? null;
  delete reply.blob;
  self.postMessage({ type: "done", id: msg.id, json: JSON.stringify(reply), blob },
    blob ? [/** @type {ArrayBuffer} */ (blob.buffer)] : []);
}

// Output of a streamed run, as it is printed. Back-pressure: past OUTPUT_WINDOW characters
// that main.js has not written to the host yet, the code waits (as on a full pipe), unless
// it is being interrupted.
/** @param {number} id @param {"stdout" | "stderr"} stream @param {string} text */
function sendOutput(id, stream, text) {
  self.postMessage({ type: "output", id, stream, text });
  outputSent = (outputSent + text.length) | 0;
  for (;;) {
    const acked = Atomics.load(outputAck, 0);
    if (((outputSent - acked) | 0) <= OUTPUT_WINDOW || interrupt[0] !== 0) return;
    Atomics.wait(outputAck, 0, acked, 100);
  }
}

/** @param {any} err @returns {{error: {type: string, errno?: string, message?: string}}} */
function fsError(err) {
  if (err instanceof pyodide.FS.ErrnoError) { // by name: the host says its Linux number
    const codes = pyodide._module.ERRNO_CODES;
    const errno = Object.keys(codes).find((name) => codes[name] === err.errno) ?? "EIO";
    return { error: { type: "OSError", errno } };
  }
  return { error: { type: err?.name ?? "Error", message: String(err?.message ?? err) } };
}

/** What the worker does for each request type; each answers a reply (and its blob). */
const OPS = {
  /** @param {Request} msg */
  configure(msg) {
    return configure(msg.config);
  },
  /** @param {Request} msg */
  async run(msg) {
    const packages = runner.prepare(msg.code);
    if (packages) {
      try {
        await runner.load(JSON.parse(packages));
      } catch {
        // a failed import is reported by the run itself
      }
    }
    self.postMessage({ type: "started", id: msg.id });
    /** @type {((stream: "stdout" | "stderr", text: string) => void) | null} */
    const emit = msg.stream ? (stream, text) => sendOutput(msg.id, stream, text) : null;
    const out = runner.run_now(msg.code, msg.runNo ?? msg.id, emit) ?? await runner.run_pending();
    hostfs?.commitAll(); // files left open reach the host before the changes are reported
    const [json, blob] = out.toJs();
    out.destroy();
    return { ...JSON.parse(json), blob: blob.length ? blob : null };
  },
  /** @param {Request} msg */
  read_file(msg) {
    const FS = pyodide.FS;
    const stat = FS.stat(msg.path);
    if (FS.isDir(stat.mode)) throw new FS.ErrnoError(pyodide._module.ERRNO_CODES.EISDIR);
    if (msg.size === undefined) return { blob: FS.readFile(msg.path) };
    // one chunk: {offset, size} -> the bytes there and the file's whole size
    const blob = new Uint8Array(Math.max(0, Math.min(msg.size, stat.size - msg.offset)));
    const stream = FS.open(msg.path, "r");
    try {
      FS.read(stream, blob, 0, blob.length, msg.offset);
    } finally {
      FS.close(stream);
    }
    return { size: stat.size, blob };
  },
  /** @param {Request} msg */
  write_file(msg) {
    const parent = msg.path.slice(0, msg.path.lastIndexOf("/")) || "/";
    pyodide.FS.mkdirTree(parent);
    pyodide.FS.writeFile(msg.path, msg.blob ? new Uint8Array(msg.blob) : new Uint8Array());
    return {};
  },
  /** @param {Request} msg */
  clear_dir(msg) {
    const FS = pyodide.FS;
    /** @param {string} dir */
    const empty = (dir) => {
      for (const name of FS.readdir(dir)) {
        if (name === "." || name === "..") continue;
        const path = `${dir}/${name}`;
        if (FS.isDir(FS.lstat(path).mode)) {
          empty(path);
          FS.rmdir(path);
        } else {
          FS.unlink(path);
        }
      }
    };
    empty(msg.path);
    return {};
  },
  /** @param {Request} msg */
  list_files(msg) {
    return { names: pyodide.FS.readdir(msg.path).filter((n) => n !== "." && n !== "..").sort() };
  },
  /** @param {Request} msg */
  async install(msg) {
    const out = await runner.install_wheels(msg.json, msg.blob ?? new Uint8Array());
    return JSON.parse(out);
  },
};
