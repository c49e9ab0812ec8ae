package org.fetaledge.iqa

import java.io.File

/**
 * Where the shared goldens live: the folder holding decision/ and spec/ (the repository's tests/goldens).
 * Set by the system property `fetaledge.goldens` or the environment variable FETALEDGE_GOLDENS; otherwise
 * searched upwards from the working directory (Gradle runs tests in android_demo/iqa-core).
 */
object Goldens {
    val root: File by lazy {
        val configured = System.getProperty("fetaledge.goldens") ?: System.getenv("FETALEDGE_GOLDENS")
        val dir = if (configured != null) {
            File(configured)
        } else {
            generateSequence(File("").absoluteFile) { it.parentFile }
                .map { File(it, "tests/goldens") }
                .firstOrNull { File(it, "decision").isDirectory }
                ?: File("tests/goldens")
        }
        require(File(dir, "decision").isDirectory) {
            "golden folder not found: $dir (set -Dfetaledge.goldens=<repo>/tests/goldens or FETALEDGE_GOLDENS)"
        }
        dir
    }

    fun decisionFiles(): List<File> =
        (File(root, "decision").listFiles { f -> f.name.endsWith(".json") } ?: emptyArray()).sortedBy { it.name }

    fun read(file: File): Json = Json.parse(file.readText(Charsets.UTF_8))
}

// Small accessors for golden documents.
fun Json.obj(): Json.Obj = this as Json.Obj
fun Json.arr(): List<Json> = (this as Json.Arr).items
fun Json.str(): String = (this as Json.Str).value
fun Json.int(): Int = (this as Json.Num).toLongOrNull()!!.toInt()
fun Json.dbl(): Double = (this as Json.Num).toDouble()
operator fun Json.get(key: String): Json = (this as Json.Obj).fields[key] ?: error("golden has no '$key'")

/** A golden input: a number, or the strings "NaN", "Infinity", "-Infinity" (JSON has no such numbers). */
fun Json.probability(): Double = when (this) {
    is Json.Num -> toDouble()
    is Json.Str -> when (value) {
        "NaN" -> Double.NaN
        "Infinity" -> Double.POSITIVE_INFINITY
        "-Infinity" -> Double.NEGATIVE_INFINITY
        else -> error("bad golden input string '$value'")
    }
    else -> error("bad golden input $this")
}

fun paramsOf(p: Json): DecisionParams = DecisionParams(
    threshold = p["threshold"].dbl(),
    enterThreshold = p["enter_threshold"].dbl(),
    exitThreshold = p["exit_threshold"].dbl(),
    minRun = p["min_run"].int(),
    smoothingAlpha = p["smoothing_alpha"].dbl(),
)
