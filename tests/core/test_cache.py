"""The production cache backend: Django's Redis cache, one client per server kept instead of one
built per call. Runs against Redis when REDIS_URL is set (CI); the behaviour without a server runs
everywhere."""

import uuid

import pytest
from django.conf import settings
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from releasemgmt.core.cache import RedisCache


def _cache(location: str) -> RedisCache:
    return RedisCache(location, {"KEY_PREFIX": f"test-cache-{uuid.uuid4().hex}"})


def test_it_is_a_django_redis_cache_for_the_code_that_checks():
    # the API throttles talk to Redis directly when the backend is a RedisCache
    assert isinstance(_cache("redis://127.0.0.1:1/0"), DjangoRedisCache)


def test_every_call_uses_the_same_client():
    cache = _cache("redis://127.0.0.1:1/0")
    first = cache._cache.get_client(write=True)
    assert cache._cache.get_client("key") is first
    assert cache._cache.get_client("other", write=True) is first


def test_each_server_has_its_own_client():
    cache = _cache("redis://127.0.0.1:1/0,redis://127.0.0.1:2/0")
    writer = cache._cache.get_client(write=True)
    reader = cache._cache.get_client()  # reads go to the other servers
    assert reader is not writer
    assert reader.connection_pool is not writer.connection_pool
    assert cache._cache.get_client() is reader


def test_an_unreachable_server_raises_on_every_call():
    cache = _cache("redis://127.0.0.1:1/0")
    for _ in range(2):  # the kept client does not hide the outage on the second call
        with pytest.raises(Exception, match=r"(?i)connect"):
            cache.get("key")


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL)")
def test_it_stores_and_reads_like_djangos_backend():
    cache = _cache(settings.REDIS_URL)
    try:
        assert cache.add("key", {"a": 1}, 30) is True
        assert cache.add("key", "other", 30) is False
        assert cache.get("key") == {"a": 1}
        cache.set("count", 1, 30)
        assert cache.incr("count", 2) == 3
        assert cache.get_many(["key", "count", "missing"]) == {"key": {"a": 1}, "count": 3}
        cache.delete("key")
        assert cache.get("key", "gone") == "gone"
    finally:
        cache.delete_many(["key", "count"])
