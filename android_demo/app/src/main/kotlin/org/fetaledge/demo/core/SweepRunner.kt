package org.fetaledge.demo.core

import org.fetaledge.iqa.DecisionParams
import org.fetaledge.iqa.Event
import org.fetaledge.iqa.EventType
import org.fetaledge.iqa.SweepTracker
import org.fetaledge.iqa.SweepVerdict

/** The best frame so far: its index in the sweep, its raw probability and its pixels (for display). */
class BestFrame(val index: Int, val score: Double, val pixels: ByteArray)

/** What the UI needs after each frame. [smoothed] and [inPlane] are the tracker's state after this frame. */
class FrameResult(
    val index: Int,
    val pixels: ByteArray,
    val probability: Double,
    val smoothed: Double,
    val inPlane: Boolean,
    val events: List<Event>,
    val best: BestFrame?,
    val inferenceNanos: Long,
    val frameCount: Int?,
)

/** Receives a sweep's progress; called on the thread that runs [SweepRunner.run]. */
interface SweepListener {
    fun onFrame(result: FrameResult)

    fun onFinished(verdict: SweepVerdict, best: BestFrame?)
}

/**
 * One sweep: frames from a [FrameSource], a probability per frame from [classify] (raw H*W uint8 frame ->
 * probability), the decision logic of iqa-core ([SweepTracker], the same semantics and parameters as
 * fetaledge.runtime), and the best frame's pixels kept for display. Blocking; run it on the inference thread.
 *
 * ```
 * val verdict = SweepRunner(spec.decision, classifier::probability).run(source, listener)
 * ```
 */
class SweepRunner(
    private val params: DecisionParams,
    private val classify: (ByteArray) -> Double,
    private val clock: MonotonicClock = SystemMonotonicClock,
) {
    /**
     * Runs until the source ends, then finishes the tracker and returns the verdict. Throws InterruptedException
     * when the thread is interrupted (the sweep was cancelled: no verdict), and the tracker's IqaException when the
     * model returns an invalid probability.
     */
    @Throws(InterruptedException::class)
    fun run(source: FrameSource, listener: SweepListener): SweepVerdict {
        val tracker = SweepTracker(params)
        val history = FrameHistory(params.minRun)
        var best: BestFrame? = null
        val expectedBytes = source.height * source.width
        while (true) {
            if (Thread.interrupted()) throw InterruptedException()
            val frame = source.next() ?: break
            require(frame.pixels.size == expectedBytes) {
                "frame ${frame.index} has ${frame.pixels.size} bytes, expected ${source.height} x ${source.width}"
            }
            val i = tracker.nFrames
            history.add(i, frame.pixels)
            val t0 = clock.nanoTime()
            val p = classify(frame.pixels)
            val dt = clock.nanoTime() - t0
            val events = tracker.update(p)
            for (e in events) {
                if (e.type == EventType.NEW_BEST) {
                    val px = history[e.frame]
                        ?: throw IllegalStateException("frame ${e.frame} named by NEW_BEST at frame $i is no longer kept")
                    best = BestFrame(e.frame, e.score, px)
                }
            }
            listener.onFrame(FrameResult(i, frame.pixels, p, tracker.smoothed ?: p, tracker.inPlane, events, best, dt, source.frameCount))
        }
        val verdict = tracker.finish()
        listener.onFinished(verdict, best)
        return verdict
    }
}
