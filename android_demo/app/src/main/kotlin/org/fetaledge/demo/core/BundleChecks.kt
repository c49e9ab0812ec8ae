package org.fetaledge.demo.core

import org.fetaledge.iqa.IqaException
import org.fetaledge.iqa.IqaSpec
import org.fetaledge.iqa.ModelSpec
import org.fetaledge.iqa.Preprocessing
import org.fetaledge.iqa.SPEC_FILE_NAME
import org.fetaledge.iqa.sha256Hex
import java.io.InputStream
import java.nio.ByteBuffer

/*
 * What the app requires of a bundle, before any model runs. Pure Kotlin: the Android side supplies the bytes
 * (memory-mapped assets), these functions decide.
 */

/** Where `fetaledge build --android-assets <app>/src/main/assets` puts the bundle inside the APK's assets. */
object BundleLayout {
    const val ROOT = "bundle"
    const val SPEC = "$ROOT/$SPEC_FILE_NAME"
    const val SWEEP_GOLDEN = "$ROOT/goldens/sweep.json"
    const val FRAME_GOLDENS = "$ROOT/goldens/frames.json"

    /** The asset path of a file the spec names relative to the bundle (a model, the frames file). */
    fun asset(relative: String): String = "$ROOT/$relative"

    const val BUILD_HINT =
        "build the bundle into the app: fetaledge build --target android-arm64 --out bundle " +
            "--android-assets android_demo/app/src/main/assets, then rebuild the app"
}

/**
 * The app passes the raw grey frame to the model: the spec must say so (uint8, layout HW, 1 channel, preprocessing
 * folded into the graph). Anything else is a clear error rather than a silent resize or normalisation.
 */
fun checkAppCanRun(spec: IqaSpec) {
    val i = spec.input
    if (i.dtype != "uint8" || i.layout != "HW" || i.channels != 1) {
        throw IqaException(
            "$SPEC_FILE_NAME: input is ${i.dtype} ${i.layout} with ${i.channels} channel(s); this app shows and scores grey frames (uint8, HW, 1 channel)",
            BundleLayout.BUILD_HINT,
        )
    }
    if (spec.preprocessing !is Preprocessing.Folded) {
        throw IqaException(
            "$SPEC_FILE_NAME: preprocessing.folded_into_graph is false; this app passes raw frames and applies no preprocessing",
            "export the model with the preprocessing folded into the graph (the android-arm64 target does)",
        )
    }
}

/**
 * Check every model file the spec lists against the sha256 it records, the same rule and wording as iqa-core's
 * verifyBundleFiles (which works on a folder; an APK's assets are not files). [open] returns the bytes of a model
 * file, or null when it is missing. One IqaException lists every problem.
 *
 * ```
 * verifyModelDigests(spec, "assets/bundle") { m -> assets.mapOrNull(BundleLayout.asset(m.file))?.let(::ByteBufferInputStream) }
 * ```
 */
fun verifyModelDigests(spec: IqaSpec, where: String, open: (ModelSpec) -> InputStream?) {
    val problems = ArrayList<String>()
    for (m in spec.models) {
        val input = open(m)
        if (input == null) {
            problems.add("model '${m.name}': file ${m.file} is missing")
            continue
        }
        val actual = input.use { sha256Hex(it) }
        if (actual != m.sha256) {
            problems.add("model '${m.name}': file ${m.file} has sha256 $actual, but $SPEC_FILE_NAME says ${m.sha256}")
        }
    }
    if (problems.isNotEmpty()) {
        throw IqaException(
            "bundle $where failed its checks: ${problems.joinToString("; ")}",
            "the bundle was changed after it was built: rebuild it (fetaledge build) or copy it again",
        )
    }
}

/** Reads a ByteBuffer (e.g. a memory-mapped model) as a stream, from its position to its limit, without moving it. */
class ByteBufferInputStream(buffer: ByteBuffer) : InputStream() {
    private val buf: ByteBuffer = buffer.duplicate()

    override fun read(): Int = if (buf.hasRemaining()) buf.get().toInt() and 0xff else -1

    override fun read(b: ByteArray, off: Int, len: Int): Int {
        if (off < 0 || len < 0 || len > b.size - off) throw IndexOutOfBoundsException()
        if (len == 0) return 0
        if (!buf.hasRemaining()) return -1
        val n = minOf(len, buf.remaining())
        buf.get(b, off, n)
        return n
    }

    override fun available(): Int = buf.remaining()
}
