// @ts-check
// snapshot.js: memory snapshots of an interpreter with packages already imported.
//
// Pyodide's own snapshot (makeMemorySnapshot) holds the wasm heap only. Once a
// package with C extensions is loaded, the heap points into side modules (.so
// files compiled to wasm) that a new process does not have, so Pyodide refuses
// ("Unexpected hiwire entry": loadedPackages). This module does what Cloudflare's
// workerd does for Python Workers, without patching Pyodide:
//
//   make:    record each side module's instantiation (memoryBase, tableBase,
//            table length, global flag) while packages load, then the table slots
//            that point into side modules, the dlopen handles, open fds and the
//            files under site-packages; empty loadedPackages around the snapshot.
//   restore: load the heap, re-create the files, re-instantiate each side module
//            at its recorded bases with its data region saved before and put back
//            after (data-segment init and constructors must not clobber live
//            state), refill the table slots, re-register handles and packages.
//
// File format (one file, written by the host; lengths little-endian):
//   "TWSNAP01" | u32 meta_len | u64 heap_len | u64 files_len | meta JSON | heap | files
// Any mismatch on restore throws: the host then starts from the plain snapshot.

const MAGIC = "TWSNAP01";
const HEADER = 28;
const DUMP_ROOTS = ["/lib/python3.12/site-packages", "/usr/lib"];
const O_CREAT_TRUNC_EXCL = 0o100 | 0o1000 | 0o200;

/** @typedef {import("./emscripten.d.ts").Pyodide} Pyodide */
/** @typedef {import("./emscripten.d.ts").Module} Module */
/** @typedef {import("./emscripten.d.ts").FS} FS */
/**
 * One side module as it was instantiated: its file, the library that pulled it in, and
 * where it went in memory and in the function table.
 * @typedef {{path: string, top: string | undefined, global: boolean, memoryBase: number,
 *   tableBase: number, memorySize: number, tableSize: number, tableLenBefore: number}} SideModule
 */
/** @typedef {{loads: SideModule[], tableStart: number, stop(): void}} Recorder */
/** A file of the snapshot: [path, mode, mtime (ms), offset in the files part, length]. */
/** @typedef {[string, number, number, number, number]} FileEntry */
/**
 * The meta JSON of a snapshot file (a plain snapshot has only `loads`, `files`, `check`
 * and `loadedPackages`; the rest comes with packages).
 * @typedef {{loads: SideModule[], files: FileEntry[], check: string,
 *   loadedPackages: Record<string, string>, tableStart: number, tableLen: number,
 *   slots: [number, string, string][], jsSlots: [number, string, string | null][],
 *   handles: [number, string][], fds: [number, string, number, number][],
 *   dirs: string[], links: [string, string][]}} SnapshotMeta
 */
/**
 * @typedef {{meta: SnapshotMeta, heap: Uint8Array<ArrayBuffer> | null,
 *   files: Uint8Array<ArrayBuffer>}} Snapshot
 */

/**
 * Watch side-module instantiations from now on (call before loadPackage).
 * @param {Pyodide} pyodide
 * @returns {Recorder}
 */
export function recordSideModules(pyodide) {
  const M = pyodide._module, FS = M.FS;
  /** @type {SideModule[]} */
  const loads = [];
  /** @type {WeakMap<object, string>} */
  const pathOf = new WeakMap();
  const saved = { readFile: FS.readFile, load: M.loadDynamicLibrary, inst: WebAssembly.instantiate };
  /** @type {{lib: string, global: boolean} | null} */
  let top = null;
  /** @this {FS} @param {string} path @param {object} [opts] */
  FS.readFile = function (path, opts) {
    const data = saved.readFile.call(this, path, opts);
    if (data instanceof Uint8Array) pathOf.set(data, path);
    return data;
  };
  /** @this {Module} @param {string} lib @param {{global?: boolean}} [flags] @param {unknown[]} rest */
  M.loadDynamicLibrary = function (lib, flags, ...rest) {
    top = { lib, global: !!flags?.global };
    return saved.load.call(this, lib, flags, ...rest);
  };
  /** @this {unknown} @param {BufferSource} source @param {any} imports */
  function instantiate(source, imports) {
    if (imports?.["GOT.mem"] && imports.env) { // a side module (the main module has no GOT)
      const dylink = M.getDylinkMetadata(source);
      loads.push({
        path: /** @type {string} */ (pathOf.get(source) ?? null), top: top?.lib,
        global: top?.global ?? false,
        memoryBase: imports.env.__memory_base, tableBase: imports.env.__table_base,
        memorySize: dylink.memorySize, tableSize: dylink.tableSize,
        tableLenBefore: M.wasmTable.length,
      });
    }
    return saved.inst.call(this, source, imports);
  }
  WebAssembly.instantiate = /** @type {typeof WebAssembly.instantiate} */ (instantiate);
  return {
    loads,
    tableStart: M.wasmTable.length,
    stop() {
      FS.readFile = saved.readFile;
      M.loadDynamicLibrary = saved.load;
      WebAssembly.instantiate = saved.inst;
    },
  };
}

/**
 * The whole snapshot file, after the packages are imported.
 * @param {Pyodide} pyodide @param {Recorder | null} recorder
 * @param {string} [check] Python run after a restore to check it
 */
export function makeSnapshot(pyodide, recorder, check) {
  recorder?.stop();
  pyodide.runPython("import gc; gc.collect(); gc.disable()");
  /** @type {SnapshotMeta} */
  const meta = /** @type {any} */ (recorder ? describeState(pyodide, recorder) : { loads: [], files: [] });
  meta.check = check ?? "";
  const files = recorder ? dumpFiles(pyodide.FS, meta, importedBytecode(pyodide)) : new Uint8Array();
  const packages = { ...pyodide.loadedPackages };
  for (const name of Object.keys(packages)) delete pyodide.loadedPackages[name];
  meta.loadedPackages = packages;
  const heap = pyodide.makeMemorySnapshot(); // loadedPackages must look empty here (hiwire 6)
  Object.assign(pyodide.loadedPackages, packages);
  return pack(meta, heap, files);
}

/** @param {Pyodide} pyodide @param {Recorder} recorder */
function describeState(pyodide, { loads, tableStart }) {
  const M = pyodide._module, FS = M.FS;
  /** @type {Map<Function, [string, string]>} */
  const exportOf = new Map();
  for (const [name, dso] of Object.entries(M.LDSO.loadedLibsByName)) {
    for (const [sym, fn] of Object.entries(dso.exports ?? {})) {
      if (typeof fn === "function" && !exportOf.has(fn)) exportOf.set(fn, [name, sym]);
    }
  }
  /** @param {number} i */
  const own = (i) => loads.some((l) => i >= l.tableBase && i < l.tableBase + l.tableSize);
  /** @type {SnapshotMeta["slots"]} */
  const slots = [];
  /** @type {Set<number>} */
  const loose = new Set();
  for (let i = tableStart; i < M.wasmTable.length; i++) {
    const fn = own(i) ? null : M.wasmTable.get(i);
    if (!fn) continue;
    const found = exportOf.get(fn);
    if (found) slots.push([i, ...found]);
    else loose.add(i);
  }
  // the rest are JS functions wrapped by addFunction: find them by their address
  /** @type {SnapshotMeta["jsSlots"]} */
  const jsSlots = [];
  const named = [...Object.entries(M.LDSO.loadedLibsByName.__main__.exports), ...Object.entries(M)];
  for (const [sym, fn] of named) {
    if (typeof fn !== "function" || !loose.size) continue;
    const at = M.getFunctionAddress(fn);
    if (loose.delete(at)) jsSlots.push([at, sym, /** @type {{sig?: string}} */ (fn).sig ?? null]);
  }
  if (loose.size) throw new Error(`${loose.size} table slots could not be attributed`);
  /** @type {SnapshotMeta["handles"]} */
  const handles = Object.entries(M.LDSO.loadedLibsByHandle)
    .filter(([h]) => +h !== 0).map(([h, dso]) => [+h, dso.name]);
  /** @type {SnapshotMeta["fds"]} */
  const fds = FS.streams.flatMap((s) => s && s.fd > 2 ? [[s.fd, s.path, s.flags, s.position]] : []);
  return { loads, tableStart, tableLen: M.wasmTable.length, slots, jsSlots, handles, fds };
}

/**
 * The .pyc files of modules already imported: their code is in the heap, never read again.
 * @param {Pyodide} pyodide
 * @returns {Set<string>}
 */
function importedBytecode(pyodide) {
  const list = pyodide.runPython(`import sys
[m.__cached__ for m in list(sys.modules.values()) if isinstance(getattr(m, "__cached__", None), str)]`);
  try {
    return new Set(list.toJs());
  } finally {
    list.destroy(); // no JS reference may be alive in the snapshot
  }
}

/**
 * The files under DUMP_ROOTS, listed in `meta`; returns their bytes end to end.
 * @param {FS} FS @param {SnapshotMeta} meta @param {Set<string>} skip
 */
function dumpFiles(FS, meta, skip) {
  /** @type {string[]} */
  const dirs = [];
  /** @type {FileEntry[]} */
  const files = [];
  /** @type {[string, string][]} */
  const links = [];
  /** @type {Uint8Array[]} */
  const chunks = [];
  let size = 0;
  /** @param {string} dir */
  const walk = (dir) => {
    for (const name of FS.readdir(dir)) {
      if (name === "." || name === "..") continue;
      const path = `${dir}/${name}`;
      const st = FS.lstat(path);
      if (FS.isDir(st.mode)) {
        dirs.push(path);
        walk(path);
      } else if (FS.isFile(st.mode) && !skip.has(path)) {
        const data = FS.readFile(path);
        files.push([path, st.mode, st.mtime.getTime(), size, data.length]);
        chunks.push(data);
        size += data.length;
      } else if (FS.isLink(st.mode)) {
        links.push([path, FS.readlink(path)]);
      }
    }
  };
  for (const root of DUMP_ROOTS) {
    if (!FS.analyzePath(root).exists) continue;
    dirs.push(root);
    walk(root);
  }
  Object.assign(meta, { dirs, files, links });
  const blob = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    blob.set(chunk, at);
    at += chunk.length;
  }
  return blob;
}

/** @param {SnapshotMeta} meta @param {Uint8Array} heap @param {Uint8Array} files */
function pack(meta, heap, files) {
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const out = new Uint8Array(HEADER + json.length + heap.length + files.length);
  out.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, json.length, true);
  view.setBigUint64(12, BigInt(heap.length), true);
  view.setBigUint64(20, BigInt(files.length), true);
  out.set(json, HEADER);
  out.set(heap, HEADER + json.length);
  out.set(files, HEADER + json.length + heap.length);
  return out;
}

/**
 * {meta, heap, files} from a snapshot file, each part in its own buffer.
 * @param {string} path
 * @returns {Snapshot}
 */
export function readSnapshot(path) {
  const file = Deno.openSync(path);
  try {
    const head = readExactly(file, HEADER);
    if (new TextDecoder().decode(head.subarray(0, 8)) !== MAGIC) throw new Error("not a snapshot");
    const view = new DataView(head.buffer);
    const meta = JSON.parse(new TextDecoder().decode(readExactly(file, view.getUint32(8, true))));
    const heap = readExactly(file, Number(view.getBigUint64(12, true)));
    const files = readExactly(file, Number(view.getBigUint64(20, true)));
    return { meta, heap, files };
  } finally {
    file.close();
  }
}

/** @param {Deno.FsFile} file @param {number} size */
function readExactly(file, size) {
  const out = new Uint8Array(size);
  for (let at = 0; at < size;) {
    const n = file.readSync(out.subarray(at));
    if (n === null) throw new Error("the snapshot file is truncated");
    at += n;
  }
  return out;
}

/**
 * Start compiling the side modules (off the main path: V8 compiles in the background).
 * @param {Snapshot} snapshot
 * @returns {Promise<WebAssembly.Module[]>}
 */
export function compileSideModules({ meta, files }) {
  const byPath = new Map(meta.files.map((f) => [f[0], f]));
  return Promise.all(meta.loads.map((l) => {
    const [, , , at, len] = /** @type {FileEntry} */ (byPath.get(l.path));
    return WebAssembly.compile(files.subarray(at, at + len));
  }));
}

/**
 * Put the packages of a snapshot back into the interpreter loaded from its heap.
 * @param {Pyodide} pyodide @param {Snapshot} snapshot
 * @param {Promise<WebAssembly.Module[]> | null} compiling from compileSideModules
 */
export async function restorePackages(pyodide, { meta, files }, compiling) {
  if (!meta.loads.length) return;
  const M = pyodide._module;
  restoreFiles(M.FS, meta, files);
  const modules = /** @type {WebAssembly.Module[]} */ (await compiling);
  if (M.wasmTable.length > meta.tableStart) {
    throw new Error(`the function table has ${M.wasmTable.length} slots, expected ${meta.tableStart}`);
  }
  instantiateAll(M, meta.loads, modules);
  refillTable(M, meta);
  for (const [handle, name] of meta.handles) M.LDSO.loadedLibsByHandle[handle] = M.LDSO.loadedLibsByName[name];
  Object.assign(pyodide.loadedPackages, meta.loadedPackages);
}

/** @param {FS} FS @param {SnapshotMeta} meta @param {Uint8Array} files */
function restoreFiles(FS, meta, files) {
  const MEMFS = FS.filesystems.MEMFS;
  for (const dir of meta.dirs) FS.mkdirTree(dir);
  /** @type {string | null} */
  let dirPath = null;
  /** @type {import("./emscripten.d.ts").Node | null} */
  let dirNode = null;
  for (const [path, mode, mtime, at, len] of meta.files) {
    const slash = path.lastIndexOf("/");
    if (path.slice(0, slash) !== dirPath) {
      dirPath = path.slice(0, slash);
      dirNode = FS.lookupPath(dirPath).node;
    }
    const node = MEMFS.createNode(/** @type {import("./emscripten.d.ts").Node} */ (dirNode),
      path.slice(slash + 1), mode, 0);
    node.contents = files.subarray(at, at + len); // zero-copy: a view of the snapshot's files
    node.usedBytes = len;
    node.timestamp = mtime;
  }
  for (const [path, target] of meta.links) FS.symlink(target, path);
  for (const [fd, path, flags, position] of meta.fds) {
    const stream = FS.open(path, flags & ~O_CREAT_TRUNC_EXCL);
    if (stream.fd !== fd) {
      FS.streams[stream.fd] = null;
      stream.fd = fd;
      FS.streams[fd] = stream;
    }
    stream.position = position;
  }
}

/** @param {Module} M @param {SideModule[]} loads @param {WebAssembly.Module[]} modules */
function instantiateAll(M, loads, modules) {
  const handle = M._calloc(64, 1); // a stand-in `struct dso` telling the loader where to go
  /** @type {Map<string | undefined, Record<string, unknown> | null>} */
  const scopes = new Map();
  try {
    loads.forEach((l, i) => {
      if (M.wasmTable.length > l.tableLenBefore) throw new Error(`table overlap before ${l.path}`);
      if (M.wasmTable.length < l.tableLenBefore) M.wasmTable.grow(l.tableLenBefore - M.wasmTable.length);
      const live = M.HEAPU8.slice(l.memoryBase, l.memoryBase + l.memorySize);
      M.HEAPU8.fill(0, handle, handle + 64);
      M.HEAPU8[handle + 8] = 1; // mem_allocated: use the bases below
      M.HEAPU32[(handle + 12) >> 2] = l.memoryBase;
      M.HEAPU32[(handle + 20) >> 2] = l.tableBase;
      if (!scopes.has(l.top)) scopes.set(l.top, l.global ? null : {});
      const scope = scopes.get(l.top) ?? null;
      const dso = M.newDSO(l.path, undefined, "loading");
      dso.refcount = Infinity;
      dso.global = l.global;
      const flags = { loadAsync: false, global: l.global, nodelete: true, allowUndefined: true };
      const exports = M.loadWebAssemblyModule(modules[i], flags, l.path, scope, handle);
      if (l.global) M.mergeLibSymbols(exports, l.path);
      else if (scope) Object.assign(scope, exports);
      dso.exports = exports;
      const base = l.path.slice(l.path.lastIndexOf("/") + 1);
      M.LDSO.loadedLibsByName[base] ??= dso;
      M.HEAPU8.set(live, l.memoryBase);
    });
  } finally {
    M._free(handle);
  }
}

/** @param {Module} M @param {SnapshotMeta} meta */
function refillTable(M, meta) {
  if (M.wasmTable.length < meta.tableLen) M.wasmTable.grow(meta.tableLen - M.wasmTable.length);
  for (const [i, lib, sym] of meta.slots) {
    const fn = /** @type {Function | undefined} */ (M.LDSO.loadedLibsByName[lib]?.exports?.[sym]);
    if (!fn) throw new Error(`the snapshot needs ${lib}:${sym}, which is not loaded`);
    if (M.wasmTable.get(i) !== fn) M.wasmTable.set(i, fn);
  }
  for (const [i, sym, sig] of meta.jsSlots) {
    /** @type {Function & {sig?: string}} */
    const fn = /** @type {any} */ (M.LDSO.loadedLibsByName.__main__.exports[sym] ?? M[sym]);
    if (!M.wasmTable.get(i)) {
      M.setWasmTableEntry(i, M.convertJsFunctionToWasm(fn, /** @type {string} */ (sig ?? fn.sig)));
    }
  }
  M.updateTableMap(meta.tableStart, M.wasmTable.length - meta.tableStart);
}
