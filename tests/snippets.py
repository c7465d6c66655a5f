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
