class StylizeError(Exception):
    """A problem with the user's input (file, option, weights), worded for the user."""
