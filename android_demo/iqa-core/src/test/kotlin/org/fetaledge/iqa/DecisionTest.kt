package org.fetaledge.iqa

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** Hand-written checks of the Kotlin decision logic and JSON reader, beyond the shared goldens. */
class DecisionTest {
    private val plain = DecisionParams(0.5, 0.6, 0.4, 3, 1.0)

    @Test
    fun paramsRejectBadValuesNamingTheField() {
        fun err(block: () -> Unit) = assertThrows(IqaException::class.java) { block() }.problem
        assertTrue(err { plain.copy(threshold = Double.NaN) }.startsWith("threshold: "))
        assertTrue(err { plain.copy(exitThreshold = 0.55) }.startsWith("exit_threshold: "))
        assertTrue(err { plain.copy(enterThreshold = 0.45) }.startsWith("enter_threshold: "))
        assertTrue(err { plain.copy(minRun = 0) }.startsWith("min_run: "))
        assertTrue(err { plain.copy(smoothingAlpha = 0.0) }.startsWith("smoothing_alpha: "))
    }

    @Test
    fun smoothingIsTheDocumentedExpression() {
        val t = SweepTracker(DecisionParams(0.5, 0.6, 0.4, 1, 0.3))
        var s: Double? = null
        for (p in listOf(0.2, 0.9, 0.7, 0.1, 0.95)) {
            t.update(p)
            s = if (s == null) p else 0.3 * p + (1.0 - 0.3) * s
            assertEquals(java.lang.Double.doubleToRawLongBits(s), java.lang.Double.doubleToRawLongBits(t.smoothed!!))
        }
    }

    @Test
    fun invalidInputLeavesTheStateUnchanged() {
        val a = SweepTracker(plain)
        val b = SweepTracker(plain)
        for (p in listOf(0.7, 0.8)) {
            a.update(p)
            b.update(p)
        }
        for (bad in listOf(Double.NaN, Double.POSITIVE_INFINITY, -0.01, 1.01)) {
            val e = assertThrows(IqaException::class.java) { a.update(bad) }
            assertTrue(e.problem.startsWith("frame 2: probability must be a finite number in [0, 1]"))
        }
        assertEquals(a.update(0.9), b.update(0.9))
        assertEquals(a.finish(), b.finish())
        assertThrows(IqaException::class.java) { a.update(0.5) }
    }

    @Test
    fun emptySweepAndCaseSelector() {
        val (events, v) = runSweep(plain, emptyList())
        assertEquals(emptyList<Event>(), events)
        assertEquals(SweepVerdict(Verdict.RESCAN, -1, null, 0), v)
        val sel = CaseSelector()
        sel.add(SweepVerdict(Verdict.RESCAN, -1, null, 140))
        sel.add(SweepVerdict(Verdict.USABLE, 10, 0.8, 140))
        sel.add(SweepVerdict(Verdict.USABLE, 3, 0.8, 100))
        assertEquals(CaseVerdict(Verdict.USABLE, 150, 1, 10, 0.8, 380), sel.finish())
        assertThrows(IqaException::class.java) { sel.add(SweepVerdict(Verdict.USABLE, 7, 0.9, 5)) }
    }

    @Test
    fun jsonReaderIsStrictAndKeepsNumberText() {
        val doc = Json.parse("""{"a": [1, -0, 2.5e-3, "x\u00e9\n", true, null], "a": 3, "b": {}}""") as Json.Obj
        assertEquals(listOf("a", "b"), doc.fields.keys.toList())
        assertEquals(Json.Num("3"), doc["a"])
        val arr = (Json.parse("""[1, -0, 2.5e-3, "x\u00e9\n"]""") as Json.Arr).items
        assertTrue((arr[0] as Json.Num).isInteger && (arr[1] as Json.Num).isInteger)
        assertEquals(0.0025, (arr[2] as Json.Num).toDouble())
        assertEquals("xé\n", (arr[3] as Json.Str).value)
        for (bad in listOf("", "[1,]", "{\"a\" 1}", "01", "1.", "NaN", "[1] 2", "\"abc", "{'a': 1}")) {
            assertThrows(IqaException::class.java, { Json.parse(bad) }, bad)
        }
    }
}
