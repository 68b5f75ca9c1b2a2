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


#: The longest a class and a function of the package may be, in lines.
MAX_CLASS_LINES, MAX_FUNCTION_LINES = 300, 80
#: Functions that may run longer, each with its reason (the fused kernels' loops, where a split
#: would cost a call per time step).
LONG_FUNCTIONS = {}
#: The most parameters a function may take (self and cls not counted), model constructors aside.
MAX_PARAMETERS = 10
#: The classes whose instances are data of one kind or the other: asking which one an object is
#: belongs in at most MAX_KIND_QUESTIONS places (factories); everything else asks the data.
DATA_KINDS = {"Corpus", "Data", "Questions", "Split", "Sequences", "Vocab", "TokenVocab"}
MAX_KIND_QUESTIONS = 3


def _definitions():
    """(module, qualified name, node) of every class and function of the package."""
    for module, path in MODULES.items():
        def walk(node, prefix):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    name = f"{prefix}{child.name}"
                    yield module, name, child
                    yield from walk(child, name + ".")
        yield from walk(ast.parse(path.read_text(encoding="utf-8")), "")


def _lines(node):
    return node.end_lineno - node.lineno + 1


def test_no_class_is_over_300_lines_and_no_function_over_80():
    long = [f"{module}.{name}: {_lines(node)} lines" for module, name, node in _definitions()
            if _lines(node) > (MAX_CLASS_LINES if isinstance(node, ast.ClassDef)
                               else MAX_FUNCTION_LINES)
            and f"{module}.{name}" not in LONG_FUNCTIONS]
    assert not long, "; ".join(long)


def _is_model_constructor(module, name):
    return module.startswith("s2sxp.models") and name.endswith("Seq2seq.__init__") or name in (
        "Seq2seqBase.__init__", "Seq2seq.__init__")


def test_no_function_takes_more_than_10_parameters_but_the_model_constructors():
    many = []
    for module, name, node in _definitions():
        if isinstance(node, ast.ClassDef) or _is_model_constructor(module, name):
            continue
        a = node.args
        names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
        names += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
        count = len([n for n in names if n not in ("self", "cls")])
        if count > MAX_PARAMETERS:
            many.append(f"{module}.{name}: {count}")
    assert not many, "; ".join(many)


def _names_a_kind(node):
    """Whether ``node`` names a class of DATA_KINDS (alone, as module.Class, or in a tuple)."""
    if isinstance(node, ast.Tuple):
        return any(_names_a_kind(e) for e in node.elts)
    return (isinstance(node, ast.Name) and node.id in DATA_KINDS
            or isinstance(node, ast.Attribute) and node.attr in DATA_KINDS)


def _asks_the_kind(node):
    """Whether ``node`` asks which kind of data an object is, or picks one: isinstance or
    issubclass of a data class, a comparison with one, a function that returns one, or a
    question named is_corpus."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id in (
                "isinstance", "issubclass") and len(inner.args) == 2 and _names_a_kind(
                inner.args[1]):
            return True
        if isinstance(inner, ast.Compare) and any(_names_a_kind(c) for c in inner.comparators):
            return True
        if isinstance(inner, ast.Return) and inner.value is not None and _names_a_kind(
                inner.value):
            return True
        if isinstance(inner, (ast.Name, ast.Attribute)) and getattr(
                inner, "id", getattr(inner, "attr", None)) == "is_corpus":
            return True
    return False


def _kind_questions():
    """The functions that ask what kind of data they hold (their own comparison of two
    vocabularies, __eq__, aside): the innermost function around each question."""
    found = set()
    for module, name, node in _definitions():
        if isinstance(node, ast.ClassDef) or name.endswith("__eq__"):
            continue
        inner = [c for c in ast.walk(node) if c is not node and isinstance(
            c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        body = ast.Module(body=[s for s in node.body if not any(
            s is c or c in ast.walk(s) for c in inner)], type_ignores=[])
        if _asks_the_kind(body):
            found.add(f"{module}.{name}")
    return sorted(found)


def test_at_most_3_places_ask_what_kind_of_data_they_hold():
    places = _kind_questions()
    assert len(places) <= MAX_KIND_QUESTIONS, "; ".join(places)


def test_the_kind_question_finds_what_it_looks_for():
    tree = ast.parse("def f(x):\n    return isinstance(x, corpus.Corpus)\n"
                     "def g(c):\n    return c.is_corpus\n"
                     "def h(v):\n    if v is TokenVocab:\n        return 1\n"
                     "def k(s):\n    return datasets.Data\n"
                     "def m(x):\n    return isinstance(x, dict)\n")
    asked = [f.name for f in tree.body if _asks_the_kind(f)]
    assert asked == ["f", "g", "h", "k"]
