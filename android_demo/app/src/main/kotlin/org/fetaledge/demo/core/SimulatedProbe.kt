package org.fetaledge.demo.core

import org.fetaledge.iqa.IqaException

/*
 * The example probe integration: a recording streamed as a probe SDK would stream it, from its own thread, in
 * packed ARGB (Clarius Cast's layout), at a fixed frame rate that does NOT wait for the model. When the model is
 * slower than the probe, PushFrameSource keeps only the newest frame (droppedFrames counts the others), exactly
 * what a real probe causes. A real integration replaces the thread below with the SDK's callback.
 */

/** Frames a simulated probe streams, as packed 0xAARRGGBB ints of [width] x [height]. */
interface RecordedFrames {
    val count: Int
    val width: Int
    val height: Int

    /** Write frame [index] into [dst] (width * height ints, row-major). */
    fun argb(index: Int, dst: IntArray)
}

/** A bundle's recorded sweep (grey .npy) as the ARGB frames a colour probe would send (r = g = b = grey). */
class NpyRecordedFrames(private val frames: NpyFrames) : RecordedFrames {
    override val count: Int get() = frames.count
    override val width: Int get() = frames.width
    override val height: Int get() = frames.height
    private val grey = ByteArray(frames.frameBytes)

    override fun argb(index: Int, dst: IntArray) {
        frames.frame(index, grey)
        for (i in grey.indices) {
            val v = grey[i].toInt() and 0xff
            dst[i] = (0xff shl 24) or (v shl 16) or (v shl 8) or v // BT.601 luma of (v, v, v) is v exactly
        }
    }
}

/**
 * Streams [frames] at [fps] into a [ProbeAdapter] from a thread of its own ("simulated-probe"), then ends the
 * sweep. Frames are never queued: the adapter's PushFrameSource drops what the model could not take in time.
 *
 * ```
 * val source = PushFrameSource(spec.input.height, spec.input.width, probe.description)
 * probe.start(ProbeAdapter(spec.input, source))
 * viewModel.startSweep(source)           // stop early: probe.stop() (the frames so far get their verdict)
 * ```
 */
class SimulatedProbe(
    private val frames: RecordedFrames,
    val fps: Double = 25.0,
    private val clock: MonotonicClock = SystemMonotonicClock,
) : AutoCloseable {
    private val pacer = ReplayPacer(fps, clock)

    @Volatile
    private var thread: Thread? = null

    @Volatile
    var sent: Int = 0
        private set

    /** Why streaming stopped early (e.g. the spec refuses this frame size), or null. */
    @Volatile
    var problem: String? = null
        private set

    val description: String
        get() = "simulated probe: ${frames.count} frames ${frames.width}x${frames.height} ARGB at ${formatFps(fps)} fps"

    /** Frames the probe itself sent late (the machine could not keep its rate). */
    val lateFrames: Int get() = pacer.lateFrames

    /** Start streaming into [adapter]; returns the thread (joinable). Call once. */
    fun start(adapter: ProbeAdapter): Thread {
        check(thread == null) { "this simulated probe was already started" }
        adapter.check(frames.width, frames.height)
        val t = Thread({ stream(adapter) }, "simulated-probe")
        t.isDaemon = true
        thread = t
        t.start()
        return t
    }

    private fun stream(adapter: ProbeAdapter) {
        val buf = IntArray(frames.width * frames.height)
        try {
            for (k in 0 until frames.count) {
                if (Thread.currentThread().isInterrupted) break
                val t = pacer.awaitNext()
                frames.argb(k, buf)
                if (!adapter.offerArgb(buf, frames.width, frames.height, timestampNanos = t)) break
                sent++
            }
        } catch (e: InterruptedException) {
            // stop(): end the sweep below with the frames sent so far
        } catch (e: IqaException) {
            problem = e.problem
        } finally {
            adapter.endSweep()
        }
    }

    /** Stop sending; the sweep ends with the frames already sent. */
    fun stop() {
        thread?.interrupt()
    }

    override fun close() = stop()
}
