package org.fetaledge.demo.core

import org.fetaledge.iqa.IqaException
import org.fetaledge.iqa.Quantization
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.nio.ByteOrder
import kotlin.math.abs
import kotlin.math.ulp

class TensorCodecTest {
    private val cases = Fixtures.json("quant_cases.json")

    @Test
    fun quantizationMatchesNumpyForEveryPixelValue() {
        val list = cases["quantize"].list()
        assertTrue(list.size >= 9)
        for (c in list) {
            val q = Quantization(c["scale"].num(), c["zero_point"].int())
            val dtype = c["dtype"].str()
            val expected = c["values"].list().map { it.int() }
            val got = (0..255).map { quantizePixel(it, q, dtype) }
            assertEquals(expected, got, "$dtype scale=${q.scale} zp=${q.zeroPoint}")
            val lut = quantizeLut(q, dtype)
            val fromLut = (0..255).map { if (dtype == "int8") lut[it].toInt() else lut[it].toInt() and 0xff }
            assertEquals(expected, fromLut, "LUT $dtype scale=${q.scale}")
        }
    }

    @Test
    fun tiesRoundToEvenAsNumpyRint() {
        val q = Quantization(2.0, -128) // x / 2: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2
        assertEquals(listOf(-128, -128, -127, -126, -126, -126), (0..5).map { quantizePixel(it, q, "int8") })
    }

    @Test
    fun dequantizationMatchesNumpy() {
        for (c in cases["dequantize"].list()) {
            val dtype = c["dtype"].str()
            val spec = Fixtures.spec(listOf(Fixtures.model("m", outDtype = dtype,
                outQuant = """{"scale": ${c["scale"].num()}, "zero_point": ${c["zero_point"].int()}}""")))
            val dec = OutputDecoder(spec.models[0])
            val out = dec.allocate()
            val raw = c["raw"].list().map { it.int() }
            val expected = c["values"].list().map { it.num() }
            raw.forEachIndexed { k, r ->
                out.put(0, r.toByte())
                assertEquals(expected[k], dec.value(out), "$dtype raw $r") // exact: the same double arithmetic
            }
        }
    }

    @Test
    fun sigmoidMatchesPythonToAnUlp() {
        for (c in cases["sigmoid"].list()) {
            val y = c["logit"].num()
            val p = c["p"].num()
            val got = sigmoid(y)
            assertTrue(abs(got - p) <= 2 * p.ulp, "sigmoid($y) = $got, Python $p")
        }
        assertEquals(0.5, toProbability(0.0, "logit"))
        assertEquals(0.25, toProbability(0.25, "probability"))
        assertThrows(IqaException::class.java) { toProbability(0.0, "odds") }
    }

    @Test
    fun inputEncoderFillsTheTensorPerDtype() {
        val frame = ByteArray(12) { (it * 20).toByte() } // 0, 20, ..., 220 as uint8
        val int8 = InputEncoder(Fixtures.spec(listOf(Fixtures.model("a"))).models[0], 3, 4)
        val buf = int8.allocate()
        assertEquals(ByteOrder.nativeOrder(), buf.order())
        assertEquals(12, int8.byteSize)
        int8.encode(frame, buf)
        assertEquals(0, buf.position())
        val q = Quantization(0.003921568859368563, -128)
        for (i in 0 until 12) assertEquals(quantizePixel(i * 20, q, "int8"), buf.get(i).toInt())

        val u8 = InputEncoder(Fixtures.spec(listOf(Fixtures.model("b", inDtype = "uint8", inQuant = "null"))).models[0], 3, 4)
        val ub = u8.allocate()
        u8.encode(frame, ub)
        for (i in 0 until 12) assertEquals(i * 20, ub.get(i).toInt() and 0xff)

        val f32 = InputEncoder(Fixtures.spec(listOf(Fixtures.model("c", inDtype = "float32", inQuant = "null", precision = "fp32"))).models[0], 3, 4)
        assertEquals(48, f32.byteSize)
        val fb = f32.allocate()
        f32.encode(frame, fb)
        for (i in 0 until 12) assertEquals((i * 20).toFloat(), fb.getFloat(i * 4))

        // A dynamic batch dimension is accepted (the app runs batch 1).
        InputEncoder(Fixtures.spec(listOf(Fixtures.model("d", inShape = "[-1, 3, 4]"))).models[0], 3, 4)
    }

    @Test
    fun inputEncoderRejectsModelsTheAppCannotFeed() {
        fun fails(expected: String, model: String) {
            val e = assertThrows(IqaException::class.java) { InputEncoder(Fixtures.spec(listOf(model)).models[0], 3, 4) }
            assertTrue(e.problem.contains(expected), e.problem)
        }
        fails("input shape [1, 224, 224, 3] is not [1, 3, 4]", Fixtures.model("m", inShape = "[1, 224, 224, 3]"))
        fails("input shape [2, 3, 4]", Fixtures.model("m", inShape = "[2, 3, 4]"))
        fails("int8 input without quantization", Fixtures.model("m", inQuant = "null"))
        fails("input dtype float16 is not supported", Fixtures.model("m", inDtype = "float16", inQuant = "null"))
        val enc = InputEncoder(Fixtures.spec(listOf(Fixtures.model("m"))).models[0], 3, 4)
        assertThrows(IllegalArgumentException::class.java) { enc.encode(ByteArray(11), enc.allocate()) }
    }

    @Test
    fun outputDecoderReadsFloatAndRejectsBadOutputs() {
        val dec = OutputDecoder(Fixtures.spec(listOf(Fixtures.model("m", outDtype = "float32", outQuant = "null", outShape = "[1]"))).models[0])
        val out = dec.allocate()
        out.putFloat(0, -1.25f)
        assertEquals(-1.25, dec.value(out))
        assertEquals(sigmoid(-1.25), dec.probability(out))
        val e = assertThrows(IqaException::class.java) {
            OutputDecoder(Fixtures.spec(listOf(Fixtures.model("m", outDtype = "float32", outQuant = "null", outShape = "[1, 2]"))).models[0])
        }
        assertTrue(e.problem.contains("has 2 values, expected 1"), e.problem)
    }
}
