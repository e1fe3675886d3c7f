class StylizeError(Exception):
    """A problem with the user's input (file, option, weights), worded for the user."""


class ImageTooLarge(StylizeError):
    """An image over the pixel limit (a decompression bomb, or just too big to work on)."""
