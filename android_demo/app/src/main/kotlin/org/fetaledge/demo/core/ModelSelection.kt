package org.fetaledge.demo.core

import org.fetaledge.iqa.DecisionParams
import org.fetaledge.iqa.IqaException
import org.fetaledge.iqa.IqaSpec
import org.fetaledge.iqa.ModelSpec
import org.fetaledge.iqa.SPEC_FILE_NAME

/*
 * Which model the app runs, decided at start-up and never silently: the LiteRT models of the spec in its order (the
 * target's primary, INT8 for android-arm64, then the fp32 fallback the build ships for exactly this case) are tried
 * one after the other; a model is used only when it loads AND passes its self-check. When none does, the app is
 * BLOCKED: it shows why and scores nothing (a device that does not reproduce the bundle's goldens must not guide a
 * scan).
 */

/** A loaded model that scores raw H*W uint8 grey frames (LiteRtClassifier on the device; fakes in tests). */
interface FrameScorer : AutoCloseable {
    fun probability(frame: ByteArray): Double
}

/** The LiteRT models of the spec, in its order: the primary first, fallbacks after. */
fun liteRtCandidates(spec: IqaSpec): List<ModelSpec> = spec.models.filter { it.runtime == "litert" }.ifEmpty {
    throw IqaException(
        "$SPEC_FILE_NAME lists no LiteRT model (it has: ${spec.models.joinToString { "${it.name} (${it.runtime})" }})",
        BundleLayout.BUILD_HINT,
    )
}

/** The model the app runs when everything works: the first LiteRT model of the spec. */
fun choosePrimaryModel(spec: IqaSpec): ModelSpec = liteRtCandidates(spec).first()

/** One model tried at start-up. */
sealed interface Attempt {
    val model: ModelSpec

    /** One line for the screen and the log. */
    fun line(): String

    data class LoadFailed(override val model: ModelSpec, val reason: String) : Attempt {
        override fun line() = "${model.name} (${model.precision}) failed to load: $reason"
    }

    data class CheckFailed(override val model: ModelSpec, val report: SelfCheckReport) : Attempt {
        override fun line() = "${model.name} (${model.precision}) failed its self-check: ${report.problems.firstOrNull() ?: report.summary()}"
    }

    data class Passed(override val model: ModelSpec, val report: SelfCheckReport) : Attempt {
        override fun line() = report.summary()
    }
}

/** The outcome: the scorer to use (null: BLOCKED) and every attempt in order. */
class Selection<S : FrameScorer>(val scorer: S?, val attempts: List<Attempt>) {
    val passed: Attempt.Passed? get() = attempts.lastOrNull() as? Attempt.Passed
    val model: ModelSpec? get() = passed?.model
    val blocked: Boolean get() = scorer == null

    /** Why a model other than the primary runs ("running fallback ... because ..."), or null. */
    fun fallbackNote(): String? {
        val p = passed ?: return null
        val before = attempts.dropLast(1)
        if (before.isEmpty()) return null
        return "running the fallback model ${p.model.name} (${p.model.precision}) because " + before.joinToString("; ") { it.line() }
    }

    /** Why nothing runs (every attempt), for the blocking screen. */
    fun blockedReason(): String = attempts.joinToString("\n") { it.line() }
}

object ModelSelector {
    /**
     * Try [candidates] in order: [open] a model (an exception: it failed to load), [check] it (its self-check
     * report). The first that passes is returned open; every other opened scorer is closed. An interrupt while
     * checking propagates (the app is closing).
     *
     * ```
     * val sel = ModelSelector.select(liteRtCandidates(spec), { m -> LiteRtClassifier(m, mapped[m.file]!!, spec.input) },
     *     { m, clf -> BundleSelfCheck.check(m, clf, spec.decision, data) })
     * if (sel.blocked) showBlocked(sel.blockedReason())
     * ```
     */
    fun <S : FrameScorer> select(candidates: List<ModelSpec>, open: (ModelSpec) -> S, check: (ModelSpec, S) -> SelfCheckReport): Selection<S> {
        val attempts = ArrayList<Attempt>()
        for (m in candidates) {
            val scorer = try {
                open(m)
            } catch (e: InterruptedException) {
                throw e
            } catch (e: Exception) {
                attempts.add(Attempt.LoadFailed(m, (e as? IqaException)?.problem ?: "${e.javaClass.simpleName}: ${e.message}"))
                continue
            }
            val report = try {
                check(m, scorer)
            } catch (e: InterruptedException) {
                scorer.close()
                throw e
            } catch (e: Exception) {
                val why = (e as? IqaException)?.problem ?: "${e.javaClass.simpleName}: ${e.message}"
                SelfCheckReport(m.name, false, 0, Double.NaN, 0.0, false, null, listOf("the check could not run: $why"))
            }
            if (report.passed) {
                attempts.add(Attempt.Passed(m, report))
                return Selection(scorer, attempts)
            }
            attempts.add(Attempt.CheckFailed(m, report))
            scorer.close()
        }
        return Selection(null, attempts)
    }
}

/** What the self-check scores: the golden frames (goldens/frames.json, [goldenFrame] loads one by its file) and the recorded sweep. */
class SelfCheckData(
    val frameGoldens: FrameGoldens,
    val goldenFrame: (String) -> ByteArray,
    val sweep: SweepGolden?,
    val sweepFrames: NpyFrames?,
    /** Why the recorded sweep or its golden cannot be used, if so. */
    val sweepProblem: String? = null,
)

object BundleSelfCheck {
    /**
     * The self-check of one model, by fetaledge verify's rule: its golden frames, and the recorded sweep when this
     * model recorded it. [progress] gets (frames done, frames in all).
     */
    fun check(model: ModelSpec, scorer: FrameScorer, params: DecisionParams, data: SelfCheckData, progress: (Int, Int) -> Unit = { _, _ -> }): SelfCheckReport {
        val g = data.frameGoldens
        val sweep = data.sweep
        val sweepFrames = data.sweepFrames
        val runsSweep = sweep == null || sweep.model == model.name
        val total = g.entries.size + (if (runsSweep) sweepFrames?.count ?: 0 else 0)
        var done = 0
        val probs = g.entries.map { e ->
            if (Thread.interrupted()) throw InterruptedException()
            scorer.probability(data.goldenFrame(e.file)).also { progress(++done, total) }
        }
        var report = SelfCheck.compareFrames(g, model.name, params.threshold, probs)
        if (runsSweep) {
            report += if (sweep == null || sweepFrames == null) {
                SelfCheckReport(model.name, false, 0, 0.0, 0.0, false, null,
                    listOf("the recorded sweep cannot be checked: ${data.sweepProblem ?: "goldens/sweep.json or its frames are missing"}"))
            } else {
                val buf = ByteArray(sweepFrames.frameBytes)
                val sp = (0 until sweepFrames.count).map { i ->
                    if (Thread.interrupted()) throw InterruptedException()
                    scorer.probability(sweepFrames.frame(i, buf)).also { progress(++done, total) }
                }
                SelfCheck.compareSweep(sweep, model.name, params, g.tolerance(model.name), sp)
            }
        }
        return report
    }
}
