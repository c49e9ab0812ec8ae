package org.fetaledge.demo.core

import org.fetaledge.iqa.DecisionParams
import org.fetaledge.iqa.EventType
import org.fetaledge.iqa.IqaException
import org.fetaledge.iqa.SweepVerdict
import org.fetaledge.iqa.Verdict
import org.fetaledge.iqa.runSweep
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class SweepRunnerTest {
    // tests/goldens/decision/found_lost_found.json: NEW_BEST at frame 3 names frame 2 (the best of the run).
    private val params = DecisionParams(0.5, 0.6, 0.4, 3, 1.0)
    private val probs = listOf(0.1, 0.7, 0.8, 0.75, 0.3, 0.2, 0.65, 0.9, 0.97, 0.92, 0.5, 0.35)

    /** Frames of 1 x 2 pixels whose first byte is the frame index, so a frame's identity is visible. */
    private fun source(n: Int): FrameSource {
        val src = PushFrameSource(1, 2)
        // Offer and take one at a time through a small wrapper: a source that yields n frames then ends.
        return object : FrameSource by src {
            var k = 0

            override fun next(): Frame? {
                if (k == n) return null
                src.offer(byteArrayOf(k.toByte(), 0))
                k++
                return src.next()
            }
        }
    }

    private class Recorder : SweepListener {
        val results = ArrayList<FrameResult>()
        var verdict: SweepVerdict? = null
        var best: BestFrame? = null

        override fun onFrame(result: FrameResult) {
            results.add(result)
        }

        override fun onFinished(verdict: SweepVerdict, best: BestFrame?) {
            this.verdict = verdict
            this.best = best
        }
    }

    @Test
    fun reproducesIqaCoreAndKeepsTheBestFramePixels() {
        val rec = Recorder()
        val verdict = SweepRunner(params, { px -> probs[px[0].toInt()] }, FakeClock()).run(source(probs.size), rec)
        val (events, expected) = runSweep(params, probs)
        assertEquals(expected, verdict)
        assertEquals(events, rec.results.flatMap { it.events })
        assertEquals(Verdict.USABLE, verdict.verdict)
        assertEquals(8, verdict.frame)
        // At frame 3 the plane is confirmed and the best is frame 2: its pixels, not frame 3's, are shown.
        val r3 = rec.results[3]
        assertTrue(r3.inPlane)
        assertEquals(listOf(EventType.PLANE_FOUND, EventType.NEW_BEST), r3.events.map { it.type })
        val best3 = r3.best!!
        assertEquals(2, best3.index)
        assertEquals(2, best3.pixels[0].toInt())
        assertEquals(0.8, best3.score)
        assertEquals(8, rec.best!!.index)
        assertEquals(8, rec.best!!.pixels[0].toInt())
        assertEquals(listOf(false, false, false, true, false), rec.results.take(5).map { it.inPlane })
        assertNull(rec.results[0].best)
        assertEquals(probs, rec.results.map { it.probability })
    }

    @Test
    fun anEmptySweepIsRescanAndABrokenModelIsAnError() {
        val rec = Recorder()
        val v = SweepRunner(params, { 0.9 }, FakeClock()).run(source(0), rec)
        assertEquals(Verdict.RESCAN, v.verdict)
        assertEquals(0, v.nFrames)
        val e = assertThrows(IqaException::class.java) {
            SweepRunner(params, { Double.NaN }, FakeClock()).run(source(3), Recorder())
        }
        assertTrue(e.problem.startsWith("frame 0: probability must be"), e.problem)
    }

    @Test
    fun anInterruptedThreadStopsTheSweep() {
        Thread.currentThread().interrupt()
        assertThrows(InterruptedException::class.java) {
            SweepRunner(params, { 0.9 }, FakeClock()).run(source(5), Recorder())
        }
        assertTrue(!Thread.interrupted())
    }
}
