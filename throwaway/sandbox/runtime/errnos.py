"""Linux errno numbers for the OSErrors that Python in Pyodide raises with Emscripten's.

Pyodide's libc is Emscripten's, whose numbers differ from Linux's (ENOENT is 44, EACCES
is 2), so a traceback would say ``[Errno 44]``. Code inside keeps its own numbers (they
match its ``errno`` module); an error that leaves the sandbox says the Linux number.
Installed in the sandbox with the other runtime modules (process.py) as ``_throwaway_errno``.
"""

import errno

#: Linux's numbers (asm-generic/errno*.h) for the names Emscripten defines.
LINUX = {
    "EPERM": 1, "ENOENT": 2, "ESRCH": 3, "EINTR": 4, "EIO": 5, "ENXIO": 6, "E2BIG": 7,
    "ENOEXEC": 8, "EBADF": 9, "ECHILD": 10, "EAGAIN": 11, "ENOMEM": 12, "EACCES": 13,
    "EFAULT": 14, "EBUSY": 16, "EEXIST": 17, "EXDEV": 18, "ENODEV": 19, "ENOTDIR": 20,
    "EISDIR": 21, "EINVAL": 22, "ENFILE": 23, "EMFILE": 24, "ENOTTY": 25, "ETXTBSY": 26,
    "EFBIG": 27, "ENOSPC": 28, "ESPIPE": 29, "EROFS": 30, "EMLINK": 31, "EPIPE": 32,
    "EDOM": 33, "ERANGE": 34, "EDEADLOCK": 35, "ENAMETOOLONG": 36, "ENOLCK": 37, "ENOSYS": 38,
    "ENOTEMPTY": 39, "ELOOP": 40, "ENOMSG": 42, "EIDRM": 43, "ENOLINK": 67, "EPROTO": 71,
    "EMULTIHOP": 72, "EBADMSG": 74, "EOVERFLOW": 75, "EILSEQ": 84, "ENOTSOCK": 88,
    "EDESTADDRREQ": 89, "EMSGSIZE": 90, "EPROTOTYPE": 91, "ENOPROTOOPT": 92,
    "EPROTONOSUPPORT": 93, "ENOTSUP": 95, "EAFNOSUPPORT": 97, "EADDRINUSE": 98,
    "EADDRNOTAVAIL": 99, "ENETDOWN": 100, "ENETUNREACH": 101, "ENETRESET": 102,
    "ECONNABORTED": 103, "ECONNRESET": 104, "ENOBUFS": 105, "EISCONN": 106, "ENOTCONN": 107,
    "ETIMEDOUT": 110, "ECONNREFUSED": 111, "EHOSTUNREACH": 113, "EALREADY": 114,
    "EINPROGRESS": 115, "ESTALE": 116, "EDQUOT": 122, "ECANCELED": 125, "EOWNERDEAD": 130,
    "ENOTRECOVERABLE": 131,
}  # fmt: skip


def to_linux(exc: BaseException) -> BaseException:
    """``exc`` with its errno in Linux's numbering (its text follows), for reporting:
    call it only once the exception has left the user's code."""
    if isinstance(exc, OSError) and isinstance(exc.errno, int):
        exc.errno = LINUX.get(errno.errorcode.get(exc.errno, ""), exc.errno)
    return exc
