package org.fetaledge.demo.core

import org.fetaledge.iqa.IqaSpec
import org.fetaledge.iqa.Json
import java.io.File
import java.nio.ByteBuffer

/** Test fixtures (src/test/resources/fixtures, written by make_fixtures.py from numpy + fetaledge.runtime). */
object Fixtures {
    fun bytes(name: String): ByteArray =
        (Fixtures::class.java.getResourceAsStream("/fixtures/$name") ?: error("fixture $name not on the classpath")).use { it.readBytes() }

    fun text(name: String): String = String(bytes(name), Charsets.UTF_8)

    fun json(name: String): Json = Json.parse(text(name))

    /** A .npy file built by hand: [header] is the dict text (padded here), then [data]. */
    fun npy(header: String, data: ByteArray, major: Int = 1): ByteBuffer {
        val lenBytes = if (major == 1) 2 else 4
        val unpadded = 8 + lenBytes + header.length + 1
        val pad = (64 - unpadded % 64) % 64
        val h = header + " ".repeat(pad) + "\n"
        val out = ByteBuffer.allocate(8 + lenBytes + h.length + data.size)
        out.put(byteArrayOf(0x93.toByte(), 'N'.code.toByte(), 'U'.code.toByte(), 'M'.code.toByte(), 'P'.code.toByte(), 'Y'.code.toByte()))
        out.put(major.toByte()).put(0)
        for (k in 0 until lenBytes) out.put(((h.length shr (8 * k)) and 0xff).toByte())
        out.put(h.toByteArray(Charsets.ISO_8859_1))
        out.put(data)
        out.flip()
        return out
    }

    /** A valid spec (the shape of fetaledge.runtime.spec.example_spec) with [models] as JSON objects. */
    fun spec(models: List<String>, input: String = """{"height": 3, "width": 4, "dtype": "uint8", "layout": "HW", "channels": 1}""",
             preprocessing: String = """{"folded_into_graph": true, "description": "in the graph"}"""): IqaSpec =
        IqaSpec.parse(
            """{"schema_version": 1, "input": $input, "preprocessing": $preprocessing,
               "models": [${models.joinToString(",")}],
               "decision": {"threshold": 0.5, "enter_threshold": 0.6, "exit_threshold": 0.4, "min_run": 3, "smoothing_alpha": 1.0},
               "labels": {"negative": "no plane", "positive": "plane"}, "provenance": {"test": true}}""",
        )

    fun model(
        name: String,
        file: String = "models/$name.tflite",
        sha256: String = "0".repeat(64),
        runtime: String = "litert",
        precision: String = "int8",
        inDtype: String = "int8",
        inShape: String = "[1, 3, 4]",
        inQuant: String = """{"scale": 0.003921568859368563, "zero_point": -128}""",
        outDtype: String = "int8",
        outShape: String = "[1, 1]",
        outQuant: String = """{"scale": 0.0625, "zero_point": -3}""",
        outputKind: String = "logit",
    ): String =
        """{"name": "$name", "file": "$file", "sha256": "$sha256", "runtime": "$runtime", "precision": "$precision",
            "threads": 4,
            "input": {"name": "frame", "dtype": "$inDtype", "shape": $inShape, "quantization": $inQuant},
            "output": {"name": "logit", "dtype": "$outDtype", "shape": $outShape, "quantization": $outQuant},
            "output_kind": "$outputKind"}"""
}

fun Json.num(): Double = (this as Json.Num).toDouble()

fun Json.int(): Int = (this as Json.Num).toLongOrNull()!!.toInt()

fun Json.list(): List<Json> = (this as Json.Arr).items

fun Json.str(): String = (this as Json.Str).value

operator fun Json.get(key: String): Json = (this as Json.Obj).fields[key] ?: error("fixture has no '$key'")

/**
 * The repository's shared goldens (tests/goldens), as iqa-core's tests find them: -Dfetaledge.goldens,
 * FETALEDGE_GOLDENS, or tests/goldens above the working directory.
 */
object SharedGoldens {
    val root: java.io.File by lazy {
        val configured = System.getProperty("fetaledge.goldens") ?: System.getenv("FETALEDGE_GOLDENS")
        val dir = configured?.let(::File) ?: generateSequence(File("").absoluteFile) { it.parentFile }
            .map { File(it, "tests/goldens") }.firstOrNull { File(it, "decision").isDirectory } ?: File("tests/goldens")
        require(File(dir, "selfcheck").isDirectory) { "golden folder not found: $dir (set -Dfetaledge.goldens=<repo>/tests/goldens)" }
        dir
    }

    fun text(rel: String): String = File(root, rel).readText(Charsets.UTF_8)
}
