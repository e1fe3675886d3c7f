"""Memory bounded by the settings, not by the server's history.

glibc's malloc gives threads that allocate at the same time arenas of their own (up to eight
per core) and keeps what is freed in them for reuse; a server that decodes images and runs a
network on several threads grows by tens of MB per arena and burst, and keeps it. Two arenas
suffice for the work threads (one per stylisation slot, see admission.py), and trimming after
each burst hands the freed pages back to the system.
"""
import ctypes
import logging

log = logging.getLogger("stylize.api")
M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # another C library (musl, macOS): nothing to tune
        return None


LIBC = _glibc()


def limit_malloc_arenas(count):
    """At most `count` malloc arenas from now on (call before the work threads start)."""
    if LIBC is not None and not LIBC.mallopt(M_ARENA_MAX, count):
        log.warning("mallopt(M_ARENA_MAX, %d) failed", count)


def release_free_memory():
    """Give the pages that malloc holds free back to the system."""
    if LIBC is not None:
        LIBC.malloc_trim(0)
