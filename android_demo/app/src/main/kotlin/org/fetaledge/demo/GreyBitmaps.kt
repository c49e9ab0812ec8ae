package org.fetaledge.demo

import android.graphics.Bitmap

/** Raw grey frames (H x W uint8) to displayable bitmaps. */
object GreyBitmaps {
    /** uint8 grey -> opaque ARGB. */
    private val ARGB = IntArray(256) { g -> (0xFF shl 24) or (g shl 16) or (g shl 8) or g }

    fun fill(pixels: ByteArray, argb: IntArray) {
        for (i in pixels.indices) argb[i] = ARGB[pixels[i].toInt() and 0xff]
    }

    /** A new immutable bitmap of [pixels] (used for the best frame, which changes rarely). */
    fun create(pixels: ByteArray, width: Int, height: Int): Bitmap {
        val argb = IntArray(width * height)
        fill(pixels, argb)
        return Bitmap.createBitmap(argb, width, height, Bitmap.Config.ARGB_8888)
    }
}

/**
 * The live view's bitmaps: a ring of [size] mutable bitmaps reused frame after frame, so a 30 fps replay does not
 * allocate 1.7 MB per frame on a low-cost tablet. The UI shows the newest; by the time a bitmap is rewritten the
 * UI has moved on to a newer one. Used from the inference thread only.
 */
class GreyBitmapRing(private val width: Int, private val height: Int, size: Int = 3) {
    private val bitmaps = Array(size) { Bitmap.createBitmap(width, height, Bitmap.Config.ARGB_8888) }
    private val argb = IntArray(width * height)
    private var next = 0

    fun render(pixels: ByteArray): Bitmap {
        GreyBitmaps.fill(pixels, argb)
        val b = bitmaps[next]
        b.setPixels(argb, 0, width, 0, 0, width, height)
        next = (next + 1) % bitmaps.size
        return b
    }
}
