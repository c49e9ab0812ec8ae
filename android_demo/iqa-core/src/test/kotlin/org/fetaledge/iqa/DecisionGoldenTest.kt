package org.fetaledge.iqa

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import java.io.File

/**
 * Every tests/goldens/decision/ *.json reproduces exactly: events (emitting frame, type, frame, score),
 * verdicts, chosen frames, rejected frames. Scores are compared BIT FOR BIT (doubleToRawLongBits).
 */
class DecisionGoldenTest {
    /** One replayed sweep, as comparable strings: floats rendered by their raw bits. */
    private data class Replay(val events: List<String>, val verdict: SweepVerdict?, val errorFrame: Int?)

    private fun bits(d: Double?) = if (d == null) "null" else "0x%016x".format(java.lang.Double.doubleToRawLongBits(d))

    private fun replay(params: DecisionParams, inputs: List<Json>): Replay {
        val tracker = SweepTracker(params)
        val events = ArrayList<String>()
        inputs.forEachIndexed { i, raw ->
            try {
                for (e in tracker.update(raw.probability())) events.add("at=$i ${e.type} frame=${e.frame} score=${bits(e.score)}")
            } catch (ex: IqaException) {
                assertTrue(ex.problem.startsWith("frame $i: "), ex.problem)
                return Replay(events, null, i)
            }
        }
        return Replay(events, tracker.finish(), null)
    }

    private fun expectedEvents(list: Json): List<String> = list.arr().map { e ->
        "at=${e["at"].int()} ${EventType.valueOf(e["type"].str())} frame=${e["frame"].int()} score=${bits(e["score"].dbl())}"
    }

    private fun checkSweep(name: String, got: Replay, expected: Json) {
        assertEquals(expectedEvents(expected["events"]), got.events, "$name: events")
        val err = expected["error"]
        if (err is Json.Null) {
            assertEquals(null, got.errorFrame, "$name: unexpected error")
            val v = expected["verdict"]
            val g = got.verdict!!
            assertEquals(v["verdict"].str(), g.verdict.name, "$name: verdict")
            assertEquals(v["frame"].int(), g.frame, "$name: chosen frame")
            assertEquals(bits((v["score"] as? Json.Num)?.toDouble()), bits(g.score), "$name: score")
            assertEquals(v["n_frames"].int(), g.nFrames, "$name: n_frames")
        } else {
            assertEquals(err["frame"].int(), got.errorFrame, "$name: rejected frame")
            assertTrue(expected["verdict"] is Json.Null)
        }
    }

    /**
     * The golden's per-frame trajectory: smoothed score (bit for bit), in-plane flag and best frame after every
     * update() call; the calls that raised leave all three as they were; 'continued': the same tracker fed on.
     */
    private fun checkTrajectory(name: String, params: DecisionParams, inputs: List<Json>, t: Json) {
        val tracker = SweepTracker(params)
        val smoothed = ArrayList<String>()
        val inPlane = ArrayList<Boolean>()
        val best = ArrayList<Int>()
        val rejected = ArrayList<Int>()
        val events = ArrayList<String>()
        inputs.forEachIndexed { i, raw ->
            val before = Triple(tracker.smoothed, tracker.inPlane, tracker.best)
            val n = tracker.nFrames
            try {
                for (e in tracker.update(raw.probability())) events.add("at=$i ${e.type} frame=${e.frame} score=${bits(e.score)}")
            } catch (ex: IqaException) {
                rejected.add(i)
                assertEquals(before, Triple(tracker.smoothed, tracker.inPlane, tracker.best), "$name: frame $i changed the state")
                assertEquals(n, tracker.nFrames, "$name: frame $i was counted")
            }
            smoothed.add(bits(tracker.smoothed))
            inPlane.add(tracker.inPlane)
            best.add(tracker.best?.first ?: -1)
        }
        assertEquals(t["smoothed"].arr().map { bits((it as? Json.Num)?.toDouble()) }, smoothed, "$name: smoothed trajectory")
        assertEquals(t["in_plane"].arr().map { (it as Json.Bool).value }, inPlane, "$name: in-plane trajectory")
        assertEquals(t["best_frame"].arr().map { it.int() }, best, "$name: best-frame trajectory")
        assertEquals(t["rejected"].arr().map { it.int() }, rejected, "$name: rejected frames")
        val cont = (t as Json.Obj).fields["continued"]
        assertEquals(rejected.isNotEmpty(), cont != null, "$name: 'continued' present exactly when a frame was rejected")
        if (cont != null) {
            assertEquals(expectedEvents(cont["events"]), events, "$name: events after rejected frames")
            val v = tracker.finish()
            val x = cont["verdict"]
            assertEquals(listOf(x["verdict"].str(), x["frame"].int().toString(), bits((x["score"] as? Json.Num)?.toDouble()), x["n_frames"].int().toString()),
                listOf(v.verdict.name, v.frame.toString(), bits(v.score), v.nFrames.toString()), "$name: verdict after rejected frames")
        }
    }

    private fun run(file: File) {
        val doc = Goldens.read(file)
        assertEquals(1, doc["format"].int(), "golden format")
        assertEquals(file.name.removeSuffix(".json"), doc["name"].str())
        val params = paramsOf(doc["params"])
        val expected = doc["expected"]
        when (doc["kind"].str()) {
            "sweep" -> {
                checkSweep(file.name, replay(params, doc["probabilities"].arr()), expected)
                checkTrajectory(file.name, params, doc["probabilities"].arr(), doc["trajectory"])
            }
            "case" -> {
                val selector = CaseSelector()
                val sweeps = doc["sweeps"].arr()
                val expectedSweeps = expected["sweeps"].arr()
                assertEquals(expectedSweeps.size, sweeps.size)
                sweeps.forEachIndexed { k, s ->
                    val r = replay(params, s.arr())
                    checkSweep("${file.name} sweep $k", r, expectedSweeps[k])
                    selector.add(r.verdict!!)
                    checkTrajectory("${file.name} sweep $k", params, s.arr(), doc["trajectory"]["sweeps"].arr()[k])
                }
                val c = selector.finish()
                val e = expected["case"]
                assertEquals(e["verdict"].str(), c.verdict.name, "${file.name}: case verdict")
                assertEquals(e["frame"].int(), c.frame, "${file.name}: case frame")
                assertEquals(e["sweep"].int(), c.sweep, "${file.name}: case sweep")
                assertEquals(e["sweep_frame"].int(), c.sweepFrame, "${file.name}: case sweep_frame")
                assertEquals(bits((e["score"] as? Json.Num)?.toDouble()), bits(c.score), "${file.name}: case score")
                assertEquals(e["n_frames"].int(), c.nFrames, "${file.name}: case n_frames")
            }
            else -> error("unknown golden kind in ${file.name}")
        }
    }

    @TestFactory
    fun decisionGoldens(): List<DynamicTest> =
        Goldens.decisionFiles().map { f -> DynamicTest.dynamicTest(f.name) { run(f) } }

    @Test
    fun theGoldenSetIsComplete() {
        val names = Goldens.decisionFiles().map { it.name.removeSuffix(".json") }.toSet()
        val required = setOf(
            "empty_sweep", "all_below_threshold", "ties_first_occurrence_wins", "flicker_never_confirmed",
            "flicker_in_plane_suppressed", "plane_at_first_frame", "plane_at_last_frame", "min_run_not_reached",
            "found_lost_found", "nan_rejected", "long_realistic_sweep", "case_six_sweeps_one_usable",
            "case_realistic_six_sweeps", "invalid_frame_leaves_state_unchanged",
        )
        assertTrue(names.containsAll(required), "missing goldens: ${required - names}")
        assertTrue(names.size >= 25, "only ${names.size} decision goldens found in ${Goldens.root}")
    }
}
