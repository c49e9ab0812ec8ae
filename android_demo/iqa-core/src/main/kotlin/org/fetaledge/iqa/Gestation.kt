package org.fetaledge.iqa

import kotlin.math.floor

/**
 * Hadlock FP, Deter RL, Harrist RB, Park SK. Estimating fetal age: computer-assisted analysis of multiple fetal
 * growth parameters. Radiology 1984;152(2):497-501. Circumference in cm:
 * HC: MA = 8.96 + 0.540 HC + 0.0003 HC^3; AC: MA = 8.14 + 0.753 AC + 0.0036 AC^2. Fitted on 14-42 menstrual
 * weeks: outside that, no estimate (null), never an extrapolation. Mirror of `fetaledge.runtime.gestation`.
 */
object Gestation {
    const val MIN_WEEKS = 14.0
    const val MAX_WEEKS = 42.0

    fun weeks(structure: String, circumferenceMm: Double): Double {
        val x = circumferenceMm / 10.0
        return when (structure.lowercase()) {
            "hc" -> 8.96 + 0.540 * x + 0.0 * x * x + 0.0003 * x * x * x
            "ac" -> 8.14 + 0.753 * x + 0.0036 * x * x + 0.0 * x * x * x
            else -> throw IqaException("unknown structure '$structure' for a gestational age", "use 'hc' or 'ac'")
        }
    }

    /** Weeks within 14..42, or null when the regression does not cover this circumference. */
    fun estimate(structure: String, circumferenceMm: Double): Double? {
        if (!(circumferenceMm > 0 && circumferenceMm.isFinite())) {
            throw IqaException("circumference must be a positive number of mm, got $circumferenceMm")
        }
        val w = weeks(structure, circumferenceMm)
        return if (w >= MIN_WEEKS && w <= MAX_WEEKS) w else null
    }

    /** "20w3d": weeks and days, rounded to the nearest day. */
    fun label(weeks: Double): String {
        val days = floor(weeks * 7.0 + 0.5).toInt()
        return "${days / 7}w${days % 7}d"
    }
}
