class StylizeError(Exception):
    """A problem with the user's input (file, option, weights), worded for the user."""


class ImageTooLarge(StylizeError):
    """An image over the pixel limit (a decompression bomb, or just too big to work on)."""


class Cancelled(StylizeError):
    """Work stopped at a stage boundary because its caller asked (deadline passed, shutting down)."""


def check_stop(should_stop):
    """Raise Cancelled if `should_stop()` gives a reason; None means carry on (and so does no callable)."""
    reason = should_stop() if should_stop is not None else None
    if reason:
        raise Cancelled(reason)
