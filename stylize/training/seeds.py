"""Seeds of the per-iteration random draws: the same numbers in every process.

A draw seeded by `seed_of(run seed, stream, iteration)` depends on nothing else, so a run resumed
in a fresh process sees the batches the uninterrupted run would have. Only integers go in:
Python hashes an int (and a tuple of ints) the same way in every process, whereas a str's or a
bytes' hash is salted per process (PYTHONHASHSEED).

Streams: data ranks are 0, 1, ...; the other draws take the negative numbers below, so no two
draws of one run share a seed.
"""
TEACHER_POOL = -1  # train-fast: which pool pairs a phase-2 step learns from
BANK_STYLES = -2  # train-bank: which new style each content crop is painted in


def seed_of(*parts):
    """A 63-bit generator seed from integers."""
    if not all(isinstance(part, int) for part in parts):
        raise TypeError(f"seeds derive from integers only, got {parts!r}")
    return hash(parts) & (2**63 - 1)
