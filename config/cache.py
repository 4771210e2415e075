"""Django's Redis cache with one connection pool per process instead of one per thread.

Django gives every thread its own cache object, and under ASGI every request runs in a thread of its
own: with the stock backend each request opened a new Redis connection (a TCP handshake before its
first cache call, the rate limiter's included). redis-py's pools are thread-safe and reset themselves
in a forked child, so the threads of a process share one.
"""

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_pools: dict = {}
_pools_lock = threading.Lock()


class SharedPoolRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write):
        url = self._servers[self._get_connection_pool_index(write)]
        pool = _pools.get(url)
        if pool is None:
            with _pools_lock:
                pool = _pools.get(url)
                if pool is None:
                    pool = _pools[url] = self._pool_class.from_url(url, **self._pool_options)
        return pool


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
