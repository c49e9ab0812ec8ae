package org.fetaledge.demo.core

import org.fetaledge.iqa.IqaException
import org.fetaledge.iqa.sha256Hex
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.nio.ByteBuffer

class BundleChecksTest {
    private val modelBytes = ByteArray(100_000) { (it * 31 + 7).toByte() }
    private val digest = sha256Hex(modelBytes.inputStream())

    @Test
    fun digestsOfMappedBytesAreChecked() {
        val spec = Fixtures.spec(listOf(
            Fixtures.model("int8", sha256 = digest),
            Fixtures.model("fp32", sha256 = digest, precision = "fp32", inDtype = "float32", inQuant = "null",
                outDtype = "float32", outQuant = "null"),
        ))
        verifyModelDigests(spec, "assets/bundle") { ByteBufferInputStream(ByteBuffer.wrap(modelBytes)) }
        val changed = modelBytes.copyOf().also { it[500] = (it[500] + 1).toByte() }
        val e = assertThrows(IqaException::class.java) {
            verifyModelDigests(spec, "assets/bundle") { m -> if (m.name == "int8") null else ByteBufferInputStream(ByteBuffer.wrap(changed)) }
        }
        assertTrue(e.problem.startsWith("bundle assets/bundle failed its checks: model 'int8': file models/int8.tflite is missing; " +
            "model 'fp32': file models/fp32.tflite has sha256 "), e.problem)
        assertTrue(e.problem.endsWith("but iqa_spec.json says $digest"), e.problem)
        assertTrue(e.hint!!.contains("rebuild"))
    }

    @Test
    fun byteBufferStreamReadsFromThePositionWithoutMovingIt() {
        val buf = ByteBuffer.wrap(byteArrayOf(1, 2, 3, 4, 5))
        buf.position(1)
        val s = ByteBufferInputStream(buf)
        assertEquals(4, s.available())
        assertEquals(2, s.read())
        val rest = ByteArray(10)
        assertEquals(3, s.read(rest, 0, 10))
        assertArrayEquals(byteArrayOf(3, 4, 5), rest.copyOf(3))
        assertEquals(-1, s.read())
        assertEquals(-1, s.read(rest, 0, 1))
        assertEquals(1, buf.position())
    }

    @Test
    fun thePrimaryModelIsTheFirstLiteRtOne() {
        val spec = Fixtures.spec(listOf(Fixtures.model("ort", runtime = "onnxruntime", file = "models/a.onnx"),
            Fixtures.model("int8"), Fixtures.model("int8b")))
        assertEquals("int8", choosePrimaryModel(spec).name)
        val e = assertThrows(IqaException::class.java) {
            choosePrimaryModel(Fixtures.spec(listOf(Fixtures.model("ort", runtime = "onnxruntime", file = "models/a.onnx"))))
        }
        assertTrue(e.problem.contains("lists no LiteRT model (it has: ort (onnxruntime))"), e.problem)
        assertTrue(e.hint!!.contains("--target android-arm64"))
    }

    @Test
    fun theAppRunsOnlyRawGreyFramesWithFoldedPreprocessing() {
        checkAppCanRun(Fixtures.spec(listOf(Fixtures.model("m"))))
        val rgb = Fixtures.spec(listOf(Fixtures.model("m")), input = """{"height": 3, "width": 4, "dtype": "uint8", "layout": "HWC", "channels": 3}""")
        assertThrows(IqaException::class.java) { checkAppCanRun(rgb) }
        val explicit = Fixtures.spec(
            listOf(Fixtures.model("m")),
            preprocessing = """{"folded_into_graph": false, "description": "outside", "pad_to_square": true, "pad_value": 0,
                "resize_height": 224, "resize_width": 224, "interpolation": "bilinear", "gray_to_rgb": true, "scale": 0.00392156862745098,
                "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "output_layout": "NCHW", "output_dtype": "float32"}""",
        )
        val e = assertThrows(IqaException::class.java) { checkAppCanRun(explicit) }
        assertTrue(e.problem.contains("folded_into_graph is false"), e.problem)
    }

    @Test
    fun assetPathsFollowTheBundleLayout() {
        assertEquals("bundle/iqa_spec.json", BundleLayout.SPEC)
        assertEquals("bundle/goldens/sweep.json", BundleLayout.SWEEP_GOLDEN)
        assertEquals("bundle/models/x.tflite", BundleLayout.asset("models/x.tflite"))
    }
}
