"""Headless OpenGL rendering (moderngl over EGL, Mesa llvmpipe on the CPU).

One context, one multisampled framebuffer, one texture array and one vertex buffer
per mesh group ("static", "test_only", ...) are created once; ``render`` then only
sets uniforms, draws and reads the pixels back.
"""
from __future__ import annotations

import ctypes.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...core.errors import DeviceError
from ...core.geometry import invert_transform
from .camera import PinholeCamera
from .meshes import VERTEX_FLOATS
from .textures import TextureSet

if TYPE_CHECKING:
    import moderngl

INSTALL_HINT = ("install the Debian packages libegl1, libgl1 and libgl1-mesa-dri "
                "(apt-get install libegl1 libgl1 libgl1-mesa-dri)")
# Library that glcontext's EGL backend loads -> Debian package that ships it.
_REQUIRED_LIBRARIES = (("EGL", "libEGL.so.1", "libegl1"), ("GL", "libGL.so.1", "libgl1"))


class RenderBackendError(DeviceError):
    """No headless OpenGL (EGL) context can be created on this machine."""


def create_context() -> "moderngl.Context":
    """A standalone OpenGL 3.3 context through EGL, or a ``RenderBackendError`` that says what to install."""
    try:
        import moderngl
    except ModuleNotFoundError as exc:
        raise RenderBackendError("the Python package moderngl is not installed (pip install moderngl)") from exc
    for short, soname, package in _REQUIRED_LIBRARIES:
        if ctypes.util.find_library(short) is None:
            raise RenderBackendError(
                f"headless rendering needs {soname} (Debian package {package}), which was not found: {INSTALL_HINT}")
    try:
        return moderngl.create_standalone_context(backend="egl", require=330)
    except Exception as exc:  # glcontext raises bare Exception for every EGL failure
        raise RenderBackendError(
            f"cannot create a headless OpenGL 3.3 context through EGL ({exc}); it needs libEGL.so.1 "
            f"(libegl1) and Mesa's EGL/llvmpipe drivers (libegl-mesa0, libgl1-mesa-dri): {INSTALL_HINT}") from exc


@dataclass(frozen=True)
class Lighting:
    """Lambert sun + ambient, exposure, distance fog and sensor effects for one frame."""

    sun_dir: tuple[float, float, float]  # unit vector pointing TOWARDS the sun (world)
    sun_colour: tuple[float, float, float] = (1.0, 0.97, 0.9)
    ambient: float = 0.45
    exposure: float = 1.0
    fog_density: float = 0.0  # 1/m; 0 disables fog
    fog_colour: tuple[float, float, float] = (0.75, 0.82, 0.9)
    noise: float = 0.01  # amplitude of per-pixel sensor noise (0..1 scale)
    vignette: float = 0.25


_VERTEX_SHADER = """
#version 330
uniform mat4 clip_from_world;
in vec3 in_pos; in vec3 in_normal; in vec2 in_uv; in float in_layer; in vec3 in_tint; in float in_emissive;
out vec3 v_world; out vec3 v_normal; out vec2 v_uv; flat out float v_layer; out vec3 v_tint; out float v_emissive;
void main() {
    v_world = in_pos; v_normal = in_normal; v_uv = in_uv; v_layer = in_layer;
    v_tint = in_tint; v_emissive = in_emissive;
    gl_Position = clip_from_world * vec4(in_pos, 1.0);
}
"""

_FRAGMENT_SHADER = """
#version 330
uniform sampler2DArray textures;
uniform vec3 cam_pos; uniform vec3 sun_dir; uniform vec3 sun_colour; uniform float ambient;
uniform float exposure; uniform float fog_density; uniform vec3 fog_colour;
uniform float noise; uniform float vignette; uniform float noise_seed; uniform vec2 size;
in vec3 v_world; in vec3 v_normal; in vec2 v_uv; flat in float v_layer; in vec3 v_tint; in float v_emissive;
out vec4 frag;
float hash(vec2 p) {
    vec3 q = fract(vec3(p.xyx) * 0.1031 + noise_seed);
    q += dot(q, q.yzx + 33.33);
    return fract((q.x + q.y) * q.z);
}
void main() {
    vec3 albedo = texture(textures, vec3(v_uv, v_layer)).rgb * v_tint;
    vec3 to_cam = cam_pos - v_world;
    vec3 n = normalize(v_normal);
    n = dot(n, to_cam) < 0.0 ? -n : n;  // two-sided: normals face the viewer
    vec3 lit = albedo * (ambient + max(dot(n, sun_dir), 0.0) * sun_colour);
    float fog = 1.0 - exp(-length(to_cam) * fog_density);
    vec3 colour = mix(mix(lit, fog_colour, fog), albedo, v_emissive) * exposure;
    vec2 c = gl_FragCoord.xy / size - 0.5;
    colour *= 1.0 - vignette * dot(c, c) * 2.0;
    colour += (hash(gl_FragCoord.xy) - 0.5) * noise;
    frag = vec4(colour, 1.0);
}
"""


class SceneRenderer:
    """Renders mesh groups from ``T_world_cam`` optical-frame poses into RGB uint8 images."""

    def __init__(self, camera: PinholeCamera, textures: TextureSet, meshes: Mapping[str, np.ndarray],
                 near: float = 0.15, far: float = 2000.0, samples: int = 4,
                 ctx: "moderngl.Context | None" = None) -> None:
        import moderngl

        self.camera = camera
        self.ctx = ctx or create_context()
        self._projection = camera.gl_projection(near, far)
        size = (camera.width, camera.height)
        self._fbo_ms = self.ctx.framebuffer(
            color_attachments=[self.ctx.renderbuffer(size, 3, samples=samples)],
            depth_attachment=self.ctx.depth_renderbuffer(size, samples=samples))
        self._fbo = self.ctx.framebuffer(color_attachments=[self.ctx.renderbuffer(size, 3)])
        layers = textures.layers
        self._texture = self.ctx.texture_array(
            (layers.shape[2], layers.shape[1], layers.shape[0]), 3, np.ascontiguousarray(layers).tobytes())
        self._texture.build_mipmaps()
        self._texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        # No anisotropic filtering: llvmpipe takes seconds per frame with it on
        # surfaces seen at grazing angles (the ground plane towards the horizon).
        self._texture.anisotropy = 1.0
        self._program = self.ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self._program["size"].value = size
        self._vaos = {name: self._make_vao(verts) for name, verts in meshes.items() if len(verts)}

    def _make_vao(self, verts: np.ndarray) -> "moderngl.VertexArray":
        assert verts.shape[1] == VERTEX_FLOATS and verts.dtype == np.float32
        vbo = self.ctx.buffer(np.ascontiguousarray(verts).tobytes())
        return self.ctx.vertex_array(self._program, [(
            vbo, "3f 3f 2f 1f 3f 1f", "in_pos", "in_normal", "in_uv", "in_layer", "in_tint", "in_emissive")])

    def render(self, T_world_cam: np.ndarray, lighting: Lighting, groups: Sequence[str] = ("static",),
               noise_seed: float = 0.0) -> np.ndarray:
        """(H, W, 3) uint8 RGB image, row 0 at the top, of the named mesh groups."""
        import moderngl

        prog = self._program
        clip_from_world = self._projection @ invert_transform(T_world_cam)
        prog["clip_from_world"].write(clip_from_world.T.astype("f4").tobytes())  # GLSL is column-major
        prog["cam_pos"].value = tuple(float(v) for v in np.asarray(T_world_cam)[:3, 3])
        values = {name: getattr(lighting, name) for name in ("sun_dir", "sun_colour", "ambient", "exposure",
                                                              "fog_density", "fog_colour", "noise", "vignette")}
        values["noise_seed"] = float(noise_seed)
        for name, value in values.items():
            uniform = prog.get(name, None)
            if uniform is not None:  # the GLSL compiler may drop unused uniforms
                uniform.value = value
        self._fbo_ms.use()
        self._fbo_ms.clear(*lighting.fog_colour, 1.0, depth=1.0)
        self.ctx.enable(moderngl.DEPTH_TEST)
        self._texture.use(0)
        for name in groups:
            if name in self._vaos:
                self._vaos[name].render(moderngl.TRIANGLES)
        self.ctx.copy_framebuffer(self._fbo, self._fbo_ms)
        data = self._fbo.read(components=3, alignment=1)
        return np.frombuffer(data, np.uint8).reshape(self.camera.height, self.camera.width, 3)

    def release(self) -> None:
        self.ctx.release()
