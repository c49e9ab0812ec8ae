package org.fetaledge.demo.core

import org.fetaledge.iqa.DecisionParams
import org.fetaledge.iqa.Event
import org.fetaledge.iqa.IqaException
import org.fetaledge.iqa.Json
import org.fetaledge.iqa.SweepTracker
import org.fetaledge.iqa.SweepVerdict
import java.util.Locale
import kotlin.math.abs
import kotlin.math.max

/*
 * The start-up self-check, by the rule of `fetaledge verify` (fetaledge/runtime/verify.py), per model:
 *   - frames (goldens/frames.json): every golden frame's probability within THE BUNDLE'S tolerance for this model
 *     (written per model and frame by the build: 1e-2 int8, 1e-4 fp32 today), and its good/not-good decision the
 *     same unless the golden lies within that tolerance of the threshold;
 *   - sweep (goldens/sweep.json, only for the model that recorded it): the device's probabilities replayed through
 *     iqa-core give the golden's events and verdict with every label and frame index exact and every score within
 *     the same tolerance (fetaledge.runtime.goldens.same_decisions; pinned for both sides by
 *     tests/goldens/selfcheck/sweep_rule.json). Per-frame differences alone do not fail the sweep: its decisions do.
 * It also replays the golden's own probabilities through iqa-core, which must reproduce the recorded decisions BIT
 * FOR BIT, and checks that the golden was made with the model and the decision parameters the app uses.
 */

/** goldens/sweep.json of a bundle (fetaledge/bundle.py _golden_sweep). */
class SweepGolden(
    val name: String,
    val model: String,
    val framesFile: String,
    val params: DecisionParams,
    val probabilities: List<Double>,
    val expectedEvents: List<ExpectedEvent>,
    val expectedVerdict: ExpectedVerdict,
) {
    /** One event as the golden records it: [at] is the frame whose update emitted it. */
    data class ExpectedEvent(val at: Int, val type: String, val frame: Int, val score: Double)

    data class ExpectedVerdict(val verdict: String, val frame: Int, val score: Double?, val nFrames: Int)

    companion object {
        /** Parse the golden text; [source] names it in errors. */
        fun parse(text: String, source: String): SweepGolden {
            val golden = GoldenJson(source)
            fun bad(what: String): Nothing = golden.bad(what)
            val o = golden.root(text)
            fun field(obj: Json.Obj, key: String, path: String = key): Json = obj[key] ?: bad("$path: required field is missing")
            fun str(v: Json, path: String): String = (v as? Json.Str)?.value ?: bad("$path: must be a string")
            fun int(v: Json, path: String): Int {
                val n = (v as? Json.Num)?.toLongOrNull() ?: bad("$path: must be an integer")
                if (n < Int.MIN_VALUE || n > Int.MAX_VALUE) bad("$path: out of range")
                return n.toInt()
            }
            fun dbl(v: Json, path: String): Double {
                val d = (v as? Json.Num)?.toDouble() ?: bad("$path: must be a number")
                if (!d.isFinite()) bad("$path: must be finite")
                return d
            }
            fun obj(v: Json, path: String): Json.Obj = v as? Json.Obj ?: bad("$path: must be an object")
            fun arr(v: Json, path: String): List<Json> = (v as? Json.Arr)?.items ?: bad("$path: must be an array")

            val format = int(field(o, "format"), "format")
            if (format != 1) bad("format: $format is not supported (1 is)")
            if (str(field(o, "kind"), "kind") != "sweep") bad("kind: must be \"sweep\"")
            val p = obj(field(o, "params"), "params")
            val params = try {
                DecisionParams(
                    threshold = dbl(field(p, "threshold", "params.threshold"), "params.threshold"),
                    enterThreshold = dbl(field(p, "enter_threshold", "params.enter_threshold"), "params.enter_threshold"),
                    exitThreshold = dbl(field(p, "exit_threshold", "params.exit_threshold"), "params.exit_threshold"),
                    minRun = int(field(p, "min_run", "params.min_run"), "params.min_run"),
                    smoothingAlpha = dbl(field(p, "smoothing_alpha", "params.smoothing_alpha"), "params.smoothing_alpha"),
                )
            } catch (e: IqaException) {
                if (e.problem.startsWith("$source:")) throw e
                bad("params.${e.problem}")
            }
            val probs = arr(field(o, "probabilities"), "probabilities").mapIndexed { i, v -> dbl(v, "probabilities[$i]") }
            val exp = obj(field(o, "expected"), "expected")
            if (field(exp, "error", "expected.error") != Json.Null) bad("expected.error: a recorded sweep golden has no error")
            val events = arr(field(exp, "events", "expected.events"), "expected.events").mapIndexed { k, v ->
                val path = "expected.events[$k]"
                val e = obj(v, path)
                ExpectedEvent(
                    int(field(e, "at", "$path.at"), "$path.at"),
                    str(field(e, "type", "$path.type"), "$path.type"),
                    int(field(e, "frame", "$path.frame"), "$path.frame"),
                    dbl(field(e, "score", "$path.score"), "$path.score"),
                )
            }
            val v = obj(field(exp, "verdict", "expected.verdict"), "expected.verdict")
            val scoreJson = field(v, "score", "expected.verdict.score")
            val verdict = ExpectedVerdict(
                str(field(v, "verdict", "expected.verdict.verdict"), "expected.verdict.verdict"),
                int(field(v, "frame", "expected.verdict.frame"), "expected.verdict.frame"),
                if (scoreJson == Json.Null) null else dbl(scoreJson, "expected.verdict.score"),
                int(field(v, "n_frames", "expected.verdict.n_frames"), "expected.verdict.n_frames"),
            )
            return SweepGolden(
                name = str(field(o, "name"), "name"),
                model = str(field(o, "model"), "model"),
                framesFile = str(field(o, "frames_file"), "frames_file"),
                params = params,
                probabilities = probs,
                expectedEvents = events,
                expectedVerdict = verdict,
            )
        }
    }
}

/** The outcome of one model's self-check, for the UI and the log. */
class SelfCheckReport(
    val model: String,
    val passed: Boolean,
    val frames: Int,
    val maxAbsDiff: Double,
    val tolerance: Double,
    val decisionsMatch: Boolean,
    val verdict: SweepVerdict?,
    val problems: List<String>,
) {
    /** One line: "PASS: 60 sweep frames + 8 golden frames, max |dp| 0.0041 (tolerance 0.01), decisions identical (USABLE frame 27)". */
    fun summary(): String {
        val head = if (passed) "PASS" else "FAIL"
        val v = verdict?.let { if (it.frame >= 0) "${it.verdict} frame ${it.frame}" else it.verdict.name } ?: "no verdict"
        val diff = "max |dp| ${String.format(Locale.ROOT, "%.2g", maxAbsDiff)} (tolerance ${formatTolerance(tolerance)})"
        val dec = if (decisionsMatch) "decisions identical" else "decisions differ"
        return "$head $model: $frames frames, $diff, $dec ($v)"
    }

    /** This report and [other] (another part of the same model's check) as one. */
    operator fun plus(other: SelfCheckReport): SelfCheckReport = SelfCheckReport(
        model, passed && other.passed, frames + other.frames, max(maxAbsDiff, other.maxAbsDiff), max(tolerance, other.tolerance),
        decisionsMatch && other.decisionsMatch, verdict ?: other.verdict, problems + other.problems,
    )
}

/** 0.01, 0.0001: a tolerance as people write it. */
fun formatTolerance(t: Double): String = String.format(Locale.ROOT, "%.1g", t)

object SelfCheck {
    private data class Run(val events: List<Pair<Int, Event>>, val verdict: SweepVerdict?, val error: String?)

    private fun replay(params: DecisionParams, probabilities: List<Double>): Run {
        val tracker = SweepTracker(params)
        val events = ArrayList<Pair<Int, Event>>()
        probabilities.forEachIndexed { i, p ->
            try {
                for (e in tracker.update(p)) events.add(i to e)
            } catch (e: IqaException) {
                return Run(events, null, e.problem)
            }
        }
        return Run(events, tracker.finish(), null)
    }

    /** Python's same_decisions on a float: within [tol], or equal (so that equal infinities match). */
    private fun close(a: Double, b: Double, tol: Double): Boolean = abs(a - b) <= tol || a == b

    /**
     * The recorded sweep: [probabilities] (this device, model [modelName], decision [params] as the app runs them)
     * against [golden], scores compared within [tolerance] (the bundle's tolerance for this model, FrameGoldens).
     */
    fun compareSweep(
        golden: SweepGolden,
        modelName: String,
        params: DecisionParams,
        tolerance: Double,
        probabilities: List<Double>,
    ): SelfCheckReport {
        val tol = tolerance
        val problems = ArrayList<String>()
        if (golden.model != modelName) problems.add("the golden was recorded with model '${golden.model}', the app runs '$modelName'")
        if (golden.params != params) problems.add("the golden's decision parameters ${golden.params} differ from the spec's $params")

        // 1. The golden's own probabilities through iqa-core: the recorded decisions, bit for bit.
        val own = replay(golden.params, golden.probabilities)
        val ownEvents = own.events.map { (at, e) -> SweepGolden.ExpectedEvent(at, e.type.name, e.frame, e.score) }
        val ownVerdict = own.verdict?.let { SweepGolden.ExpectedVerdict(it.verdict.name, it.frame, it.score, it.nFrames) }
        if (own.error != null || ownEvents != golden.expectedEvents || ownVerdict != golden.expectedVerdict) {
            problems.add("iqa-core does not reproduce the golden's decisions from the golden's own probabilities")
        }

        // 2. How far this device's probabilities are from the golden's (reported; the decisions below decide).
        var maxDiff = 0.0
        if (probabilities.size != golden.probabilities.size) {
            problems.add("the device scored ${probabilities.size} frames, the golden has ${golden.probabilities.size}")
        }
        for (i in 0 until minOf(probabilities.size, golden.probabilities.size)) {
            val d = abs(probabilities[i] - golden.probabilities[i])
            maxDiff = if (d.isNaN() || maxDiff.isNaN()) Double.NaN else max(maxDiff, d)
        }

        // 3. This device's decisions: identical events and verdict, scores within tolerance.
        val dev = replay(params, probabilities)
        var decisionsMatch = dev.error == null
        if (dev.error != null) problems.add("the decision logic rejected a device probability: ${dev.error}")
        val got = dev.events
        if (got.size != golden.expectedEvents.size) {
            decisionsMatch = false
            problems.add("the device produced ${got.size} events, the golden ${golden.expectedEvents.size}")
        }
        for (k in 0 until minOf(got.size, golden.expectedEvents.size)) {
            val (at, e) = got[k]
            val x = golden.expectedEvents[k]
            if (at != x.at || e.type.name != x.type || e.frame != x.frame || !close(e.score, x.score, tol)) {
                decisionsMatch = false
                problems.add(
                    "event $k: device ${e.type} frame ${e.frame} at $at score ${fmt(e.score)}, golden ${x.type} frame ${x.frame} " +
                        "at ${x.at} score ${fmt(x.score)} (scores may differ by ${formatTolerance(tol)})",
                )
                break
            }
        }
        val v = dev.verdict
        val xv = golden.expectedVerdict
        if (v != null) {
            val vs = v.score
            val xs = xv.score
            val scoreOk = if (vs == null || xs == null) vs == xs else close(vs, xs, tol)
            if (v.verdict.name != xv.verdict || v.frame != xv.frame || v.nFrames != xv.nFrames || !scoreOk) {
                decisionsMatch = false
                problems.add("verdict: device ${v.verdict} frame ${v.frame} score ${vs?.let(::fmt)}, golden ${xv.verdict} frame ${xv.frame} score ${xs?.let(::fmt)}")
            }
        }
        return SelfCheckReport(modelName, problems.isEmpty(), probabilities.size, maxDiff, tol, decisionsMatch, v, problems)
    }

    /**
     * The golden frames (goldens/frames.json) of model [modelName]: [probabilities] in the file's order, each within
     * its tolerance, and the same good/not-good decision against [threshold] unless the golden is borderline.
     */
    fun compareFrames(goldens: FrameGoldens, modelName: String, threshold: Double, probabilities: List<Double>): SelfCheckReport {
        val problems = ArrayList<String>()
        var maxDiff = 0.0
        var flips = 0
        val expected = goldens.entries.map { it to it.expected[modelName] }
        if (expected.any { it.second == null }) problems.add("goldens/frames.json has no expectation for model $modelName")
        if (probabilities.size != goldens.entries.size) {
            problems.add("the device scored ${probabilities.size} golden frames, goldens/frames.json has ${goldens.entries.size}")
        }
        for (i in 0 until minOf(probabilities.size, expected.size)) {
            val (entry, exp) = expected[i]
            if (exp == null) continue
            val p = probabilities[i]
            val d = abs(p - exp.probability)
            maxDiff = if (d.isNaN() || maxDiff.isNaN()) Double.NaN else max(maxDiff, d)
            if (d.isNaN() || d > exp.tolerance) {
                problems.add("$modelName on ${entry.file}: probability ${fmt(p)}, golden ${fmt(exp.probability)} (tolerance ${formatTolerance(exp.tolerance)})")
            }
            // A golden within its tolerance of the threshold may legitimately land on either side.
            if ((p >= threshold) != exp.good && abs(exp.probability - threshold) > exp.tolerance) {
                flips++
                problems.add("$modelName on ${entry.file}: decision differs from the golden")
            }
        }
        val tol = goldens.toleranceOrNull(modelName) ?: 0.0
        return SelfCheckReport(modelName, problems.isEmpty(), probabilities.size, maxDiff, tol, flips == 0, null, problems)
    }

    private fun fmt(v: Double): String = String.format(Locale.ROOT, "%.6f", v)
}
