package org.fetaledge.demo.core

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.nio.ByteBuffer
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicReference

/** A clock that only moves when told to: sleeping advances it, [work] simulates inference time. */
class FakeClock(var now: Long = 1_000_000L) : MonotonicClock {
    val sleeps = ArrayList<Long>()

    override fun nanoTime(): Long = now

    override fun sleepNanos(nanos: Long) {
        sleeps.add(nanos)
        now += nanos
    }

    fun work(nanos: Long) {
        now += nanos
    }
}

class FramesTest {
    @Test
    fun pacerKeepsTheFrameRateWhenTheDeviceIsFastEnough() {
        val clock = FakeClock()
        val pacer = ReplayPacer(10.0, clock) // 100 ms period
        val t0 = pacer.awaitNext()
        clock.work(30_000_000)
        val t1 = pacer.awaitNext()
        assertEquals(t0 + 100_000_000, t1)
        clock.work(99_000_000)
        assertEquals(t0 + 200_000_000, pacer.awaitNext())
        assertEquals(listOf(70_000_000L, 1_000_000L), clock.sleeps)
        assertEquals(0, pacer.lateFrames)
    }

    @Test
    fun pacerCatchesUpSmallDelaysAndReanchorsLargeOnes() {
        val clock = FakeClock()
        val pacer = ReplayPacer(10.0, clock)
        val t0 = pacer.awaitNext()
        clock.work(150_000_000) // frame 1 due at +100 ms: 50 ms late, no sleep, schedule kept
        assertEquals(t0 + 150_000_000, pacer.awaitNext())
        clock.work(10_000_000) // frame 2 due at +200 ms, now +160 ms: sleep 40 ms
        assertEquals(t0 + 200_000_000, pacer.awaitNext())
        clock.work(450_000_000) // frame 3 due at +300 ms, now +650 ms: more than a period late -> re-anchor
        val t3 = pacer.awaitNext()
        assertEquals(t0 + 650_000_000, t3)
        assertEquals(1, pacer.lateFrames)
        clock.work(20_000_000)
        assertEquals(t3 + 100_000_000, pacer.awaitNext()) // frame 4: one period after the new anchor
        assertThrows(IllegalArgumentException::class.java) { ReplayPacer(0.0, clock) }
        assertThrows(IllegalArgumentException::class.java) { ReplayPacer(Double.NaN, clock) }
    }

    @Test
    fun replaySourceDeliversEveryFrameInOrderThenNull() {
        val frames = NpyFrames.open(ByteBuffer.wrap(Fixtures.bytes("tiny_u8.npy")), "tiny")
        val clock = FakeClock()
        val src = NpyReplaySource(frames, ReplayPacer(25.0, clock), clock)
        assertEquals(2, src.frameCount)
        assertTrue(src.description.contains("2 frames") && src.description.contains("25 fps"), src.description)
        val a = src.next()!!
        val b = src.next()!!
        assertNull(src.next())
        assertEquals(listOf(0, 1), listOf(a.index, b.index))
        assertEquals(40_000_000L, b.timestampNanos - a.timestampNanos)
        assertArrayEquals(ByteArray(12) { (12 + it).toByte() }, b.pixels)
        val c = NpyReplaySource(frames, null, clock)
        c.close()
        assertNull(c.next())
    }

    @Test
    fun pushSourceKeepsOnlyTheNewestFrameAndEndsCleanly() {
        val src = PushFrameSource(2, 3, clock = FakeClock())
        assertTrue(src.offer(ByteArray(6) { 1 }))
        assertTrue(src.offer(ByteArray(6) { 2 })) // replaces the first: the consumer was too slow
        assertEquals(1, src.droppedFrames)
        val f = src.next()!!
        assertEquals(0, f.index)
        assertArrayEquals(ByteArray(6) { 2 }, f.pixels)
        // Row stride and offset: a 2x3 frame inside a buffer with 5-byte rows starting at byte 1.
        val strided = byteArrayOf(9, 1, 2, 3, 9, 9, 4, 5, 6, 9, 9)
        assertTrue(src.offer(strided, rowStride = 5, offset = 1))
        assertArrayEquals(byteArrayOf(1, 2, 3, 4, 5, 6), src.next()!!.pixels)
        val direct = ByteBuffer.allocateDirect(10)
        direct.put(byteArrayOf(7, 8, 9, 0, 0, 10, 11, 12, 0, 0)).flip()
        assertTrue(src.offer(direct, rowStride = 5))
        src.endSweep()
        val g = src.next()!!
        assertEquals(2, g.index)
        assertArrayEquals(byteArrayOf(7, 8, 9, 10, 11, 12), g.pixels)
        assertNull(src.next())
        assertFalse(src.offer(ByteArray(6)))
        assertThrows(IllegalArgumentException::class.java) { PushFrameSource(2, 3).offer(ByteArray(5)) }
    }

    @Test
    fun pushSourceWakesABlockedConsumer() {
        val src = PushFrameSource(1, 2)
        val got = AtomicReference<Frame?>()
        val done = CountDownLatch(1)
        val t = Thread {
            got.set(src.next())
            done.countDown()
        }
        t.start()
        Thread.sleep(50)
        src.offer(byteArrayOf(3, 4))
        assertTrue(done.await(5, TimeUnit.SECONDS))
        assertArrayEquals(byteArrayOf(3, 4), got.get()!!.pixels)

        val closedWhileWaiting = CountDownLatch(1)
        val t2 = Thread {
            if (src.next() == null) closedWhileWaiting.countDown()
        }
        t2.start()
        Thread.sleep(50)
        src.close()
        assertTrue(closedWhileWaiting.await(5, TimeUnit.SECONDS))

        val interrupted = CountDownLatch(1)
        val src2 = PushFrameSource(1, 2)
        val t3 = Thread {
            try {
                src2.next()
            } catch (e: InterruptedException) {
                interrupted.countDown()
            }
        }
        t3.start()
        Thread.sleep(50)
        t3.interrupt()
        assertTrue(interrupted.await(5, TimeUnit.SECONDS), "a blocked next() is interruptible (sweep cancelled)")
    }

    @Test
    fun frameHistoryKeepsTheLastFrames() {
        val h = FrameHistory(3)
        for (i in 0 until 5) h.add(i, byteArrayOf(i.toByte()))
        assertNull(h[0])
        assertNull(h[1])
        assertArrayEquals(byteArrayOf(2), h[2])
        assertArrayEquals(byteArrayOf(4), h[4])
        assertNull(h[5])
        assertNull(h[-1])
    }
}
