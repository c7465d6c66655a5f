"""Code that tests send into the sandbox."""

#: Defines err(fn, *args): the errno name an OSError carries inside the sandbox, or 'no error'.
ERRNO = (
    "import errno, os\n"
    "link = getattr(os, 'link', None)  # Pyodide has no os.link\n"
    "def err(fn, *args, **kwargs):\n"
    "    try:\n"
    "        fn(*args, **kwargs)\n"
    "    except OSError as e:\n"
    "        return errno.errorcode.get(e.errno, e.errno)\n"
    "    return 'no error'\n"
)

#: Gives sandboxed Python the JS realm's `Function` constructor, hence `globalThis` and `Deno`.
REALM = "from pyodide.ffi import to_js\nF = to_js({}).constructor.constructor\n"


def js(body: str) -> str:
    """Sandboxed code that runs a JS function body synchronously; its value is the result."""
    return REALM + f"F({body!r})()"


def js_async(body: str) -> str:
    """Sandboxed code that runs the body of an async JS function and awaits it."""
    return REALM + f"await F({'return (async () => {' + body + '})()'!r})()"
