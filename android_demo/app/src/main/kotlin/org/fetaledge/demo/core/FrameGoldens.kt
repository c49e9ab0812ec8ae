package org.fetaledge.demo.core

import org.fetaledge.iqa.IqaException
import org.fetaledge.iqa.Json
import kotlin.math.max

/**
 * goldens/frames.json of a bundle (fetaledge/bundle.py _golden_frames): raw golden frames (one .npy each) and, per
 * shipped model, the probability the build's runtime gave each, the TOLERANCE a device result must meet (per
 * model and frame: the build decides it from the precision and the drift it measured, e.g. 1e-2 for int8 after
 * 3.4e-3 between arm64 and x86) and whether it is above the threshold. The app reads its tolerances here, never
 * from a constant of its own.
 *
 * ```
 * val goldens = FrameGoldens.parse(assets.readText("bundle/goldens/frames.json"), "goldens/frames.json")
 * val tol = goldens.tolerance(model.name)
 * ```
 */
class FrameGoldens(val entries: List<Entry>) {
    data class Expected(val probability: Double, val tolerance: Double, val good: Boolean)

    data class Entry(val file: String, val source: String, val expected: Map<String, Expected>)

    /** The largest tolerance any golden frame allows model [model] (as fetaledge.runtime.verify.golden_tolerances), or null. */
    fun toleranceOrNull(model: String): Double? =
        entries.mapNotNull { it.expected[model]?.tolerance }.fold(null as Double?) { acc, t -> if (acc == null) t else max(acc, t) }

    /** [toleranceOrNull], or a clear error when the file has no expectation for the model. */
    fun tolerance(model: String): Double = toleranceOrNull(model) ?: throw IqaException(
        "goldens/frames.json has no expectation for model '$model'",
        "the bundle's goldens were not written for this model: rebuild the bundle (fetaledge build)",
    )

    companion object {
        /** Parse the file's [text]; [source] names it in errors. */
        fun parse(text: String, source: String): FrameGoldens {
            val golden = GoldenJson(source)
            fun bad(what: String): Nothing = golden.bad(what)
            val o = golden.root(text)
            val format = (o["format"] as? Json.Num)?.toLongOrNull() ?: bad("format: required integer field is missing")
            if (format != 1L) bad("format: $format is not supported (1 is)")
            val frames = (o["frames"] as? Json.Arr)?.items ?: bad("frames: must be an array")
            val entries = frames.mapIndexed { i, f ->
                val path = "frames[$i]"
                val e = f as? Json.Obj ?: bad("$path: must be an object")
                val file = (e["file"] as? Json.Str)?.value ?: bad("$path.file: must be a string")
                val src = (e["source"] as? Json.Str)?.value ?: ""
                val exp = e["expected"] as? Json.Obj ?: bad("$path.expected: must be an object")
                Entry(file, src, exp.fields.mapValues { (name, v) ->
                    val p = "$path.expected.$name"
                    val x = v as? Json.Obj ?: bad("$p: must be an object")
                    fun num(key: String): Double {
                        val d = (x[key] as? Json.Num)?.toDouble() ?: bad("$p.$key: must be a number")
                        if (!d.isFinite()) bad("$p.$key: must be finite")
                        return d
                    }
                    val tol = num("tolerance")
                    if (tol < 0.0 || tol >= 0.5) bad("$p.tolerance: $tol is not in [0, 0.5)")
                    Expected(num("probability"), tol, (x["good"] as? Json.Bool)?.value ?: bad("$p.good: must be true or false"))
                })
            }
            if (entries.isEmpty()) bad("frames: no golden frame")
            return FrameGoldens(entries)
        }
    }
}
