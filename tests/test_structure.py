"""How the package is put together: its modules import one another without a circle, no private
name crosses from one module to another, and nothing of the benchmarks (nor PyTorch) is in it."""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "s2sxp"


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module, node):
    """The absolute name of what an ImportFrom in ``module`` imports from."""
    if not node.level:
        return node.module
    package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
    for _ in range(node.level - 1):
        package = package.rsplit(".", 1)[0]
    return f"{package}.{node.module}" if node.module else package


def _imports(module):
    """[(imported module, [names taken from it])] of every import in ``module``, those inside
    functions included, restricted to the package's own modules."""
    found = []
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names if alias.name in MODULES]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            if source not in MODULES:
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in MODULES:
                    found.append((submodule, []))
                else:
                    found.append((source, [alias.name]))
    return found


def _graph():
    return {m: {target for target, _ in _imports(m) if target != m} for m in MODULES}


def _package_of(module):
    return module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]


def test_no_module_imports_another_in_a_circle():
    graph = _graph()
    # a package's __init__ hands on names of its own modules: that arrow is not a circle
    for module, targets in graph.items():
        if MODULES[module].name == "__init__.py":
            graph[module] = {t for t in targets if not t.startswith(module + ".")}
    state, circles = {}, []

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_no_private_name_is_imported_from_another_module():
    crossing = [f"{module} takes {name} from {source}" for module in MODULES
                for source, names in _imports(module) for name in names
                if name.startswith("_") and not name.startswith("__")]
    assert not crossing, "; ".join(crossing)


def test_no_private_attribute_of_another_module_is_used():
    crossing = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and _resolve(module, node) in MODULES:
                source = _resolve(module, node)
                for alias in node.names:
                    if f"{source}.{alias.name}" in MODULES:
                        aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                crossing.append(f"{module} uses {aliases[node.value.id]}.{node.attr}")
    assert not crossing, "; ".join(crossing)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_says_what_lives_there(module):
    docstring = ast.get_docstring(ast.parse(MODULES[module].read_text(encoding="utf-8")))
    assert docstring and len(docstring.split()) >= 8, f"{module} has no opening docstring"


def test_the_benchmarks_and_pytorch_are_not_in_the_package():
    assert not [m for m in MODULES if "bench" in m.rsplit(".", 1)[-1]]
    for module in MODULES:
        names = {alias.name.split(".")[0] for node in
                 ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8")))
                 if isinstance(node, (ast.Import, ast.ImportFrom))
                 for alias in (node.names if isinstance(node, ast.Import)
                               else [ast.alias(node.module or "")])}
        assert "torch" not in names and "benchmarks" not in names, module
