package org.fetaledge.demo

import android.content.Context
import android.util.Log
import org.fetaledge.demo.core.BundleLayout
import org.fetaledge.demo.core.ByteBufferInputStream
import org.fetaledge.demo.core.NpyFrames
import org.fetaledge.demo.core.FrameGoldens
import org.fetaledge.demo.core.SelfCheckData
import org.fetaledge.demo.core.SweepGolden
import org.fetaledge.demo.core.checkAppCanRun
import org.fetaledge.demo.core.liteRtCandidates
import org.fetaledge.demo.core.verifyModelDigests
import org.fetaledge.iqa.IqaException
import org.fetaledge.iqa.IqaSpec
import org.fetaledge.iqa.Json
import org.fetaledge.iqa.ModelSpec
import java.io.File
import java.io.FileInputStream
import java.io.FileNotFoundException
import java.io.RandomAccessFile
import java.nio.ByteBuffer
import java.nio.channels.FileChannel

/** Files of the APK's assets: text read whole, binaries memory-mapped. */
class AssetFiles(private val context: Context) {
    private val assets = context.assets

    fun exists(path: String): Boolean {
        val slash = path.lastIndexOf('/')
        val dir = if (slash < 0) "" else path.substring(0, slash)
        val name = path.substring(slash + 1)
        return try {
            assets.list(dir)?.contains(name) == true
        } catch (e: java.io.IOException) {
            false
        }
    }

    /** The whole asset as UTF-8 text, or null when it does not exist. */
    fun readText(path: String): String? =
        if (!exists(path)) null else assets.open(path).use { String(it.readBytes(), Charsets.UTF_8) }

    /**
     * The asset memory-mapped read-only, or null when it does not exist. The build stores .tflite and .npy
     * uncompressed (androidResources.noCompress), so they map straight from the APK; a compressed asset (a build
     * that dropped noCompress) is copied out once into no-backup storage and mapped from there.
     */
    fun map(path: String): ByteBuffer? {
        if (!exists(path)) return null
        return try {
            assets.openFd(path).use { afd ->
                FileInputStream(afd.fileDescriptor).use { input ->
                    input.channel.map(FileChannel.MapMode.READ_ONLY, afd.startOffset, afd.declaredLength)
                }
            }
        } catch (e: FileNotFoundException) {
            Log.w(TAG, "asset $path is compressed in the APK; copying it out to map it (add its extension to noCompress)")
            val copy = File(context.noBackupFilesDir, "asset-copies/$path")
            copy.parentFile?.mkdirs()
            assets.open(path).use { input -> copy.outputStream().use { input.copyTo(it, 1 shl 16) } }
            RandomAccessFile(copy, "r").use { raf -> raf.channel.map(FileChannel.MapMode.READ_ONLY, 0, raf.length()) }
        }
    }
}

/** What the UI shows about the bundle and the model. */
data class ModelInfo(
    val name: String,
    val precision: String,
    val threads: Int,
    val target: String,
    val threshold: Double,
    val enterThreshold: Double,
    val exitThreshold: Double,
    val minRun: Int,
    val smoothingAlpha: Double,
    val labelPositive: String,
    /** Why the fp32 fallback runs instead of the primary, or null. */
    val fallbackNote: String?,
)

/**
 * A checked bundle: the spec, every model file memory-mapped (sha256 verified), and what the self-check needs. No
 * model is open yet: IqaViewModel chooses it (ModelSelector: the primary, or the fp32 fallback when the primary
 * fails to load or fails its self-check). [selfCheckProblem] says why the self-check cannot run at all (then the
 * app is blocked); [sweepProblem] why the recorded sweep cannot be replayed.
 */
class LoadedBundle(
    val spec: IqaSpec,
    val mappedModels: Map<String, ByteBuffer>,
    val selfCheck: SelfCheckData?,
    val selfCheckProblem: String?,
    val frames: NpyFrames?,
    val sweepProblem: String?,
) {
    /** Open [model] (one of the spec's LiteRT models) on its mapped bytes. */
    fun open(model: ModelSpec): LiteRtClassifier = LiteRtClassifier(model, mappedModels.getValue(model.file), spec.input)

    fun info(model: ModelSpec, note: String?): ModelInfo = ModelInfo(
        name = model.name,
        precision = model.precision,
        threads = model.threads,
        target = (spec.provenance["target"] as? Json.Str)?.value ?: "?",
        threshold = spec.decision.threshold,
        enterThreshold = spec.decision.enterThreshold,
        exitThreshold = spec.decision.exitThreshold,
        minRun = spec.decision.minRun,
        smoothingAlpha = spec.decision.smoothingAlpha,
        labelPositive = spec.labels.positive,
        fallbackNote = note,
    )
}

/**
 * Loads the bundle from the assets, in this order, stopping at the first failure with an IqaException that the
 * UI shows as it is (what is wrong, how to fix it):
 *  1. assets/bundle/iqa_spec.json parsed and validated by iqa-core (the same rules and messages as Python);
 *  2. the spec describes raw grey frames with the preprocessing folded into the graph (what this app passes);
 *  3. the spec lists at least one LiteRT model;
 *  4. the sha256 of EVERY model the spec lists, computed over the mapped bytes the interpreter will read.
 * Then the self-check's inputs: goldens/frames.json (the per-model tolerances and golden frames), goldens/sweep.json
 * and goldens/sweep_frames.npy. A problem there is kept (selfCheckProblem / sweepProblem), not thrown: the screen
 * then says the self-check cannot run and blocks use. Call it off the main thread: hashing takes a moment.
 */
object BundleLoader {
    fun load(context: Context): LoadedBundle {
        val files = AssetFiles(context)
        val specText = files.readText(BundleLayout.SPEC)
            ?: throw IqaException("this app holds no bundle: assets/${BundleLayout.SPEC} is missing", BundleLayout.BUILD_HINT)
        val spec = IqaSpec.parse(specText, "assets/${BundleLayout.SPEC}")
        checkAppCanRun(spec)
        liteRtCandidates(spec)

        val mapped = HashMap<String, ByteBuffer>()
        verifyModelDigests(spec, "assets/${BundleLayout.ROOT}") { m ->
            files.map(BundleLayout.asset(m.file))?.let { buf ->
                mapped[m.file] = buf
                ByteBufferInputStream(buf)
            }
        }
        Log.i(TAG, "bundle OK: ${spec.models.size} model(s) verified")

        var sweepProblem: String? = null
        val golden = try {
            val text = files.readText(BundleLayout.SWEEP_GOLDEN)
            if (text == null) {
                sweepProblem = "assets/${BundleLayout.SWEEP_GOLDEN} is missing"
                null
            } else {
                SweepGolden.parse(text, "assets/${BundleLayout.SWEEP_GOLDEN}")
            }
        } catch (e: IqaException) {
            sweepProblem = e.message
            null
        }
        val framesPath = BundleLayout.asset(golden?.framesFile ?: "goldens/sweep_frames.npy")
        val frames = try {
            val buf = files.map(framesPath)
            if (buf == null) {
                sweepProblem = sweepProblem ?: "assets/$framesPath is missing"
                null
            } else {
                NpyFrames.open(buf, "assets/$framesPath", spec.input.height, spec.input.width)
            }
        } catch (e: IqaException) {
            sweepProblem = sweepProblem ?: e.message
            null
        }
        sweepProblem?.let { Log.w(TAG, "recorded sweep unavailable: $it") }

        var selfCheckProblem: String? = null
        val frameGoldens = try {
            files.readText(BundleLayout.FRAME_GOLDENS)?.let { FrameGoldens.parse(it, "assets/${BundleLayout.FRAME_GOLDENS}") }
                ?: run {
                    selfCheckProblem = "assets/${BundleLayout.FRAME_GOLDENS} is missing"
                    null
                }
        } catch (e: IqaException) {
            selfCheckProblem = e.message
            null
        }
        val data = frameGoldens?.let { g ->
            SelfCheckData(g, { file ->
                val path = BundleLayout.asset(file)
                val buf = files.map(path) ?: throw IqaException("assets/$path is missing", BundleLayout.BUILD_HINT)
                NpyFrames.open(buf, "assets/$path", spec.input.height, spec.input.width).frame(0)
            }, golden, frames, sweepProblem)
        }
        return LoadedBundle(spec, mapped, data, selfCheckProblem, frames, sweepProblem)
    }
}

const val TAG = "FetalEdgeIQA"
