"""The server's cache of encoded styles."""
import threading
from collections import OrderedDict


class StyleCache:
    """LRU of encoded styles keyed by SHA-256 of the style file (+ size and model): a repeated
    painting is not re-encoded."""

    def __init__(self, capacity):
        self.capacity, self.items, self.hits, self.misses = capacity, OrderedDict(), 0, 0
        self.lock = threading.Lock()

    def get_or_compute(self, key, compute):
        with self.lock:
            if key in self.items:
                self.hits += 1
                self.items.move_to_end(key)
                return self.items[key]
            self.misses += 1
        value = compute()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.capacity:
                self.items.popitem(last=False)
        return value

    def stats(self):
        return {"entries": len(self.items), "capacity": self.capacity, "hits": self.hits, "misses": self.misses}
