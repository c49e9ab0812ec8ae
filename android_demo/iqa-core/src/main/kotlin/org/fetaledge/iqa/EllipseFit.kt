package org.fetaledge.iqa

import kotlin.math.PI
import kotlin.math.abs
import kotlin.math.acos
import kotlin.math.atan2
import kotlin.math.cos
import kotlin.math.sin
import kotlin.math.sqrt

/** Centre, semi-axes a >= b and the angle of the a-axis from +x (radians), as Python's `runtime.ellipse.Ellipse`. */
data class Ellipse(val cx: Double, val cy: Double, val a: Double, val b: Double, val angle: Double) {
    val circumference: Double get() = EllipseFit.ramanujan(a, b)
}

/**
 * Mirror of `fetaledge/runtime/ellipse.py`: the direct least-squares ellipse fit (Fitzgibbon, Pilu and Fisher
 * 1999) in the numerically stable form of Halir and Flusser (1998) on centred, unit-RMS-scaled points; the 3x3
 * eigenproblem through its characteristic cubic; Ramanujan's circumference. Same steps, same order.
 */
object EllipseFit {
    fun ramanujan(a: Double, b: Double): Double {
        if (!(a > 0 && b > 0)) throw IqaException("semi-axes must be > 0, got a=$a, b=$b")
        return PI * (3.0 * (a + b) - sqrt((3.0 * a + b) * (a + 3.0 * b)))
    }

    private fun eigenvalues3(m: Array<DoubleArray>): List<Double> {
        val tr = m[0][0] + m[1][1] + m[2][2]
        val minors = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) + (m[0][0] * m[2][2] - m[0][2] * m[2][0]) +
            (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        val det = (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
            m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
            m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))
        val shift = tr / 3.0
        val p = minors - tr * tr / 3.0
        val q = -2.0 * tr * tr * tr / 27.0 + tr * minors / 3.0 - det
        if (p == 0.0) return listOf(shift + Math.copySign(Math.pow(abs(q), 1.0 / 3.0), -q))
        val half = q / 2.0
        val third = p / 3.0
        val disc = half * half + third * third * third
        if (disc <= 0.0) {
            val r = sqrt(-p / 3.0)
            val arg = maxOf(-1.0, minOf(1.0, (3.0 * q) / (2.0 * p * r)))
            val phi = acos(arg) / 3.0
            return (0 until 3).map { k -> shift + 2.0 * r * cos(phi - 2.0 * PI * k / 3.0) }
        }
        val sq = sqrt(disc)
        val u = -q / 2.0 + sq
        val v = -q / 2.0 - sq
        return listOf(shift + Math.copySign(Math.pow(abs(u), 1.0 / 3.0), u) + Math.copySign(Math.pow(abs(v), 1.0 / 3.0), v))
    }

    private fun eigenvector3(m: Array<DoubleArray>, lam: Double): DoubleArray? {
        val r = Array(3) { i -> DoubleArray(3) { j -> m[i][j] - (if (i == j) lam else 0.0) } }
        var best: DoubleArray? = null
        var bestN = 0.0
        for ((i, j) in listOf(0 to 1, 0 to 2, 1 to 2)) {
            val u = r[i]
            val v = r[j]
            val c = doubleArrayOf(u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])
            val n = c[0] * c[0] + c[1] * c[1] + c[2] * c[2]
            if (n > bestN) { best = c; bestN = n }
        }
        return best
    }

    private fun solve3(a: Array<DoubleArray>, b: Array<DoubleArray>): Array<DoubleArray> {
        val c00 = a[1][1] * a[2][2] - a[1][2] * a[2][1]
        val c01 = a[1][2] * a[2][0] - a[1][0] * a[2][2]
        val c02 = a[1][0] * a[2][1] - a[1][1] * a[2][0]
        val det = a[0][0] * c00 + a[0][1] * c01 + a[0][2] * c02
        if (!(abs(det) > 1e-300)) throw IqaException("the boundary points are degenerate (collinear)")
        val inv = arrayOf(
            doubleArrayOf(c00, a[0][2] * a[2][1] - a[0][1] * a[2][2], a[0][1] * a[1][2] - a[0][2] * a[1][1]),
            doubleArrayOf(c01, a[0][0] * a[2][2] - a[0][2] * a[2][0], a[0][2] * a[1][0] - a[0][0] * a[1][2]),
            doubleArrayOf(c02, a[0][1] * a[2][0] - a[0][0] * a[2][1], a[0][0] * a[1][1] - a[0][1] * a[1][0]),
        )
        return Array(3) { i -> DoubleArray(3) { j -> (inv[i][0] * b[0][j] + inv[i][1] * b[1][j] + inv[i][2] * b[2][j]) / det } }
    }

    /** Fit to >= 6 points (x, y); throws [IqaException] on too few or degenerate points, or a non-ellipse. */
    fun fit(points: List<DoubleArray>): Ellipse {
        val n = points.size
        if (n < 6) throw IqaException("an ellipse fit needs >= 6 boundary points, got $n")
        var sx = 0.0
        var sy = 0.0
        for (p in points) { sx += p[0]; sy += p[1] }
        val mx = sx / n
        val my = sy / n
        var ss = 0.0
        for (p in points) { val dx = p[0] - mx; val dy = p[1] - my; ss += dx * dx + dy * dy }
        val s = sqrt(ss / n)
        if (!(s > 0)) throw IqaException("all boundary points coincide")
        val s1 = Array(3) { DoubleArray(3) }
        val s2 = Array(3) { DoubleArray(3) }
        val s3 = Array(3) { DoubleArray(3) }
        for (p in points) {
            val x = (p[0] - mx) / s
            val y = (p[1] - my) / s
            val d1 = doubleArrayOf(x * x, x * y, y * y)
            val d2 = doubleArrayOf(x, y, 1.0)
            for (i in 0 until 3) for (j in 0 until 3) {
                s1[i][j] += d1[i] * d1[j]
                s2[i][j] += d1[i] * d2[j]
                s3[i][j] += d2[i] * d2[j]
            }
        }
        val s2t = Array(3) { i -> DoubleArray(3) { j -> s2[j][i] } }
        val t = solve3(s3, s2t).map { row -> DoubleArray(3) { -row[it] } }
        val m0 = Array(3) { i -> DoubleArray(3) { j -> s1[i][j] + (s2[i][0] * t[0][j] + s2[i][1] * t[1][j] + s2[i][2] * t[2][j]) } }
        val m = arrayOf(DoubleArray(3) { m0[2][it] / 2.0 }, DoubleArray(3) { -m0[1][it] }, DoubleArray(3) { m0[0][it] / 2.0 })
        var best: DoubleArray? = null
        var bestC = 0.0
        for (lam in eigenvalues3(m)) {
            val v0 = eigenvector3(m, lam) ?: continue
            val norm = sqrt(v0[0] * v0[0] + v0[1] * v0[1] + v0[2] * v0[2])
            val v = doubleArrayOf(v0[0] / norm, v0[1] / norm, v0[2] / norm)
            val c = 4.0 * v[0] * v[2] - v[1] * v[1]
            if (c > bestC) { best = v; bestC = c }
        }
        val a1 = best ?: throw IqaException("no elliptic solution: the boundary is not an ellipse")
        val a2 = DoubleArray(3) { i -> t[i][0] * a1[0] + t[i][1] * a1[1] + t[i][2] * a1[2] }
        val e = geometric(a1[0], a1[1], a1[2], a2[0], a2[1], a2[2])
        return Ellipse(mx + s * e.cx, my + s * e.cy, s * e.a, s * e.b, e.angle)
    }

    private fun geometric(a0: Double, b0: Double, c0: Double, d0: Double, e0: Double, f0: Double): Ellipse {
        val sign = if (a0 + c0 < 0) -1.0 else 1.0
        val a = sign * a0
        val b = sign * b0
        val c = sign * c0
        val d = sign * d0
        val e = sign * e0
        val f = sign * f0
        val den = b * b - 4.0 * a * c
        if (!(den < 0)) throw IqaException("no elliptic solution: the boundary is not an ellipse")
        val cx = (2.0 * c * d - b * e) / den
        val cy = (2.0 * a * e - b * d) / den
        val num = 2.0 * (a * e * e + c * d * d - b * d * e + den * f)
        val root = sqrt((a - c) * (a - c) + b * b)
        val major2 = num * ((a + c) + root)
        val minor2 = num * ((a + c) - root)
        if (!(major2 > 0 && minor2 > 0)) throw IqaException("no real ellipse: the fitted conic is imaginary")
        return Ellipse(cx, cy, sqrt(major2) / -den, sqrt(minor2) / -den, 0.5 * atan2(-b, c - a))
    }

    /** RMS first-order geometric (Sampson) distance of the points to the ellipse. */
    fun sampsonRms(e: Ellipse, points: List<DoubleArray>): Double {
        val c = cos(e.angle)
        val s = sin(e.angle)
        var acc = 0.0
        for (p in points) {
            val dx = p[0] - e.cx
            val dy = p[1] - e.cy
            val u = (dx * c + dy * s) / e.a
            val v = (-dx * s + dy * c) / e.b
            val f = u * u + v * v - 1.0
            val gu = 2.0 * u / e.a
            val gv = 2.0 * v / e.b
            val g = sqrt(gu * gu + gv * gv)
            val d = if (g > 0) f / g else 0.0
            acc += d * d
        }
        return sqrt(acc / points.size)
    }
}
