// worker.js: the Web Worker that runs Pyodide.
//
// Sandboxed code can reach everything in this file's realm (globalThis, Deno,
// postMessage), so main.js and the host treat every message from here as
// untrusted. This file only makes the honest path work:
//   main -> worker  {type:"init", config} | {type:"run"|"read_file"|..., id, ...}
//                   | {type:"reply", callId, json, blob}
//   worker -> main  {type:"ready"} | {type:"started", id}
//                   | {type:"done", id, json, blob} | {type:"call", callId, op, json}
import { loadPyodide } from "npm:pyodide@0.27.7";
import { createHostFS } from "./hostfs.js";
import { createSyncBridge } from "./syncbridge.js";

// Hygiene: stray console output must not land on the protocol's stdout.
for (const name of ["log", "info", "debug", "warn"]) console[name] = console.error;

let pyodide, runner;
let queue = Promise.resolve();
const pendingCalls = new Map();
let nextCallId = 1;

self.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === "init") queue = queue.then(() => init(msg.config));
  else if (msg.type === "reply") settleCall(msg);
  else queue = queue.then(() => handle(msg));
};

// Every WebAssembly.Memory made from JavaScript gets a maximum of at most the cap:
// `WebAssembly.Memory`, `memory.constructor` and `WebAssembly.Memory.prototype.constructor`
// all lead here and cannot be reassigned. Memories declared inside a wasm module, and
// whatever else lives outside the wasm heap, are bounded by the host's RSS watchdog.
// Nested workers (a realm with its own, unclamped constructor) are not offered.
function clampMemory(megabytes) {
  const Native = WebAssembly.Memory;
  const cap = Math.floor(megabytes * 16); // 64 KiB pages
  function Memory(desc) {
    if (!new.target) throw new TypeError("WebAssembly.Memory must be called with new");
    const maximum = Math.min(desc?.maximum ?? cap, cap);
    return Reflect.construct(Native, [{ ...desc, maximum }], new.target);
  }
  const fixed = (value) => ({ value, writable: false, configurable: false });
  Object.defineProperty(Memory, "prototype", fixed(Native.prototype));
  Object.defineProperty(Native.prototype, "constructor", fixed(Memory));
  Object.defineProperty(WebAssembly, "Memory", fixed(Memory));
  Object.defineProperty(globalThis, "Worker", fixed(undefined));
}

// Imported before a memory snapshot is taken: pure-Python stdlib only (no JS
// references, no C-extension packages; see PYODIDE-NOTES.md).
const WARMUP = `import ast, asyncio, collections, csv, dataclasses, datetime, decimal, email.parser, \
fractions, functools, importlib.metadata, io, itertools, json, math, os, pathlib, random, re, \
signal, statistics, sys, textwrap, traceback, typing, zipfile, pyodide.code, pyodide.ffi
from pyodide.code import find_imports
find_imports("import os")
exec(compile(ast.parse("x = 1"), "<code>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT), {})`;

async function init(config) {
  clampMemory(config.memoryMb);
  const options = {
    indexURL: config.indexURL,
    packageCacheDir: config.packageCacheDir,
    stdout: (line) => console.error(line),
    stderr: (line) => console.error(line),
  };
  if (config.makeSnapshot) options._makeSnapshot = true;
  else if (config.snapshotPath) options._loadSnapshot = Deno.readFileSync(config.snapshotPath);
  pyodide = await loadPyodide(options);
  delete options._loadSnapshot; // Pyodide keeps its options: let the 20 MB snapshot go
  if (config.makeSnapshot) {
    pyodide.runPython(WARMUP);
    const snapshot = pyodide.makeMemorySnapshot();
    self.postMessage({ type: "snapshot", blob: snapshot }, [snapshot.buffer]);
    return;
  }
  for (const [path, source] of Object.entries(config.files ?? {})) {
    pyodide.FS.mkdirTree(path.slice(0, path.lastIndexOf("/")));
    pyodide.FS.writeFile(path, Deno.readFileSync(source));
  }
  pyodide.setInterruptBuffer(new Uint8Array(config.interruptBuffer));
  const bridge = createSyncBridge({
    buffer: config.syncBuffer,
    interrupt: new Uint8Array(config.interruptBuffer),
    post: (msg) => self.postMessage(msg, msg.blob ? [msg.blob.buffer] : []),
  });
  mountAll(config, bridge);
  pyodide.registerJsModule("_throwaway_host", {
    call: hostCall,
    call_sync: (json, timeoutMs) => callSync(bridge, json, timeoutMs),
  });
  pyodide.FS.mkdirTree("/lib/throwaway");
  for (const [name, source] of Object.entries(config.modules)) {
    const path = `/lib/throwaway/${name.replaceAll(".", "/")}.py`; // tools.github -> tools/github.py
    pyodide.FS.mkdirTree(path.slice(0, path.lastIndexOf("/")));
    pyodide.FS.writeFile(path, source);
  }
  pyodide.runPython("import sys; sys.path.insert(0, '/lib/throwaway')");
  runner = pyodide.pyimport("_throwaway_runner");
  runner.setup(config.outputLimit, config.memoryMb, JSON.stringify(config.importMap),
    JSON.stringify(config.wheels));
  self.postMessage({ type: "ready" });
}

function mountAll(config, bridge) {
  if (!config.mounts.length) return;
  const hostfs = createHostFS(pyodide.FS, pyodide._module.ERRNO_CODES, {
    bridge,
    timeoutMs: config.fsTimeoutMs,
  });
  for (const { name, writable } of config.mounts) {
    pyodide.FS.mkdirTree(`/mnt/${name}`);
    pyodide.FS.mount(hostfs, { name, writable }, `/mnt/${name}`);
  }
}

// A blocking call of a host function (throwaway_tools); answers a JSON string.
function callSync(bridge, json, timeoutMs) {
  try {
    const { reply } = bridge({ op: "call", ...JSON.parse(json) }, null, timeoutMs);
    return JSON.stringify(reply);
  } catch (err) {
    return JSON.stringify({ errno: err.code ?? "EIO" });
  }
}

function hostCall(op, json, blob) {
  const callId = nextCallId++;
  return new Promise((resolve) => {
    pendingCalls.set(callId, resolve);
    self.postMessage({ type: "call", callId, op, json, blob: blob ?? null });
  });
}

function settleCall(msg) {
  const resolve = pendingCalls.get(msg.callId);
  pendingCalls.delete(msg.callId);
  resolve?.({ json: msg.json, blob: msg.blob });
}

async function handle(msg) {
  let reply;
  try {
    reply = await OPS[msg.type](msg);
  } catch (err) {
    reply = fsError(err);
  }
  const blob = reply.blob ?? null;
  delete reply.blob;
  self.postMessage({ type: "done", id: msg.id, json: JSON.stringify(reply), blob },
    blob ? [blob.buffer] : []);
}

function fsError(err) {
  if (err instanceof pyodide.FS.ErrnoError) {
    const name = { 44: "FileNotFoundError", 31: "IsADirectoryError", 54: "NotADirectoryError" };
    return { error: { type: name[err.errno] ?? "OSError", message: `errno ${err.errno}` } };
  }
  return { error: { type: err?.name ?? "Error", message: String(err?.message ?? err) } };
}

const OPS = {
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
    const out = runner.run_now(msg.code, msg.runNo ?? msg.id) ?? await runner.run_pending();
    const [json, blob] = out.toJs();
    out.destroy();
    return { ...JSON.parse(json), blob: blob.length ? blob : null };
  },
  read_file(msg) {
    const FS = pyodide.FS;
    const stat = FS.stat(msg.path);
    if (FS.isDir(stat.mode)) throw new FS.ErrnoError(31);
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
  write_file(msg) {
    const parent = msg.path.slice(0, msg.path.lastIndexOf("/")) || "/";
    pyodide.FS.mkdirTree(parent);
    pyodide.FS.writeFile(msg.path, msg.blob ? new Uint8Array(msg.blob) : new Uint8Array());
    return {};
  },
  clear_dir(msg) {
    const FS = pyodide.FS;
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
  list_files(msg) {
    return { names: pyodide.FS.readdir(msg.path).filter((n) => n !== "." && n !== "..").sort() };
  },
  async install(msg) {
    const out = await runner.install_wheels(msg.json, msg.blob ?? new Uint8Array());
    return JSON.parse(out);
  },
};
