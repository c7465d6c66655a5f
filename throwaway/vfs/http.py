"""Http: named web resources, fetched by the host when the sandbox reads them."""

from __future__ import annotations

import errno
import time
from collections.abc import Mapping

import httpx

from throwaway.vfs.provider import Entry, MountProvider, Stat, oserror


class Http(MountProvider):
    """A read-only folder whose files are URLs: ``Http({"ip.txt": "https://api.ipify.org"})``.

    Only the listed URLs are ever fetched (no open proxy). A body is fetched when
    the sandbox first looks at the file and kept for ``cache_seconds``, so that
    ``stat`` then ``read`` cost one request. Bodies over ``max_bytes`` are refused
    (EFBIG); HTTP errors and timeouts read as EIO / ETIMEDOUT.
    """

    def __init__(
        self,
        resources: Mapping[str, str],
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        cache_seconds: float = 5.0,
        max_bytes: int = 100 << 20,
    ):
        for name in resources:
            if not name or "/" in name or name in (".", ".."):
                raise ValueError(f"Http: {name!r} is not a plain file name")
        self.resources = dict(resources)
        self.headers, self.timeout = dict(headers or {}), timeout
        self.cache_seconds, self.max_bytes = cache_seconds, max_bytes
        self._cache: dict[str, tuple[float, bytes]] = {}

    def describe(self) -> str:
        return "web resources: " + ", ".join(f"{n} ({u})" for n, u in self.resources.items())

    async def stat(self, path: str) -> Stat:
        if path == "":
            return Stat(is_dir=True)
        body = await self._body(path)
        return Stat(is_dir=False, size=len(body), mtime=time.time())

    async def list(self, path: str) -> list[str]:
        if path != "":
            raise oserror(errno.ENOTDIR if path in self.resources else errno.ENOENT, path)
        return sorted(self.resources)

    async def entries(self, path: str) -> list[Entry]:
        """Every resource is a file: listing fetches nothing."""
        return [Entry(name, False) for name in await self.list(path)]

    async def read(self, path: str, offset: int, size: int) -> bytes:
        if path == "":
            raise oserror(errno.EISDIR, path)
        return (await self._body(path))[offset : offset + size]

    async def _body(self, name: str) -> bytes:
        if name not in self.resources:
            raise oserror(errno.ENOENT, name)
        cached = self._cache.get(name)
        if cached and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        body = await self._fetch(self.resources[name], name)
        self._cache[name] = (time.monotonic(), body)
        return body

    async def _fetch(self, url: str, name: str) -> bytes:
        try:
            async with (
                httpx.AsyncClient(timeout=self.timeout, follow_redirects=True) as client,
                client.stream("GET", url, headers=self.headers) as response,
            ):
                if response.status_code >= 400:
                    raise oserror(errno.EIO, f"{name}: HTTP {response.status_code}")
                chunks, total = [], 0
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
                    if total > self.max_bytes:
                        raise oserror(errno.EFBIG, name)
                    chunks.append(chunk)
        except httpx.TimeoutException:
            raise oserror(errno.ETIMEDOUT, name) from None
        except httpx.HTTPError as exc:
            raise oserror(errno.EIO, f"{name}: {exc}") from None
        return b"".join(chunks)
