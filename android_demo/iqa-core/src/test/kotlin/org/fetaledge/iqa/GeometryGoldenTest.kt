package org.fetaledge.iqa

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import java.io.File
import java.security.MessageDigest

/** tests/goldens/geometry/letterbox_cases.json: the same pixels fetaledge/runtime/geometry.py produces, bit for bit. */
class GeometryGoldenTest {
    private val doc: Json by lazy { Goldens.read(File(Goldens.root, "geometry/letterbox_cases.json")) }

    private fun sha256(bytes: ByteArray): String =
        MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }

    /** The golden's input_pattern: v(y, x, c) = (7y + 13x + 50c + 3((y x) mod 29)) mod 256, interleaved. */
    private fun pattern(h: Int, w: Int, channels: Int): ByteArray {
        val out = ByteArray(h * w * channels)
        for (y in 0 until h) for (x in 0 until w) for (c in 0 until channels) {
            out[(y * w + x) * channels + c] = ((7 * y + 13 * x + 50 * c + 3 * ((y * x) % 29)) % 256).toByte()
        }
        return out
    }

    @TestFactory
    fun letterboxGoldens(): List<DynamicTest> = doc["cases"].arr().map { c ->
        DynamicTest.dynamicTest(c["name"].str()) {
            val h = c["height"].int()
            val w = c["width"].int()
            val ch = c["channels"].int()
            val oh = c["out_height"].int()
            val ow = c["out_width"].int()
            val raw = pattern(h, w, ch)
            val grey = if (ch == 1) GreyFrame(h, w, raw) else FrameGeometry.toGrey(h, w, raw, ch)
            assertEquals(c["grey_sha256"].str(), sha256(grey.pixels), "grey input")
            val box = FrameGeometry.letterboxBox(h, w, oh, ow)
            assertEquals(listOf(c["box"].arr()[0].int(), c["box"].arr()[1].int()), listOf(box.first, box.second))
            val out = FrameGeometry.letterbox(grey, oh, ow)
            assertEquals(oh, out.height)
            assertEquals(ow, out.width)
            for (s in c["samples"].arr()) {
                val (y, x, v) = s.arr().map { it.int() }
                assertEquals(v, out[y, x], "pixel ($y, $x)")
            }
            val pixels = c["pixels"]
            if (pixels !is Json.Null) {
                val want = ByteArray(oh * ow)
                pixels.arr().forEachIndexed { y, row -> row.arr().forEachIndexed { x, v -> want[y * ow + x] = v.int().toByte() } }
                assertArrayEquals(want, out.pixels)
            }
            assertEquals(c["sha256"].str(), sha256(out.pixels), "output sha256")
        }
    }

    @Test
    fun enoughCasesIncludingColourAndLargeFrames() {
        val cases = doc["cases"].arr()
        assertTrue(cases.size >= 8)
        assertTrue(cases.any { it["channels"].int() == 3 })
        assertTrue(cases.any { it["pixels"] is Json.Null })
    }

    @Test
    fun fitFrameFollowsTheSpec() {
        val frame = GreyFrame(10, 12, ByteArray(120) { 100 })
        val refuse = InputSpec(8, 8, "uint8", "HW", 1, FrameGeometry.REFUSE)
        val e = assertThrows(IqaException::class.java) { FrameGeometry.fitFrame(frame, refuse) }
        assertTrue(e.problem.startsWith("frame is 10x12 (HxW); this bundle was built for 8x8 frames"), e.problem)
        val fitted = FrameGeometry.fitFrame(frame, refuse.copy(otherSizes = FrameGeometry.LETTERBOX))
        assertEquals(8, fitted.height)
        assertEquals(8, fitted.width)
        assertSame(frame, FrameGeometry.fitFrame(frame, InputSpec(10, 12, "uint8", "HW", 1)))
    }
}
