"""API rate limits that cost O(1) per request: one counter per client and fixed window.

DRF's throttles keep every request time of the last window in one cache entry, read and re-saved
whole on each call; at a limit of thousands a minute that list is the most expensive part of a
cheap request. Here a request is one ``INCR`` on Redis (the window's first also sets its expiry). A
fixed window lets a client send up to twice the rate across a window's edge, which is what a
limit against runaway clients needs. With the cache unreachable the limit is not enforced: the
API keeps answering, and the outage is logged."""

import logging

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework import throttling

logger = logging.getLogger(__name__)


class FixedWindowMixin:
    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        try:
            count = self.count(f"{self.key}:{window}")
        except Exception:  # the cache is down: answer rather than refuse everyone
            logger.warning("API rate limit not checked: the cache is unreachable.", exc_info=True)
            return True
        return count <= self.num_requests

    def count(self, key: str) -> int:
        """This window's count for the client, this request included."""
        cache, ttl = caches[DEFAULT_CACHE_ALIAS], self.duration + 1  # the backend, not the proxy
        if isinstance(cache, RedisCache):
            key = cache.make_and_validate_key(key)
            client = cache._cache.get_client(key, write=True)
            count = client.incr(key)
            if count == 1:  # the window's first request starts its clock
                client.expire(key, ttl)
            return count
        if cache.add(key, 1, ttl):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, ttl)
            return 1

    def wait(self):
        return max(self.window_ends - self.timer(), 0)


class AnonRateThrottle(FixedWindowMixin, throttling.AnonRateThrottle):
    """Anonymous callers, per IP address (``API_THROTTLE_ANON``)."""


class UserRateThrottle(FixedWindowMixin, throttling.UserRateThrottle):
    """Signed-in callers, per user (``API_THROTTLE_USER``)."""
