package org.fetaledge.iqa

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import java.io.File
import java.nio.file.Files

/** tests/goldens/spec/spec_cases.json: the same specs Python validates, with the same first field named. */
class SpecGoldenTest {
    private val cases: List<Json> by lazy { Goldens.read(File(Goldens.root, "spec/spec_cases.json"))["cases"].arr() }

    /** The golden stores each spec as a JSON object; re-serialise it to text so the whole parser path runs. */
    private fun text(v: Json): String = when (v) {
        is Json.Obj -> v.fields.entries.joinToString(",", "{", "}") { (k, x) -> "${quote(k)}:${text(x)}" }
        is Json.Arr -> v.items.joinToString(",", "[", "]") { text(it) }
        is Json.Str -> quote(v.value)
        is Json.Num -> v.text
        is Json.Bool -> v.value.toString()
        Json.Null -> "null"
    }

    private fun quote(s: String) = "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\""

    @TestFactory
    fun specGoldens(): List<DynamicTest> = cases.map { c ->
        DynamicTest.dynamicTest(c["name"].str()) {
            val specText = text(c["spec"])
            val field = c["error_field"]
            if (field is Json.Null) {
                val spec = IqaSpec.parse(specText)
                assertEquals(c["spec"]["schema_version"].int(), spec.schemaVersion)
                val input = c["spec"]["input"].obj().fields
                assertEquals(input["other_sizes"]?.str() ?: "refuse", spec.input.otherSizes)
                assertEquals(c["spec"]["models"].arr().size, spec.models.size)
                assertEquals(paramsOf(c["spec"]["decision"]), spec.decision)
            } else {
                val e = assertThrows(IqaException::class.java) { IqaSpec.parse(specText, "bundle/iqa_spec.json") }
                val prefix = "bundle/iqa_spec.json: ${field.str()}: "
                assertTrue(e.problem.startsWith(prefix), "expected '$prefix...', got '${e.problem}'")
                // The whole message, as Python words it (not only the field it names).
                assertEquals("bundle/iqa_spec.json: ${c["error"].str()}", e.problem)
            }
        }
    }

    @Test
    fun enoughCases() {
        assertTrue(cases.count { it["error_field"] is Json.Null } >= 3)
        assertTrue(cases.count { it["error_field"] !is Json.Null } >= 50)
    }

    @Test
    fun newerSchemaSaysHowToFix() {
        val e = assertThrows(IqaException::class.java) { IqaSpec.parse("""{"schema_version": 7, "x": 1}""") }
        assertEquals("iqa_spec.json: schema_version: 7 is newer than this runtime supports (3)", e.problem)
        assertTrue(e.hint!!.contains("update the app"))
    }

    @Test
    fun measurementTaskIsRead() {
        val c = cases.first { it["name"].str() == "valid_task_measurement" }
        val spec = IqaSpec.fromJson(c["spec"])
        assertEquals(TaskSpec.CLASSIFICATION_MEASUREMENT, spec.task.kind)
        val m = spec.task.measurement!!
        assertEquals(listOf("seg_int8"), m.models.map { it.name })
        assertEquals(listOf(96, 128), listOf(m.gridHeight, m.gridWidth))
        assertEquals(listOf(0.28, 0.28), m.spacingMm)
        assertEquals("nonzero_span", m.fieldOfView)
        assertEquals(MeasureParams(), m.params)
        val old = IqaSpec.fromJson(cases.first { it["name"].str() == "valid_schema2_without_task" }["spec"])
        assertEquals(TaskSpec(TaskSpec.CLASSIFICATION, null), old.task)
    }

    @Test
    fun malformedJsonIsAClearError() {
        val e = assertThrows(IqaException::class.java) { IqaSpec.parse("{\n  \"schema_version\": 1,\n}") }
        assertTrue(e.problem.startsWith("iqa_spec.json: invalid JSON at line 3"), e.problem)
    }

    @Test
    fun bundleFilesAreVerifiedByteForByte() {
        val valid = cases.first { it["name"].str() == "valid_folded_onnx" }
        val dir = Files.createTempDirectory("iqa-bundle").toFile()
        try {
            val model = File(dir, "student_int8.onnx")
            model.writeBytes(ByteArray(1000) { (it * 7).toByte() })
            val base = IqaSpec.parse(text(valid["spec"]))
            val sha = model.inputStream().use { sha256Hex(it) }
            val spec = base.copy(models = listOf(base.models[0].copy(sha256 = sha)))
            verifyBundleFiles(dir, spec)
            val bytes = model.readBytes()
            bytes[500] = (bytes[500].toInt() xor 1).toByte()
            model.writeBytes(bytes)
            val e = assertThrows(IqaException::class.java) { verifyBundleFiles(dir, spec) }
            assertTrue(e.problem.contains("model 'student_int8': file student_int8.onnx has sha256"), e.problem)
            model.delete()
            val missing = assertThrows(IqaException::class.java) { verifyBundleFiles(dir, spec) }
            assertTrue(missing.problem.contains("file student_int8.onnx is missing"), missing.problem)
        } finally {
            dir.deleteRecursively()
        }
    }
}
