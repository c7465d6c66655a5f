"""The virtual file system: host-side providers behind /mnt/<name> in a sandbox.

`provider.py` holds the contract; `localdir.py`, `fsspecfs.py`, `http.py` and
`callables.py` implement it; `paths.py` checks every path from the sandbox;
`table.py` answers the sandbox's requests. The sandbox side is
throwaway/sandbox/runtime/hostfs.js.
"""
