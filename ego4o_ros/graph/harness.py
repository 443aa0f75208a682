"""The graph in one process tree, written once: ``ego4o-capture`` (``runner``), both benchmarks
and the ROS tests start, wait for, spin, drain and stop nodes through ``Harness``::

    with Harness(params, overrides) as graph:
        graph.start_process(captioning_spec)     # its own Python process; it dies with this one
        fusion = graph.start_node(fusion_spec)   # in this process, on the harness's executor
        graph.wait_ready({"captioning"})         # joined and made its topics (models loaded)
        replay = graph.start_node(replay_spec)
        graph.spin_until(lambda: replay.finished)
        graph.drain(1.5)                         # the last frames and descriptions
    # leaving: child processes get SIGINT (as Ctrl-C), this process's nodes are destroyed (a
    # recorder closes its bag), the executor and rclpy shut down, children are waited for
    # (SIGKILL after 10 s)

Every run stays on this machine (localhost discovery) and on its own ROS domain
(``ros_environment``). rclpy is imported when a harness is entered, not before: the process
helpers (``start_child``, ``node_arguments``) work without it.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# ---------------------------------------------------------------------------------------------
# Environment and parameters


def ros_environment(domain_id: int | None = None) -> dict:
    """Never leave the machine (localhost discovery); a run gets its own domain unless the
    environment (or ``domain_id``) names one. Sets this process's environment, returns it."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if domain_id is not None:
        os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
    return dict(os.environ)


def parameter_value(value) -> str:
    """A value for ``-p name:=value``, which ROS reads as YAML: strings are quoted (JSON is
    YAML), so ``walk #1.bvh`` stays one string and "true" stays text."""
    return (
        json.dumps(list(value) if isinstance(value, tuple) else value)
        if isinstance(value, (str, list, tuple))
        else str(value)
    )


def node_arguments(params: Path, spec, overrides: dict) -> list[str]:
    """The ``--ros-args`` of one node: the parameter file, its name, remappings, overrides."""
    args = ["--ros-args", "--params-file", str(params), "-r", f"__node:={spec.name}"]
    for old, new in spec.remappings:
        args += ["-r", f"{old}:={new}"]
    for name, value in overrides.get(spec.name, {}).items():
        args += ["-p", f"{name}:={parameter_value(value)}"]
    return args


def merge_overrides(*layers: dict) -> dict:
    merged: dict = {}
    for layer in layers:
        for name, values in layer.items():
            merged.setdefault(name, {}).update(values)
    return merged


def sim_time_overrides(specs, replay_name: str = "wearable_replay") -> dict:
    """Every node follows the replay's /clock (replays faster than real time)."""
    return {
        spec.name: ({"publish_clock": True} if spec.name == replay_name else {"use_sim_time": True}) for spec in specs
    }


# ---------------------------------------------------------------------------------------------
# Child processes


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies, even by kill -9 (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_child(command: list[str], env: dict | None = None, **popen) -> subprocess.Popen:
    """A child process that ends when this process ends, however it ends (no orphans
    reparented to PID 1 after a ``kill -9``)."""
    die_with_parent = _die_with_parent if sys.platform.startswith("linux") else None
    return subprocess.Popen(command, env=env, preexec_fn=die_with_parent, **popen)


def stop_processes(processes: list[subprocess.Popen], timeout: float = 10.0) -> None:
    """SIGINT (a clean shutdown, as Ctrl-C would), then SIGKILL after ``timeout``."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class NodeProcess:
    """One node of the graph in its own Python process, as ``ros2 launch`` runs it; restartable."""

    spec: object  # description.NodeSpec
    overrides: dict
    logs: Path | None = None  # <logs>/<name>_<start>.log; None: this process's stdout
    process: subprocess.Popen | None = None
    starts: int = 0
    expected_exit: bool = False  # stopped or killed on purpose

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def log(self) -> str:
        return f"logs/{self.name}_{self.starts - 1}.log"

    def exit_code(self) -> int | None:
        """The exit status if it exited unasked, else None."""
        code = self.process.poll() if self.process else None
        return None if self.expected_exit else code


class GraphStartError(RuntimeError):
    def __init__(self, dead: list[str]):
        super().__init__(f"{', '.join(dead)} exited at start")
        self.dead = dead


# ---------------------------------------------------------------------------------------------
# Readiness


def ready_nodes(observer, names: set[str]) -> set[str]:
    """Of ``names``, the nodes that have joined and created a topic of their own (not only
    the /rosout and /parameter_events every node has from the start)."""
    present = set(observer.get_node_names())
    ready = set()
    for name in names & present:
        try:
            topics = observer.get_publisher_names_and_types_by_node(name, "/")
            topics += observer.get_subscriber_names_and_types_by_node(name, "/")
        except Exception:  # the node left between the two calls
            continue
        if {t for t, _ in topics} - {"/rosout", "/parameter_events"}:
            ready.add(name)
    return ready


# ---------------------------------------------------------------------------------------------
# The harness


class Harness:
    """rclpy initialised on this run's domain, one executor, nodes in this process and in child
    processes; ``close()`` (or leaving the ``with``) tears it all down, whatever happened.

    ``params``: the parameter file every node reads (default ``config/capture.yaml``);
    ``overrides``: ``{node: {parameter: value}}`` on top of it (per node, per call otherwise);
    ``on_callback_error``: called with an exception a callback raised while spinning (the
    fault benchmark counts them as crashes); without it the exception propagates.
    """

    def __init__(
        self,
        params: Path | None = None,
        overrides: dict | None = None,
        domain_id: int | None = None,
        on_callback_error: Callable[[Exception], None] | None = None,
    ):
        self.env = ros_environment(domain_id)
        self._params = Path(params) if params else None
        self.overrides = overrides or {}
        self.on_callback_error = on_callback_error
        self.nodes: list = []
        self.processes: list[NodeProcess] = []
        self.commands: list[subprocess.Popen] = []
        self.executor = None
        self._frozen = False  # objects taken out of the garbage collector's walks (start_node)

    @property
    def params(self) -> Path:
        if self._params is None:
            from ..paths import share_file

            self._params = share_file("config", "capture.yaml")
        return self._params

    def __enter__(self) -> Harness:
        import rclpy

        from ..nodes.common import make_executor

        rclpy.init()
        self.executor = make_executor()
        return self

    def __exit__(self, exc_type, *_) -> None:
        self.close(raise_errors=exc_type is None)  # never hide the error that ended the run

    # -- nodes in this process ---------------------------------------------------------------
    def arguments(self, spec, overrides: dict | None = None) -> list[str]:
        return node_arguments(self.params, spec, self.overrides if overrides is None else overrides)

    def add(self, node):
        """A node made elsewhere, spun here and destroyed at teardown."""
        self.executor.add_node(node)
        self.nodes.append(node)
        return node

    def create_node(self, name: str, use_sim_time: bool | None = None, **kwargs):
        """A plain rclpy node (a probe, a monitor)."""
        import rclpy
        import rclpy.parameter

        if use_sim_time is not None:
            kwargs["parameter_overrides"] = [rclpy.parameter.Parameter("use_sim_time", value=use_sim_time)]
        return self.add(rclpy.create_node(name, **kwargs))

    def start_node(self, spec, overrides: dict | None = None):
        """The node class of ``spec``, in this process, with the parameter file and overrides."""
        from ..nodes.common import freeze_startup_objects

        node_class = getattr(importlib.import_module(spec.module), spec.node_class)
        node = self.add(node_class(cli_args=self.arguments(spec, overrides)))
        freeze_startup_objects()  # as in a node's own process; undone at close
        self._frozen = True
        return node

    def remove(self, *nodes) -> None:
        """Destroy nodes now (not at teardown)."""
        for node in nodes:
            self.nodes.remove(node)
            self.executor.remove_node(node)
            node.destroy_node()

    # -- child processes ---------------------------------------------------------------------
    def start_process(self, spec, overrides: dict | None = None, logs: Path | None = None) -> NodeProcess:
        """``spec``'s node in its own process (it dies with this one); ``logs``: a folder for its
        output (one file per start), else it shares this process's stdout."""
        child = NodeProcess(spec, self.overrides if overrides is None else overrides, logs)
        self.processes.append(child)
        self._launch(child)
        return child

    def _launch(self, child: NodeProcess) -> None:
        command = [sys.executable, "-m", child.spec.module, *node_arguments(self.params, child.spec, child.overrides)]
        if child.logs is None:
            child.process = start_child(command, self.env)
        else:
            child.logs.mkdir(parents=True, exist_ok=True)
            with open(child.logs / f"{child.name}_{child.starts}.log", "w") as log:  # the child keeps its own
                child.process = start_child(command, self.env, stdout=log, stderr=subprocess.STDOUT)
        child.starts += 1
        child.expected_exit = False

    def restart(self, child: NodeProcess, overrides: dict | None = None) -> None:
        if overrides is not None:
            child.overrides = overrides
        self._launch(child)

    def kill(self, child: NodeProcess) -> None:
        """SIGKILL (no clean shutdown), waited for."""
        child.expected_exit = True
        child.process.send_signal(signal.SIGKILL)
        child.process.wait()

    def stop(self, *children: NodeProcess, timeout: float = 10.0) -> None:
        """SIGINT, as Ctrl-C would; SIGKILL after ``timeout``."""
        for child in children:
            child.expected_exit = True
        stop_processes([c.process for c in children if c.process], timeout)

    def start_command(self, command: list[str], **popen) -> subprocess.Popen:
        """Any other child (a test's publisher script): dies with this process, stopped at teardown."""
        process = start_child(command, self.env, **popen)
        self.commands.append(process)
        return process

    # -- spinning ----------------------------------------------------------------------------
    def spin_once(self, timeout_s: float = 0.05) -> None:
        try:
            self.executor.spin_once(timeout_sec=timeout_s)
        except Exception as error:  # a callback raised: outside a harness the node would have died
            if self.on_callback_error is None:
                raise
            self.on_callback_error(error)

    def spin(self, seconds: float, poll_s: float = 0.05) -> None:
        """Spin for ``seconds``."""
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            self.spin_once(poll_s)

    def spin_until(
        self,
        condition: Callable[[], bool],
        timeout_s: float | None = None,
        poll_s: float = 0.05,
        every: tuple[float, Callable[[float], None]] | None = None,
    ) -> bool:
        """Spin until ``condition()`` (True) or ``timeout_s`` (False); ``every``: (period s,
        function of the seconds elapsed) called while waiting, e.g. a progress line."""
        start = last = time.monotonic()
        while not condition():
            now = time.monotonic()
            if timeout_s is not None and now - start >= timeout_s:
                return False
            if every is not None and now - last >= every[0]:
                last = now
                every[1](now - start)
            self.spin_once(poll_s)
        return True

    def wait_ready(
        self,
        names: set[str],
        timeout_s: float,
        observer=None,
        on_wait: Callable[[set[str]], None] | None = None,
    ) -> set[str]:
        """Spin until the nodes ``names`` have joined and made their topics (a node appears before
        it has loaded its models); returns those still missing after ``timeout_s``. A child
        process of this harness that exits meanwhile raises ``GraphStartError``. ``on_wait``:
        called once, with the missing names, when they are not ready at once."""
        observer = observer or self.nodes[0]
        start, announced = time.monotonic(), False
        while missing := set(names) - ready_nodes(observer, set(names)):
            if time.monotonic() - start >= timeout_s:
                return missing
            dead = [c.name for c in self.processes if c.exit_code() is not None]
            if dead:
                raise GraphStartError(dead)
            if on_wait is not None and not announced:
                announced = True
                on_wait(missing)
            self.spin_once(0.1)
        return set()

    def drain(self, seconds: float = 1.5, progress: Callable[[], object] | None = None, limit_s: float = 10.0) -> None:
        """After the inputs stop: spin ``seconds`` (the last frames and descriptions); with
        ``progress`` (what has arrived so far), until it has not changed for ``seconds``, at
        most ``limit_s``."""
        if progress is None:
            self.spin(seconds)
            return
        start = last_change = time.monotonic()
        seen = progress()
        while time.monotonic() - last_change < seconds and time.monotonic() - start < limit_s:
            self.spin_once(0.05)
            now_seen = progress()
            if now_seen != seen:
                seen, last_change = now_seen, time.monotonic()

    # -- teardown ----------------------------------------------------------------------------
    def close(self, raise_errors: bool = True) -> None:
        """Children get SIGINT first (they shut down while this process cleans up), this
        process's nodes are destroyed, the executor and rclpy shut down, then the children are
        waited for. Safe to call twice. A node whose destruction raised does not stop the rest;
        the first such error is raised at the end (``raise_errors``)."""
        children = [c.process for c in self.processes if c.process] + self.commands
        for child in self.processes:
            child.expected_exit = True
        errors = []
        try:
            for process in children:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
            if self.executor is not None:
                for node in self.nodes:
                    try:
                        self.executor.remove_node(node)
                        node.destroy_node()  # the recorder closes its bag here
                    except Exception as error:  # the others are still destroyed
                        errors.append(error)
                self.nodes = []
                self.executor.shutdown()
                self.executor = None
                import rclpy

                rclpy.try_shutdown()
        finally:
            stop_processes(children)
            if self._frozen:  # this process goes on (a test run): its nodes' objects can be collected again
                gc.unfreeze()
                self._frozen = False
        if errors and raise_errors:
            raise errors[0]
