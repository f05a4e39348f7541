from __future__ import annotations

import time

import pytest
from httpserver import OK_PNG, serve

from realsyn_spark.config import FetchConfig
from realsyn_spark.fetch import BoundedFetcher


@pytest.fixture(scope="module")
def base_url():
    with serve() as url:
        yield url


def fetcher(**kwargs) -> BoundedFetcher:
    settings = dict(
        connect_timeout_s=1.0,
        read_timeout_s=1.0,
        total_timeout_s=1.0,
        max_bytes=100_000,
        retries=1,
        backoff_s=0.01,
        max_redirects=3,
    )
    settings.update(kwargs)
    return BoundedFetcher(FetchConfig(**settings))


def test_ok_and_redirect_within_http(base_url):
    result = fetcher().fetch(f"{base_url}/ok.png")
    assert result.ok and result.data == OK_PNG
    redirected = fetcher().fetch(f"{base_url}/redirect-ok")
    assert redirected.ok and redirected.final_url.endswith("/ok.png")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/missing.png", "fetch_http_404"),
        ("/big.png", "fetch_too_large"),
        ("/big-chunked.png", "fetch_too_large"),
        ("/redirect-ftp", "fetch_redirect_bad_scheme"),
        ("/redirect-file", "fetch_redirect_bad_scheme"),
        ("/redirect-loop", "fetch_too_many_redirects"),
    ],
)
def test_failures_have_named_reasons(base_url, path, reason):
    result = fetcher().fetch(f"{base_url}{path}")
    assert not result.ok
    assert result.reason == reason


def test_slow_drip_is_cut_at_the_total_deadline(base_url):
    started = time.monotonic()
    result = fetcher(retries=0, total_timeout_s=0.5).fetch(f"{base_url}/slow.png")
    assert result.reason == "fetch_timeout"
    assert time.monotonic() - started < 3


def test_non_http_schemes_are_refused_without_a_request():
    for url in ("ftp://example.org/a.png", "file:///etc/passwd", "javascript:alert(1)"):
        assert fetcher().fetch(url).reason == "fetch_bad_scheme"


def test_transient_errors_are_retried_and_permanent_ones_are_not(base_url):
    flaky = fetcher(retries=2).fetch(f"{base_url}/flaky.png?case=retry")
    assert flaky.ok and flaky.attempts == 2
    missing = fetcher(retries=2).fetch(f"{base_url}/missing.png")
    assert missing.attempts == 1
    unreachable = fetcher(retries=1).fetch("http://127.0.0.1:9/closed-port.png")
    assert unreachable.reason == "fetch_connection_error" and unreachable.attempts == 2


def test_fetch_many_keeps_order(base_url):
    urls = [f"{base_url}/ok.png", f"{base_url}/missing.png", f"{base_url}/ok.png"]
    results = fetcher(concurrency=3).fetch_many(urls)
    assert [r.ok for r in results] == [True, False, True]
