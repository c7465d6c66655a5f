// @ts-check
// hostfs.js: the emscripten file system type behind /mnt/<name>.
//
// Every node and stream operation asks the host, synchronously, through the
// bridge in syncbridge.js; the host answers from throwaway/vfs/table.py.
// The host is the authority on every check (paths, read-only, sizes); the
// checks here only give early, accurate errors. Hooks throw FS.ErrnoError with
// emscripten's errno numbers only: anything else would kill Pyodide, so every
// hook is wrapped (guard) and turns a stray exception into EIO.
//
// A node is one file for as long as the sandbox knows it: rename re-files the
// node (as MEMFS does), so open streams follow it. While any stream has a file
// open for writing (or the file was unlinked while open) its content is one
// OpenFile on the node (openfile.js), shared by every stream and dup'ed fd. It
// is committed to the host on close, on fsync, and at the end of every
// execution (commitAll); an unlinked file is never committed. Small files come
// back with the open reply, so open+read+close costs one round trip.

import { OpenFile } from "./openfile.js";
import { DATA_MAX } from "./syncbridge.js";

const PREFETCH = 1 << 16;
const ATTR_TTL_MS = 50; // a stat answered this recently is reused (open, then fstat)
const LISTED_TTL_MS = 1000; // stats from a listing last longer: os.walk stats every entry
const LISTED_TTL_MS_PER_ENTRY = 0.1; // (and a huge folder takes longer to go through)
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const EMPTY = new Uint8Array();

/** @typedef {import("./emscripten.d.ts").FS} FS */
/** @typedef {import("./emscripten.d.ts").Mount} Mount */
/** @typedef {import("./emscripten.d.ts").Stream & {node: HostNode, head: Uint8Array,
 *   version: number, counted?: boolean}} HostStream */
/** What the host said of a file: size, mtime (s), permission bits, link target, folder. */
/** @typedef {{size?: number, mtime?: number, mode?: number, link?: string,
 *   dir?: boolean}} HostStat */
/**
 * A node under /mnt: an emscripten node with what this sandbox knows of the host's file.
 * @typedef {import("./emscripten.d.ts").Node & {
 *   parent: HostNode, link: string | null, version: number, opened: number,
 *   hattr: {size: number, mtime: number, at: number, ttl?: number} | null,
 *   hostErrno?: string, file?: OpenFile | null, unlinked?: boolean}} HostNode
 */

/**
 * The file system type to mount at /mnt/<name> (`FS.mount(hostfs, {name, writable}, dir)`).
 * @param {FS} FS
 * @param {import("./emscripten.d.ts").ErrnoCodes} ERRNO
 * @param {{bridge: import("./syncbridge.js").Bridge, timeoutMs: number,
 *   module: {mmapAlloc(length: number): number, HEAPU8: Uint8Array}}} options
 */
export function createHostFS(FS, ERRNO, { bridge, timeoutMs, module }) {
  /** @param {string} name an errno name */
  const fail = (name) => new FS.ErrnoError(ERRNO[name] ?? ERRNO.EIO);
  /** @type {Set<HostNode>} */
  const openFiles = new Set(); // nodes holding an OpenFile

  /**
   * One request about `node` (or `args.path`) to the host; errors become FS.ErrnoError.
   * @param {HostNode} node @param {string} op @param {object} [args]
   * @param {Uint8Array | null} [data]
   */
  function call(node, op, args = {}, data = null) {
    const request = { op, mount: node.mount.opts.name, path: relPath(node), ...args };
    let answer;
    try {
      answer = bridge(request, data, timeoutMs);
    } catch (err) {
      throw fail(/** @type {{code?: string}} */ (err).code ?? "EIO");
    }
    if (answer.reply.errno) throw fail(answer.reply.errno);
    return answer;
  }

  /** @param {HostNode} node @returns {string} the path inside the mount */
  function relPath(node) {
    const parts = [];
    for (let n = node; n !== n.mount.root; n = n.parent) parts.unshift(n.name);
    return parts.join("/");
  }

  /** @param {HostNode} parent @param {string} name */
  function childPath(parent, name) {
    const base = relPath(parent);
    return base ? `${base}/${name}` : name;
  }

  /**
   * Any exception other than FS.ErrnoError is fatal to Pyodide: make it EIO.
   * @template {Record<string, Function>} T
   * @param {T} ops
   * @returns {T}
   */
  function guard(ops) {
    /** @type {Record<string, Function>} */
    const wrapped = ops;
    for (const [key, fn] of Object.entries(ops)) {
      wrapped[key] = function (/** @type {unknown[]} */ ...args) {
        try {
          return fn.apply(this, args);
        } catch (err) {
          if (err instanceof FS.ErrnoError) throw err;
          console.error(`hostfs ${key}:`, err);
          throw fail("EIO");
        }
      };
    }
    return ops;
  }

  // ---- nodes -------------------------------------------------------------------

  /** @param {Mount} mount @param {boolean} isDir @param {number | undefined} perm */
  function modeFor(mount, isDir, perm) {
    perm = (perm ?? (isDir ? 0o755 : 0o644)) & 0o7777;
    if (!mount.opts.writable) perm &= ~0o222;
    return (isDir ? S_IFDIR : S_IFREG) | perm;
  }

  /**
   * @param {HostNode} parent @param {string} name @param {boolean} isDir
   * @param {HostStat | null} stat
   * @returns {HostNode}
   */
  function makeNode(parent, name, isDir, stat) {
    const link = typeof stat?.link === "string" ? stat.link : null; // emscripten follows it
    const mode = link ? S_IFLNK | 0o777 : modeFor(parent.mount, isDir, stat?.mode);
    const node = /** @type {HostNode} */ (FS.createNode(parent, name, mode, 0));
    node.link = link;
    node.node_ops = nodeOps;
    node.stream_ops = streamOps;
    node.version = 0; // bumped whenever this sandbox changes the content
    node.opened = 0; // open file streams, dup'ed ones included
    if (stat) setAttr(node, stat);
    return node;
  }

  // emscripten's open() turns every lookup error into ENOENT. So a lookup that
  // fails otherwise (EACCES for a link out, EIO, ETIMEDOUT) returns a stand-in
  // node that raises the real error when used, and then drops out of the cache.
  /** @param {HostNode} parent @param {string} name @param {string} errnoName */
  function brokenNode(parent, name, errnoName) {
    const node = makeNode(parent, name, true, null); // a folder, so listdir reaches us too
    node.hostErrno = errnoName;
    return node;
  }

  /** @param {HostNode} node */
  function checkBroken(node) {
    if (!node.hostErrno) return;
    FS.hashRemoveNode(node);
    throw fail(node.hostErrno);
  }

  /** @param {HostNode} node @param {HostStat} stat @param {number} [ttl] */
  function setAttr(node, stat, ttl = ATTR_TTL_MS) {
    node.hattr = { size: stat.size ?? 0, mtime: stat.mtime ?? 0, at: performance.now(), ttl };
    if (Number.isInteger(stat.mode) && !FS.isLink(node.mode)) {
      node.mode = modeFor(node.mount, FS.isDir(node.mode), stat.mode);
    }
  }

  /** @param {HostNode} parent @param {string} name @returns {HostNode | null} */
  function cachedChild(parent, name) {
    for (let n = FS.nameTable[FS.hashName(parent.id, name)]; n; n = n.name_next) {
      if (n.parent.id === parent.id && n.name === name) return /** @type {HostNode} */ (n);
    }
    return null;
  }

  const nodeOps = guard({
    /** @param {HostNode} node */
    getattr(node) {
      checkBroken(node);
      const file = node.file;
      if (!file && (!node.hattr || performance.now() - node.hattr.at > (node.hattr.ttl ?? Infinity))) {
        setAttr(node, call(node, "stat").reply.stat);
      }
      const hattr = /** @type {NonNullable<HostNode["hattr"]>} */ (node.hattr);
      const size = file ? file.size : hattr.size;
      const time = new Date(hattr.mtime * 1000);
      return {
        dev: 1, ino: node.id, mode: node.mode, nlink: 1, uid: 0, gid: 0, rdev: 0, size,
        atime: time, mtime: time, ctime: time, blksize: 4096, blocks: Math.ceil(size / 4096),
      };
    },
    /** @param {HostNode} node @param {{size?: number, mode?: number, timestamp?: number}} attr */
    setattr(node, attr) {
      // emscripten passes {size} for truncate, {mode} for chmod, {timestamp} for utime
      if (attr.size !== undefined) {
        truncate(node, attr.size);
      } else if (attr.mode !== undefined) {
        const mode = attr.mode & 0o7777;
        call(node, "chmod", { mode });
        node.mode = modeFor(node.mount, FS.isDir(node.mode), mode);
      } else if (attr.timestamp !== undefined) {
        if (node.file) commit(node); // a later close must not stamp it with "now"
        const mtime = attr.timestamp / 1000;
        call(node, "utime", { mtime });
        node.hattr = { ...(node.hattr ?? { size: 0 }), mtime, at: performance.now() };
      }
    },
    /** @param {HostNode} parent @param {string} name */
    lookup(parent, name) {
      let reply;
      try {
        ({ reply } = call(parent, "stat", { path: childPath(parent, name) }));
      } catch (err) {
        const direct = [ERRNO.ENOENT, ERRNO.ENAMETOOLONG, ERRNO.EINVAL]; // open() redoes these
        if (!(err instanceof FS.ErrnoError) || direct.includes(err.errno)) throw err;
        const errnoName = Object.keys(ERRNO).find((k) => ERRNO[k] === err.errno) ?? "EIO";
        return brokenNode(parent, name, errnoName);
      }
      return makeNode(parent, name, reply.stat.dir, reply.stat);
    },
    /** @param {HostNode} parent @param {string} name @param {number} mode */
    mknod(parent, name, mode) {
      const path = childPath(parent, name);
      const perm = mode & 0o7777;
      const { reply } = FS.isDir(mode)
        ? call(parent, "mkdir", { path, mode: perm })
        : call(parent, "create", { path, exclusive: true, mode: perm });
      return makeNode(parent, name, FS.isDir(mode), reply.stat ?? { size: 0, mtime: 0 });
    },
    /** @param {HostNode} oldNode @param {HostNode} newDir @param {string} newName */
    rename(oldNode, newDir, newName) {
      call(oldNode, "rename", { dest: childPath(newDir, newName) });
      const replaced = cachedChild(newDir, newName);
      if (replaced && replaced !== oldNode) {
        forget(replaced);
        FS.hashRemoveNode(replaced);
      }
      oldNode.name = newName; // FS.rename files the node again under these
      oldNode.parent = newDir;
    },
    /** @param {HostNode} parent @param {string} name */
    unlink(parent, name) {
      const node = cachedChild(parent, name);
      if (node?.opened && !node.file) holdContent(node); // still readable through open fds
      call(parent, "remove", { path: childPath(parent, name) });
      if (node) forget(node);
    },
    /** @param {HostNode} parent @param {string} name */
    rmdir(parent, name) {
      call(parent, "rmdir", { path: childPath(parent, name) });
    },
    /** @param {HostNode} node */
    readdir(node) {
      checkBroken(node);
      const { reply } = call(node, "list");
      const names = Array.isArray(reply.names) ? reply.names.map(String) : [];
      const entries = Array.isArray(reply.entries) ? reply.entries : [];
      const ttl = LISTED_TTL_MS + LISTED_TTL_MS_PER_ENTRY * entries.length;
      for (const entry of entries) {
        const name = String(entry.name);
        const child = cachedChild(node, name) ?? makeNode(node, name, entry.dir === true, null);
        if (entry.stat && !child.file && !child.hostErrno) setAttr(child, entry.stat, ttl);
      }
      return [".", "..", ...names];
    },
    /** @param {HostNode} parent @param {string} name @param {string} target */
    symlink(parent, name, target) {
      const { reply } = call(parent, "symlink", { path: childPath(parent, name), target });
      return makeNode(parent, name, false, { ...reply.stat, link: reply.stat?.link ?? target });
    },
    /** @param {HostNode} node */
    readlink(node) {
      if (!FS.isLink(node.mode)) throw fail("EINVAL");
      return node.link;
    },
  });

  // A node that was unlinked or renamed over: open fds keep their data, nothing is committed.
  /** @param {HostNode} node */
  function forget(node) {
    node.unlinked = true;
    if (node.file) node.file.dirty = false;
  }

  // ---- file content ------------------------------------------------------------

  /** @param {HostNode} node @param {number} size @param {Uint8Array} first */
  function openFile(node, size, first) {
    node.file = OpenFile.load((op, args, data) => call(node, op, args, data), size, first);
    openFiles.add(node);
  }

  /** @param {HostNode} node */
  function holdContent(node) {
    const { reply, data } = call(node, "open", { prefetch: PREFETCH });
    openFile(node, reply.stat.size, data);
  }

  /** @param {HostNode} node @param {number} size */
  function truncate(node, size) {
    if (node.file) {
      node.file.resize(size);
      return;
    }
    call(node, "truncate", { size });
    node.version++;
    setAttr(node, { size, mtime: Date.now() / 1000 });
  }

  /** @param {HostNode} node @param {boolean} [last] */
  function commit(node, last = false) {
    const file = /** @type {OpenFile} */ (node.file);
    if (!file.dirty || node.unlinked) return;
    file.commit(last);
    node.version++;
    setAttr(node, { size: file.size, mtime: Date.now() / 1000 });
  }

  /** @param {HostNode} node */
  function release(node) {
    node.opened--;
    if (node.opened > 0 || !node.file) return;
    openFiles.delete(node);
    try {
      commit(node, true);
    } finally {
      const file = /** @type {OpenFile} */ (node.file);
      node.file = null;
      try {
        file.close();
      } catch (err) {
        console.error("hostfs release:", err); // the host drops spools with the sandbox anyway
      }
    }
  }

  /**
   * @param {HostStream} stream @param {Uint8Array} buffer @param {number} offset
   * @param {number} length @param {number} position
   */
  function readFromHost(stream, buffer, offset, length, position) {
    let done = 0;
    while (done < length) {
      const size = Math.min(DATA_MAX, length - done);
      const { data } = call(stream.node, "read", { offset: position + done, size });
      buffer.set(data, offset + done);
      done += data.length;
      if (data.length < size) break;
    }
    return done;
  }

  // ---- streams -----------------------------------------------------------------

  const streamOps = guard({
    /** @param {HostStream} stream */
    open(stream) {
      const node = stream.node;
      checkBroken(node);
      if (FS.isDir(node.mode)) return;
      const writing = (stream.flags & 3) !== 0;
      stream.head = EMPTY;
      stream.version = -1; // no prefetched head
      if (!node.file) {
        const { reply, data } = call(node, "open", { prefetch: PREFETCH });
        setAttr(node, reply.stat);
        if (reply.stat.dir) throw fail("EISDIR");
        stream.head = data;
        stream.version = node.version;
        if (writing) openFile(node, reply.stat.size, data);
      }
      node.opened++;
      stream.counted = true;
    },
    /** @param {HostStream} stream */
    dup(stream) {
      if (stream.counted) stream.node.opened++;
    },
    /** @param {HostStream} stream */
    close(stream) {
      if (stream.counted) release(stream.node);
    },
    /** @param {HostStream} stream */
    fsync(stream) {
      if (stream.node.file) commit(stream.node); // os.fsync(): commit now, keep writing after
      return 0;
    },
    /**
     * @param {HostStream} stream @param {Uint8Array} buffer @param {number} offset
     * @param {number} length @param {number} position
     */
    read(stream, buffer, offset, length, position) {
      const file = stream.node.file;
      if (file) return file.read(buffer, offset, length, position);
      const head = stream.head;
      const fresh = stream.version === stream.node.version;
      if (fresh && (position + length <= head.length || head.length < PREFETCH)) {
        const n = Math.max(0, Math.min(length, head.length - position));
        buffer.set(head.subarray(position, position + n), offset);
        return n;
      }
      return readFromHost(stream, buffer, offset, length, position);
    },
    /**
     * @param {HostStream} stream @param {Uint8Array} buffer @param {number} offset
     * @param {number} length @param {number} position
     */
    write(stream, buffer, offset, length, position) {
      const file = stream.node.file;
      if (!file) throw fail("EBADF");
      return file.write(buffer, offset, length, position);
    },
    /** @param {HostStream} stream @param {number} offset @param {number} whence */
    llseek(stream, offset, whence) {
      let position = offset;
      if (whence === 1) position += stream.position;
      else if (whence === 2 && FS.isFile(stream.node.mode)) {
        const { file, hattr } = stream.node;
        position += file ? file.size : /** @type {{size: number}} */ (hattr).size;
      }
      if (position < 0) throw fail("EINVAL");
      return position;
    },
    // mmap gets a private copy; a shared writable mapping writes back through msync
    /**
     * @param {HostStream} stream @param {number} length @param {number} position
     * @param {number} _prot @param {number} _flags
     */
    mmap(stream, length, position, _prot, _flags) {
      if (!FS.isFile(stream.node.mode)) throw fail("ENODEV");
      const ptr = module.mmapAlloc(length);
      if (!ptr) throw fail("ENOMEM");
      streamOps.read(stream, module.HEAPU8, ptr, length, position);
      return { ptr, allocated: true };
    },
    /**
     * @param {HostStream} stream @param {Uint8Array} buffer @param {number} offset
     * @param {number} length
     */
    msync(stream, buffer, offset, length) {
      streamOps.write(stream, buffer, 0, length, offset);
      return 0;
    },
  });

  return {
    /** @param {Mount} mount */
    mount(mount) {
      const root = /** @type {HostNode} */ (FS.createNode(null, "/", modeFor(mount, true, 0o777), 0));
      root.node_ops = nodeOps;
      root.stream_ops = streamOps;
      root.mount = mount;
      setAttr(root, { size: 0, mtime: 0 });
      return root;
    },
    // After each execution: files left open reach the host, as if flushed to disk.
    commitAll() {
      for (const node of openFiles) {
        try {
          commit(node);
        } catch (err) {
          console.error("hostfs commit:", err); // stays dirty: close() tries again and reports
        }
      }
    },
  };
}
