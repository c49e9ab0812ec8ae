package org.fetaledge.demo.core

import org.fetaledge.iqa.IqaException
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.nio.ByteBuffer

class NpyTest {
    private fun fails(expected: String, block: () -> Unit) {
        val e = assertThrows(IqaException::class.java) { block() }
        assertTrue(e.problem.contains(expected), "message '${e.problem}' should contain '$expected'")
    }

    @Test
    fun readsAFileWrittenByNumpySave() {
        val buf = ByteBuffer.wrap(Fixtures.bytes("tiny_u8.npy"))
        val h = Npy.parseHeader(buf, "tiny_u8.npy")
        assertEquals(1, h.major)
        assertEquals("|u1", h.descr)
        assertEquals(false, h.fortranOrder)
        assertEquals(listOf(2L, 3L, 4L), h.shape)
        assertEquals(0, (h.dataOffset) % 64, "numpy aligns the data to 64 bytes")
        val frames = NpyFrames.open(buf, "tiny_u8.npy", height = 3, width = 4)
        assertEquals(2, frames.count)
        assertArrayEquals(ByteArray(12) { it.toByte() }, frames.frame(0))
        assertArrayEquals(ByteArray(12) { (12 + it).toByte() }, frames.frame(1))
        assertEquals(0, buf.position(), "the caller's buffer is not moved")
    }

    @Test
    fun readsVersion2HeadersAndBufferOffsets() {
        val data = ByteArray(2 * 2 * 3) { (200 + it).toByte() }
        val v2 = Fixtures.npy("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 3), }", data, major = 2)
        val f = NpyFrames.open(v2, "v2.npy")
        assertEquals(2, f.count)
        assertEquals(2, f.height)
        assertEquals(3, f.width)
        assertArrayEquals(data.copyOfRange(6, 12), f.frame(1))
        // A buffer whose position is not 0 (e.g. a slice of a mapped file): the file starts at the position.
        val raw = Fixtures.bytes("tiny_u8.npy")
        val shifted = ByteBuffer.allocate(raw.size + 7)
        shifted.position(7)
        shifted.put(raw)
        shifted.position(7)
        assertArrayEquals(ByteArray(12) { (12 + it).toByte() }, NpyFrames.open(shifted, "shifted").frame(1))
    }

    @Test
    fun acceptsTheSpellingsNumpyUsesForUint8AndSpacing() {
        val data = ByteArray(4)
        for (descr in listOf("'<u1'", "'|u1'", "\"u1\"")) {
            val b = Fixtures.npy("{\"descr\": $descr, 'fortran_order': False,'shape':(1,2,2)}", data)
            assertEquals(1, NpyFrames.open(b, "x").count)
        }
        assertEquals(listOf(5L), Npy.parseHeader(Fixtures.npy("{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }", ByteArray(5)), "x").shape)
        assertEquals(emptyList<Long>(), Npy.parseHeader(Fixtures.npy("{'descr': '|u1', 'fortran_order': False, 'shape': (), }", ByteArray(1)), "x").shape)
    }

    @Test
    fun rejectsWhatItCannotReadWithAClearMessage() {
        val ok = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3, 4), }"
        val data = ByteArray(24)
        fails("not a .npy file") { NpyFrames.open(ByteBuffer.wrap("PK\u0003\u0004 not npy".toByteArray()), "x.npy") }
        fails("dtype '<u2' is not uint8") { NpyFrames.open(Fixtures.npy(ok.replace("|u1", "<u2"), data), "x.npy") }
        fails("Fortran-ordered") { NpyFrames.open(Fixtures.npy(ok.replace("False", "True"), data), "x.npy") }
        fails("is not (frames, height, width) or (height, width)") {
            NpyFrames.open(Fixtures.npy(ok.replace("(2, 3, 4)", "(24,)"), data), "x.npy")
        }
        // A 2-D array (a bundle's goldens/frames/*.npy) is one frame.
        val one = NpyFrames.open(Fixtures.npy(ok.replace("(2, 3, 4)", "(6, 4)"), data), "x.npy", height = 6, width = 4)
        assertEquals(1, one.count)
        fails("frames are 3x4 (height x width), the model takes 562x744") {
            NpyFrames.open(Fixtures.npy(ok, data), "x.npy", height = 562, width = 744)
        }
        fails("the data block holds 23 bytes, shape (2, 3, 4) needs 24") { NpyFrames.open(Fixtures.npy(ok, ByteArray(23)), "x.npy") }
        fails("the data block holds 25 bytes") { NpyFrames.open(Fixtures.npy(ok, ByteArray(25)), "x.npy") }
        fails("header keys must be exactly") {
            NpyFrames.open(Fixtures.npy(ok.replace("}", "'extra': 1, }").replace("'extra': 1", "'extra': (1,)"), data), "x.npy")
        }
        fails("format version 4.0") {
            val b = Fixtures.npy(ok, data)
            b.put(6, 4)
            NpyFrames.open(b, "x.npy")
        }
        fails("truncated .npy header") { NpyFrames.open(ByteBuffer.wrap(Fixtures.bytes("tiny_u8.npy").copyOf(40)), "x.npy") }
        fails("bad .npy header") { NpyFrames.open(Fixtures.npy("{'descr': '|u1', 'fortran_order': Maybe, 'shape': (1,), }", ByteArray(1)), "x.npy") }
    }

    @Test
    fun frameIndexIsChecked() {
        val f = NpyFrames.open(ByteBuffer.wrap(Fixtures.bytes("tiny_u8.npy")), "tiny")
        assertThrows(IndexOutOfBoundsException::class.java) { f.frame(2) }
        assertThrows(IllegalArgumentException::class.java) { f.frame(0, ByteArray(5)) }
    }
}
