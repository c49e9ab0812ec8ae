package org.fetaledge.iqa

import kotlin.math.floor

/**
 * Output-grid coordinates -> raw-frame pixels: `x = u * sx + ox`, `y = v * sy + oy` (Python's `FrameMap`).
 * `frameH` x `frameW` is the raw frame (0: unknown, no frame border).
 */
data class FrameMap(val sx: Double, val sy: Double, val ox: Double, val oy: Double, val frameH: Int, val frameW: Int) {
    /** This map followed by [outer]. */
    fun then(outer: FrameMap): FrameMap =
        FrameMap(sx * outer.sx, sy * outer.sy, ox * outer.sx + outer.ox, oy * outer.sy + outer.oy, outer.frameH, outer.frameW)

    /** Output pixels whose centre falls inside the raw frame and inside [fov] (frame-sized, row-major). */
    fun view(outH: Int, outW: Int, fov: BooleanArray? = null): BooleanArray {
        if (frameH <= 0 || frameW <= 0) {
            if (fov != null) throw IqaException("a field-of-view mask needs the frame size in the FrameMap")
            return BooleanArray(outH * outW) { true }
        }
        if (fov != null && fov.size != frameH * frameW) {
            throw IqaException("field-of-view mask has ${fov.size} values, the frame is ${frameH}x$frameW",
                "pass the fan mask of this probe")
        }
        val out = BooleanArray(outH * outW)
        for (v in 0 until outH) for (u in 0 until outW) {
            val x = (u + 0.5) * sx + ox
            val y = (v + 0.5) * sy + oy
            var inside = x >= 0 && x < frameW && y >= 0 && y < frameH
            if (inside && fov != null) {
                val xi = floor(x).toInt().coerceIn(0, frameW - 1)
                val yi = floor(y).toInt().coerceIn(0, frameH - 1)
                inside = fov[yi * frameW + xi]
            }
            out[v * outW + u] = inside
        }
        return out
    }

    companion object {
        fun identity(frameH: Int = 0, frameW: Int = 0): FrameMap = FrameMap(1.0, 1.0, 0.0, 0.0, frameH, frameW)

        /** The inverse of letterboxing a (frameH, frameW) frame to (outH, outW) ([FrameGeometry.letterboxBox]). */
        fun letterbox(frameH: Int, frameW: Int, outH: Int, outW: Int): FrameMap {
            val (ph, pw) = FrameGeometry.letterboxBox(frameH, frameW, outH, outW)
            return FrameMap(pw.toDouble() / outW, ph.toDouble() / outH, (-((pw - frameW) / 2)).toDouble(),
                (-((ph - frameH) / 2)).toDouble(), frameH, frameW)
        }
    }
}

/** When a measurement is trusted; the same fields and defaults as Python's `MeasureParams`. */
data class MeasureParams(
    val threshold: Double = 0.5,
    val minAreaMm2: Double = 100.0,
    val maxResidual: Double = 0.03,
    val maxCutFraction: Double = 0.15,
    val minComponentShare: Double = 0.9,
    val minPoints: Int = 20,
) {
    init {
        if (!(threshold > 0.0 && threshold < 1.0)) throw IqaException("measurement threshold must be in (0, 1), got $threshold")
        if (minPoints < 6) throw IqaException("measurement min_points must be an integer >= 6, got $minPoints")
    }
}

/** One frame's measurement: [circumferenceMm] is null exactly when [status] is "none". */
data class Measurement(
    val status: String,
    val reasons: List<String>,
    val circumferenceMm: Double?,
    val ellipseMm: Ellipse?,
    val ellipsePx: Ellipse?,
    val areaMm2: Double,
    val residual: Double,
    val cutFraction: Double,
    val componentShare: Double,
    val points: Int,
) {
    val ok: Boolean get() = status == "ok"
}

/** Mirror of `fetaledge.runtime.measure.measure_mask`: mask -> largest component -> ellipse in mm -> flag. */
object Measure {
    private fun none(reason: String, area: Double = 0.0, cut: Double = 0.0, share: Double = 0.0, points: Int = 0) =
        Measurement("none", listOf(reason), null, null, null, area, 0.0, cut, share, points)

    fun measureMask(mask: ProbMap, map: FrameMap, spacingX: Double, spacingY: Double,
                    params: MeasureParams = MeasureParams(), fov: BooleanArray? = null): Measurement {
        if (!(spacingX > 0 && spacingY > 0 && spacingX.isFinite() && spacingY.isFinite())) {
            throw IqaException("pixel spacing must be > 0 mm, got ($spacingX, $spacingY)",
                "set the probe's spacing in the spec")
        }
        val view = map.view(mask.height, mask.width, fov)
        val edges = MaskContour.edgePoints(mask, params.threshold, view)
        if (edges.area == 0) return none("no_foreground")
        val areaMm2 = edges.area * map.sx * spacingX * map.sy * spacingY
        val share = edges.area.toDouble() / edges.foreground
        val nSeen = edges.seen.size
        val nCut = edges.cut.size
        val cut = nCut.toDouble() / (nSeen + nCut)
        if (nSeen < params.minPoints) return none("too_few_edge_points", areaMm2, cut, share, nSeen)
        val px = edges.seen.map { doubleArrayOf(it[0] * map.sx + map.ox, it[1] * map.sy + map.oy) }
        val mm = px.map { doubleArrayOf(it[0] * spacingX, it[1] * spacingY) }
        val eMm: Ellipse
        val ePx: Ellipse
        try {
            eMm = EllipseFit.fit(mm)
            ePx = if (spacingX == 1.0 && spacingY == 1.0) eMm else EllipseFit.fit(px)
        } catch (e: IqaException) {
            return none("not_an_ellipse", areaMm2, cut, share, nSeen)
        }
        val residual = EllipseFit.sampsonRms(eMm, mm) / (0.5 * (eMm.a + eMm.b))
        val reasons = ArrayList<String>()
        if (areaMm2 < params.minAreaMm2) reasons.add("small")
        if (residual > params.maxResidual) reasons.add("poor_fit")
        if (cut > params.maxCutFraction) reasons.add("truncated")
        if (share < params.minComponentShare) reasons.add("fragmented")
        return Measurement(if (reasons.isEmpty()) "ok" else "rescan", reasons, eMm.circumference, eMm, ePx, areaMm2,
            residual, cut, share, nSeen)
    }
}
