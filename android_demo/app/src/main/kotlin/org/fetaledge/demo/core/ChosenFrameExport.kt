package org.fetaledge.demo.core

import org.fetaledge.iqa.IqaSpec
import org.fetaledge.iqa.Json
import org.fetaledge.iqa.ModelSpec
import org.fetaledge.iqa.SweepVerdict
import org.fetaledge.iqa.sha256Hex
import java.io.ByteArrayInputStream
import java.util.Locale

/*
 * The chosen frame of a sweep as a record a clinic can keep: the PNG (written by the app) and this JSON beside it,
 * with the decision (verdict, frame, probability, the parameters that made it) and the provenance (model, its
 * sha256, the bundle's target and build provenance, the self-check result, the source of the frames).
 */
object ChosenFrameExport {
    /** The JSON text for [best] (the chosen frame's pixels, H*W grey) of a sweep that ended with [verdict]. */
    fun json(
        verdict: SweepVerdict,
        best: BestFrame,
        spec: IqaSpec,
        model: ModelSpec,
        selfCheck: String,
        source: String,
        pngFile: String,
        createdUtc: String,
    ): String {
        val d = spec.decision
        val fields = linkedMapOf(
            "format" to "1",
            "created_utc" to str(createdUtc),
            "png" to str(pngFile),
            "decision" to obj(linkedMapOf(
                "verdict" to str(verdict.verdict.name), "frame" to verdict.frame.toString(), "n_frames" to verdict.nFrames.toString(),
                "probability" to num(best.score), "label" to str(spec.labels.positive),
                "params" to obj(linkedMapOf(
                    "threshold" to num(d.threshold), "enter_threshold" to num(d.enterThreshold), "exit_threshold" to num(d.exitThreshold),
                    "min_run" to d.minRun.toString(), "smoothing_alpha" to num(d.smoothingAlpha),
                )),
            )),
            "frame" to obj(linkedMapOf(
                "height" to spec.input.height.toString(), "width" to spec.input.width.toString(),
                "sha256" to str(sha256Hex(ByteArrayInputStream(best.pixels))), "source" to str(source),
            )),
            "model" to obj(linkedMapOf(
                "name" to str(model.name), "file" to str(model.file), "sha256" to str(model.sha256), "precision" to str(model.precision),
                "runtime" to str(model.runtime), "self_check" to str(selfCheck),
            )),
            "bundle_provenance" to render(spec.provenance),
        )
        return obj(fields) + "\n"
    }

    /** A file-name-safe stamp, e.g. 20261201T114512Z. */
    fun stamp(epochMillis: Long): String {
        val c = java.util.Calendar.getInstance(java.util.TimeZone.getTimeZone("UTC"), Locale.ROOT).also { it.timeInMillis = epochMillis }
        return String.format(Locale.ROOT, "%04d%02d%02dT%02d%02d%02dZ", c.get(1), c.get(2) + 1, c.get(5), c.get(11), c.get(12), c.get(13))
    }

    private fun num(v: Double): String = if (v.isFinite()) v.toString() else "null"

    private fun obj(m: Map<String, String>): String = m.entries.joinToString(", ", "{", "}") { (k, v) -> "${str(k)}: $v" }

    private fun render(j: Json): String = when (j) {
        is Json.Obj -> obj(j.fields.mapValues { render(it.value) })
        is Json.Arr -> j.items.joinToString(", ", "[", "]") { render(it) }
        is Json.Str -> str(j.value)
        is Json.Num -> j.text
        is Json.Bool -> j.value.toString()
        Json.Null -> "null"
    }

    /** A JSON string literal. */
    fun str(s: String): String {
        val b = StringBuilder(s.length + 2).append('"')
        for (ch in s) {
            when {
                ch == '"' -> b.append("\\\"")
                ch == '\\' -> b.append("\\\\")
                ch == '\n' -> b.append("\\n")
                ch.code < 0x20 -> b.append(String.format(Locale.ROOT, "\\u%04x", ch.code))
                else -> b.append(ch)
            }
        }
        return b.append('"').toString()
    }
}
