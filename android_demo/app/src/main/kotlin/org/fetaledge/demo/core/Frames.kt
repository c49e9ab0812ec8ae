package org.fetaledge.demo.core

import java.nio.ByteBuffer
import java.util.concurrent.TimeUnit
import java.util.concurrent.locks.ReentrantLock
import kotlin.concurrent.withLock
import kotlin.math.roundToLong

/*
 * Where frames come from: the FrameSource interface, the replay of a recorded sweep (NpyReplaySource, paced by
 * ReplayPacer) and a push source for live probes (PushFrameSource). Pure Kotlin (no Android import), blocking
 * and interruptible: the app drives a source from its inference thread inside runInterruptible, so cancelling a
 * sweep interrupts a wait.
 */

/** One raw grey frame: [pixels] is H x W uint8, row-major, owned by the receiver (never reused by the source). */
class Frame(val index: Int, val pixels: ByteArray, val timestampNanos: Long)

/**
 * A sweep's frames, one at a time, at the size the model takes (the spec's input height x width, 1 channel).
 *
 * How a probe SDK plugs in: wrap its frame callback in a [PushFrameSource] (or implement this interface directly
 * around the SDK's own pull API) and hand it to the app's session (IqaViewModel.startSweep). The tracker counts
 * the frames [next] returns, so their indices are 0, 1, 2, ... in order; a live source drops frames it could not
 * deliver in time rather than queueing them (the decision is about the probe's position now).
 */
interface FrameSource : AutoCloseable {
    /** Shown in the UI, e.g. "recorded sweep (120 frames) at 15 fps". */
    val description: String
    val height: Int
    val width: Int

    /** Frames in the sweep when known in advance (a recording), null for a live probe. */
    val frameCount: Int?

    /** The next frame, blocking until it is due or available; null when the sweep has ended or the source is closed. */
    @Throws(InterruptedException::class)
    fun next(): Frame?

    /** Releases the source; a blocked [next] returns null. */
    override fun close()
}

/** Monotonic time and sleeping, injectable so that pacing is tested without waiting. */
interface MonotonicClock {
    fun nanoTime(): Long

    @Throws(InterruptedException::class)
    fun sleepNanos(nanos: Long)
}

object SystemMonotonicClock : MonotonicClock {
    override fun nanoTime(): Long = System.nanoTime()

    override fun sleepNanos(nanos: Long) {
        if (nanos > 0) TimeUnit.NANOSECONDS.sleep(nanos)
    }
}

/**
 * Paces a replay at [fps]: frame k is due at start + k * period. A frame that is late by less than one period is
 * delivered at once (the schedule catches up); one that is later than that re-anchors the schedule, so a slow
 * device replays every frame at the speed it can instead of bursting to catch up. Every frame is delivered: the
 * replay must reproduce the recorded sweep's decisions, so nothing is dropped.
 *
 * ```
 * val pacer = ReplayPacer(15.0)
 * repeat(n) { pacer.awaitNext(); process(frame(it)) }
 * ```
 */
class ReplayPacer(val fps: Double, private val clock: MonotonicClock = SystemMonotonicClock) {
    val periodNanos: Long

    init {
        require(fps.isFinite() && fps > 0.0 && fps <= 1000.0) { "fps must be in (0, 1000], got $fps" }
        periodNanos = (1e9 / fps).roundToLong()
    }

    private var anchorNanos = 0L
    private var anchorIndex = 0L
    private var next = 0L

    /** Frames that were later than one period and re-anchored the schedule (the device could not keep up). */
    var lateFrames: Int = 0
        private set

    /** Block until the next frame is due; returns the time it was released at. */
    @Throws(InterruptedException::class)
    fun awaitNext(): Long {
        val k = next++
        val now = clock.nanoTime()
        if (k == 0L) {
            anchorNanos = now
            anchorIndex = 0
            return now
        }
        val due = anchorNanos + (k - anchorIndex) * periodNanos
        return when {
            now < due -> {
                clock.sleepNanos(due - now)
                due
            }
            now - due >= periodNanos -> {
                lateFrames++
                anchorNanos = now
                anchorIndex = k
                now
            }
            else -> now
        }
    }
}

/**
 * Replays a recorded sweep (the bundle's goldens/sweep_frames.npy) frame by frame, paced by [pacer]
 * (null: as fast as the consumer takes them).
 */
class NpyReplaySource(
    private val frames: NpyFrames,
    private val pacer: ReplayPacer?,
    private val clock: MonotonicClock = SystemMonotonicClock,
) : FrameSource {
    @Volatile
    private var closed = false
    private var index = 0

    override val description: String =
        "recorded sweep (${frames.count} frames) " + (if (pacer == null) "unpaced" else "at ${formatFps(pacer.fps)} fps")
    override val height: Int get() = frames.height
    override val width: Int get() = frames.width
    override val frameCount: Int get() = frames.count

    /** Frames the pacer could not deliver on time (the device is slower than the chosen rate). */
    val lateFrames: Int get() = pacer?.lateFrames ?: 0

    override fun next(): Frame? {
        if (closed || index >= frames.count) return null
        if (Thread.interrupted()) throw InterruptedException()
        val t = pacer?.awaitNext() ?: clock.nanoTime()
        if (closed) return null
        val i = index++
        return Frame(i, frames.frame(i), t)
    }

    override fun close() {
        closed = true
    }
}

/**
 * A live source fed by a probe SDK's callback thread: [offer] copies the frame (the SDK may reuse its buffer) and
 * keeps only the newest one not yet taken, so a slow model never builds a backlog; [endSweep] ends the sweep once
 * the pending frame is taken.
 *
 * ```
 * val source = PushFrameSource(spec.input.height, spec.input.width)
 * probe.setFrameListener { buf, rowStride, tNanos -> source.offer(buf, rowStride, tNanos) }   // SDK thread
 * viewModel.startSweep(source)                                                                 // UI
 * probe.onSweepButton { source.endSweep() }
 * ```
 */
class PushFrameSource(
    override val height: Int,
    override val width: Int,
    override val description: String = "live probe",
    private val clock: MonotonicClock = SystemMonotonicClock,
) : FrameSource {
    private val lock = ReentrantLock()
    private val changed = lock.newCondition()
    private var pending: ByteArray? = null
    private var pendingTime = 0L
    private var taken = 0
    private var ended = false
    private var closed = false

    /** Frames replaced before the consumer took them. */
    var droppedFrames: Int = 0
        private set

    override val frameCount: Int? get() = null

    init {
        require(height > 0 && width > 0) { "frame size must be positive, got ${height}x$width" }
    }

    /**
     * Offer a grey frame from [pixels] starting at [offset], rows [rowStride] bytes apart (>= width).
     * Returns false when the sweep has ended or the source is closed (the frame is ignored).
     */
    fun offer(pixels: ByteArray, rowStride: Int = width, offset: Int = 0, timestampNanos: Long = clock.nanoTime()): Boolean {
        require(rowStride >= width) { "row stride $rowStride < width $width" }
        require(offset >= 0 && offset.toLong() + (height - 1).toLong() * rowStride + width <= pixels.size) {
            "buffer of ${pixels.size} bytes is too small for ${height}x$width at stride $rowStride"
        }
        val copy = ByteArray(height * width)
        if (rowStride == width) {
            System.arraycopy(pixels, offset, copy, 0, copy.size)
        } else {
            for (r in 0 until height) System.arraycopy(pixels, offset + r * rowStride, copy, r * width, width)
        }
        return put(copy, timestampNanos)
    }

    /** Offer a grey frame from a (direct) buffer, e.g. an image plane; reads from the buffer's position on. */
    fun offer(buffer: ByteBuffer, rowStride: Int = width, timestampNanos: Long = clock.nanoTime()): Boolean {
        require(rowStride >= width) { "row stride $rowStride < width $width" }
        val src = buffer.duplicate()
        val base = src.position()
        require(src.remaining().toLong() >= (height - 1).toLong() * rowStride + width) {
            "buffer of ${src.remaining()} bytes is too small for ${height}x$width at stride $rowStride"
        }
        val copy = ByteArray(height * width)
        for (r in 0 until height) {
            src.position(base + r * rowStride)
            src.get(copy, r * width, width)
        }
        return put(copy, timestampNanos)
    }

    private fun put(copy: ByteArray, t: Long): Boolean = lock.withLock {
        if (ended || closed) return false
        if (pending != null) droppedFrames++
        pending = copy
        pendingTime = t
        changed.signalAll()
        true
    }

    /** No more frames: [next] returns the pending frame (if any), then null. */
    fun endSweep() = lock.withLock {
        ended = true
        changed.signalAll()
    }

    override fun next(): Frame? = lock.withLock {
        while (pending == null && !ended && !closed) changed.await()
        if (closed) return null
        val p = pending ?: return null
        pending = null
        Frame(taken++, p, pendingTime)
    }

    override fun close() = lock.withLock {
        closed = true
        pending = null
        changed.signalAll()
    }
}

/**
 * The last [capacity] frames by index. A NEW_BEST event may name a frame up to min_run - 1 frames back (the best
 * frame of the run that has just confirmed the plane), so the session keeps min_run frames to show it.
 */
class FrameHistory(val capacity: Int) {
    init {
        require(capacity >= 1) { "capacity must be >= 1, got $capacity" }
    }

    private val indices = IntArray(capacity) { -1 }
    private val frames = arrayOfNulls<ByteArray>(capacity)

    fun add(index: Int, pixels: ByteArray) {
        require(index >= 0) { "frame index must be >= 0, got $index" }
        val slot = index % capacity
        indices[slot] = index
        frames[slot] = pixels
    }

    /** The frame with [index], or null when it is older than the last [capacity] frames (or was never added). */
    operator fun get(index: Int): ByteArray? {
        if (index < 0) return null
        val slot = index % capacity
        return if (indices[slot] == index) frames[slot] else null
    }
}
