"""The package's layers: imports only go down, and no module imports itself back through others.

pure maths -> pipeline -> segmentor and methods -> API -> command and page; light modules (files, settings,
budgets, downloads) are below them all. An import inside a function counts; one under ``if TYPE_CHECKING:``
(annotations only) does not.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "itaclip"
LAYERS = {
    0: ["__init__", "_shim", "compat", "atomic", "fetch", "class_files", "presets", "settings", "budget", "llm_texts"],
    1: ["kernels", "backbone", "scclip", "resclip", "proxyclip", "dino", "views", "pamr", "postprocess", "slide",
        "tiles", "render", "formats"],  # pure maths (methods' endings of the vision forward, DINO), drawing, formats
    2: ["weights", "vfm", "text_encoder", "text", "reference", "provenance"],  # the pipeline
    3: ["segmentor", "methods", "models", "datasets", "hooks"],  # the one segmentor, the methods, registration
    4: ["api", "results", "collection"],  # the API, results and collections of them
    5: ["cli", "web", "evaluate"],  # the command, the page, evaluation
}
LAYER = {module: layer for layer, modules in LAYERS.items() for module in modules}


def imports_of(path: Path) -> set[str]:
    """Package modules ``path`` imports (relative or ``itaclip.``), outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text())
    skipped = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
               and getattr(block.test, "id", None) == "TYPE_CHECKING" for node in ast.walk(block)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level == 0 and not base.startswith("itaclip"):
                continue
            base = base.removeprefix("itaclip").lstrip(".")
            if base:
                found.add(base.split(".")[0])
            else:  # from . import a, b
                found.update(alias.name for alias in node.names if (PACKAGE / f"{alias.name}.py").is_file())
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("itaclip."))
    return found - {path.stem}


GRAPH = {path.stem: imports_of(path) for path in sorted(PACKAGE.glob("*.py"))}


def test_every_module_has_a_layer():
    assert set(GRAPH) == set(LAYER), set(GRAPH) ^ set(LAYER)


def test_imports_only_go_down():
    upward = [f"{module} (layer {LAYER[module]}) imports {other} (layer {LAYER[other]})"
              for module, others in GRAPH.items() for other in sorted(others) if LAYER[other] > LAYER[module]]
    assert not upward, "\n".join(upward)


def test_no_import_circle():
    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for other in GRAPH[todo.pop()]:
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
        return seen

    circles = sorted(module for module in GRAPH if module in reach(module))
    assert not circles, f"modules that import themselves back: {circles}"
