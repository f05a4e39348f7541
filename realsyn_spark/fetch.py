"""A bounded HTTP client for fetching images inside Spark tasks.

Bounds: http/https only (checked again at every redirect hop), connect/read timeouts and
a wall-clock deadline per fetch (a server dripping one byte a second cannot hold a task),
a byte cap (Content-Length checked first, then while streaming), a redirect limit, and
retries with exponential backoff for transient failures only (connection errors,
timeouts, 429 and 5xx). Every failure carries a named reason for the rejects table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urljoin, urlparse

import requests
import urllib3

from realsyn_spark.config import FetchConfig

_REDIRECTS = {301, 302, 303, 307, 308}
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass
class FetchResult:
    url: str
    data: bytes | None = None
    reason: str | None = None  # None when data was fetched
    detail: str = ""
    status: int | None = None
    attempts: int = 0
    final_url: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


class _Failure(Exception):
    def __init__(
        self, reason: str, detail: str = "", transient: bool = False, status: int | None = None
    ):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.transient = transient
        self.status = status


class BoundedFetcher:
    def __init__(self, config: FetchConfig) -> None:
        self.config = config
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = self.config.user_agent
            # Proxies from the environment would route around our scheme checks.
            session.trust_env = False
            self._local.session = session
        return session

    def fetch(self, url: str) -> FetchResult:
        cfg = self.config
        result = FetchResult(url)
        if not cfg.enabled:
            result.reason, result.detail = "fetch_disabled", "ingest.fetch.enabled is false"
            return result
        for attempt in range(cfg.retries + 1):
            result.attempts = attempt + 1
            try:
                result.data, result.final_url, result.status = self._fetch_once(url)
                result.reason, result.detail = None, ""
                return result
            except _Failure as failure:
                result.reason, result.detail, result.status = (
                    failure.reason,
                    failure.detail[:300],
                    failure.status,
                )
                if not failure.transient or attempt == cfg.retries:
                    return result
            time.sleep(cfg.backoff_s * (2**attempt))
        return result

    def fetch_many(self, urls: Iterable[str]) -> list[FetchResult]:
        urls = list(urls)
        if len(urls) <= 1 or self.config.concurrency == 1:
            return [self.fetch(u) for u in urls]
        with ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(urls))) as pool:
            return list(pool.map(self.fetch, urls))

    def _check_scheme(self, url: str, hop: int) -> None:
        scheme = urlparse(url).scheme.lower()
        if scheme not in self.config.allowed_schemes:
            reason = "fetch_redirect_bad_scheme" if hop else "fetch_bad_scheme"
            raise _Failure(reason, f"scheme {scheme or '(none)'!r} in {url[:200]}")

    def _fetch_once(self, url: str) -> tuple[bytes, str, int]:
        cfg = self.config
        deadline = time.monotonic() + cfg.total_timeout_s
        current = url
        for hop in range(cfg.max_redirects + 1):
            self._check_scheme(current, hop)
            try:
                response = self._session().get(
                    current,
                    stream=True,
                    allow_redirects=False,
                    timeout=(cfg.connect_timeout_s, cfg.read_timeout_s),
                )
            except requests.Timeout as exc:
                raise _Failure("fetch_timeout", str(exc), transient=True) from exc
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                raise _Failure("fetch_connection_error", str(exc), transient=True) from exc
            except requests.RequestException as exc:
                raise _Failure("fetch_invalid_url", str(exc)) from exc
            with response:
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("Location")
                    if not location:
                        raise _Failure("fetch_bad_redirect", "redirect without Location")
                    current = urljoin(current, location)
                    continue
                if response.status_code != 200:
                    raise _Failure(
                        f"fetch_http_{response.status_code}",
                        response.reason or "",
                        transient=response.status_code in _TRANSIENT_STATUS,
                        status=response.status_code,
                    )
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > cfg.max_bytes:
                    raise _Failure(
                        "fetch_too_large", f"Content-Length {declared} > {cfg.max_bytes}"
                    )
                chunks, total = [], 0
                try:
                    # read1 returns whatever has arrived, so the deadline is checked even
                    # while a server drips a few bytes per read timeout.
                    while chunk := response.raw.read1(65536, decode_content=True):
                        total += len(chunk)
                        if total > cfg.max_bytes:
                            raise _Failure("fetch_too_large", f"more than {cfg.max_bytes} bytes")
                        if time.monotonic() > deadline:
                            raise _Failure(
                                "fetch_timeout",
                                f"exceeded total_timeout_s={cfg.total_timeout_s}",
                                transient=True,
                            )
                        chunks.append(chunk)
                except urllib3.exceptions.ReadTimeoutError as exc:
                    raise _Failure("fetch_timeout", str(exc), transient=True) from exc
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    raise _Failure("fetch_connection_error", str(exc), transient=True) from exc
                return b"".join(chunks), current, response.status_code
        raise _Failure("fetch_too_many_redirects", f"more than {cfg.max_redirects} redirects")
