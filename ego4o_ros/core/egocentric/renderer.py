"""Rendering: moderngl on a standalone EGL context (Mesa's llvmpipe on a CPU), one context
per process shared by all renderers.

``EgocentricRenderer``: joints and camera poses go to the GPU as textures; a batch of
frames is drawn as tiles of one atlas with three instanced draw calls (body, room + boxes,
floor) and read back at once, which keeps the per-frame CPU cost at a few hundred
microseconds. The GLSL is package data in ``shaders/`` (read with ``importlib.resources``,
so it is found in a checkout, a wheel and a colcon install alike). For fisheye, a clip
distance on the angle from the optical axis removes triangles far outside the image
(behind the camera), where the projection (``shaders/project.glsl``) has its seam.

No EGL or no OpenGL 3.3: ``EgocentricRenderError`` with one message saying what is
missing, raised when the first renderer is created. Create renderers in the process that
uses them (a GL context does not survive ``fork``).
"""

from __future__ import annotations

import functools
import math
import os
from importlib import resources

import numpy as np

from .. import body
from .camera import EgoCameraConfig, _check_joints, camera_poses
from .meshes import _capsule_mesh, _polar_floor, _room_mesh
from .scene import FLOOR_PATTERNS, SEGMENTS, Appearance, Scene, build_scene


class EgocentricRenderError(RuntimeError):
    """No headless OpenGL here: moderngl, EGL or an OpenGL 3.3 driver is missing."""


@functools.cache
def _shader(name: str) -> str:
    """The GLSL source ``shaders/<name>`` (package data of this package)."""
    return (resources.files(__package__) / "shaders" / name).read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- context

_CONTEXT = None  # one GL context per process, shared by every renderer


def _load_triton_first() -> None:
    """Mesa's llvmpipe and triton (torch's compiler, loaded by ``torch.optim``) each bring
    their own LLVM; triton loaded after an EGL context exists crashes the process. Loaded
    first, both work. Nothing happens where triton is not installed."""
    import importlib.util

    if importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401


def _context(threads: int | None = None):
    """The process's standalone EGL context, created on first use.

    ``threads``: llvmpipe's rasteriser threads (LP_NUM_THREADS; 0 = draw on the calling
    thread). It is read once, when the first context is created, and a value already in
    the environment wins."""
    global _CONTEXT
    if _CONTEXT is not None:
        return _CONTEXT
    try:
        import moderngl
    except ImportError as error:
        raise EgocentricRenderError(
            f"the egocentric renderer needs moderngl, which is not installed ({error}); pip install moderngl"
        ) from None
    if threads is not None:
        os.environ.setdefault("LP_NUM_THREADS", str(int(threads)))
    _load_triton_first()
    try:
        ctx = moderngl.create_standalone_context(backend="egl")
    except Exception as error:  # moderngl/glcontext raise plain Exceptions with the loader's message
        raise EgocentricRenderError(
            "no headless OpenGL: moderngl could not create an EGL context "
            f"({type(error).__name__}: {error}). The egocentric renderer needs libEGL and an OpenGL 3.3 "
            "driver; on a machine without a GPU, Mesa's llvmpipe works (Debian/Ubuntu: apt install libegl1 "
            "libgl1-mesa-dri)."
        ) from None
    if ctx.version_code < 330:
        version = ctx.info.get("GL_VERSION", ctx.version_code)
        ctx.release()
        raise EgocentricRenderError(f"the egocentric renderer needs OpenGL 3.3, this EGL context offers {version}")
    _CONTEXT = ctx
    return ctx


# ----------------------------------------------------------------------------- renderer

GL_CLIP_DISTANCE0 = 0x3000
MAX_TEXTURE_ROWS = 8192  # frames per upload of the joint/camera textures (well under GL limits)


class EgocentricRenderer:
    """Renders head-mounted views of joint sequences; reusable across clips.

    ``renderer.render(joints, appearance) -> uint8 (T, H, W, 3)``. ``close()`` (or a
    ``with`` block) frees its GL objects; the process's context stays for the next one.
    ``threads``: llvmpipe threads, see ``_context`` (only the process's first renderer sets it).
    A GL context belongs to one thread at a time: call a renderer from one thread only.
    """

    def __init__(self, config: EgoCameraConfig = EgoCameraConfig(), threads: int | None = None):
        self.config = config
        self.ctx = _context(threads)
        ctx = self.ctx
        self._objects = []
        define = f"#version 330\n#define NUM_SEGMENTS {len(SEGMENTS)}\n"
        define += "#define FISHEYE\n" if config.projection == "fisheye" else ""
        vs_head = define + _shader("project.glsl")
        fs_head = "#version 330\n" + _shader("shade.glsl")

        def program(part: str):  # shaders/<part>_vertex.glsl and <part>_fragment.glsl
            vertex, fragment = _shader(f"{part}_vertex.glsl"), _shader(f"{part}_fragment.glsl")
            return self._keep(ctx.program(vertex_shader=vs_head + vertex, fragment_shader=fs_head + fragment))

        self._body, self._room, self._floor = program("body"), program("room"), program("floor")
        self._programs = (self._body, self._room, self._floor)

        capsule, capsule_idx = _capsule_mesh()
        self._body_vao = self._keep(
            ctx.vertex_array(
                self._body,
                [(self._keep(ctx.buffer(capsule.tobytes())), "4f", "in_vert")],
                self._keep(ctx.buffer(capsule_idx.tobytes())),
            )
        )
        disc, disc_idx = _polar_floor()
        self._floor_vao = self._keep(
            ctx.vertex_array(
                self._floor,
                [(self._keep(ctx.buffer(disc.tobytes())), "2f", "in_xz")],
                self._keep(ctx.buffer(disc_idx.tobytes())),
            )
        )
        self._room_vao = None
        self._room_buffers: list = []

        # The atlas: a batch of frames drawn as tiles of one framebuffer and read back at once.
        w, h = config.width, config.height
        side = max(1, min(8, 2048 // max(w, h)))
        self._tiles = (side, side)
        self._atlas = (side * w, side * h)
        self._fbo = self._keep(
            ctx.framebuffer(
                color_attachments=[self._keep(ctx.renderbuffer(self._atlas, components=4, samples=config.samples))],
                depth_attachment=self._keep(ctx.depth_renderbuffer(self._atlas, samples=config.samples)),
            )
        )
        self._resolved = self._fbo
        if config.samples:  # multisampled pixels are averaged into a plain framebuffer before reading
            self._resolved = self._keep(
                ctx.framebuffer(color_attachments=[self._keep(ctx.renderbuffer(self._atlas, components=4))])
            )
        half = math.radians(config.fov_deg) / 2.0
        if config.projection == "fisheye":
            focal = 1.0 / half
            # The image corner's angle plus a margin: nothing visible is clipped, the fold is.
            corner = half * math.hypot(1.0, 1.0 / config.aspect)
            cos_max = math.cos(min(corner + math.radians(10.0), math.radians(175.0)))
        else:
            focal, cos_max = 1.0 / math.tan(half), -1.0
        common = {
            "near_m": config.near_m,
            "far_m": config.far_m,
            "focal": focal,
            "aspect": config.aspect,
            "cos_theta_max": cos_max,
            "tiles_x": self._tiles[0],
            "tile_scale": (2.0 / self._tiles[0], 2.0 / self._tiles[1]),
            "cameras": 0,
        }
        for program in self._programs:
            for name, value in common.items():
                if name in program:
                    program[name].value = value
        self._body["joints"].value = 1
        self._body["seg_joints"].value = [s[:3] for s in SEGMENTS]
        self._body["seg_shape"].value = [s[3:6] for s in SEGMENTS]
        self._joint_tex = None
        self._camera_tex = None
        self._closed = False

    def _keep(self, obj):
        self._objects.append(obj)
        return obj

    # -- per take

    def _set_appearance(self, appearance: Appearance, scene: Scene) -> None:
        light = np.asarray(appearance.light_dir, np.float64)
        light = tuple(float(x) for x in light / np.linalg.norm(light))
        for program in self._programs:
            program["light_dir"].value = light
            program["ambient"].value = float(appearance.ambient)
        self._body["seg_color"].value = [tuple(appearance.colors[s[6]]) for s in SEGMENTS]
        self._room["floor_y"].value = scene.floor_y
        self._room["trim_color"].value = tuple(appearance.trim_color)
        self._floor["floor_y"].value = scene.floor_y
        self._floor["pattern"].value = FLOOR_PATTERNS.index(appearance.floor_pattern)
        self._floor["floor_a"].value = tuple(appearance.floor_colors[0])
        self._floor["floor_b"].value = tuple(appearance.floor_colors[1])
        self._floor["tile_m"].value = float(appearance.floor_tile_m)
        self._floor["angle"].value = math.radians(appearance.floor_angle_deg)
        verts, idx = _room_mesh(scene, appearance)
        self._release_room()
        vbo, ibo = self.ctx.buffer(verts.tobytes()), self.ctx.buffer(idx.tobytes())
        self._room_buffers = [vbo, ibo]
        self._room_vao = self.ctx.vertex_array(
            self._room, [(vbo, "3f 3f 3f 1f", "in_pos", "in_normal", "in_color", "in_material")], ibo
        )

    def _release_room(self) -> None:
        for obj in ([self._room_vao] if self._room_vao is not None else []) + self._room_buffers:
            obj.release()
        self._room_vao, self._room_buffers = None, []

    def _upload(self, joints: np.ndarray, poses: np.ndarray) -> None:
        """Joints and cameras of up to MAX_TEXTURE_ROWS frames as float textures, one row per frame."""
        for tex in (self._joint_tex, self._camera_tex):
            if tex is not None:
                tex.release()
        n = len(joints)
        self._joint_tex = self.ctx.texture((body.NUM_JOINTS, n), 3, joints.astype(np.float32).tobytes(), dtype="f4")
        cams = np.zeros((n, 5, 4), np.float32)
        cams[:, :4] = np.transpose(np.linalg.inv(poses), (0, 2, 1))  # the view matrix, column by column
        cams[:, 4, :3] = poses[:, :3, 3]
        self._camera_tex = self.ctx.texture((5, n), 4, cams.tobytes(), dtype="f4")
        for tex in (self._joint_tex, self._camera_tex):
            tex.filter = (self.ctx.NEAREST, self.ctx.NEAREST)
        self._camera_tex.use(0)
        self._joint_tex.use(1)

    def render(
        self,
        joints: np.ndarray,
        appearance: Appearance | None = None,
        *,
        scene: Scene | None = None,
        fps: float = 30.0,
        frames: np.ndarray | None = None,
    ) -> np.ndarray:
        """Egocentric frames of ``joints`` (T, 22, 3): ``uint8 (T, H, W, 3)``.

        ``appearance`` defaults to ``Appearance()``; ``scene`` to ``build_scene(joints,
        appearance)``; ``fps`` is the joints' rate (it scales the head smoothing).
        ``frames``: indices of the frames to draw (N of them, in that order; default all);
        the head's smoothing and neutral pitch still come from the whole sequence."""
        if self._closed:
            raise RuntimeError("this EgocentricRenderer is closed")
        joints = _check_joints(joints)
        appearance = appearance or Appearance()
        scene = scene or build_scene(joints, appearance)
        poses = camera_poses(joints, self.config, fps)
        if frames is not None:
            frames = np.asarray(frames, dtype=np.int64)
            if frames.ndim != 1 or (len(frames) and (frames.min() < 0 or frames.max() >= len(joints))):
                raise ValueError(f"frames must be indices within 0..{len(joints) - 1}")
            joints, poses = joints[frames], poses[frames]
        self._set_appearance(appearance, scene)
        ctx, cfg = self.ctx, self.config
        ctx.enable_only(ctx.DEPTH_TEST)
        for i in range(5):
            ctx.enable_direct(GL_CLIP_DISTANCE0 + i)
        out = np.empty((len(joints), cfg.height, cfg.width, 3), np.uint8)
        per_batch = self._tiles[0] * self._tiles[1]
        for start in range(0, len(joints), MAX_TEXTURE_ROWS):
            stop = min(start + MAX_TEXTURE_ROWS, len(joints))
            self._upload(joints[start:stop], poses[start:stop])
            for first in range(0, stop - start, per_batch):
                n = min(per_batch, stop - start - first)
                out[start + first : start + first + n] = self._draw_batch(first, n)
        return out

    def _draw_batch(self, first: int, n: int) -> np.ndarray:
        cfg, (tx, _) = self.config, self._tiles
        self._fbo.use()
        self._fbo.clear(0.5, 0.5, 0.5, 1.0, depth=1.0)
        for program in self._programs:
            program["frame0"].value = first
        self._body_vao.render(instances=n * len(SEGMENTS))
        self._room_vao.render(instances=n)
        self._floor_vao.render(instances=n)
        rows = -(-n // tx)
        aw, ah = self._atlas
        if self._resolved is not self._fbo:
            self.ctx.copy_framebuffer(self._resolved, self._fbo)
        data = self._resolved.read(
            viewport=(0, ah - rows * cfg.height, aw, rows * cfg.height), components=3, alignment=1
        )
        atlas = np.frombuffer(data, np.uint8).reshape(rows * cfg.height, aw, 3)[::-1]  # GL rows run bottom-up
        tiles = atlas.reshape(rows, cfg.height, tx, cfg.width, 3).transpose(0, 2, 1, 3, 4)
        return tiles.reshape(rows * tx, cfg.height, cfg.width, 3)[:n]

    def close(self) -> None:
        if self._closed:
            return
        self._release_room()
        for tex in (self._joint_tex, self._camera_tex):
            if tex is not None:
                tex.release()
        for obj in reversed(self._objects):
            obj.release()
        self._objects.clear()
        self._closed = True

    def __enter__(self) -> EgocentricRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def render_views(
    joints: np.ndarray,
    appearance: Appearance | None = None,
    config: EgoCameraConfig = EgoCameraConfig(),
    fps: float = 30.0,
) -> np.ndarray:
    """One-off convenience: a renderer for one call. Reuse an ``EgocentricRenderer`` for many clips."""
    with EgocentricRenderer(config) as renderer:
        return renderer.render(joints, appearance, fps=fps)
