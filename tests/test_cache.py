"""The cache shares one Redis connection pool between the threads of a process (under ASGI each
request runs in a thread of its own, and Django gives each thread its own cache object)."""

import threading

from django.core.cache import caches


def test_every_thread_uses_the_same_redis_connection_pool():
    pools = []

    def use_the_cache():
        cache = caches["default"]
        cache.set("pool-probe", 1, timeout=5)
        pools.append(cache._cache._get_connection_pool(write=True))

    threads = [threading.Thread(target=use_the_cache) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(pools) == 3
    assert len({id(pool) for pool in pools}) == 1
