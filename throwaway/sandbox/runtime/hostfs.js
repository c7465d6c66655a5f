// hostfs.js: the emscripten file system type behind /mnt/<name>.
//
// Every node and stream operation asks the host, synchronously, through the
// bridge in syncbridge.js; the host answers from throwaway/vfs/table.py.
// The host is the authority on every check (paths, read-only, sizes); the
// checks here only give early, accurate errors. Hooks throw FS.ErrnoError with
// emscripten's errno numbers only: anything else would kill Pyodide.
//
// Files opened for writing are buffered here and committed to the host as a
// whole on close (a failed commit makes close() raise). Small files come back
// with the open reply, so open+read+close costs one round trip.

import { DATA_MAX } from "./syncbridge.js";

const PREFETCH = 1 << 16;
const ATTR_TTL_MS = 50; // a stat answered this recently is reused (open, then fstat)
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

export function createHostFS(FS, ERRNO, { bridge, timeoutMs }) {
  const fail = (name) => new FS.ErrnoError(ERRNO[name] ?? ERRNO.EIO);

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

  // ---- nodes -------------------------------------------------------------------

  function modeFor(mount, isDir) {
    const perm = mount.opts.writable ? 0o777 : 0o555;
    return isDir ? S_IFDIR | perm : S_IFREG | (perm & 0o666);
  }

  function makeNode(parent, name, isDir, stat) {
    const node = FS.createNode(parent, name, modeFor(parent.mount, isDir), 0);
    node.node_ops = nodeOps;
    node.stream_ops = streamOps;
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

  function setAttr(node, stat) {
    node.hattr = { size: stat.size ?? 0, mtime: stat.mtime ?? 0, at: performance.now() };
  }

  function cachedChild(parent, name) {
    for (let n = FS.nameTable[FS.hashName(parent.id, name)]; n; n = n.name_next) {
      if (n.parent.id === parent.id && n.name === name) return n;
    }
    return null;
  }

  const nodeOps = {
    getattr(node) {
      checkBroken(node);
      const open = node.writer;
      if (!open && (!node.hattr || performance.now() - node.hattr.at > ATTR_TTL_MS)) {
        setAttr(node, call(node, "stat").reply.stat);
      }
      const size = open ? open.size : node.hattr.size;
      const time = new Date(node.hattr.mtime * 1000);
      return {
        dev: 1, ino: node.id, mode: node.mode, nlink: 1, uid: 0, gid: 0, rdev: 0, size,
        atime: time, mtime: time, ctime: time, blksize: 4096, blocks: Math.ceil(size / 4096),
      };
    },
    setattr(node, attr) {
      if (attr.size === undefined) return;
      if (node.writer) {
        node.writer.resize(attr.size);
      } else {
        call(node, "truncate", { size: attr.size });
        setAttr(node, { size: attr.size, mtime: Date.now() / 1000 });
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
      if (FS.isDir(mode)) call(parent, "mkdir", { path });
      else call(parent, "create", { path, exclusive: true });
      const stat = { dir: FS.isDir(mode), size: 0, mtime: Date.now() / 1000 };
      return makeNode(parent, name, stat.dir, stat);
    },
    rename(oldNode, newDir, newName) {
      call(oldNode, "rename", { dest: childPath(newDir, newName) });
      const replaced = cachedChild(newDir, newName);
      if (replaced && replaced !== oldNode) FS.hashRemoveNode(replaced);
    },
    unlink(parent, name) {
      call(parent, "remove", { path: childPath(parent, name) });
    },
    rmdir(parent, name) {
      call(parent, "rmdir", { path: childPath(parent, name) });
    },
    readdir(node) {
      checkBroken(node);
      const { reply } = call(node, "list");
      const names = Array.isArray(reply.names) ? reply.names.map(String) : [];
      for (const entry of Array.isArray(reply.entries) ? reply.entries : []) {
        const name = String(entry.name);
        if (!cachedChild(node, name)) makeNode(node, name, entry.dir === true, entry.stat);
      }
      return [".", "..", ...names];
    },
    symlink() {
      throw fail("EPERM");
    },
    readlink() {
      throw fail("EINVAL");
    },
  };

  // ---- streams -----------------------------------------------------------------

  class Writer {
    constructor(initial) {
      this.data = new Uint8Array(Math.max(initial.length, 4096));
      this.data.set(initial);
      this.size = initial.length;
      this.dirty = false;
    }
    resize(size) {
      if (size > this.data.length) {
        const grown = new Uint8Array(Math.max(size, this.data.length * 2));
        grown.set(this.data.subarray(0, this.size));
        this.data = grown;
      } else if (size < this.size) {
        this.data.fill(0, size, this.size);
      }
      this.size = size;
      this.dirty = true;
    }
  }

  function readAll(node, size, first) {
    const out = new Uint8Array(size);
    out.set(first.subarray(0, size));
    for (let pos = first.length; pos < size;) {
      const { data } = call(node, "read", { offset: pos, size: Math.min(DATA_MAX, size - pos) });
      if (!data.length) return out.subarray(0, pos);
      out.set(data, pos);
      pos += data.length;
    }
    return out;
  }

  const streamOps = {
    open(stream) {
      const node = stream.node;
      checkBroken(node);
      if (FS.isDir(node.mode)) return;
      const writing = (stream.flags & 3) !== 0;
      const { reply, data } = call(node, "open", { prefetch: PREFETCH });
      setAttr(node, reply.stat);
      if (reply.stat.dir) throw fail("EISDIR");
      stream.head = data;
      if (writing) {
        if (node.writer) throw fail("EBUSY"); // one writer per file at a time
        node.writer = new Writer(readAll(node, reply.stat.size, data));
        stream.writer = node.writer;
      }
    },
    close(stream) {
      const writer = stream.writer;
      if (!writer) return;
      stream.node.writer = null;
      if (!writer.dirty) return;
      call(stream.node, "write", {}, writer.data.subarray(0, writer.size)); // buffer moves on
      writer.data = null;
      setAttr(stream.node, { size: writer.size, mtime: Date.now() / 1000 });
    },
    fsync(stream) {
      const writer = stream.writer; // os.fsync(): commit now, keep writing after
      if (!writer?.dirty) return 0;
      call(stream.node, "write", {}, writer.data.slice(0, writer.size));
      writer.dirty = false;
      return 0;
    },
    read(stream, buffer, offset, length, position) {
      const writer = stream.writer;
      if (writer) {
        const n = Math.max(0, Math.min(length, writer.size - position));
        buffer.set(writer.data.subarray(position, position + n), offset);
        return n;
      }
      const head = stream.head;
      if (position + length <= head.length || head.length < PREFETCH) {
        const n = Math.max(0, Math.min(length, head.length - position));
        buffer.set(head.subarray(position, position + n), offset);
        return n;
      }
      let done = 0;
      while (done < length) {
        const size = Math.min(DATA_MAX, length - done);
        const { data } = call(stream.node, "read", { offset: position + done, size });
        buffer.set(data, offset + done);
        done += data.length;
        if (data.length < size) break;
      }
      return done;
    },
    write(stream, buffer, offset, length, position) {
      const writer = stream.writer;
      if (!writer) throw fail("EBADF");
      if (position + length > writer.size) writer.resize(position + length);
      writer.data.set(buffer.subarray(offset, offset + length), position);
      writer.dirty = true;
      return length;
    },
    llseek(stream, offset, whence) {
      let position = offset;
      if (whence === 1) position += stream.position;
      else if (whence === 2 && FS.isFile(stream.node.mode)) {
        position += stream.writer ? stream.writer.size : stream.node.hattr.size;
      }
      if (position < 0) throw fail("EINVAL");
      return position;
    },
  };

  return {
    mount(mount) {
      const root = FS.createNode(null, "/", modeFor(mount, true), 0);
      root.node_ops = nodeOps;
      root.stream_ops = streamOps;
      root.mount = mount;
      setAttr(root, { size: 0, mtime: 0 });
      return root;
    },
  };
}
