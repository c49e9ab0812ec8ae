package org.fetaledge.demo.core

import org.fetaledge.iqa.FrameGeometry
import org.fetaledge.iqa.GreyFrame
import org.fetaledge.iqa.InputSpec
import org.fetaledge.iqa.IqaException
import java.nio.ByteBuffer

/*
 * The live path from a probe SDK to the model. Probe SDKs deliver frames from their own thread, in their own size
 * and pixel layout: Clarius Cast hands an ARGB_8888 image (or a JPEG/PNG the app decodes to one), other SDKs a
 * grey plane with a row stride. ProbeAdapter takes any of those from ANY thread, copies what it needs (the SDK may
 * reuse its buffer as soon as the call returns), converts colour to grey with the integer BT.601 luma and fits the
 * frame to the spec's raw size by its input.other_sizes rule (letterbox or refuse) with iqa-core's FrameGeometry,
 * the same arithmetic as fetaledge.runtime.geometry (pinned by tests/goldens/geometry). The result goes into a
 * PushFrameSource, which keeps only the newest frame not yet scored: a slow model drops frames, never queues them.
 *
 * The adapter interface a probe integration implements is just "call one of the offer methods per frame and
 * endSweep() at the end"; see SimulatedProbe for a complete example that streams a recording at 25 fps.
 */

/** Byte layouts of a colour or grey frame in memory. */
enum class PixelLayout(val bytesPerPixel: Int) {
    /** One byte per pixel, grey. */
    GREY8(1),

    /** Bytes R, G, B, A per pixel: Android's ARGB_8888 Bitmap as copyPixelsToBuffer writes it. */
    RGBA8888(4),

    /** Bytes B, G, R, A per pixel (some SDKs and Windows-born encoders). */
    BGRA8888(4),

    /** Bytes R, G, B per pixel. */
    RGB888(3),
}

/**
 * Converts and fits probe frames into [sink] (a PushFrameSource of the spec's input size). Thread-safe: every
 * offer works on its own copies and PushFrameSource is locked.
 *
 * ```
 * val source = PushFrameSource(spec.input.height, spec.input.width, "Clarius (live)")
 * val adapter = ProbeAdapter(spec.input, source)
 * adapter.check(800, 540)                                   // fails now if the spec refuses this size
 * clarius.onNewImage { argb: IntArray, w, h, tNanos -> adapter.offerArgb(argb, w, h, timestampNanos = tNanos) }
 * viewModel.startSweep(source) ... adapter.endSweep()
 * ```
 */
class ProbeAdapter(val input: InputSpec, val sink: PushFrameSource) {
    init {
        require(sink.height == input.height && sink.width == input.width) {
            "the sink takes ${sink.height}x${sink.width}, the spec's input is ${input.height}x${input.width}"
        }
    }

    /** Frames converted and handed to the sink (dropped ones included: see sink.droppedFrames). */
    @Volatile
    var offered: Int = 0
        private set

    /**
     * Fails with the spec's error when frames of [width] x [height] cannot be scored (input.other_sizes
     * "refuse" and another size): call it when the probe reports its image size, before streaming.
     */
    fun check(width: Int, height: Int) {
        if (width < 1 || height < 1) throw IqaException("probe frame size ${width}x$height (WxH) is not positive")
        if (width == input.width && height == input.height) return
        if (input.otherSizes == FrameGeometry.LETTERBOX) {
            FrameGeometry.letterboxBox(height, width, input.height, input.width)
        } else {
            FrameGeometry.fitFrame(GreyFrame(height, width, ByteArray(height * width)), input) // the spec's refusal
        }
    }

    /**
     * Packed 0xAARRGGBB ints (Android Bitmap.getPixels, a decoded JPEG/PNG): [width] x [height] from [offset],
     * rows [stride] ints apart. Alpha is ignored. Returns false once the sweep has ended.
     */
    fun offerArgb(pixels: IntArray, width: Int, height: Int, stride: Int = width, offset: Int = 0, timestampNanos: Long = System.nanoTime()): Boolean {
        checkGeometry(pixels.size.toLong(), width, height, stride, offset, 1)
        val grey = ByteArray(width * height)
        for (y in 0 until height) {
            val row = offset + y * stride
            for (x in 0 until width) {
                val c = pixels[row + x]
                grey[y * width + x] = luma((c shr 16) and 0xff, (c shr 8) and 0xff, c and 0xff)
            }
        }
        return push(GreyFrame(height, width, grey), timestampNanos)
    }

    /** Bytes in [layout] from [buffer]'s position, rows [rowStride] bytes apart (>= width * bytes per pixel). */
    fun offerBytes(buffer: ByteBuffer, width: Int, height: Int, layout: PixelLayout, rowStride: Int = width * layout.bytesPerPixel,
                   timestampNanos: Long = System.nanoTime()): Boolean {
        val src = buffer.duplicate()
        val base = src.position()
        val bpp = layout.bytesPerPixel
        require(rowStride >= width * bpp) { "row stride $rowStride < width $width x $bpp bytes" }
        require(src.remaining().toLong() >= (height - 1).toLong() * rowStride + width.toLong() * bpp) {
            "buffer of ${src.remaining()} bytes is too small for ${width}x$height $layout at stride $rowStride"
        }
        val row = ByteArray(width * bpp)
        val grey = ByteArray(width * height)
        for (y in 0 until height) {
            src.position(base + y * rowStride)
            src.get(row, 0, row.size)
            val o = y * width
            when (layout) {
                PixelLayout.GREY8 -> System.arraycopy(row, 0, grey, o, width)
                PixelLayout.RGBA8888, PixelLayout.RGB888 -> for (x in 0 until width) {
                    grey[o + x] = luma(row[x * bpp].toInt() and 0xff, row[x * bpp + 1].toInt() and 0xff, row[x * bpp + 2].toInt() and 0xff)
                }
                PixelLayout.BGRA8888 -> for (x in 0 until width) {
                    grey[o + x] = luma(row[x * bpp + 2].toInt() and 0xff, row[x * bpp + 1].toInt() and 0xff, row[x * bpp].toInt() and 0xff)
                }
            }
        }
        return push(GreyFrame(height, width, grey), timestampNanos)
    }

    /** Grey bytes (e.g. an image plane or a decoded grey PNG) from [offset], rows [rowStride] bytes apart. */
    fun offerGrey(pixels: ByteArray, width: Int, height: Int, rowStride: Int = width, offset: Int = 0,
                  timestampNanos: Long = System.nanoTime()): Boolean {
        checkGeometry(pixels.size.toLong(), width, height, rowStride, offset, 1)
        val grey = ByteArray(width * height)
        for (y in 0 until height) System.arraycopy(pixels, offset + y * rowStride, grey, y * width, width)
        return push(GreyFrame(height, width, grey), timestampNanos)
    }

    /** No more frames: the pending one is still scored, then the sweep gets its verdict. */
    fun endSweep() = sink.endSweep()

    private fun push(frame: GreyFrame, t: Long): Boolean {
        val fitted = FrameGeometry.fitFrame(frame, input) // throws the spec's error for "refuse" and another size
        offered++
        return sink.offer(fitted.pixels, timestampNanos = t)
    }

    private fun checkGeometry(size: Long, width: Int, height: Int, stride: Int, offset: Int, unit: Int) {
        require(width > 0 && height > 0) { "frame size ${width}x$height (WxH) must be positive" }
        require(stride >= width) { "stride $stride < width $width" }
        require(offset >= 0 && offset.toLong() + (height - 1).toLong() * stride + width.toLong() * unit <= size) {
            "buffer of $size values is too small for ${width}x$height at stride $stride from $offset"
        }
    }

    private companion object {
        /** The integer BT.601 luma of fetaledge.runtime.geometry.to_grey and FrameGeometry.toGrey. */
        fun luma(r: Int, g: Int, b: Int): Byte = ((r * 19595 + g * 38470 + b * 7471 + 32768) shr 16).toByte()
    }
}
