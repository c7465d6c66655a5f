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

export function createHostFS(FS, ERRNO, { bridge, timeoutMs, module }) {
  const fail = (name) => new FS.ErrnoError(ERRNO[name] ?? ERRNO.EIO);
  const openFiles = new Set(); // nodes holding an OpenFile

  function call(node, op, args = {}, data = null) {
    const request = { op, mount: node.mount.opts.name, path: relPath(node), ...args };
    let answer;
    try {
      answer = bridge(request, data, timeoutMs);
    } catch (err) {
      throw fail(err.code ?? "EIO");
    }
    if (answer.reply.errno) throw fail(answer.reply.errno);
    return answer;
  }

  function relPath(node) {
    const parts = [];
    for (let n = node; n !== n.mount.root; n = n.parent) parts.unshift(n.name);
    return parts.join("/");
  }

  function childPath(parent, name) {
    const base = relPath(parent);
    return base ? `${base}/${name}` : name;
  }

  // Any exception other than FS.ErrnoError is fatal to Pyodide: make it EIO.
  function guard(ops) {
    for (const [key, fn] of Object.entries(ops)) {
      ops[key] = function (...args) {
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

  function modeFor(mount, isDir, perm) {
    perm = (perm ?? (isDir ? 0o755 : 0o644)) & 0o7777;
    if (!mount.opts.writable) perm &= ~0o222;
    return (isDir ? S_IFDIR : S_IFREG) | perm;
  }

  function makeNode(parent, name, isDir, stat) {
    const link = typeof stat?.link === "string" ? stat.link : null; // emscripten follows it
    const mode = link ? S_IFLNK | 0o777 : modeFor(parent.mount, isDir, stat?.mode);
    const node = FS.createNode(parent, name, mode, 0);
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
  function brokenNode(parent, name, errnoName) {
    const node = makeNode(parent, name, true, null); // a folder, so listdir reaches us too
    node.hostErrno = errnoName;
    return node;
  }

  function checkBroken(node) {
    if (!node.hostErrno) return;
    FS.hashRemoveNode(node);
    throw fail(node.hostErrno);
  }

  function setAttr(node, stat, ttl = ATTR_TTL_MS) {
    node.hattr = { size: stat.size ?? 0, mtime: stat.mtime ?? 0, at: performance.now(), ttl };
    if (Number.isInteger(stat.mode) && !FS.isLink(node.mode)) {
      node.mode = modeFor(node.mount, FS.isDir(node.mode), stat.mode);
    }
  }

  function cachedChild(parent, name) {
    for (let n = FS.nameTable[FS.hashName(parent.id, name)]; n; n = n.name_next) {
      if (n.parent.id === parent.id && n.name === name) return n;
    }
    return null;
  }

  const nodeOps = guard({
    getattr(node) {
      checkBroken(node);
      const file = node.file;
      if (!file && (!node.hattr || performance.now() - node.hattr.at > node.hattr.ttl)) {
        setAttr(node, call(node, "stat").reply.stat);
      }
      const size = file ? file.size : node.hattr.size;
      const time = new Date(node.hattr.mtime * 1000);
      return {
        dev: 1, ino: node.id, mode: node.mode, nlink: 1, uid: 0, gid: 0, rdev: 0, size,
        atime: time, mtime: time, ctime: time, blksize: 4096, blocks: Math.ceil(size / 4096),
      };
    },
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
    mknod(parent, name, mode) {
      const path = childPath(parent, name);
      const perm = mode & 0o7777;
      const { reply } = FS.isDir(mode)
        ? call(parent, "mkdir", { path, mode: perm })
        : call(parent, "create", { path, exclusive: true, mode: perm });
      return makeNode(parent, name, FS.isDir(mode), reply.stat ?? { size: 0, mtime: 0 });
    },
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
    unlink(parent, name) {
      const node = cachedChild(parent, name);
      if (node?.opened && !node.file) holdContent(node); // still readable through open fds
      call(parent, "remove", { path: childPath(parent, name) });
      if (node) forget(node);
    },
    rmdir(parent, name) {
      call(parent, "rmdir", { path: childPath(parent, name) });
    },
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
    symlink(parent, name, target) {
      const { reply } = call(parent, "symlink", { path: childPath(parent, name), target });
      return makeNode(parent, name, false, { ...reply.stat, link: reply.stat?.link ?? target });
    },
    readlink(node) {
      if (!FS.isLink(node.mode)) throw fail("EINVAL");
      return node.link;
    },
  });

  // A node that was unlinked or renamed over: open fds keep their data, nothing is committed.
  function forget(node) {
    node.unlinked = true;
    if (node.file) node.file.dirty = false;
  }

  // ---- file content ------------------------------------------------------------

  function openFile(node, size, first) {
    node.file = OpenFile.load((op, args, data) => call(node, op, args, data), size, first);
    openFiles.add(node);
  }

  function holdContent(node) {
    const { reply, data } = call(node, "open", { prefetch: PREFETCH });
    openFile(node, reply.stat.size, data);
  }

  function truncate(node, size) {
    if (node.file) {
      node.file.resize(size);
      return;
    }
    call(node, "truncate", { size });
    node.version++;
    setAttr(node, { size, mtime: Date.now() / 1000 });
  }

  function commit(node, last = false) {
    const file = node.file;
    if (!file.dirty || node.unlinked) return;
    file.commit(last);
    node.version++;
    setAttr(node, { size: file.size, mtime: Date.now() / 1000 });
  }

  function release(node) {
    node.opened--;
    if (node.opened > 0 || !node.file) return;
    openFiles.delete(node);
    try {
      commit(node, true);
    } finally {
      const file = node.file;
      node.file = null;
      try {
        file.close();
      } catch (err) {
        console.error("hostfs release:", err); // the host drops spools with the sandbox anyway
      }
    }
  }

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
    dup(stream) {
      if (stream.counted) stream.node.opened++;
    },
    close(stream) {
      if (stream.counted) release(stream.node);
    },
    fsync(stream) {
      if (stream.node.file) commit(stream.node); // os.fsync(): commit now, keep writing after
      return 0;
    },
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
    write(stream, buffer, offset, length, position) {
      const file = stream.node.file;
      if (!file) throw fail("EBADF");
      return file.write(buffer, offset, length, position);
    },
    llseek(stream, offset, whence) {
      let position = offset;
      if (whence === 1) position += stream.position;
      else if (whence === 2 && FS.isFile(stream.node.mode)) {
        position += stream.node.file ? stream.node.file.size : stream.node.hattr.size;
      }
      if (position < 0) throw fail("EINVAL");
      return position;
    },
    // mmap gets a private copy; a shared writable mapping writes back through msync
    mmap(stream, length, position, prot, flags) {
      if (!FS.isFile(stream.node.mode)) throw fail("ENODEV");
      const ptr = module.mmapAlloc(length);
      if (!ptr) throw fail("ENOMEM");
      streamOps.read(stream, module.HEAPU8, ptr, length, position);
      return { ptr, allocated: true };
    },
    msync(stream, buffer, offset, length) {
      streamOps.write(stream, buffer, 0, length, offset);
      return 0;
    },
  });

  return {
    mount(mount) {
      const root = FS.createNode(null, "/", modeFor(mount, true, 0o777), 0);
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
