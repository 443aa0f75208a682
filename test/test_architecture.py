"""The package's layering, checked on its import graph (static, from the source).

Lowest first: ``core`` (and ``paths``, ``interface``) computes on arrays; ``readers`` read
motion files, ``devices`` real wearables' packets, ``retarget`` maps a body onto a robot;
``models`` holds the torch models that run; ``training`` teaches them and ``evaluation``
measures them; ``live`` runs capture without ROS; ``analysis`` reads recorded bags;
``nodes`` is the thin ROS shell (only what ``ros2 run`` starts); ``graph`` describes, runs
and measures the whole graph; ``tools`` are front ends. Arrows only point down; nothing
imports tools; what runs (live, analysis, nodes, graph) never imports training or
evaluation; only nodes and graph import rclpy (the graph's description excepted: the launch
file reads it); no import cycles between modules."""

import ast
from pathlib import Path

import ego4o_ros

PACKAGE = Path(ego4o_ros.__file__).resolve().parent
LAYER = {
    "core": 0,
    "devices": 1,
    "readers": 1,
    "retarget": 1,
    "models": 2,
    "training": 3,
    "evaluation": 4,
    "live": 4,
    "analysis": 5,
    "nodes": 6,
    "graph": 7,
    "tools": 8,
}
# Modules at the package root: where they sit.
ROOT_MODULES = {"paths": 0, "interface": 0}
# What runs (live capture, analysis, the ROS shell) never needs what learns or measures.
RUNS = ("live", "analysis", "nodes", "graph")
LEARNS_OR_MEASURES = ("training", "evaluation")


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield ".".join(p for p in parts if p != "__init__"), path


def imports_of(name: str, path: Path) -> set[str]:
    """Package-internal modules (dotted, relative to ego4o_ros) and 'rclpy' imported anywhere in the file."""
    tree = ast.parse(path.read_text())
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "rclpy":
                    out.add("rclpy")
                elif alias.name.startswith("ego4o_ros."):
                    out.add(alias.name.removeprefix("ego4o_ros."))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                module = node.module or ""
                if module.split(".")[0] == "rclpy":
                    out.add("rclpy")
                elif module.startswith("ego4o_ros"):
                    out.add(module.removeprefix("ego4o_ros").lstrip("."))
                continue
            base = package[: len(package) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            names = [target] if node.module else [".".join(base + [a.name]) for a in node.names]
            out.update(n for n in names if n)
    return out


def layer(module: str) -> int:
    top = module.split(".")[0]
    return LAYER.get(top, ROOT_MODULES.get(top, 0))


GRAPH = {name: imports_of(name, path) for name, path in modules()}


def test_arrows_point_down_and_nothing_imports_tools():
    upward = [
        (a, b)
        for a, deps in GRAPH.items()
        for b in deps
        if b != "rclpy" and layer(b) > layer(a) and not (a.startswith("tools") and b.startswith("tools"))
    ]
    assert upward == []
    into_tools = [
        (a, b) for a, deps in GRAPH.items() for b in deps if b.startswith("tools") and not a.startswith("tools")
    ]
    assert into_tools == []


def test_core_and_readers_import_no_higher_layer():
    for module, deps in GRAPH.items():
        if module.split(".")[0] in ("core", "readers"):
            assert not [d for d in deps if d.split(".")[0] in ("models", "live", "nodes", "tools", "analysis")], module


def test_only_the_ros_shell_imports_rclpy():
    users = sorted(m for m, deps in GRAPH.items() if "rclpy" in deps)
    assert users and all(m.split(".")[0] in ("nodes", "graph") for m in users), users
    assert "graph.description" not in users and "graph" not in users  # the launch file imports them


def test_what_runs_never_imports_what_learns_or_measures():
    found = [
        (a, b)
        for a, deps in GRAPH.items()
        for b in deps
        if a.split(".")[0] in RUNS and b.split(".")[0] in LEARNS_OR_MEASURES
    ]
    assert found == []


def test_nodes_holds_only_what_ros2_run_starts():
    from ego4o_ros.graph.description import capture_graph

    specs = capture_graph(foxglove=True, robot="g1") + capture_graph(bridge="imuposer")
    started = {spec.module.removeprefix("ego4o_ros.") for spec in specs}
    files = {m for m in GRAPH if m.startswith("nodes.") and m != "nodes.common"}
    assert files == started


def test_no_import_cycles():
    def resolve(dep):  # "models.ego4o.Ego4oModel" -> the module that exists
        while dep and dep not in GRAPH:
            dep = dep.rpartition(".")[0]
        return dep

    edges = {m: {resolve(d) for d in deps if d != "rclpy"} - {m, ""} for m, deps in GRAPH.items()}
    # Package __init__ files re-export their modules: an arrow into a package is not a cycle by itself.
    edges = {m: {d for d in ds if not m.startswith(d + ".")} for m, ds in edges.items()}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = 1
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []
