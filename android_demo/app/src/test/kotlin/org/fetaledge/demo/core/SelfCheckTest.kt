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
        val exact = SelfCheck.compare(golden, model, "int8", golden.params, golden.probabilities)
        assertTrue(exact.passed, exact.problems.toString())
        assertTrue(exact.decisionsMatch)
        assertEquals(0.0, exact.maxAbsDiff)
        assertTrue(exact.summary().startsWith("PASS: 60 frames"), exact.summary())
        // Every probability moved by 1.5e-3 (< 2e-3 for int8), alternating sign, away from any threshold crossing.
        val moved = golden.probabilities.mapIndexed { i, p -> (p + if (i % 2 == 0) 1.5e-3 else -1.5e-3).coerceIn(0.0, 1.0) }
        val r = SelfCheck.compare(golden, model, "int8", golden.params, moved)
        assertTrue(r.passed, r.problems.toString())
        assertTrue(r.maxAbsDiff > 1e-3 && r.maxAbsDiff <= 2e-3)
    }

    @Test
    fun failsBeyondToleranceOrWhenADecisionChanges() {
        val tooFar = golden.probabilities.toMutableList().also { it[5] = it[5] + 3e-3 }
        val a = SelfCheck.compare(golden, model, "int8", golden.params, tooFar)
        assertFalse(a.passed)
        assertTrue(a.problems.any { it.startsWith("1 probabilities differ by more than 0.002 (frame 5:") }, a.problems.toString())
        // fp32 has the tighter tolerance: 1.5e-3 passes for int8 but not for fp32.
        val moved = golden.probabilities.map { it + 1.5e-4 }
        assertFalse(SelfCheck.compare(golden, model, "fp32", golden.params, moved).passed)
        // The chosen frame scored 0 on the device: the verdict names another frame.
        val chosen = golden.expectedVerdict.frame
        val other = golden.probabilities.toMutableList().also { it[chosen] = 0.0 }
        val b = SelfCheck.compare(golden, model, "int8", golden.params, other)
        assertFalse(b.passed)
        assertFalse(b.decisionsMatch)
        assertTrue(b.summary().startsWith("FAIL"))
        // Too few frames.
        assertFalse(SelfCheck.compare(golden, model, "int8", golden.params, golden.probabilities.drop(1)).passed)
    }

    @Test
    fun failsWhenTheGoldenBelongsToAnotherModelOrOtherParameters() {
        val m = SelfCheck.compare(golden, "student-fp32-litert", "fp32", golden.params, golden.probabilities)
        assertFalse(m.passed)
        assertTrue(m.problems[0].contains("recorded with model 'student-int8-litert'"), m.problems[0])
        val p = SelfCheck.compare(golden, model, "int8", golden.params.copy(minRun = 4), golden.probabilities)
        assertFalse(p.passed)
        assertTrue(p.problems.any { it.contains("decision parameters") })
    }

    @Test
    fun aGoldenWhoseDecisionsIqaCoreDoesNotReproduceFails() {
        // Edit one expected value in the golden (as the project's golden-mutation check does): the self-check fails.
        val edited = SweepGolden.parse(text.replace("\"n_frames\": 60", "\"n_frames\": 61"), "goldens/sweep.json")
        val r = SelfCheck.compare(edited, model, "int8", edited.params, edited.probabilities)
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
