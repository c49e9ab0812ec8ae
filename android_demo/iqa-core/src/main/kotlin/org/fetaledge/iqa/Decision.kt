package org.fetaledge.iqa

/*
 * Streaming decision logic for a handheld probe: the Kotlin twin of fetaledge/runtime/decision.py.
 * Semantics: docs/decision_logic.md. Pinned by tests/goldens/decision/ *.json, which both sides reproduce
 * exactly (events, verdicts, chosen frames and every score, bit for bit).
 *
 * Float care: every value is an IEEE-754 binary64 Double; the smoothing is written as the same expression,
 * in the same order, as in Python (a * p + (1.0 - a) * sPrev) and never through Math.fma; comparisons are
 * plain <, >=, > on Doubles.
 */

/**
 * Every parameter of the sweep decision (`decision` in iqa_spec.json). Invalid values throw [IqaException]
 * whose message starts with the field name, as in Python.
 *
 * ```
 * val params = DecisionParams(threshold = 0.5, enterThreshold = 0.6, exitThreshold = 0.4, minRun = 3,
 *                             smoothingAlpha = 0.5)
 * ```
 */
data class DecisionParams(
    val threshold: Double,
    val enterThreshold: Double,
    val exitThreshold: Double,
    val minRun: Int,
    val smoothingAlpha: Double,
) {
    init {
        unit("threshold", threshold)
        unit("enter_threshold", enterThreshold)
        unit("exit_threshold", exitThreshold)
        unit("smoothing_alpha", smoothingAlpha)
        val hint = "exit_threshold <= threshold <= enter_threshold"
        if (exitThreshold > threshold) {
            throw IqaException("exit_threshold: must be <= threshold ($threshold), got $exitThreshold", hint)
        }
        if (enterThreshold < threshold) {
            throw IqaException("enter_threshold: must be >= threshold ($threshold), got $enterThreshold", hint)
        }
        if (smoothingAlpha <= 0.0) throw IqaException("smoothing_alpha: must be in (0, 1], got $smoothingAlpha")
        if (minRun < 1) throw IqaException("min_run: must be an integer >= 1, got $minRun")
    }

    private fun unit(name: String, v: Double) {
        if (!v.isFinite() || v < 0.0 || v > 1.0) {
            throw IqaException("$name: must be a finite number in [0, 1], got $v")
        }
    }
}

enum class EventType { PLANE_FOUND, PLANE_LOST, NEW_BEST }

/**
 * A live UI event. PLANE_FOUND / PLANE_LOST: [frame] is the frame that caused it and [score] its SMOOTHED
 * score. NEW_BEST: [frame] is the new best frame (possibly earlier than the current one) and [score] its RAW p.
 */
data class Event(val type: EventType, val frame: Int, val score: Double)

enum class Verdict { USABLE, RESCAN }

/** End of a sweep: USABLE with the chosen frame and its raw p, or RESCAN with frame -1 and score null. */
data class SweepVerdict(val verdict: Verdict, val frame: Int, val score: Double?, val nFrames: Int)

/** Chosen frame of a case: [frame] indexes all sweeps concatenated (offset + [sweepFrame]), or -1. */
data class CaseVerdict(
    val verdict: Verdict,
    val frame: Int,
    val sweep: Int,
    val sweepFrame: Int,
    val score: Double?,
    val nFrames: Int,
)

/**
 * Per-sweep state machine: [update] once per frame, [finish] at the end. O(1) memory. An invalid
 * probability throws [IqaException] ("frame i: probability must be ...") and leaves the state unchanged.
 *
 * ```
 * val tracker = SweepTracker(params)
 * for (p in probabilities) for (e in tracker.update(p)) ui.show(e)
 * val verdict = tracker.finish()
 * ```
 */
class SweepTracker(val params: DecisionParams) {
    var nFrames: Int = 0
        private set

    /** True between PLANE_FOUND and PLANE_LOST (the UI's "plane found" state). */
    var inPlane: Boolean = false
        private set

    private var smoothedValue = 0.0
    private var run = 0
    private var candFrame = -1 // best eligible frame of the pending (not yet confirmed) run
    private var candScore = 0.0
    private var bestFrame = -1 // best eligible frame so far
    private var bestScore = 0.0
    private var verdict: SweepVerdict? = null

    /** Smoothed score after the last frame, null before the first. */
    val smoothed: Double? get() = if (nFrames > 0) smoothedValue else null

    /** (frame, raw p) of the best frame so far, or null. */
    val best: Pair<Int, Double>? get() = if (bestFrame >= 0) Pair(bestFrame, bestScore) else null

    fun update(p: Double): List<Event> {
        if (verdict != null) {
            throw IqaException("this sweep is finished; start a new SweepTracker for the next sweep")
        }
        val i = nFrames
        if (!p.isFinite() || p < 0.0 || p > 1.0) {
            throw IqaException(
                "frame $i: probability must be a finite number in [0, 1], got $p",
                "the model output is broken or not passed through a sigmoid; this frame was not counted",
            )
        }
        val a = params.smoothingAlpha
        val s = if (i == 0) p else a * p + (1.0 - a) * smoothedValue
        smoothedValue = s
        nFrames = i + 1
        val events = ArrayList<Event>(2)
        if (!inPlane) {
            if (s >= params.enterThreshold) {
                run += 1
                if (p >= params.threshold && (candFrame < 0 || p > candScore)) {
                    candFrame = i
                    candScore = p
                }
            } else {
                run = 0
                candFrame = -1
                candScore = 0.0
            }
            if (run >= params.minRun) {
                inPlane = true
                run = 0
                events.add(Event(EventType.PLANE_FOUND, i, s))
                if (candFrame >= 0 && (bestFrame < 0 || candScore > bestScore)) {
                    bestFrame = candFrame
                    bestScore = candScore
                    events.add(Event(EventType.NEW_BEST, bestFrame, bestScore))
                }
                candFrame = -1
                candScore = 0.0
            }
        } else if (s < params.exitThreshold) {
            inPlane = false
            events.add(Event(EventType.PLANE_LOST, i, s))
        } else if (p >= params.threshold && (bestFrame < 0 || p > bestScore)) {
            bestFrame = i
            bestScore = p
            events.add(Event(EventType.NEW_BEST, i, p))
        }
        return events
    }

    /** USABLE with the best frame, or RESCAN (frame -1). Idempotent; [update] afterwards throws. */
    fun finish(): SweepVerdict {
        val done = verdict ?: if (bestFrame >= 0) {
            SweepVerdict(Verdict.USABLE, bestFrame, bestScore, nFrames)
        } else {
            SweepVerdict(Verdict.RESCAN, -1, null, nFrames)
        }
        verdict = done
        return done
    }
}

/**
 * Chooses the frame of a case from its sweeps' verdicts, in acquisition order: the USABLE sweep with the
 * highest score (earliest wins ties); case frame = sum of the earlier sweeps' frame counts + frame in sweep.
 */
class CaseSelector {
    var nSweeps: Int = 0
        private set
    private var offset = 0
    private var bestFrame = -1
    private var bestSweep = -1
    private var bestSweepFrame = -1
    private var bestScore = 0.0

    fun add(v: SweepVerdict) {
        if (v.verdict == Verdict.USABLE) {
            val score = v.score
            if (score == null || v.frame < 0 || v.frame >= v.nFrames) {
                throw IqaException("inconsistent USABLE sweep verdict: $v")
            }
            if (bestFrame < 0 || score > bestScore) {
                bestFrame = offset + v.frame
                bestSweep = nSweeps
                bestSweepFrame = v.frame
                bestScore = score
            }
        }
        offset += v.nFrames
        nSweeps += 1
    }

    fun finish(): CaseVerdict =
        if (bestFrame < 0) {
            CaseVerdict(Verdict.RESCAN, -1, -1, -1, null, offset)
        } else {
            CaseVerdict(Verdict.USABLE, bestFrame, bestSweep, bestSweepFrame, bestScore, offset)
        }
}

/** Run a whole sweep: all events in order, and the verdict. */
fun runSweep(params: DecisionParams, probabilities: Iterable<Double>): Pair<List<Event>, SweepVerdict> {
    val tracker = SweepTracker(params)
    val events = ArrayList<Event>()
    for (p in probabilities) events.addAll(tracker.update(p))
    return Pair(events, tracker.finish())
}
