// emscripten.d.ts: the parts of emscripten's FS and Module that the runtime uses.
//
// Pyodide's pyodide.d.ts declares a public few of them; these are the internals of the
// emscripten build in Pyodide 0.27 that hostfs.js, snapshot.js and worker.js reach.
// Types only, for `deno check` (make lint-js): nothing loads this file at run time.

import type { PyodideInterface } from "npm:pyodide@0.27.7";

/** The interpreter, with the emscripten Module behind it. */
export type Pyodide = Omit<PyodideInterface, "FS"> & { _module: Module; FS: FS };

/** emscripten's errno numbers by name (ENOENT, EISDIR, ...). */
export type ErrnoCodes = Record<string, number>;

export interface ErrnoError extends Error {
  errno: number;
}

export interface Mount {
  opts: { name: string; writable: boolean };
  root: Node;
}

export interface Node {
  id: number;
  name: string;
  mode: number;
  parent: Node;
  mount: Mount;
  name_next: Node | null;
  node_ops: object;
  stream_ops: object;
  contents?: Uint8Array; // MEMFS
  usedBytes?: number; // MEMFS
  timestamp?: number; // MEMFS
}

export interface Stream {
  fd: number;
  path: string;
  flags: number;
  position: number;
  node: Node;
}

export interface Stat {
  mode: number;
  size: number;
  mtime: Date;
}

export interface FS {
  ErrnoError: new (errno: number) => ErrnoError;
  createNode(parent: Node | null, name: string, mode: number, dev: number): Node;
  hashName(parentId: number, name: string): number;
  hashRemoveNode(node: Node): void;
  nameTable: (Node | null)[];
  isDir(mode: number): boolean;
  isFile(mode: number): boolean;
  isLink(mode: number): boolean;
  stat(path: string): Stat;
  lstat(path: string): Stat;
  open(path: string, flags: string | number): Stream;
  read(stream: Stream, buffer: Uint8Array, offset: number, length: number, position?: number): number;
  write(stream: Stream, buffer: Uint8Array, offset: number, length: number, position?: number): number;
  close(stream: Stream): void;
  readFile(path: string, opts?: object): Uint8Array;
  writeFile(path: string, data: string | Uint8Array): void;
  readdir(path: string): string[];
  readlink(path: string): string;
  mkdirTree(path: string): void;
  rmdir(path: string): void;
  unlink(path: string): void;
  symlink(target: string, path: string): void;
  mount(type: object, opts: object, mountpoint: string): void;
  lookupPath(path: string): { node: Node };
  analyzePath(path: string): { exists: boolean };
  streams: (Stream | null)[];
  filesystems: { MEMFS: { createNode(parent: Node, name: string, mode: number, dev: number): Node } };
  trackingDelegate: Record<string, unknown>;
}

/** A loaded shared library (dynamic linking's `struct dso`, as JavaScript sees it). */
export interface DSO {
  name: string;
  refcount: number;
  global: boolean;
  exports: Record<string, unknown>;
}

/** The emscripten Module: memory, the function table and the dynamic linker. */
export interface Module {
  FS: FS;
  ERRNO_CODES: ErrnoCodes;
  HEAPU8: Uint8Array;
  HEAPU32: Uint32Array;
  wasmTable: WebAssembly.Table;
  LDSO: { loadedLibsByName: Record<string, DSO>; loadedLibsByHandle: Record<string, DSO> };
  mmapAlloc(length: number): number;
  _calloc(count: number, size: number): number;
  _free(ptr: number): void;
  loadDynamicLibrary(lib: string, flags?: { global?: boolean }, ...rest: unknown[]): unknown;
  getDylinkMetadata(binary: unknown): { memorySize: number; tableSize: number };
  newDSO(name: string, handle: number | undefined, state: string): DSO;
  loadWebAssemblyModule(
    binary: WebAssembly.Module, flags: object, path: string, scope: object | null, handle: number,
  ): Record<string, unknown>;
  mergeLibSymbols(exports: Record<string, unknown>, path: string): void;
  getFunctionAddress(fn: unknown): number;
  setWasmTableEntry(index: number, fn: unknown): void;
  convertJsFunctionToWasm(fn: unknown, sig: string): unknown;
  updateTableMap(offset: number, count: number): void;
  [name: string]: unknown;
}
