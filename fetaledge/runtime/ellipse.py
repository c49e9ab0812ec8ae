"""Ellipse fit to boundary points and its circumference (plain Python floats + numpy sums; no torch).

The fit is the direct least-squares ellipse fit of Fitzgibbon, Pilu and Fisher (1999, IEEE TPAMI 21(5)) in the
numerically stable form of Halir and Flusser (1998, WSCG): minimise the algebraic distance of the conic
``A x^2 + B xy + C y^2 + D x + E y + F = 0`` subject to ``4AC - B^2 = 1``, which always returns an ellipse.
Why this and not the second moments of the filled region: the moments are exact on a whole filled ellipse
but biased as soon as part of it is cut off (by the fan edge or the frame border), while a fit to the
boundary can leave the cut part out and fit the visible arc; the fit's residual is also the
"is this an ellipse at all" quality signal. The points are first centred and scaled to unit RMS radius (the
conditioning that keeps the 3x3 eigenproblem stable at 800-pixel coordinates).

The steps are written so that ``android_demo/iqa-core`` (``EllipseFit.kt``) can repeat them literally: the
scatter sums, a 3x3 eigenproblem solved through its characteristic cubic, eigenvectors as the cross product
of two rows of ``M - lambda I``, and the conic turned into centre, semi-axes and angle by closed formulas.

The circumference is Ramanujan's first approximation ``pi (3(a + b) - sqrt((3a + b)(a + 3b)))``: its
relative error is below 1e-5 for axis ratios >= 0.5 (heads and abdomens are 0.7 to 1.0) and it is the formula
of the phantom (``fetaledge.data.phantom``) and of the HC18 reference values.

Example:
    >>> import math
    >>> t = [2 * math.pi * k / 64 for k in range(64)]
    >>> pts = [(10 + 5 * math.cos(a), 20 + 3 * math.sin(a)) for a in t]
    >>> e = fit_ellipse(pts)
    >>> round(e.a, 6), round(e.b, 6), round(e.cx, 6), round(e.cy, 6)
    (5.0, 3.0, 10.0, 20.0)
    >>> round(ramanujan(5.0, 3.0), 4)
    25.527
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fetaledge.errors import FetaledgeError

__all__ = ["Ellipse", "EllipseFitError", "fit_ellipse", "ramanujan", "sampson_rms"]


class EllipseFitError(FetaledgeError):
    """The points do not define an ellipse (too few, collinear, or the conic is not elliptic)."""


@dataclass(frozen=True)
class Ellipse:
    """Centre (cx, cy), semi-axes a >= b > 0 and the angle of the a-axis from +x (radians, in (-pi/2, pi/2])."""

    cx: float
    cy: float
    a: float
    b: float
    angle: float

    @property
    def circumference(self) -> float:
        """Ramanujan's circumference of this ellipse (same unit as the axes)."""
        return ramanujan(self.a, self.b)

    @property
    def area(self) -> float:
        return math.pi * self.a * self.b

    def to_dict(self) -> dict[str, float]:
        return {"cx": self.cx, "cy": self.cy, "a": self.a, "b": self.b, "angle": self.angle}


def ramanujan(a: float, b: float) -> float:
    """Ramanujan's (first) approximation of the circumference of an ellipse with semi-axes a, b.

    Example:
        >>> round(ramanujan(1.0, 1.0) / math.pi, 12)
        2.0
    """
    if not (a > 0 and b > 0):
        raise FetaledgeError(f"semi-axes must be > 0, got a={a}, b={b}")
    return math.pi * (3.0 * (a + b) - math.sqrt((3.0 * a + b) * (a + 3.0 * b)))


def _normalise(points: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    mx = float(points[:, 0].mean())
    my = float(points[:, 1].mean())
    d = points - np.array([mx, my])
    s = math.sqrt(float((d * d).sum(axis=1).mean()))
    if not s > 0:
        raise EllipseFitError("all boundary points coincide")
    return d / s, mx, my, s


def _eigenvalues3(m: list[list[float]]) -> list[float]:
    """Real eigenvalues of a 3x3 matrix from its characteristic cubic (trigonometric / Cardano form)."""
    tr = m[0][0] + m[1][1] + m[2][2]
    minors = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) + (m[0][0] * m[2][2] - m[0][2] * m[2][0]) \
        + (m[1][1] * m[2][2] - m[1][2] * m[2][1])
    det = (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
           - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
           + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))
    # lambda^3 - tr lambda^2 + minors lambda - det = 0; substitute lambda = t + tr / 3.
    shift = tr / 3.0
    p = minors - tr * tr / 3.0
    q = -2.0 * tr * tr * tr / 27.0 + tr * minors / 3.0 - det
    if p == 0.0:
        return [shift + math.copysign(abs(q) ** (1.0 / 3.0), -q)]
    disc = (q / 2.0) ** 2 + (p / 3.0) ** 3
    if disc <= 0.0:  # three real roots
        r = math.sqrt(-p / 3.0)
        arg = max(-1.0, min(1.0, (3.0 * q) / (2.0 * p * r)))
        phi = math.acos(arg) / 3.0
        return [shift + 2.0 * r * math.cos(phi - 2.0 * math.pi * k / 3.0) for k in range(3)]
    sq = math.sqrt(disc)
    u = -q / 2.0 + sq
    v = -q / 2.0 - sq
    return [shift + math.copysign(abs(u) ** (1.0 / 3.0), u) + math.copysign(abs(v) ** (1.0 / 3.0), v)]


def _eigenvector3(m: list[list[float]], lam: float) -> tuple[float, float, float] | None:
    """A null vector of ``m - lam I``: the largest cross product of two of its rows."""
    r = [[m[i][j] - (lam if i == j else 0.0) for j in range(3)] for i in range(3)]
    best: tuple[float, float, float] | None = None
    best_n = 0.0
    for i, j in ((0, 1), (0, 2), (1, 2)):
        u, v = r[i], r[j]
        c = (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])
        n = c[0] * c[0] + c[1] * c[1] + c[2] * c[2]
        if n > best_n:
            best, best_n = c, n
    return best


def _solve3(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    """``a^-1 b`` for a 3x3 ``a`` (symmetric positive definite here) and a 3x3 ``b``, by the adjugate."""
    c00 = a[1][1] * a[2][2] - a[1][2] * a[2][1]
    c01 = a[1][2] * a[2][0] - a[1][0] * a[2][2]
    c02 = a[1][0] * a[2][1] - a[1][1] * a[2][0]
    det = a[0][0] * c00 + a[0][1] * c01 + a[0][2] * c02
    if not abs(det) > 1e-300:
        raise EllipseFitError("the boundary points are degenerate (collinear)")
    inv = [
        [c00, a[0][2] * a[2][1] - a[0][1] * a[2][2], a[0][1] * a[1][2] - a[0][2] * a[1][1]],
        [c01, a[0][0] * a[2][2] - a[0][2] * a[2][0], a[0][2] * a[1][0] - a[0][0] * a[1][2]],
        [c02, a[0][1] * a[2][0] - a[0][0] * a[2][1], a[0][0] * a[1][1] - a[0][1] * a[1][0]],
    ]
    return [[sum(inv[i][k] * b[k][j] for k in range(3)) / det for j in range(3)] for i in range(3)]


def _conic(points: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """Halir-Flusser: the ellipse-constrained least-squares conic (A..F) of normalised points."""
    x, y = points[:, 0], points[:, 1]
    d1 = np.stack([x * x, x * y, y * y], axis=1)
    d2 = np.stack([x, y, np.ones_like(x)], axis=1)
    s1 = (d1.T @ d1).tolist()
    s2 = (d1.T @ d2).tolist()
    s3 = (d2.T @ d2).tolist()
    s2t = [[s2[j][i] for j in range(3)] for i in range(3)]
    t = _solve3(s3, s2t)  # a2 = -t a1
    t = [[-v for v in row] for row in t]
    m = [[s1[i][j] + sum(s2[i][k] * t[k][j] for k in range(3)) for j in range(3)] for i in range(3)]
    # Premultiply by inv(C1), C1 = [[0, 0, 2], [0, -1, 0], [2, 0, 0]].
    m = [[m[2][j] / 2.0 for j in range(3)], [-m[1][j] for j in range(3)], [m[0][j] / 2.0 for j in range(3)]]
    best: tuple[float, float, float] | None = None
    best_c = 0.0
    for lam in _eigenvalues3(m):
        v = _eigenvector3(m, lam)
        if v is None:
            continue
        norm = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
        v = (v[0] / norm, v[1] / norm, v[2] / norm)
        c = 4.0 * v[0] * v[2] - v[1] * v[1]
        if c > best_c:
            best, best_c = v, c
    if best is None:
        raise EllipseFitError("no elliptic solution: the boundary is not an ellipse")
    a1 = best
    a2 = [sum(t[i][k] * a1[k] for k in range(3)) for i in range(3)]
    return a1[0], a1[1], a1[2], a2[0], a2[1], a2[2]


def _geometric(conic: tuple[float, float, float, float, float, float]) -> Ellipse:
    a, b, c, d, e, f = conic
    if a + c < 0:
        a, b, c, d, e, f = -a, -b, -c, -d, -e, -f
    den = b * b - 4.0 * a * c
    if not den < 0:
        raise EllipseFitError("no elliptic solution: the boundary is not an ellipse")
    cx = (2.0 * c * d - b * e) / den
    cy = (2.0 * a * e - b * d) / den
    num = 2.0 * (a * e * e + c * d * d - b * d * e + den * f)
    root = math.sqrt((a - c) ** 2 + b * b)
    major2 = num * ((a + c) + root)
    minor2 = num * ((a + c) - root)
    if not (major2 > 0 and minor2 > 0):
        raise EllipseFitError("no real ellipse: the fitted conic is imaginary")
    semi_a = math.sqrt(major2) / -den
    semi_b = math.sqrt(minor2) / -den
    angle = 0.5 * math.atan2(-b, c - a)
    return Ellipse(cx, cy, semi_a, semi_b, angle)


def fit_ellipse(points: np.ndarray | Sequence[tuple[float, float]]) -> Ellipse:
    """The direct least-squares ellipse (module docstring) through >= 6 points (x, y); any unit.

    Raises :class:`EllipseFitError` for fewer than 6 points or a degenerate set.

    Example:
        >>> e = fit_ellipse([(1, 0), (0, 2), (-1, 0), (0, -2), (0.6, 1.6), (-0.6, -1.6)])
        >>> round(e.a, 6), round(e.b, 6), round(abs(e.angle), 6)
        (2.0, 1.0, 1.570796)
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts) < 6:
        raise EllipseFitError(f"an ellipse fit needs >= 6 boundary points, got {len(pts)}")
    if not np.isfinite(pts).all():
        raise EllipseFitError("boundary points must be finite")
    norm, mx, my, s = _normalise(pts)
    e = _geometric(_conic(norm))
    return Ellipse(mx + s * e.cx, my + s * e.cy, s * e.a, s * e.b, e.angle)


def sampson_rms(ellipse: Ellipse, points: np.ndarray) -> float:
    """RMS of the first-order geometric (Sampson) distance of ``points`` to ``ellipse``, in the points' unit.

    Example:
        >>> round(sampson_rms(Ellipse(0, 0, 2, 1, 0), np.array([[2.1, 0.0], [0.0, 1.0]])), 4)
        0.069
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    c, s = math.cos(ellipse.angle), math.sin(ellipse.angle)
    dx, dy = pts[:, 0] - ellipse.cx, pts[:, 1] - ellipse.cy
    u = (dx * c + dy * s) / ellipse.a
    v = (-dx * s + dy * c) / ellipse.b
    f = u * u + v * v - 1.0
    gu, gv = 2.0 * u / ellipse.a, 2.0 * v / ellipse.b  # gradient in the rotated frame (same norm)
    g = np.sqrt(gu * gu + gv * gv)
    g = np.where(g > 0, g, np.inf)
    return float(math.sqrt(float(np.mean((f / g) ** 2))))
