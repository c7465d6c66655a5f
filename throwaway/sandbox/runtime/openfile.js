// @ts-check
// openfile.js: the content of a /mnt file while the sandbox has it open for writing.
//
// One OpenFile per node, shared by every stream and dup'ed fd of that file, so
// each handle sees the others' writes at once. Up to SPILL_AT bytes it is held
// here whole. Past that the content moves to a spool on the host
// (throwaway/vfs/spool.py) and only a window of recent sequential writes stays
// here, so a file of any size costs at most WINDOW bytes of sandbox memory.
// `host(op, args, data)` is the bridge call for this file (hostfs.js); it
// throws FS.ErrnoError only.

import { DATA_MAX } from "./syncbridge.js";

/**
 * The bridge call for one file: (op, args, data) -> the host's reply and data.
 * @typedef {(op: string, args?: object, data?: Uint8Array | null) =>
 *   {reply: any, data: Uint8Array}} FileHost
 */

export const SPILL_AT = 16 << 20;
const WINDOW = 8 << 20;
const EMPTY = new Uint8Array();

export class OpenFile {
  /** @param {FileHost} host @param {Uint8Array} initial the content so far */
  constructor(host, initial) {
    this.host = host;
    this.data = new Uint8Array(Math.max(initial.length, 4096));
    this.data.set(initial);
    this.size = initial.length;
    this.dirty = false;
    /** @type {number | null} */
    this.spool = null; // the host's number for the spool, once spilled
    this.start = 0; // the window: data[0, filled) belongs at [start, start + filled)
    this.filled = 0;
  }

  /**
   * The file as the host has it: read here whole, or copied into a spool on the host.
   * @param {FileHost} host @param {number} size @param {Uint8Array} first its first bytes
   */
  static load(host, size, first) {
    if (size <= SPILL_AT) return new OpenFile(host, readAll(host, size, first));
    const file = new OpenFile(host, EMPTY);
    file.spool = host("spool", { copy: true }).reply.spool;
    file.size = size;
    file.data = new Uint8Array(WINDOW);
    return file;
  }

  /** @param {Uint8Array} buffer @param {number} offset @param {number} length
   * @param {number} position @returns {number} the bytes read */
  read(buffer, offset, length, position) {
    const n = Math.max(0, Math.min(length, this.size - position));
    if (this.spool === null) {
      buffer.set(this.data.subarray(position, position + n), offset);
      return n;
    }
    this.flushWindow();
    let done = 0;
    while (done < n) {
      const size = Math.min(DATA_MAX, n - done);
      const args = { spool: this.spool, offset: position + done, size };
      const { data } = this.host("get", args);
      buffer.set(data, offset + done);
      done += data.length;
      if (data.length < size) break;
    }
    return done;
  }

  /** @param {Uint8Array} buffer @param {number} offset @param {number} length
   * @param {number} position @returns {number} the bytes written */
  write(buffer, offset, length, position) {
    const end = position + length;
    this.dirty = true;
    if (this.spool === null && end > SPILL_AT) this.spill();
    if (this.spool === null) {
      if (end > this.size) this.grow(end);
      this.data.set(buffer.subarray(offset, offset + length), position);
      return length;
    }
    const appends = this.filled && position === this.start + this.filled;
    if (!appends || this.filled + length > WINDOW) {
      this.flushWindow();
      this.start = position;
    }
    if (length > WINDOW) {
      for (let done = 0; done < length; done += WINDOW) {
        const n = Math.min(WINDOW, length - done); // a copy, as bytes (buffer is often HEAP8)
        const piece = new Uint8Array(buffer.buffer, buffer.byteOffset + offset + done, n).slice();
        this.host("put", { spool: this.spool, offset: position + done }, piece);
      }
    } else {
      this.data.set(buffer.subarray(offset, offset + length), this.filled);
      this.filled += length;
    }
    this.size = Math.max(this.size, end);
    return length;
  }

  /** @param {number} size */
  resize(size) {
    this.dirty = true;
    if (this.spool === null && size > SPILL_AT) this.spill();
    if (this.spool === null) {
      if (size > this.size) this.grow(size);
      else this.data.fill(0, size, this.size);
      this.size = size;
      return;
    }
    this.flushWindow();
    this.host("cut", { spool: this.spool, size });
    this.size = size;
  }

  /** The content reaches the provider; `last` lets the bridge take the buffer itself.
   * @param {boolean} last */
  commit(last) {
    if (this.spool === null) {
      const data = this.data.subarray(0, this.size);
      this.host("write", {}, last ? data : data.slice());
      if (last) this.data = EMPTY;
    } else {
      this.flushWindow();
      this.host("commit", { spool: this.spool });
    }
    this.dirty = false;
  }

  // The last stream closed: let the host drop the spool.
  close() {
    const spool = this.spool;
    this.spool = null;
    this.data = EMPTY;
    if (spool !== null) this.host("release", { spool });
  }

  /** @param {number} size */
  grow(size) {
    if (size > this.data.length) {
      const grown = new Uint8Array(Math.max(size, this.data.length * 2));
      grown.set(this.data.subarray(0, this.size));
      this.data = grown;
    }
    this.size = size;
  }

  spill() {
    const { reply } = this.host("spool", {}, this.data.slice(0, this.size));
    this.spool = reply.spool;
    this.data = new Uint8Array(WINDOW);
    this.start = 0;
    this.filled = 0;
  }

  flushWindow() {
    if (!this.filled) return;
    this.host("put", { spool: this.spool, offset: this.start }, this.data.slice(0, this.filled));
    this.filled = 0;
  }
}

/** @param {FileHost} host @param {number} size @param {Uint8Array} first */
function readAll(host, size, first) {
  const out = new Uint8Array(size);
  out.set(first.subarray(0, size));
  for (let pos = first.length; pos < size;) {
    const { data } = host("read", { offset: pos, size: Math.min(DATA_MAX, size - pos) });
    if (!data.length) return out.subarray(0, pos);
    out.set(data, pos);
    pos += data.length;
  }
  return out;
}
