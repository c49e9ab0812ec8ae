package org.fetaledge.demo.core

import org.fetaledge.iqa.IqaException
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** sweep_golden.json is written by make_fixtures.py exactly as bundle.py writes a bundle's goldens/sweep.json. */
class SelfCheckTest {
    private val text = Fixtures.text("sweep_golden.json")
    private val golden = SweepGolden.parse(text, "goldens/sweep.json")
    private val model = "student-int8-litert"

    private companion object {
        /** The tolerances bundle.py writes into goldens/frames.json today (the app reads them from there). */
        const val INT8 = 1e-2
        const val FP32 = 1e-4
    }

    @Test
    fun parsesTheGoldenPythonWrites() {
        assertEquals(model, golden.model)
        assertEquals("goldens/sweep_frames.npy", golden.framesFile)
        assertEquals(60, golden.probabilities.size)
        assertEquals(3, golden.params.minRun)
        assertEquals("USABLE", golden.expectedVerdict.verdict)
        assertEquals(golden.expectedVerdict.frame, golden.expectedEvents.last { it.type == "NEW_BEST" }.frame)
    }

    @Test
    fun passesWithTheGoldenProbabilitiesAndWithinTolerance() {
        val exact = SelfCheck.compareSweep(golden, model, golden.params, INT8, golden.probabilities)
        assertTrue(exact.passed, exact.problems.toString())
        assertTrue(exact.decisionsMatch)
        assertEquals(0.0, exact.maxAbsDiff)
        assertTrue(exact.summary().startsWith("PASS $model: 60 frames"), exact.summary())
        // Every probability moved by +5e-3 (inside the bundle's int8 tolerance 1e-2): same decisions, scores within 1e-2.
        val moved = golden.probabilities.map { (it + 5e-3).coerceIn(0.0, 1.0) }
        val r = SelfCheck.compareSweep(golden, model, golden.params, INT8, moved)
        assertTrue(r.passed, r.problems.toString())
        assertTrue(r.maxAbsDiff > 4e-3 && r.maxAbsDiff <= 5e-3 + 1e-12, r.summary())
    }

    @Test
    fun failsBeyondToleranceOrWhenADecisionChanges() {
        // +5e-2 everywhere: the events' scores move by more than 1e-2.
        val far = golden.probabilities.map { (it + 5e-2).coerceIn(0.0, 1.0) }
        val a = SelfCheck.compareSweep(golden, model, golden.params, INT8, far)
        assertFalse(a.passed)
        assertTrue(a.problems.any { it.contains("(scores may differ by 0.01)") || it.startsWith("verdict:") || it.contains("events") }, a.problems.toString())
        // fp32 has the tighter tolerance: 5e-3 passes for int8 but not for fp32.
        val moved = golden.probabilities.map { (it + 5e-3).coerceIn(0.0, 1.0) }
        assertFalse(SelfCheck.compareSweep(golden, model, golden.params, FP32, moved).passed)
        // The chosen frame scored 0 on the device: the verdict names another frame.
        val chosen = golden.expectedVerdict.frame
        val other = golden.probabilities.toMutableList().also { it[chosen] = 0.0 }
        val b = SelfCheck.compareSweep(golden, model, golden.params, INT8, other)
        assertFalse(b.passed)
        assertFalse(b.decisionsMatch)
        assertTrue(b.summary().startsWith("FAIL"))
        // Too few frames.
        assertFalse(SelfCheck.compareSweep(golden, model, golden.params, INT8, golden.probabilities.drop(1)).passed)
    }

    @Test
    fun failsWhenTheGoldenBelongsToAnotherModelOrOtherParameters() {
        val m = SelfCheck.compareSweep(golden, "student-fp32-litert", golden.params, FP32, golden.probabilities)
        assertFalse(m.passed)
        assertTrue(m.problems[0].contains("recorded with model 'student-int8-litert'"), m.problems[0])
        val p = SelfCheck.compareSweep(golden, model, golden.params.copy(minRun = 4), INT8, golden.probabilities)
        assertFalse(p.passed)
        assertTrue(p.problems.any { it.contains("decision parameters") })
    }

    @Test
    fun aGoldenWhoseDecisionsIqaCoreDoesNotReproduceFails() {
        // Edit one expected value in the golden (as the project's golden-mutation check does): the self-check fails.
        val edited = SweepGolden.parse(text.replace("\"n_frames\": 60", "\"n_frames\": 61"), "goldens/sweep.json")
        val r = SelfCheck.compareSweep(edited, model, edited.params, INT8, edited.probabilities)
        assertFalse(r.passed)
        assertTrue(r.problems.any { it.startsWith("iqa-core does not reproduce") }, r.problems.toString())
    }

    @Test
    fun malformedGoldensAreClearErrors() {
        fun fails(expected: String, t: String) {
            val e = assertThrows(IqaException::class.java) { SweepGolden.parse(t, "goldens/sweep.json") }
            assertTrue(e.problem.startsWith("goldens/sweep.json: $expected"), e.problem)
        }
        fails("model: required field is missing", text.replace("\"model\"", "\"modell\""))
        fails("kind: must be \"sweep\"", text.replace("\"kind\": \"sweep\"", "\"kind\": \"case\""))
        fails("params.min_run: must be an integer >= 1", text.replace("\"min_run\": 3", "\"min_run\": 0"))
        fails("probabilities[0]: must be a number", text.replace("\"probabilities\": [", "\"probabilities\": [\"NaN\", "))
    }
}
