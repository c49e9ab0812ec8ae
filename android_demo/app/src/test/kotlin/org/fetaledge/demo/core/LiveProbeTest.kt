package org.fetaledge.demo.core

import org.fetaledge.iqa.DecisionParams
import org.fetaledge.iqa.InputSpec
import org.fetaledge.iqa.IqaException
import org.fetaledge.iqa.Json
import org.fetaledge.iqa.SweepVerdict
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.awt.image.BufferedImage
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.nio.ByteBuffer
import java.security.MessageDigest
import javax.imageio.ImageIO

/**
 * The live path on the JVM: probe frames (ARGB ints, RGBA/BGRA/grey bytes with row strides, a decoded PNG) through
 * ProbeAdapter into the spec's raw size, against the SHARED goldens: tests/goldens/geometry (the 800x540 ARGB
 * letterbox, bit for bit) and tests/goldens/live/probe_sweep.json (Python's process_sweep on the same frames).
 */
class LiveProbeTest {
    private val letterbox = InputSpec(562, 744, "uint8", "HW", 1, "letterbox")
    private val live = Json.parse(SharedGoldens.text("live/probe_sweep.json"))
    private val geometryCase = Json.parse(SharedGoldens.text("geometry/letterbox_cases.json"))["cases"].list()
        .first { it["name"].str() == "probe_argb_800x540_into_acouslic" }

    /** The geometry golden's input_pattern (colour), scaled by [w] / 255 as the live golden's frames are. */
    private fun pattern(y: Int, x: Int, c: Int, w: Int = 255): Int = ((7 * y + 13 * x + 50 * c + 3 * ((y * x) % 29)) % 256) * w / 255

    private fun argbFrame(h: Int, wd: Int, w: Int = 255) = IntArray(h * wd) { i ->
        val y = i / wd
        val x = i % wd
        (0xff shl 24) or (pattern(y, x, 0, w) shl 16) or (pattern(y, x, 1, w) shl 8) or pattern(y, x, 2, w)
    }

    private fun sha256(b: ByteArray): String = MessageDigest.getInstance("SHA-256").digest(b).joinToString("") { "%02x".format(it) }

    private fun fitted(offer: (ProbeAdapter) -> Unit): ByteArray {
        val source = PushFrameSource(562, 744)
        offer(ProbeAdapter(letterbox, source))
        source.endSweep()
        return source.next()!!.pixels
    }

    @Test
    fun argb800x540IsLetterboxedExactlyAsTheGeometryGoldenSays() {
        val h = geometryCase["height"].int()
        val w = geometryCase["width"].int()
        assertEquals(listOf(540, 800, 3), listOf(h, w, geometryCase["channels"].int()))
        val want = geometryCase["sha256"].str()
        val argb = argbFrame(h, w)
        assertEquals(want, sha256(fitted { it.offerArgb(argb, w, h) }), "ARGB ints")
        // The same frame inside a wider buffer (stride 820 ints, offset 7): only the frame's pixels count.
        val wide = IntArray(7 + 820 * h).also { for (y in 0 until h) argb.copyInto(it, 7 + y * 820, y * w, y * w + w) }
        assertEquals(want, sha256(fitted { it.offerArgb(wide, w, h, stride = 820, offset = 7) }), "ARGB with stride")
        // RGBA / BGRA / RGB bytes with a padded row stride, from a direct buffer at a non-zero position.
        for (layout in listOf(PixelLayout.RGBA8888, PixelLayout.BGRA8888, PixelLayout.RGB888)) {
            val bpp = layout.bytesPerPixel
            val stride = w * bpp + 64
            val buf = ByteBuffer.allocateDirect(5 + stride * h)
            for (y in 0 until h) for (x in 0 until w) {
                val c = argb[y * w + x]
                val rgba = intArrayOf((c shr 16) and 0xff, (c shr 8) and 0xff, c and 0xff, 0x7f)
                val order = when (layout) {
                    PixelLayout.BGRA8888 -> intArrayOf(2, 1, 0, 3)
                    PixelLayout.RGB888 -> intArrayOf(0, 1, 2)
                    else -> intArrayOf(0, 1, 2, 3)
                }
                for (k in order.indices) buf.put(5 + y * stride + x * bpp + k, rgba[order[k]].toByte())
            }
            buf.position(5)
            assertEquals(want, sha256(fitted { it.offerBytes(buf, w, h, layout, stride) }), layout.name)
        }
        // A PNG as a probe app would send it, decoded (ImageIO here; BitmapFactory on the device) to ARGB ints.
        val img = BufferedImage(w, h, BufferedImage.TYPE_INT_RGB).also { it.setRGB(0, 0, w, h, argb, 0, w) }
        val png = ByteArrayOutputStream().also { ImageIO.write(img, "png", it) }.toByteArray()
        val decoded = ImageIO.read(ByteArrayInputStream(png))
        val ints = decoded.getRGB(0, 0, w, h, null, 0, w)
        assertEquals(want, sha256(fitted { it.offerArgb(ints, w, h) }), "decoded PNG")
    }

    @Test
    fun greyFramesWithAStrideAndSpecSizedFramesPassThrough() {
        val grey = ByteArray(562 * 760) { (it % 251).toByte() }
        val out = fitted { it.offerGrey(grey, 744, 562, rowStride = 760) }
        for (y in listOf(0, 281, 561)) for (x in listOf(0, 400, 743)) assertEquals(grey[y * 760 + x], out[y * 744 + x])
    }

    @Test
    fun aSpecThatRefusesOtherSizesSaysSoBeforeStreaming() {
        val refuse = letterbox.copy(otherSizes = "refuse")
        val adapter = ProbeAdapter(refuse, PushFrameSource(562, 744))
        val e = assertThrows(IqaException::class.java) { adapter.check(800, 540) }
        assertTrue(e.problem.startsWith("frame is 540x800 (HxW); this bundle was built for 562x744 frames"), e.problem)
        adapter.check(744, 562) // its own size is fine
        val probe = SimulatedProbe(object : RecordedFrames {
            override val count = 1
            override val width = 800
            override val height = 540
            override fun argb(index: Int, dst: IntArray) = Unit
        })
        assertThrows(IqaException::class.java) { probe.start(adapter) }
    }

    @Test
    fun aSimulatedLiveSweepAt25FpsGivesTheDecisionsOfPythonsProcessSweep() {
        val h = live["height"].int()
        val w = live["width"].int()
        val weights = live["weights"].list().map { it.int() }
        val byHash = live["frames"].list().associate { it["sha256"].str() to it["probability"].num() }
        val p = live["params"]
        val params = DecisionParams(p["threshold"].num(), p["enter_threshold"].num(), p["exit_threshold"].num(), p["min_run"].int(), p["smoothing_alpha"].num())
        val frames = object : RecordedFrames {
            override val count = weights.size
            override val width = w
            override val height = h
            override fun argb(index: Int, dst: IntArray) {
                argbFrame(h, w, weights[index]).copyInto(dst)
            }
        }
        val score = { f: ByteArray -> byHash[sha256(f)] ?: error("frame not in the golden: conversion or letterbox differs") }
        // Warm up (class loading, JIT of the letterbox and of SHA-256) so that the first frames are not late.
        score(fitted { it.offerArgb(argbFrame(h, w, weights[0]), w, h) })

        /** One live sweep; null when the machine dropped a frame (busy CPU: then the sweep is not Python's). */
        fun sweep(): Pair<List<String>, SweepVerdict>? {
            val source = PushFrameSource(live["out_height"].int(), live["out_width"].int(), "simulated probe")
            val probe = SimulatedProbe(frames, fps = 25.0)
            val events = ArrayList<String>()
            var verdict: SweepVerdict? = null
            val consumer = Thread {
                // The model: a frame is scored by looking up the sha256 of exactly the bytes Python fed its scorer.
                verdict = SweepRunner(params, score).run(source, object : SweepListener {
                    override fun onFrame(result: FrameResult) {
                        for (e in result.events) events.add("${e.type} ${e.frame} ${java.lang.Double.doubleToRawLongBits(e.score)}")
                    }

                    override fun onFinished(verdict: SweepVerdict, best: BestFrame?) = Unit
                })
            }
            consumer.start() // waiting in next() before the probe sends its first frame
            probe.start(ProbeAdapter(letterbox, source)).join(20_000)
            consumer.join(20_000)
            assertEquals(weights.size, probe.sent)
            return if (source.droppedFrames == 0) events to verdict!! else null
        }

        // At most three tries: a frame dropped because the test machine was busy says nothing about parity; a
        // sweep without drops must be Python's exactly.
        val (events, verdict) = (1..3).asSequence().mapNotNull { sweep() }.firstOrNull()
            ?: error("every try dropped frames: the machine is too busy for a 25 fps sweep")
        val exp = live["expected"]
        assertEquals(exp["events"].list().map { "${it["type"].str()} ${it["frame"].int()} ${java.lang.Double.doubleToRawLongBits(it["score"].num())}" }, events)
        val v = exp["verdict"]
        assertEquals(listOf(v["verdict"].str(), v["frame"].int(), v["n_frames"].int()), listOf(verdict.verdict.name, verdict.frame, verdict.nFrames))
        assertEquals(v["score"].num(), verdict.score)
    }

    @Test
    fun aSlowModelDropsFramesInsteadOfQueueingThem() {
        val small = InputSpec(10, 12, "uint8", "HW", 1, "letterbox")
        val frames = object : RecordedFrames {
            override val count = 20
            override val width = 16
            override val height = 12
            override fun argb(index: Int, dst: IntArray) = dst.fill((0xff shl 24) or (index * 10 shl 8))
        }
        val source = PushFrameSource(10, 12, "simulated probe")
        val probe = SimulatedProbe(frames, fps = 25.0)
        val thread = probe.start(ProbeAdapter(small, source))
        val indices = ArrayList<Int>()
        while (true) {
            val f = source.next() ?: break
            indices.add(f.index)
            Thread.sleep(120) // a model three frames slower than the probe
        }
        thread.join(10_000)
        assertEquals(20, probe.sent)
        assertTrue(source.droppedFrames > 0 && indices.size + source.droppedFrames == 20, "${indices.size} scored, ${source.droppedFrames} dropped")
        assertEquals((0 until indices.size).toList(), indices) // the tracker sees consecutive indices
    }
}
