package org.fetaledge.demo

import android.app.Application
import android.graphics.Bitmap
import android.util.Log
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Job
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.runInterruptible
import kotlinx.coroutines.withContext
import org.fetaledge.demo.core.Attempt
import org.fetaledge.demo.core.BestFrame
import org.fetaledge.demo.core.BundleSelfCheck
import org.fetaledge.demo.core.ChosenFrameExport
import org.fetaledge.demo.core.NpyRecordedFrames
import org.fetaledge.demo.core.ProbeAdapter
import org.fetaledge.demo.core.SimulatedProbe
import org.fetaledge.demo.core.ModelSelector
import org.fetaledge.demo.core.FrameResult
import org.fetaledge.demo.core.FrameSource
import org.fetaledge.demo.core.NpyReplaySource
import org.fetaledge.demo.core.PushFrameSource
import org.fetaledge.demo.core.ReplayPacer
import org.fetaledge.demo.core.SelfCheckReport
import org.fetaledge.demo.core.SweepListener
import org.fetaledge.demo.core.SweepRunner
import org.fetaledge.demo.core.formatEvent
import org.fetaledge.demo.core.formatVerdict
import org.fetaledge.demo.core.liteRtCandidates
import org.fetaledge.iqa.IqaException
import org.fetaledge.iqa.SweepVerdict
import java.io.File
import java.util.concurrent.Executors

sealed interface LoadState {
    data object Loading : LoadState

    /** The bundle is checked; the model is chosen by the self-check (SelfCheckState). */
    data object Ready : LoadState

    data class Failed(val problem: String, val hint: String?) : LoadState
}

sealed interface SelfCheckState {
    data object Waiting : SelfCheckState

    data class Running(val model: String, val done: Int, val total: Int) : SelfCheckState

    /** A model passed: it runs every sweep. [info] names it and, for the fp32 fallback, why. */
    data class Passed(val report: SelfCheckReport, val msPerFrame: Double, val info: ModelInfo) : SelfCheckState

    /**
     * No model loads and passes its self-check, or the check cannot run: USE IS BLOCKED. The screen says so and
     * why; no sweep (replay or live) can start. Terminal: nothing re-enables use in this session.
     */
    data class Blocked(val reason: String) : SelfCheckState
}

/** The sweep on screen: live while [running], then its verdict (or [stopped] / [error]). */
data class SweepUi(
    val running: Boolean = false,
    val source: String? = null,
    val frameIndex: Int = -1,
    val frameCount: Int? = null,
    val probability: Double? = null,
    val smoothed: Double? = null,
    val inPlane: Boolean = false,
    val current: Bitmap? = null,
    val bestIndex: Int = -1,
    val bestScore: Double? = null,
    val bestBitmap: Bitmap? = null,
    val verdict: SweepVerdict? = null,
    val stopped: Boolean = false,
    val error: String? = null,
    val events: List<String> = emptyList(),
    val msPerFrame: Double? = null,
    val lateFrames: Int = 0,
    val droppedFrames: Int = 0,
    /** True for a live source (probe): ended by endLiveSweep(), which gives the verdict. */
    val live: Boolean = false,
    /** Where the chosen frame was exported (PNG + JSON), once it was. */
    val exported: String? = null,
)

data class UiState(
    val load: LoadState = LoadState.Loading,
    val selfCheck: SelfCheckState = SelfCheckState.Waiting,
    val sweep: SweepUi = SweepUi(),
    /** Why the recorded sweep cannot be replayed, or null when it can. */
    val replayProblem: String? = null,
)

/**
 * The app's session, surviving rotation: loads and checks the bundle, runs the self-check, then sweeps (the
 * recorded one, or any [FrameSource]). All inference runs on ONE background thread ("iqa-inference": the LiteRT
 * interpreter is not thread-safe), never on the UI thread; the UI observes [state].
 *
 * How a probe SDK plugs in (ProbeAdapter in core/ProbeAdapter.kt; SimulatedProbe is the worked example):
 * ```
 * val adapter = viewModel.startLiveSweep("Clarius (live)")!!     // after a PASSED self-check
 * adapter.check(800, 540)                                         // the spec's other_sizes rule, before streaming
 * clarius.onNewImage { argb: IntArray, w: Int, h: Int -> adapter.offerArgb(argb, w, h) }   // SDK thread
 * viewModel.endLiveSweep()                                        // at the end of the sweep: the verdict
 * ```
 */
class IqaViewModel(application: Application) : AndroidViewModel(application) {
    private val executor = Executors.newSingleThreadExecutor { r -> Thread(r, "iqa-inference") }
    private val inference = executor.asCoroutineDispatcher()

    private val _state = MutableStateFlow(UiState())
    val state: StateFlow<UiState> = _state.asStateFlow()

    private var bundle: LoadedBundle? = null
    private var scorer: LiteRtClassifier? = null
    private var startupJob: Job? = null
    private var sweepJob: Job? = null
    private var liveSource: PushFrameSource? = null
    private var probe: SimulatedProbe? = null
    private var chosen: Pair<SweepVerdict, BestFrame>? = null

    init {
        startupJob = viewModelScope.launch {
            if (load()) selfCheck()
        }
    }

    private suspend fun load(): Boolean {
        val loaded = try {
            withContext(inference) { BundleLoader.load(getApplication()) }
        } catch (e: CancellationException) {
            throw e
        } catch (e: IqaException) {
            Log.e(TAG, "bundle rejected: ${e.message}")
            _state.update { it.copy(load = LoadState.Failed(e.problem, e.hint)) }
            return false
        } catch (e: Throwable) {
            Log.e(TAG, "bundle could not be loaded", e)
            _state.update { it.copy(load = LoadState.Failed("${e.javaClass.simpleName}: ${e.message}", "see logcat, tag $TAG")) }
            return false
        }
        bundle = loaded
        _state.update { it.copy(load = LoadState.Ready, replayProblem = if (loaded.frames == null) loaded.sweepProblem else null) }
        return true
    }

    /**
     * Chooses the model by its self-check (ModelSelector: the primary, else the fp32 fallback when the primary fails
     * to load or fails its check), by the rule of `fetaledge verify` with the bundle's own tolerances. PASS (and
     * which model) or BLOCKED stays on screen.
     */
    private suspend fun selfCheck() {
        val b = bundle ?: return
        val data = b.selfCheck
        if (data == null) {
            block("the self-check cannot run: ${b.selfCheckProblem ?: "the bundle has no golden frames"}")
            return
        }
        try {
            val (selection, ms) = runInterruptible(inference) {
                var frames = 0
                val t0 = System.nanoTime()
                val sel = ModelSelector.select(liteRtCandidates(b.spec), { m -> b.open(m) }) { m, clf ->
                    BundleSelfCheck.check(m, clf, b.spec.decision, data) { done, total ->
                        frames = done
                        if (done % 4 == 0 || done == total) _state.update { it.copy(selfCheck = SelfCheckState.Running(m.name, done, total)) }
                    }
                }
                sel to (System.nanoTime() - t0) / 1e6 / maxOf(frames, 1)
            }
            for (a in selection.attempts) Log.i(TAG, "self-check: ${a.line()}")
            for (a in selection.attempts) if (a is Attempt.CheckFailed) for (p in a.report.problems) Log.w(TAG, "self-check ${a.model.name}: $p")
            val passed = selection.passed
            val clf = selection.scorer
            if (passed == null || clf == null) {
                block(selection.blockedReason())
                return
            }
            scorer = clf
            val note = selection.fallbackNote()
            note?.let { Log.w(TAG, it) }
            _state.update { it.copy(selfCheck = SelfCheckState.Passed(passed.report, ms, b.info(passed.model, note))) }
        } catch (e: CancellationException) {
            throw e
        } catch (e: Throwable) {
            Log.e(TAG, "self-check crashed", e)
            block("the self-check crashed: ${e.javaClass.simpleName}: ${e.message}")
        }
    }

    private fun block(reason: String) {
        Log.e(TAG, "USE BLOCKED: $reason")
        _state.update { it.copy(selfCheck = SelfCheckState.Blocked(reason)) }
    }

    /** Replay the bundle's recorded sweep at [fps] frames per second. */
    fun startReplay(fps: Double) {
        val frames = bundle?.frames ?: return
        startSweep(NpyReplaySource(frames, ReplayPacer(fps)))
    }

    /**
     * Run one sweep from [source] (takes ownership: it is closed when the sweep ends, fails or is replaced). A running
     * sweep is cancelled first; the sweep starts after the start-up self-check.
     */
    fun startSweep(source: FrameSource) {
        val previous = sweepJob
        liveSource = source as? PushFrameSource
        val job = viewModelScope.launch {
            previous?.cancelAndJoin()
            startupJob?.join()
            val b = bundle
            val clf = scorer
            // Never score without a passed self-check (the UI disables the buttons too; this is the guard).
            if (b == null || clf == null || _state.value.selfCheck !is SelfCheckState.Passed) return@launch
            if (source.height != b.spec.input.height || source.width != b.spec.input.width) {
                _state.update {
                    it.copy(sweep = SweepUi(error = "${source.description} delivers ${source.height}x${source.width} frames, " +
                        "the model takes ${b.spec.input.height}x${b.spec.input.width}"))
                }
                return@launch
            }
            chosen = null
            _state.update { it.copy(sweep = SweepUi(running = true, source = source.description, frameCount = source.frameCount, live = source is PushFrameSource)) }
            val listener = UiSweepListener(source, b.spec.input.width, b.spec.input.height)
            try {
                runInterruptible(inference) {
                    SweepRunner(b.spec.decision, clf::probability).run(source, listener)
                }
            } catch (e: CancellationException) {
                _state.update { it.copy(sweep = it.sweep.copy(stopped = true, events = listOf("sweep stopped") + it.sweep.events)) }
                throw e
            } catch (e: Throwable) {
                Log.e(TAG, "sweep failed", e)
                val msg = (e as? IqaException)?.problem ?: "${e.javaClass.simpleName}: ${e.message}"
                _state.update { it.copy(sweep = it.sweep.copy(error = msg)) }
            } finally {
                _state.update { it.copy(sweep = it.sweep.copy(running = false)) }
            }
        }
        // Closed however the job ends, even when it is cancelled before it starts.
        job.invokeOnCompletion { source.close() }
        sweepJob = job
    }

    /** Stop the running sweep without a verdict. */
    fun stopSweep() {
        probe?.stop()
        sweepJob?.cancel()
    }

    /** End a live sweep: the frames already taken get their verdict. */
    fun endLiveSweep() {
        probe?.stop()
        liveSource?.endSweep()
    }

    /**
     * A live source for a probe: frames offered to the returned adapter (any thread, any size and pixel layout the
     * adapter takes) are converted and fitted to the spec's input, and the sweep runs as for the replay. The
     * integration calls adapter.endSweep() (or [endLiveSweep]) at the end of the sweep.
     */
    fun startLiveSweep(description: String): ProbeAdapter? {
        val b = bundle ?: return null
        val source = PushFrameSource(b.spec.input.height, b.spec.input.width, description)
        startSweep(source)
        return ProbeAdapter(b.spec.input, source)
    }

    /** The example integration: the bundle's recorded sweep streamed by a simulated probe at 25 fps, as ARGB. */
    fun startSimulatedProbe() {
        val frames = bundle?.frames ?: return
        val p = SimulatedProbe(NpyRecordedFrames(frames), fps = 25.0)
        val adapter = startLiveSweep(p.description) ?: return
        probe?.stop()
        probe = p
        p.start(adapter)
    }

    /**
     * Write the chosen frame of the last sweep as PNG + JSON (decision and provenance) into the app's external
     * files folder (exports/; no permission needed; adb pull or a file manager reaches it). Each file is written
     * under a temporary name and renamed, so an export is whole or absent.
     */
    fun exportChosenFrame() {
        val (verdict, best) = chosen ?: return
        val b = bundle ?: return
        val passed = _state.value.selfCheck as? SelfCheckState.Passed ?: return
        val model = b.spec.models.first { it.name == passed.info.name }
        val source = _state.value.sweep.source ?: "?"
        viewModelScope.launch {
            val where = try {
                withContext(inference) {
                    val dir = File(getApplication<Application>().getExternalFilesDir(null), "exports").also { it.mkdirs() }
                    val now = System.currentTimeMillis()
                    val stamp = ChosenFrameExport.stamp(now)
                    val png = File(dir, "chosen_$stamp.png")
                    val json = File(dir, "chosen_$stamp.json")
                    val bitmap = GreyBitmaps.create(best.pixels, b.spec.input.width, b.spec.input.height)
                    writeAtomically(png) { out -> check(bitmap.compress(Bitmap.CompressFormat.PNG, 100, out)) { "PNG encoding failed" } }
                    val text = ChosenFrameExport.json(verdict, best, b.spec, model, passed.report.summary(), source, png.name,
                        ChosenFrameExport.stamp(now))
                    writeAtomically(json) { out -> out.write(text.toByteArray(Charsets.UTF_8)) }
                    json.absolutePath
                }
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                Log.e(TAG, "export failed", e)
                "export failed: ${e.message}"
            }
            Log.i(TAG, "exported $where")
            _state.update { it.copy(sweep = it.sweep.copy(exported = where)) }
        }
    }

    private fun writeAtomically(target: File, write: (java.io.OutputStream) -> Unit) {
        val tmp = File(target.parentFile, ".${target.name}.tmp")
        tmp.outputStream().use(write)
        if (!tmp.renameTo(target)) throw java.io.IOException("cannot rename $tmp to $target")
    }

    /** Turns the runner's callbacks (inference thread) into UI state. */
    private inner class UiSweepListener(
        private val source: FrameSource,
        private val width: Int,
        private val height: Int,
    ) : SweepListener {
        private val ring = GreyBitmapRing(width, height)
        private var shownBest: BestFrame? = null
        private var bestBitmap: Bitmap? = null
        private var avgMs: Double? = null

        override fun onFrame(result: FrameResult) {
            val current = ring.render(result.pixels)
            val best = result.best
            if (best != null && best !== shownBest) {
                shownBest = best
                bestBitmap = GreyBitmaps.create(best.pixels, width, height)
            }
            val ms = result.inferenceNanos / 1e6
            val avg = avgMs?.let { 0.9 * it + 0.1 * ms } ?: ms
            avgMs = avg
            val lines = result.events.map { formatEvent(result.index, it) }.reversed()
            val late = (source as? NpyReplaySource)?.lateFrames ?: 0
            val dropped = (source as? PushFrameSource)?.droppedFrames ?: 0
            val bestNow = bestBitmap
            _state.update { s ->
                s.copy(
                    sweep = s.sweep.copy(
                        frameIndex = result.index,
                        frameCount = result.frameCount,
                        probability = result.probability,
                        smoothed = result.smoothed,
                        inPlane = result.inPlane,
                        current = current,
                        bestIndex = best?.index ?: -1,
                        bestScore = best?.score,
                        bestBitmap = bestNow,
                        events = (lines + s.sweep.events).take(MAX_EVENTS),
                        msPerFrame = avg,
                        lateFrames = late,
                        droppedFrames = dropped,
                    ),
                )
            }
        }

        override fun onFinished(verdict: SweepVerdict, best: BestFrame?) {
            Log.i(TAG, formatVerdict(verdict))
            chosen = if (best != null && verdict.frame == best.index) verdict to best else null
            _state.update { s ->
                s.copy(sweep = s.sweep.copy(verdict = verdict, inPlane = false, events = (listOf(formatVerdict(verdict)) + s.sweep.events).take(MAX_EVENTS)))
            }
        }
    }

    override fun onCleared() {
        probe?.stop()
        liveSource?.close()
        val clf = scorer
        // viewModelScope is cancelled by now (running work is being interrupted); close the interpreter on its own
        // thread after that work has ended, then let the thread go.
        executor.execute { clf?.close() }
        executor.shutdown()
        super.onCleared()
    }

    private companion object {
        const val MAX_EVENTS = 60
    }
}
