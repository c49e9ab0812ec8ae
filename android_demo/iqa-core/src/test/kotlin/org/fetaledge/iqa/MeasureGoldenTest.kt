package org.fetaledge.iqa

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import java.io.File
import kotlin.math.abs

/**
 * tests/goldens/measure/measure_cases.json (python -m fetaledge.golden_measure): real HC18 ground-truth masks and
 * synthetic cases. Decisions (status, reasons, edge-point count, gestational-age label) equal Python's exactly;
 * millimetres, ellipse, residual and fractions within the file's tolerance_mm (1e-6; only the summation order
 * differs).
 */
class MeasureGoldenTest {
    private val doc: Json by lazy { Goldens.read(File(Goldens.root, "measure/measure_cases.json")) }
    private var maxMmDiff = 0.0

    private fun rle(runs: List<Json>, n: Int): BooleanArray {
        val out = BooleanArray(n)
        var pos = 0
        var value = false
        for (r in runs) {
            val len = r.int()
            for (k in pos until pos + len) out[k] = value
            pos += len
            value = !value
        }
        return out
    }

    private fun maskOf(c: Json): ProbMap {
        val shape = c["mask_shape"].arr().map { it.int() }
        val bits = rle(c["mask_rle"].arr(), shape[0] * shape[1])
        val grid = c["soft_grid"]
        if (grid is Json.Null) return ProbMap(shape[0], shape[1], DoubleArray(bits.size) { if (bits[it]) 1.0 else 0.0 })
        val (oh, ow) = grid.arr().map { it.int() }
        val grey = GreyFrame(shape[0], shape[1], ByteArray(bits.size) { if (bits[it]) 255.toByte() else 0 })
        val small = FrameGeometry.letterbox(grey, oh, ow)
        return ProbMap(oh, ow, DoubleArray(oh * ow) { small[it / ow, it % ow] / 255.0 })
    }

    private fun close(want: Json, got: Double?, tol: Double, what: String) {
        if (want is Json.Null) { assertNull(got, what); return }
        val w = want.dbl()
        if (got != null && what == "circumference_mm") maxMmDiff = maxOf(maxMmDiff, abs(got - w))
        assertTrue(got != null && abs(got - w) <= tol + 1e-9 * abs(w), "$what: kotlin $got vs python $w")
    }

    @TestFactory
    fun measureGoldens(): List<DynamicTest> {
        val tol = doc["tolerance_mm"].dbl()
        return doc["cases"].arr().map { c ->
            DynamicTest.dynamicTest(c["name"].str()) {
                val fm = c["frame_map"]
                val map = FrameMap(fm["sx"].dbl(), fm["sy"].dbl(), fm["ox"].dbl(), fm["oy"].dbl(), fm["frame_h"].int(),
                    fm["frame_w"].int())
                val grid = c["soft_grid"]
                if (grid !is Json.Null) {
                    val (oh, ow) = grid.arr().map { it.int() }
                    assertEquals(map, FrameMap.letterbox(map.frameH, map.frameW, oh, ow), "letterbox inverse")
                }
                val p = c["params"]
                val params = MeasureParams(p["threshold"].dbl(), p["min_area_mm2"].dbl(), p["max_residual"].dbl(),
                    p["max_cut_fraction"].dbl(), p["min_component_share"].dbl(), p["min_points"].int())
                val fov = if (c["fov_rle"] is Json.Null) null else {
                    val s = c["fov_shape"].arr().map { it.int() }
                    rle(c["fov_rle"].arr(), s[0] * s[1])
                }
                val sp = c["spacing_mm"].arr().map { it.dbl() }
                val m = Measure.measureMask(maskOf(c), map, sp[0], sp[1], params, fov)
                val e = c["expected"]
                assertEquals(e["status"].str(), m.status, "status")
                assertEquals(e["reasons"].arr().map { it.str() }, m.reasons, "reasons")
                assertEquals(e["points"].int(), m.points, "edge points")
                close(e["circumference_mm"], m.circumferenceMm, tol, "circumference_mm")
                close(e["area_mm2"], m.areaMm2, tol, "area_mm2")
                close(e["residual"], m.residual, tol, "residual")
                close(e["cut_fraction"], m.cutFraction, tol, "cut_fraction")
                close(e["component_share"], m.componentShare, tol, "component_share")
                val ell = e["ellipse_mm"]
                if (ell !is Json.Null) {
                    val got = m.ellipseMm!!
                    close(ell["cx"], got.cx, tol, "cx")
                    close(ell["cy"], got.cy, tol, "cy")
                    close(ell["a"], got.a, tol, "a")
                    close(ell["b"], got.b, tol, "b")
                    close(ell["angle"], got.angle, tol, "angle")
                }
                val ga = e["gestational_age"]
                if (ga is Json.Null) {
                    assertNull(m.circumferenceMm)
                } else {
                    val w = Gestation.estimate(c["structure"].str(), m.circumferenceMm!!)
                    assertEquals(ga["label"].str(), if (w == null) "out_of_range" else Gestation.label(w), "GA label")
                }
            }
        }
    }

    @org.junit.jupiter.api.AfterEach
    fun reportLargestDifference() {
        if (maxMmDiff > 0) println("MeasureGoldenTest: largest |Kotlin - Python| circumference so far: $maxMmDiff mm")
    }

    @Test
    fun goldensCoverEveryDecision() {
        val cases = doc["cases"].arr()
        assertEquals(setOf("ok", "rescan", "none"), cases.map { it["expected"]["status"].str() }.toSet())
        assertTrue(cases.count { it["name"].str().startsWith("hc18_") } >= 10)
    }

    @Test
    fun emptyMaskIsNoMeasurementAndBadInputIsAnError() {
        val m = Measure.measureMask(ProbMap(4, 4, DoubleArray(16)), FrameMap.identity(), 0.1, 0.1)
        assertEquals("none", m.status)
        assertNull(m.circumferenceMm)
        assertThrows(IqaException::class.java) { ProbMap(2, 2, doubleArrayOf(0.0, 255.0, 0.0, 0.0)) }
        assertThrows(IqaException::class.java) { Measure.measureMask(ProbMap(2, 2, DoubleArray(4)), FrameMap.identity(), 0.0, 0.1) }
        assertNull(Gestation.estimate("hc", 44.3))
        assertEquals("20w0d", Gestation.label(Gestation.estimate("hc", 175.0)!!))
    }
}
