package org.fetaledge.iqa

import kotlin.math.abs
import kotlin.math.ceil
import kotlin.math.floor
import kotlin.math.max
import kotlin.math.min

/*
 * Frames of another size or in colour brought to a bundle's input: the Kotlin twin of
 * fetaledge/runtime/geometry.py, bit for bit (tests/goldens/geometry/letterbox_cases.json pins it).
 * The rule (docs/frame_geometry.md), enabled by iqa_spec.json input.other_sizes = "letterbox":
 *
 * 1. padded box of the target's aspect: if h * W >= w * H then P_h = h, P_w = max(w, round_half_up(h * W / H)),
 *    else P_w = w, P_h = max(h, round_half_up(w * H / W)); the frame sits centred, before = (P - n) / 2, zeros
 *    around it;
 * 2. antialiased triangle resampling of each padded axis: centre c = (j + 0.5) * (P / out), support
 *    s = max(P / out, 1), weight of padded sample q = max(0, 1 - |q + 0.5 - c| / s), divided by the sum over the
 *    whole padded axis (summed in increasing q), all in doubles;
 * 3. horizontal pass first, then vertical, each value accumulated from 0.0 in tap order (acc += w * v; the JVM
 *    never fuses that into an FMA), rounded half to even (Math.rint) and clipped to 0..255.
 *
 * Colour is made grey first with the integer BT.601 luma (19595 R + 38470 G + 7471 B + 32768) >> 16.
 */

/** A grey 8-bit frame: [pixels] row-major, [height] x [width] bytes (read them as unsigned). */
class GreyFrame(val height: Int, val width: Int, val pixels: ByteArray) {
    init {
        require(height >= 1 && width >= 1) { "frame size must be >= 1x1, got ${height}x$width" }
        require(pixels.size == height * width) { "frame holds ${pixels.size} bytes, not $height x $width" }
    }

    operator fun get(y: Int, x: Int): Int = pixels[y * width + x].toInt() and 0xFF
}

/** One axis of the resampling: for output j, real input indices [index] and [weight]s (used taps only). */
class AxisTaps(val index: Array<IntArray>, val weight: Array<DoubleArray>)

object FrameGeometry {
    const val REFUSE = "refuse"
    const val LETTERBOX = "letterbox"

    /** Interleaved 8-bit RGB (or RGBA with [channels] 4) -> grey, integer BT.601 luma (as Pillow's "L"). */
    fun toGrey(height: Int, width: Int, interleaved: ByteArray, channels: Int = 3): GreyFrame {
        require(channels == 3 || channels == 4) { "colour frames have 3 or 4 channels, got $channels" }
        require(interleaved.size == height * width * channels) { "colour frame holds ${interleaved.size} bytes" }
        val out = ByteArray(height * width)
        for (i in 0 until height * width) {
            val r = interleaved[i * channels].toInt() and 0xFF
            val g = interleaved[i * channels + 1].toInt() and 0xFF
            val b = interleaved[i * channels + 2].toInt() and 0xFF
            out[i] = ((r * 19595 + g * 38470 + b * 7471 + 32768) shr 16).toByte()
        }
        return GreyFrame(height, width, out)
    }

    /** Rule step 1: the zero-padded box (P_h, P_w) of the target's aspect that holds an h x w frame. */
    fun letterboxBox(h: Int, w: Int, outH: Int, outW: Int): Pair<Int, Int> {
        if (h < 1 || w < 1 || outH < 1 || outW < 1) throw IqaException("letterbox: sizes must be >= 1, got ${h}x$w -> ${outH}x$outW")
        val hl = h.toLong()
        val wl = w.toLong()
        return if (hl * outW >= wl * outH) {
            Pair(h, max(w.toLong(), (2 * hl * outW + outH) / (2L * outH)).toInt())
        } else {
            Pair(max(h.toLong(), (2 * wl * outH + outW) / (2L * outW)).toInt(), w)
        }
    }

    /** Rule step 2 for one axis of [inLen] real samples centred in [paddedLen], resampled to [outLen]. */
    fun axisTaps(inLen: Int, outLen: Int, paddedLen: Int): AxisTaps {
        if (paddedLen < inLen) throw IqaException("letterbox: padded length $paddedLen < input length $inLen")
        val before = (paddedLen - inLen) / 2
        val scale = paddedLen.toDouble() / outLen.toDouble()
        val support = if (scale > 1.0) scale else 1.0
        val index = arrayOfNulls<IntArray>(outLen)
        val weight = arrayOfNulls<DoubleArray>(outLen)
        for (j in 0 until outLen) {
            val c = (j + 0.5) * scale
            val lo = max(0, floor(c - support).toInt())
            val hi = min(paddedLen - 1, ceil(c + support).toInt())
            var total = 0.0
            val idx = ArrayList<Int>()
            val wts = ArrayList<Double>()
            for (q in lo..hi) {
                val wq = 1.0 - abs(q + 0.5 - c) / support
                if (wq > 0.0) {
                    total += wq
                    if (q >= before && q < before + inLen) {
                        idx.add(q - before)
                        wts.add(wq)
                    }
                }
            }
            index[j] = idx.toIntArray()
            weight[j] = DoubleArray(wts.size) { wts[it] / total }
        }
        @Suppress("UNCHECKED_CAST")
        return AxisTaps(index as Array<IntArray>, weight as Array<DoubleArray>)
    }

    /** Bring a grey frame to [outH] x [outW] by the letterbox rule; the same size comes back unchanged. */
    fun letterbox(frame: GreyFrame, outH: Int, outW: Int): GreyFrame {
        val h = frame.height
        val w = frame.width
        if (h == outH && w == outW) return frame
        val (ph, pw) = letterboxBox(h, w, outH, outW)
        val rows = axisTaps(h, outH, ph)
        val cols = axisTaps(w, outW, pw)
        val horiz = DoubleArray(h * outW)
        for (y in 0 until h) {
            val base = y * w
            for (x in 0 until outW) {
                val ix = cols.index[x]
                val wx = cols.weight[x]
                var acc = 0.0
                for (k in ix.indices) acc += wx[k] * (frame.pixels[base + ix[k]].toInt() and 0xFF).toDouble()
                horiz[y * outW + x] = acc
            }
        }
        val out = ByteArray(outH * outW)
        for (y in 0 until outH) {
            val iy = rows.index[y]
            val wy = rows.weight[y]
            for (x in 0 until outW) {
                var acc = 0.0
                for (k in iy.indices) acc += wy[k] * horiz[iy[k] * outW + x]
                val v = Math.rint(acc)
                out[y * outW + x] = (if (v < 0.0) 0.0 else if (v > 255.0) 255.0 else v).toInt().toByte()
            }
        }
        return GreyFrame(outH, outW, out)
    }

    /**
     * A grey frame brought to the spec's input size as `input.other_sizes` says: unchanged when it already has
     * that size, letterboxed for "letterbox", an [IqaException] naming both sizes for "refuse".
     *
     * ```
     * val ready = FrameGeometry.fitFrame(frame, spec.input)
     * ```
     */
    fun fitFrame(frame: GreyFrame, input: InputSpec): GreyFrame {
        if (frame.height == input.height && frame.width == input.width) return frame
        return when (input.otherSizes) {
            LETTERBOX -> letterbox(frame, input.height, input.width)
            REFUSE -> throw IqaException(
                "frame is ${frame.height}x${frame.width} (HxW); this bundle was built for ${input.height}x${input.width} " +
                    "frames and its spec says input.other_sizes \"refuse\"",
                "build a bundle for this probe's frame size, or one with input.other_sizes \"letterbox\" (docs/frame_geometry.md)",
            )
            else -> throw IqaException("unknown input.other_sizes '${input.otherSizes}'")
        }
    }
}
