"""stylize/files.py: atomic writes, and the temporaries a killed writer leaves behind."""
from stylize.files import atomic_write, temporary_of


def test_a_killed_writers_temporary_names_its_target(tmp_path):
    seen = []
    atomic_write(tmp_path / "a.b.jpg", lambda tmp: seen.append(tmp.name) or tmp.write_bytes(b"x"))
    assert temporary_of(seen[0]) == "a.b.jpg"
    assert temporary_of("a.b.jpg") is None and temporary_of(".a.0123.jpg") is None
