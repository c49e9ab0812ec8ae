package org.fetaledge.demo.core

import org.fetaledge.iqa.Event
import org.fetaledge.iqa.EventType
import org.fetaledge.iqa.SweepVerdict
import org.fetaledge.iqa.Verdict
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import java.util.Locale

class TextsTest {
    @Test
    fun eventAndVerdictLinesAreLocaleIndependent() {
        val saved = Locale.getDefault()
        try {
            Locale.setDefault(Locale.GERMANY) // a decimal comma locale: the log must still use a point
            assertEquals("frame 3  PLANE FOUND  (smoothed 0.750)", formatEvent(3, Event(EventType.PLANE_FOUND, 3, 0.75)))
            assertEquals("frame 3  new best: frame 2, p 0.800", formatEvent(3, Event(EventType.NEW_BEST, 2, 0.8)))
            assertEquals("frame 8  new best  p 0.970", formatEvent(8, Event(EventType.NEW_BEST, 8, 0.97)))
            assertEquals("frame 4  plane lost  (smoothed 0.300)", formatEvent(4, Event(EventType.PLANE_LOST, 4, 0.3)))
            assertEquals("end of sweep (12 frames): USABLE, frame 8, p 0.970",
                formatVerdict(SweepVerdict(Verdict.USABLE, 8, 0.97, 12)))
            assertEquals("end of sweep (0 frames): RESCAN, the plane was never confirmed",
                formatVerdict(SweepVerdict(Verdict.RESCAN, -1, null, 0)))
            assertEquals("7.5", formatFps(7.5))
            assertEquals("15", formatFps(15.0))
            assertEquals("0.912", formatProbability(0.91249))
        } finally {
            Locale.setDefault(saved)
        }
    }
}
