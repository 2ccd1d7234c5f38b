"""Rigid-body geometry with explicit conventions.

Conventions used everywhere in the package:

* Quaternions are ``w, x, y, z`` (w first, as transforms3d and the Cambridge files),
  suffixed ``_wxyz``. ROS messages are ``x, y, z, w``; convert only at the ROS edge.
* ``T_a_b`` is a 4x4 homogeneous matrix mapping coordinates in frame ``b`` into
  frame ``a`` (``p_a = T_a_b @ p_b``). ``R_a_b`` is its rotation block.
* A camera pose is ``T_world_cam``: its translation is the camera centre in the world,
  its rotation turns optical-frame vectors (x right, y down, z forward) into the world.
* Units are SI: metres, radians (degrees only in reports).
"""
from __future__ import annotations

import numpy as np

# REP-103: rotation taking camera *optical* coordinates (x right, y down, z forward)
# into the camera *body* frame (x forward, y left, z up).
R_BODY_OPTICAL = np.array(
    [[0.0, 0.0, 1.0],
     [-1.0, 0.0, 0.0],
     [0.0, -1.0, 0.0]]
)


def xyz_tuple(v: np.ndarray) -> tuple[float, float, float]:
    """The first three entries of ``v`` as plain floats (for frozen records)."""
    return float(v[0]), float(v[1]), float(v[2])


def quat_normalize(q_wxyz: np.ndarray) -> np.ndarray:
    """Unit quaternion(s) in the ``w >= 0`` hemisphere; works on (4,) or (N, 4)."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm < 1e-12):
        raise ValueError("cannot normalise a zero quaternion")
    q = q / norm
    return np.where(q[..., :1] < 0.0, -q, q)


def quat_to_matrix(q_wxyz: np.ndarray) -> np.ndarray:
    """Rotation matrix/matrices (..., 3, 3) from quaternion(s) (..., 4)."""
    q = quat_normalize(q_wxyz)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def matrix_to_quat(R: np.ndarray) -> np.ndarray:
    """Quaternion(s) (..., 4) from rotation matrix/matrices (..., 3, 3).

    Uses the eigenvector method (Bar-Itzhack), which is robust near 180 degrees and
    also returns the nearest rotation for slightly non-orthonormal input.
    """
    R = np.asarray(R, dtype=np.float64)
    flat = R.reshape(-1, 3, 3)
    out = np.empty((flat.shape[0], 4))
    for i, m in enumerate(flat):
        (xx, yx, zx), (xy, yy, zy), (xz, yz, zz) = m
        K = np.array([
            [xx - yy - zz, 0, 0, 0],
            [yx + xy, yy - xx - zz, 0, 0],
            [zx + xz, zy + yz, zz - xx - yy, 0],
            [yz - zy, zx - xz, xy - yx, xx + yy + zz],
        ]) / 3.0
        vals, vecs = np.linalg.eigh(K)
        x, y, z, w = vecs[:, np.argmax(vals)]
        out[i] = (w, x, y, z)
    return quat_normalize(out.reshape(R.shape[:-2] + (4,)))


def quat_conjugate(q_wxyz: np.ndarray) -> np.ndarray:
    q = np.array(q_wxyz, dtype=np.float64)
    q[..., 1:] *= -1.0
    return q


def quat_slerp(q0_wxyz: np.ndarray, q1_wxyz: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical linear interpolation, shortest path, for (4,) or (N, 4) inputs."""
    q0 = quat_normalize(q0_wxyz)
    q1 = quat_normalize(q1_wxyz)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0.0, -q1, q1)
    dot = np.clip(np.abs(dot), 0.0, 1.0)
    theta = np.arccos(dot)
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6
    safe = np.where(near, 1.0, sin_theta)
    w0 = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    w1 = np.where(near, t, np.sin(t * theta) / safe)
    return quat_normalize(w0 * q0 + w1 * q1)


def quat_angle_deg(a_wxyz: np.ndarray, b_wxyz: np.ndarray) -> np.ndarray:
    """Geodesic angle in degrees between rotations ``a`` and ``b`` (sign-invariant)."""
    a = quat_normalize(a_wxyz)
    b = quat_normalize(b_wxyz)
    dot = np.clip(np.abs(np.sum(a * b, axis=-1)), 0.0, 1.0)
    return np.degrees(2.0 * np.arccos(dot))


def orthonormalize(R: np.ndarray) -> np.ndarray:
    """Nearest proper rotation (SVD projection) to a nearly orthonormal 3x3 matrix."""
    U, _, Vt = np.linalg.svd(np.asarray(R, dtype=np.float64))
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    return U @ D @ Vt


def make_transform(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T


def transform_from_pq(position: np.ndarray, q_wxyz: np.ndarray) -> np.ndarray:
    return make_transform(quat_to_matrix(q_wxyz), np.asarray(position, dtype=np.float64))


def pq_from_transform(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    T = np.asarray(T, dtype=np.float64)
    return T[:3, 3].copy(), matrix_to_quat(T[:3, :3])


def invert_transform(T: np.ndarray) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    R = T[:3, :3]
    return make_transform(R.T, -R.T @ T[:3, 3])
