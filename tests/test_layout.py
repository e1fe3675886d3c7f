"""The import rules of the layout: the library's layers point one way (LEVELS), the library never
imports a face (stylize.api, stylize.cli), inference never imports training code, and no face
imports another."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The library's layers, bottom up: a module imports its own package and lower levels only, so
# media and models (one level) know nothing of each other, and nothing below training loads it.
LEVELS = {"stylize.errors": 0, "stylize.files": 0,
          "stylize.device": 1, "stylize.media": 1, "stylize.models": 1,
          "stylize.pipelines": 2,
          "stylize.export": 3, "stylize.dataset": 3, "stylize.augment": 3,
          "stylize.training": 4}


def imported_modules(folder):
    """{file: set of absolute module names it imports} for every .py file under folder."""
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path.relative_to(ROOT)] = names
    return found


def layer_of(module):
    return next((layer for layer in LEVELS if module == layer or module.startswith(layer + ".")), None)


def test_the_library_layers_point_one_way():
    for path, names in imported_modules("stylize").items():
        module = ".".join(path.with_suffix("").parts).removesuffix(".__init__")
        own = layer_of(module)
        for name in names:
            layer = layer_of(name)
            if own is None or layer is None or layer == own:
                continue
            assert LEVELS[layer] < LEVELS[own], f"{path} imports {name}: {own} may not import {layer}"


def test_the_library_never_imports_a_face():
    for path, names in imported_modules("stylize").items():
        assert not any(n.startswith(("stylize.api", "stylize.cli", "api", "cli")) for n in names), path


def test_no_face_imports_another():
    # `stylize serve` starts the API (stylize.api.main), and that is all the CLI takes from it.
    for face, other in (("api", "stylize.cli"), ("cli", "stylize.api.routers")):
        for path, names in imported_modules(face).items():
            assert not any(n.startswith(other) for n in names), path
    for path in (ROOT / "api" / "routers").glob("*.py"):  # no route borrows another route's code
        siblings = [node for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.ImportFrom) and node.level == 1]
        assert not siblings, path


def test_inference_never_loads_training_code():
    inference = ["stylize.pipelines.executor", "stylize.pipelines.frames", "stylize.export.onnx", "stylize.augment",
                 "stylize.dataset.pipeline",
                 "stylize.models.registry", "stylize.media.video", "stylize.api.main"]
    code = (f"import sys, {', '.join(inference)}; "
            "print(sorted(m for m in sys.modules if m.startswith('stylize.training')))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_no_module_of_the_library_or_its_faces_is_over_300_lines():
    # small modules with one job each: a longer one is a sign that it has grown a second job
    long = {str(path): lines for folder in ("stylize", "api", "cli") for path in sorted((ROOT / folder).rglob("*.py"))
            if (lines := len(path.read_text().splitlines())) > 300}
    assert long == {}
