"""The pinned onnxruntime-web copy is the one its README names (SHA256SUMS), with its licence."""
import hashlib
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "api" / "static" / "vendor" / "onnxruntime-web"


def test_vendored_files_match_their_recorded_hashes():
    lines = (VENDOR / "SHA256SUMS").read_text().split("\n")
    recorded = dict(reversed(line.split()) for line in lines if line.strip())
    assert set(recorded) == {"ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm",
                             "ort.jspi.min.mjs", "ort-wasm-simd-threaded.jspi.mjs", "ort-wasm-simd-threaded.jspi.wasm"}
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (VENDOR / "LICENSE").read_text()
    assert "onnxruntime-web 1.31.1" in (VENDOR / "README.md").read_text()
