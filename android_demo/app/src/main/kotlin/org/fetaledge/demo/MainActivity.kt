package org.fetaledge.demo

import android.graphics.Bitmap
import android.os.Bundle
import android.view.View
import android.view.WindowManager
import android.widget.Button
import android.widget.ImageView
import android.widget.RadioGroup
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.enableEdgeToEdge
import androidx.activity.viewModels
import androidx.core.view.ViewCompat
import androidx.core.view.WindowInsetsCompat
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.lifecycleScope
import androidx.lifecycle.repeatOnLifecycle
import kotlinx.coroutines.launch
import org.fetaledge.demo.core.CheckStatus
import org.fetaledge.demo.core.controlsFor
import org.fetaledge.demo.core.formatProbability
import org.fetaledge.iqa.Verdict
import java.util.Locale

/**
 * The one screen: the current frame large, and beside it (landscape) or below it (portrait) the state banner
 * (SEARCHING / PLANE FOUND), the live quality bar, the best frame so far with its score, the verdict at the end of
 * the sweep (USABLE with the chosen frame / RESCAN), the replay controls, the start-up self-check (PASS/FAIL) and
 * the events log. A bundle that cannot be used replaces everything with what is wrong and how to fix it.
 * All state lives in [IqaViewModel]; this class only renders it.
 */
class MainActivity : ComponentActivity() {
    private val vm: IqaViewModel by viewModels()

    private lateinit var content: View
    private lateinit var errorPanel: View
    private lateinit var errorTitle: TextView
    private lateinit var errorText: TextView
    private lateinit var errorHint: TextView
    private lateinit var frameCaption: TextView
    private lateinit var currentFrame: ImageView
    private lateinit var stateBanner: TextView
    private lateinit var qualityBar: QualityBarView
    private lateinit var qualityText: TextView
    private lateinit var verdictText: TextView
    private lateinit var bestCaption: TextView
    private lateinit var bestFrame: ImageView
    private lateinit var fpsGroup: RadioGroup
    private lateinit var replayButton: Button
    private lateinit var stopButton: Button
    private lateinit var liveButton: Button
    private lateinit var exportButton: Button
    private lateinit var noticeText: TextView
    private lateinit var selfCheckText: TextView
    private lateinit var modelText: TextView
    private lateinit var eventsText: TextView
    private var shownFrame = Int.MIN_VALUE
    private var shownBest: Bitmap? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        enableEdgeToEdge()
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        val root = findViewById<View>(R.id.root)
        ViewCompat.setOnApplyWindowInsetsListener(root) { view, insets ->
            val bars = insets.getInsets(WindowInsetsCompat.Type.systemBars() or WindowInsetsCompat.Type.displayCutout())
            view.setPadding(bars.left, bars.top, bars.right, bars.bottom)
            WindowInsetsCompat.CONSUMED
        }
        content = findViewById(R.id.content)
        errorPanel = findViewById(R.id.errorPanel)
        errorTitle = findViewById(R.id.errorTitle)
        errorText = findViewById(R.id.errorText)
        errorHint = findViewById(R.id.errorHint)
        frameCaption = findViewById(R.id.frameCaption)
        currentFrame = findViewById(R.id.currentFrame)
        stateBanner = findViewById(R.id.stateBanner)
        qualityBar = findViewById(R.id.qualityBar)
        qualityText = findViewById(R.id.qualityText)
        verdictText = findViewById(R.id.verdictText)
        bestCaption = findViewById(R.id.bestCaption)
        bestFrame = findViewById(R.id.bestFrame)
        fpsGroup = findViewById(R.id.fpsGroup)
        replayButton = findViewById(R.id.replayButton)
        stopButton = findViewById(R.id.stopButton)
        liveButton = findViewById(R.id.liveButton)
        exportButton = findViewById(R.id.exportButton)
        noticeText = findViewById(R.id.noticeText)
        selfCheckText = findViewById(R.id.selfCheckText)
        modelText = findViewById(R.id.modelText)
        eventsText = findViewById(R.id.eventsText)

        replayButton.setOnClickListener { vm.startReplay(selectedFps()) }
        stopButton.setOnClickListener { vm.stopSweep() }
        liveButton.setOnClickListener {
            val sweep = vm.state.value.sweep
            if (sweep.running && sweep.live) vm.endLiveSweep() else vm.startSimulatedProbe()
        }
        exportButton.setOnClickListener { vm.exportChosenFrame() }

        lifecycleScope.launch {
            repeatOnLifecycle(Lifecycle.State.STARTED) {
                vm.state.collect { render(it) }
            }
        }
    }

    private fun selectedFps(): Double = when (fpsGroup.checkedRadioButtonId) {
        R.id.fps5 -> 5.0
        R.id.fps10 -> 10.0
        R.id.fps30 -> 30.0
        else -> 15.0
    }

    private fun color(id: Int): Int = getColor(id)

    private fun render(s: UiState) {
        val load = s.load
        val check = s.selfCheck
        // Two full-screen stops: a bundle that cannot be used, and a self-check that blocks use. Neither leaves a
        // control that could start a sweep.
        val stop: Triple<String, String, String?>? = when {
            load is LoadState.Failed -> Triple(getString(R.string.error_title), load.problem, load.hint?.let { getString(R.string.error_fix, it) })
            check is SelfCheckState.Blocked -> Triple(getString(R.string.blocked_title), check.reason, getString(R.string.blocked_hint))
            else -> null
        }
        errorPanel.visibility = if (stop != null) View.VISIBLE else View.GONE
        content.visibility = if (stop != null) View.GONE else View.VISIBLE
        if (stop != null) {
            errorTitle.text = stop.first
            errorText.text = stop.second
            errorHint.text = stop.third ?: ""
            replayButton.isEnabled = false
            stopButton.isEnabled = false
            liveButton.isEnabled = false
            exportButton.isEnabled = false
            keepScreenOn(false)
            return
        }
        val info = (check as? SelfCheckState.Passed)?.info
        renderModel(info)
        renderSelfCheck(check)
        renderSweep(s.sweep, info)
        // Only a PASSED self-check enables sweeps and export (never Blocked, never while it runs): core/Controls.kt.
        val status = when (check) {
            is SelfCheckState.Passed -> CheckStatus.PASSED
            is SelfCheckState.Blocked -> CheckStatus.BLOCKED
            is SelfCheckState.Running -> CheckStatus.RUNNING
            SelfCheckState.Waiting -> CheckStatus.WAITING
        }
        val v = s.sweep.verdict
        val controls = controlsFor(status, s.replayProblem == null, s.sweep.running, s.sweep.live, v != null && v.verdict == Verdict.USABLE)
        replayButton.isEnabled = controls.replay
        stopButton.isEnabled = controls.stop
        liveButton.isEnabled = controls.live
        liveButton.text = getString(if (controls.liveEnds) R.string.live_end else R.string.live_start)
        exportButton.isEnabled = controls.export
        // A sweep must not be cut short by the screen timing out while the operator holds the probe.
        keepScreenOn(s.sweep.running)
        val notices = ArrayList<String>()
        info?.fallbackNote?.let { notices.add(it) }
        s.replayProblem?.let { notices.add(getString(R.string.replay_unavailable, it)) }
        if (s.sweep.lateFrames > 0) notices.add(getString(R.string.late_frames, s.sweep.lateFrames))
        if (s.sweep.droppedFrames > 0) notices.add(getString(R.string.dropped_frames, s.sweep.droppedFrames))
        s.sweep.exported?.let { notices.add(getString(R.string.exported, it)) }
        s.sweep.error?.let { notices.add(getString(R.string.sweep_error, it)) }
        noticeText.visibility = if (notices.isEmpty()) View.GONE else View.VISIBLE
        noticeText.text = notices.joinToString("\n")
    }

    private fun keepScreenOn(on: Boolean) {
        if (on) window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON) else window.clearFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
    }

    private fun renderModel(info: ModelInfo?) {
        if (info == null) {
            modelText.text = ""
            return
        }
        modelText.text = getString(
            R.string.model_info,
            info.name,
            info.precision.uppercase(Locale.ROOT),
            info.threads,
            info.target,
            formatProbability(info.threshold),
            formatProbability(info.enterThreshold),
            formatProbability(info.exitThreshold),
            info.minRun,
            formatProbability(info.smoothingAlpha),
        )
    }

    private fun renderSelfCheck(c: SelfCheckState) {
        when (c) {
            SelfCheckState.Waiting -> {
                selfCheckText.text = getString(R.string.selfcheck_waiting)
                selfCheckText.setBackgroundColor(color(R.color.surface))
                selfCheckText.setTextColor(color(R.color.text))
            }
            is SelfCheckState.Running -> {
                selfCheckText.text = getString(R.string.selfcheck_running, c.model, c.done, c.total)
                selfCheckText.setBackgroundColor(color(R.color.check_running))
                selfCheckText.setTextColor(color(R.color.on_state))
            }
            is SelfCheckState.Passed -> {
                selfCheckText.text = getString(R.string.selfcheck_done, c.report.summary(), String.format(Locale.ROOT, "%.1f", c.msPerFrame))
                selfCheckText.setBackgroundColor(color(if (c.info.fallbackNote == null) R.color.check_pass else R.color.check_running))
                selfCheckText.setTextColor(color(R.color.on_state))
            }
            is SelfCheckState.Blocked -> Unit // rendered full screen by render()
        }
    }

    private fun renderSweep(w: SweepUi, info: ModelInfo?) {
        // State banner: LOADING / READY before a sweep, SEARCHING or PLANE FOUND during it.
        val (label, bg) = when {
            info == null -> getString(R.string.state_loading) to R.color.state_idle
            w.running && w.inPlane -> getString(R.string.state_found) to R.color.state_found
            w.running -> getString(R.string.state_searching) to R.color.state_searching
            w.stopped -> getString(R.string.state_stopped) to R.color.state_idle
            else -> getString(R.string.state_ready) to R.color.state_idle
        }
        stateBanner.text = label
        stateBanner.setBackgroundColor(color(bg))

        if (info != null) {
            qualityBar.set(w.probability, w.smoothed, info.threshold, info.enterThreshold, info.exitThreshold)
            val p = w.probability
            val sm = w.smoothed
            qualityText.text = if (p == null || sm == null) {
                getString(R.string.quality_idle, formatProbability(info.threshold))
            } else {
                getString(R.string.quality_live, formatProbability(p), formatProbability(sm), formatProbability(info.threshold))
            }
        }

        // Only on a new frame (state also changes for the self-check's progress): the ring's bitmaps are reused.
        if (w.frameIndex != shownFrame || w.current == null) {
            currentFrame.setImageBitmap(w.current)
            shownFrame = w.frameIndex
        }
        frameCaption.text = if (w.frameIndex < 0) {
            w.source ?: getString(R.string.frame_caption_idle)
        } else {
            getString(
                R.string.frame_caption,
                w.frameIndex,
                w.frameCount?.let { getString(R.string.frame_of, it) } ?: "",
                w.msPerFrame?.let { String.format(Locale.ROOT, "%.1f", it) } ?: "–",
            ) + (w.source?.let { "  ·  $it" } ?: "")
        }

        val bestScore = w.bestScore
        bestCaption.text = if (w.bestIndex >= 0 && bestScore != null) {
            getString(R.string.best_caption, w.bestIndex, formatProbability(bestScore))
        } else {
            getString(R.string.best_none)
        }
        if (w.bestBitmap !== shownBest) {
            bestFrame.setImageBitmap(w.bestBitmap)
            shownBest = w.bestBitmap
        }

        val v = w.verdict
        val vScore = v?.score
        if (v == null) {
            verdictText.visibility = View.GONE
        } else {
            verdictText.visibility = View.VISIBLE
            if (v.verdict == Verdict.USABLE && vScore != null) {
                verdictText.text = getString(R.string.verdict_usable, v.frame, formatProbability(vScore))
                verdictText.setBackgroundColor(color(R.color.verdict_usable))
            } else {
                verdictText.text = getString(R.string.verdict_rescan)
                verdictText.setBackgroundColor(color(R.color.verdict_rescan))
            }
        }
        eventsText.text = w.events.take(14).joinToString("\n")
        // The fps choice only matters for the replay of the recorded sweep.
        fpsGroup.isEnabled = !w.running
        for (i in 0 until fpsGroup.childCount) fpsGroup.getChildAt(i).isEnabled = !w.running
    }
}
