"""The chain of training commands behind a checkpoint or a weights file.

Weights are often trained in segments: a fresh start, warm starts from an exported file, resumes
with other flags. Each run adds one segment (the iteration it started at and its command line), so
an exported file names every command behind it, not only the last.
"""


def commands_of(record):
    """The segments recorded in a checkpoint or in a file's metadata. Records from before segments
    were kept name only their last command, with its starting iteration unknown."""
    if "commands" in record:
        return list(record["commands"])
    return [{"from_iteration": None, "command": record["command"]}] if record.get("command") else []


def add_segment(previous, command, start):
    """`previous` segments followed by this run's, which starts at iteration `start`."""
    return [*previous, {"from_iteration": start, "command": command}]
