"""Triangle-soup mesh building: quads, boxes, cylinders, ellipsoids, route ribbons.

Every vertex has ``VERTEX_FLOATS`` float32 values: position (3), normal (3), uv (2),
texture layer (1), colour tint (3), emissive (1). Emissive surfaces ignore lighting
and fog (sky, lamps, test markers). ``v`` grows downwards on vertical faces so that
image rows run top to bottom on walls. Winding is not relied on: there is no face
culling and the shader turns every normal towards the viewer.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .route import Route

VERTEX_FLOATS = 13
_QUAD_TRIANGLES = (0, 1, 2, 0, 2, 3)


def _rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


class MeshBuilder:
    """Accumulates triangles; ``build()`` returns one ``(N, VERTEX_FLOATS)`` float32 array."""

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []

    def add_triangles(self, pos: np.ndarray, normal: np.ndarray, uv: np.ndarray, layer: int,
                      tint: Sequence[float] = (1.0, 1.0, 1.0), emissive: float = 0.0) -> None:
        """Append triangle-list vertices ``pos (N, 3)``, ``normal (N, 3)``, ``uv (N, 2)``."""
        n = len(pos)
        attrs = np.broadcast_to(np.array([layer, *tint, emissive], np.float64), (n, 5))
        self._chunks.append(np.concatenate([pos, normal, uv, attrs], axis=1).astype(np.float32))

    def add_quad(self, corners: np.ndarray, uv: np.ndarray, layer: int,
                 tint: Sequence[float] = (1.0, 1.0, 1.0), emissive: float = 0.0) -> None:
        """Planar quad from 4 counter-clockwise corners (seen from the normal side)."""
        corners = np.asarray(corners, np.float64)
        normal = np.cross(corners[1] - corners[0], corners[3] - corners[0])
        normal /= np.linalg.norm(normal)
        idx = list(_QUAD_TRIANGLES)
        self.add_triangles(corners[idx], np.tile(normal, (6, 1)), np.asarray(uv, np.float64)[idx],
                           layer, tint, emissive)

    def add_box(self, center_xy: Sequence[float], z0: float, size: Sequence[float], yaw: float,
                side_layer: int, top_layer: int | None = None, tile: Sequence[float] = (1.0, 1.0),
                tint: Sequence[float] = (1.0, 1.0, 1.0), snap: bool = False,
                emissive: float = 0.0) -> None:
        """Box standing on ``z0`` with ``size = (length, width, height)`` rotated by ``yaw``.

        Side faces repeat the texture every ``tile = (u metres, v metres)``; with
        ``snap`` the repeat count is rounded to whole tiles (facade window grids).
        The bottom face is omitted.
        """
        length, width, height = size
        R = _rot_z(yaw)
        origin = np.array([center_xy[0], center_xy[1], z0], np.float64)
        hx, hy = length / 2.0, width / 2.0
        base = [np.array(p) for p in ((hx, -hy), (hx, hy), (-hx, hy), (-hx, -hy))]
        for k in range(4):
            a, b = base[k], base[(k + 1) % 4]
            face_w = float(np.linalg.norm(b - a))
            nu = face_w / tile[0]
            nv = height / tile[1]
            if snap:
                nu, nv = max(1.0, round(nu)), max(1.0, round(nv))
            local = np.array([[*a, 0.0], [*b, 0.0], [*b, height], [*a, height]])
            uv = np.array([[0.0, nv], [nu, nv], [nu, 0.0], [0.0, 0.0]])
            self.add_quad(local @ R.T + origin, uv, side_layer, tint, emissive)
        top = np.array([[hx, -hy, height], [hx, hy, height], [-hx, hy, height], [-hx, -hy, height]])
        top_uv = np.array([[0, 0], [width, 0], [width, length], [0, length]]) / tile[0]
        self.add_quad(top @ R.T + origin, top_uv, side_layer if top_layer is None else top_layer, tint, emissive)

    def add_cylinder(self, center_xy: Sequence[float], z0: float, radius: float, height: float,
                     layer: int, tint: Sequence[float] = (1.0, 1.0, 1.0), sides: int = 8) -> None:
        """Vertical open cylinder with smooth normals (tree trunks, poles)."""
        ang = np.linspace(0.0, 2.0 * np.pi, sides + 1)
        ring = np.stack([np.cos(ang), np.sin(ang), np.zeros_like(ang)], axis=1)
        c = np.array([center_xy[0], center_xy[1], z0])
        for k in range(sides):
            i, j = k, k + 1
            pos = np.array([c + radius * ring[i], c + radius * ring[j],
                            c + radius * ring[j] + [0, 0, height], c + radius * ring[i] + [0, 0, height]])
            nrm = np.array([ring[i], ring[j], ring[j], ring[i]])
            uv = np.array([[i / sides, height], [j / sides, height], [j / sides, 0.0], [i / sides, 0.0]])
            idx = list(_QUAD_TRIANGLES)
            self.add_triangles(pos[idx], nrm[idx], uv[idx], layer, tint)

    def add_ellipsoid(self, center: Sequence[float], radii: Sequence[float], layer: int,
                      tint: Sequence[float] = (1.0, 1.0, 1.0), rings: int = 6, segments: int = 10) -> None:
        """Low-poly ellipsoid (tree crowns, bushes)."""
        theta = np.linspace(0.0, np.pi, rings + 1)
        phi = np.linspace(0.0, 2.0 * np.pi, segments + 1)
        th, ph = np.meshgrid(theta, phi, indexing="ij")
        unit = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], axis=-1)
        pos = unit * np.asarray(radii) + np.asarray(center)
        nrm = unit / np.asarray(radii)
        nrm /= np.linalg.norm(nrm, axis=-1, keepdims=True)
        uv = np.stack([ph * 2.0, th * 2.0], axis=-1)
        quad = lambda a: np.stack([a[:-1, :-1], a[:-1, 1:], a[1:, 1:], a[1:, :-1]], axis=2)  # noqa: E731
        idx = list(_QUAD_TRIANGLES)
        P, N, U = (quad(a)[:, :, idx].reshape(-1, a.shape[-1]) for a in (pos, nrm, uv))
        self.add_triangles(P, N, U, layer, tint)

    def add_ribbon(self, route: Route, s0: float, s1: float, d0: float, d1: float, z0: float, z1: float,
                   layer: int, tile: float, tint: Sequence[float] = (1.0, 1.0, 1.0),
                   step: float = 1.0) -> None:
        """Strip following the route between lateral offsets/heights ``(d0, z0)`` and ``(d1, z1)``.

        ``u`` runs along the route, ``v`` across the strip, both in units of ``tile``.
        """
        n = max(1, int(np.ceil((s1 - s0) / step)))
        s = np.linspace(s0, s1, n + 1)
        a = route.to_world(s, d0, z0)
        b = route.to_world(s, d1, z1)
        width = float(np.hypot(d1 - d0, z1 - z0))
        for k in range(n):
            corners = np.array([a[k], a[k + 1], b[k + 1], b[k]])
            uv = np.array([[s[k], 0.0], [s[k + 1], 0.0], [s[k + 1], width], [s[k], width]]) / tile
            self.add_quad(corners, uv, layer, tint)

    def build(self) -> np.ndarray:
        if not self._chunks:
            return np.zeros((0, VERTEX_FLOATS), np.float32)
        return np.ascontiguousarray(np.concatenate(self._chunks))
