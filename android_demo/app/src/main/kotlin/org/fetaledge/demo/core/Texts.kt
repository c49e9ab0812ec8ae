package org.fetaledge.demo.core

import org.fetaledge.iqa.Event
import org.fetaledge.iqa.EventType
import org.fetaledge.iqa.SweepVerdict
import org.fetaledge.iqa.Verdict
import java.util.Locale

/*
 * The lines of the events log and the verdict, formatted the same way on every device (Locale.ROOT: a decimal
 * point, never a comma, so a screenshot reads the same everywhere).
 */

private fun f3(x: Double): String = String.format(Locale.ROOT, "%.3f", x)

/** One log line for an event emitted while processing frame [at]. */
fun formatEvent(at: Int, e: Event): String = when (e.type) {
    EventType.PLANE_FOUND -> "frame $at  PLANE FOUND  (smoothed ${f3(e.score)})"
    EventType.PLANE_LOST -> "frame $at  plane lost  (smoothed ${f3(e.score)})"
    EventType.NEW_BEST ->
        if (e.frame == at) "frame $at  new best  p ${f3(e.score)}" else "frame $at  new best: frame ${e.frame}, p ${f3(e.score)}"
}

/** The end-of-sweep line: USABLE with the chosen frame, or RESCAN. */
fun formatVerdict(v: SweepVerdict): String {
    val score = v.score
    return if (v.verdict == Verdict.USABLE && score != null) {
        "end of sweep (${v.nFrames} frames): USABLE, frame ${v.frame}, p ${f3(score)}"
    } else {
        "end of sweep (${v.nFrames} frames): RESCAN, the plane was never confirmed"
    }
}

/** A probability for the screen: 0.912. */
fun formatProbability(p: Double): String = f3(p)

/** A frame rate for the screen: "15" or "7.5". */
fun formatFps(fps: Double): String =
    if (fps == Math.rint(fps)) fps.toLong().toString() else String.format(Locale.ROOT, "%.1f", fps)
