package org.fetaledge.demo.core

import org.fetaledge.iqa.IqaException
import java.nio.ByteBuffer

/*
 * A reader for numpy .npy files of uint8, written for the recorded sweep a bundle ships
 * (goldens/sweep_frames.npy: shape (N, H, W), C order, written by numpy.save). Pure Kotlin: no Android import,
 * compiled and tested on the JVM by run_app_jvm_tests.sh.
 *
 * The format (numpy.lib.format, versions 1.0, 2.0 and 3.0):
 *   6 bytes magic "\x93NUMPY", 1 byte major, 1 byte minor,
 *   header length: uint16 little-endian (v1) or uint32 little-endian (v2, v3),
 *   header: a Python dict literal in ASCII (v3: UTF-8), e.g.
 *       {'descr': '|u1', 'fortran_order': False, 'shape': (120, 562, 744), }
 *   padded with spaces and ended by '\n',
 *   then the raw data.
 * Anything else (another dtype, Fortran order, a truncated or padded data block) is an IqaException naming the
 * source, never a guess.
 */

/** The parsed header of a .npy file; [dataOffset] is where the data starts in the file. */
data class NpyHeader(
    val major: Int,
    val minor: Int,
    val descr: String,
    val fortranOrder: Boolean,
    val shape: List<Long>,
    val dataOffset: Int,
) {
    /** Number of elements (1 for a 0-d array). */
    val elementCount: Long get() = shape.fold(1L) { acc, d -> Math.multiplyExact(acc, d) }
}

object Npy {
    private val MAGIC = byteArrayOf(0x93.toByte(), 'N'.code.toByte(), 'U'.code.toByte(), 'M'.code.toByte(),
        'P'.code.toByte(), 'Y'.code.toByte())

    /** The one-byte unsigned integer dtype, in every byte-order spelling numpy may write. */
    private val UINT8_DESCRS = setOf("|u1", "<u1", ">u1", "=u1", "u1", "|B", "B")

    /**
     * Parse the header at the start of [buf] (its position is not moved). [source] names the file in errors.
     *
     * ```
     * val h = Npy.parseHeader(buffer, "goldens/sweep_frames.npy")   // h.shape == [120, 562, 744]
     * ```
     */
    fun parseHeader(buf: ByteBuffer, source: String): NpyHeader {
        val b = buf.duplicate()
        val start = b.position()
        val avail = b.remaining()
        fun byteAt(i: Int): Int = b.get(start + i).toInt() and 0xff
        if (avail < 10 || (0 until 6).any { byteAt(it) != (MAGIC[it].toInt() and 0xff) }) {
            throw IqaException("$source: not a .npy file (it does not start with \\x93NUMPY)")
        }
        val major = byteAt(6)
        val minor = byteAt(7)
        val lenBytes = when (major) {
            1 -> 2
            2, 3 -> 4
            else -> throw IqaException("$source: .npy format version $major.$minor is not supported (1.0, 2.0, 3.0 are)")
        }
        if (avail < 8 + lenBytes) throw IqaException("$source: truncated .npy header")
        var headerLen = 0L
        for (k in 0 until lenBytes) headerLen = headerLen or (byteAt(8 + k).toLong() shl (8 * k))
        val dataOffset = 8L + lenBytes + headerLen
        if (dataOffset > avail) {
            throw IqaException("$source: truncated .npy header (it announces $headerLen bytes, the file has ${avail - 8 - lenBytes})")
        }
        val raw = ByteArray(headerLen.toInt())
        for (k in raw.indices) raw[k] = b.get(start + 8 + lenBytes + k)
        val text = String(raw, if (major == 3) Charsets.UTF_8 else Charsets.ISO_8859_1)
        val dict = HeaderParser(text, source).dict()
        val expected = setOf("descr", "fortran_order", "shape")
        if (dict.keys != expected) {
            throw IqaException("$source: .npy header keys must be exactly ${expected.sorted()}, got ${dict.keys.sorted()}")
        }
        val descr = dict["descr"] as? String ?: throw IqaException("$source: .npy header 'descr' must be a string")
        val fortran = dict["fortran_order"] as? Boolean
            ?: throw IqaException("$source: .npy header 'fortran_order' must be True or False")
        @Suppress("UNCHECKED_CAST")
        val shape = dict["shape"] as? List<Long> ?: throw IqaException("$source: .npy header 'shape' must be a tuple of integers")
        if (shape.any { it < 0 }) throw IqaException("$source: .npy shape $shape has a negative size")
        return NpyHeader(major, minor, descr, fortran, shape, dataOffset.toInt())
    }

    /** True when [descr] is numpy's uint8. */
    fun isUint8(descr: String): Boolean = descr in UINT8_DESCRS

    /** Python-style rendering of a shape, for messages: (120, 562, 744). */
    fun shapeText(shape: List<Long>): String =
        if (shape.size == 1) "(${shape[0]},)" else shape.joinToString(", ", "(", ")")

    /**
     * The small subset of Python literal syntax numpy writes in a header: a dict with string keys whose values
     * are strings, True/False, or tuples of integers.
     */
    private class HeaderParser(private val s: String, private val source: String) {
        private var i = 0

        private fun fail(what: String): Nothing =
            throw IqaException("$source: bad .npy header at character $i ($what): ${s.trimEnd()}")

        private fun ws() {
            while (i < s.length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++
        }

        private fun expect(c: Char) {
            ws()
            if (i >= s.length || s[i] != c) fail("expected '$c'")
            i++
        }

        private fun peek(): Char? {
            ws()
            return if (i < s.length) s[i] else null
        }

        fun dict(): Map<String, Any> {
            expect('{')
            val out = LinkedHashMap<String, Any>()
            while (true) {
                if (peek() == '}') {
                    i++
                    break
                }
                val key = string()
                if (key in out) fail("repeated key '$key'")
                expect(':')
                out[key] = value()
                when (peek()) {
                    ',' -> i++
                    '}' -> {
                        i++
                        break
                    }
                    else -> fail("expected ',' or '}'")
                }
            }
            ws()
            if (i != s.length) fail("text after the dict")
            return out
        }

        private fun value(): Any = when (val c = peek()) {
            '\'', '"' -> string()
            '(' -> tuple()
            'T', 'F' -> word()
            else -> fail("unexpected ${if (c == null) "end" else "'$c'"}")
        }

        private fun word(): Boolean {
            for ((w, v) in listOf("True" to true, "False" to false)) {
                if (s.startsWith(w, i)) {
                    i += w.length
                    return v
                }
            }
            fail("expected True or False")
        }

        private fun string(): String {
            ws()
            if (i >= s.length) fail("expected a string")
            val q = s[i]
            if (q != '\'' && q != '"') fail("expected a quoted string")
            val end = s.indexOf(q, i + 1)
            if (end < 0) fail("unterminated string")
            val v = s.substring(i + 1, end)
            if ('\\' in v) fail("escapes are not supported in a .npy header string")
            i = end + 1
            return v
        }

        private fun tuple(): List<Long> {
            expect('(')
            val out = ArrayList<Long>()
            while (true) {
                if (peek() == ')') {
                    i++
                    return out
                }
                out.add(integer())
                when (peek()) {
                    ',' -> i++
                    ')' -> {
                        i++
                        return out
                    }
                    else -> fail("expected ',' or ')'")
                }
            }
        }

        private fun integer(): Long {
            ws()
            val st = i
            while (i < s.length && s[i].isDigit()) i++
            if (st == i) fail("expected a non-negative integer")
            val v = s.substring(st, i).toLongOrNull() ?: fail("integer too large")
            if (i < s.length && s[i] == 'L') i++ // Python 2 longs, as very old numpy wrote them
            return v
        }
    }
}

/**
 * A C-ordered uint8 array of shape (N, H, W): N frames of H x W grey pixels, read from [data] (a memory-mapped
 * asset on the device, any ByteBuffer in tests) without copying the file.
 *
 * ```
 * val frames = NpyFrames.open(buffer, "goldens/sweep_frames.npy", height = 562, width = 744)
 * val first: ByteArray = frames.frame(0)
 * ```
 */
class NpyFrames private constructor(
    val source: String,
    val count: Int,
    val height: Int,
    val width: Int,
    private val data: ByteBuffer,
) {
    val frameBytes: Int get() = height * width

    /** Copy frame [index] into [dst] (a new array by default) and return it. Thread-safe (absolute reads). */
    fun frame(index: Int, dst: ByteArray = ByteArray(frameBytes)): ByteArray {
        if (index !in 0 until count) throw IndexOutOfBoundsException("$source: frame $index of $count")
        require(dst.size == frameBytes) { "destination holds ${dst.size} bytes, a frame has $frameBytes" }
        val view = data.duplicate()
        view.position(index * frameBytes)
        view.get(dst, 0, frameBytes)
        return dst
    }

    companion object {
        /**
         * Check the header (uint8, C order, 3-D or 2-D (one frame), and H x W when [height]/[width] are given) and that the data block
         * holds exactly N*H*W bytes. [buf] holds the whole file from its position to its limit.
         */
        fun open(buf: ByteBuffer, source: String, height: Int? = null, width: Int? = null): NpyFrames {
            val h = Npy.parseHeader(buf, source)
            if (!Npy.isUint8(h.descr)) {
                throw IqaException("$source: dtype '${h.descr}' is not uint8 ('|u1')", "save the frames as numpy uint8")
            }
            if (h.fortranOrder) throw IqaException("$source: Fortran-ordered arrays are not supported; save in C order")
            // A 2-D array is one frame (a bundle's goldens/frames/*.npy); a 3-D one a sweep.
            if (h.shape.size != 3 && h.shape.size != 2) {
                throw IqaException("$source: shape ${Npy.shapeText(h.shape)} is not (frames, height, width) or (height, width)")
            }
            val (n, fh, fw) = if (h.shape.size == 3) h.shape else listOf(1L) + h.shape
            if ((height != null && fh != height.toLong()) || (width != null && fw != width.toLong())) {
                throw IqaException(
                    "$source: frames are ${fh}x$fw (height x width), the model takes ${height}x$width",
                    "the recording does not belong to this bundle: rebuild the bundle",
                )
            }
            val expected = h.elementCount
            val actual = (buf.remaining() - h.dataOffset).toLong()
            if (actual != expected) {
                throw IqaException(
                    "$source: the data block holds $actual bytes, shape ${Npy.shapeText(h.shape)} needs $expected",
                    "the file is truncated or was not written by numpy.save: copy the bundle again",
                )
            }
            if (fh * fw > Int.MAX_VALUE || n > Int.MAX_VALUE) throw IqaException("$source: array too large")
            val data = buf.duplicate()
            data.position(buf.position() + h.dataOffset)
            return NpyFrames(source, n.toInt(), fh.toInt(), fw.toInt(), data.slice())
        }
    }
}
