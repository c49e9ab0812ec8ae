package org.fetaledge.demo.core

import org.fetaledge.iqa.Json
import org.fetaledge.iqa.SweepVerdict
import org.fetaledge.iqa.Verdict
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

class ChosenFrameExportTest {
    @Test
    fun theRecordIsValidJsonWithTheDecisionAndProvenance() {
        val spec = Fixtures.spec(listOf(Fixtures.model("int8")))
        val best = BestFrame(7, 0.8125, ByteArray(12) { it.toByte() })
        val text = ChosenFrameExport.json(SweepVerdict(Verdict.USABLE, 7, 0.8125, 30), best, spec, spec.models[0],
            "PASS int8: ...", "simulated probe \"A\"\n", "chosen_20261201T114512Z.png", "2026-12-01T11:45:12Z")
        val doc = Json.parse(text)
        assertEquals("USABLE", doc["decision"]["verdict"].str())
        assertEquals(7, doc["decision"]["frame"].int())
        assertEquals(0.8125, doc["decision"]["probability"].num())
        assertEquals(3, doc["decision"]["params"]["min_run"].int())
        assertEquals("simulated probe \"A\"\n", doc["frame"]["source"].str())
        assertEquals("0".repeat(64), doc["model"]["sha256"].str())
        assertEquals(Json.Bool(true), doc["bundle_provenance"]["test"])
        assertEquals("20261201T114512Z", ChosenFrameExport.stamp(1796125512000L))
    }
}
