package org.fetaledge.demo.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Test

class ControlsTest {
    private val bools = listOf(false, true)

    @Test
    fun nothingScoresOrExportsWithoutAPassedSelfCheck() {
        for (check in listOf(CheckStatus.WAITING, CheckStatus.RUNNING, CheckStatus.BLOCKED)) {
            for (a in bools) for (r in bools) for (l in bools) for (u in bools) {
                val c = controlsFor(check, a, r, l, u)
                assertEquals(Controls(false, false, false, false, false), c, "$check replay=$a running=$r live=$l usable=$u")
            }
        }
    }

    @Test
    fun afterAPassedCheckTheControlsFollowTheSweep() {
        assertEquals(Controls(replay = true, stop = false, live = true, liveEnds = false, export = false), controlsFor(CheckStatus.PASSED, true, false, false, false))
        assertEquals(Controls(replay = false, stop = true, live = true, liveEnds = true, export = false), controlsFor(CheckStatus.PASSED, true, true, true, false))
        assertEquals(Controls(replay = false, stop = true, live = false, liveEnds = false, export = false), controlsFor(CheckStatus.PASSED, true, true, false, false))
        assertEquals(true, controlsFor(CheckStatus.PASSED, true, false, false, true).export)
        assertFalse(controlsFor(CheckStatus.PASSED, false, false, false, false).replay) // no recorded sweep: no replay
    }
}
