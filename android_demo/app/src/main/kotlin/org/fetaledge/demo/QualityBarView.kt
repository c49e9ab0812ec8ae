package org.fetaledge.demo

import android.content.Context
import android.graphics.Canvas
import android.graphics.Paint
import android.util.AttributeSet
import android.view.View
import org.fetaledge.demo.core.formatProbability

/**
 * The live quality bar: the frame's probability p as a filled bar (green when p >= threshold, amber below), the
 * calibrated threshold as a thick white line, the hysteresis band (exit and enter thresholds) as thin grey lines,
 * and the smoothed score the decision uses as a cyan marker along the bottom edge.
 */
class QualityBarView @JvmOverloads constructor(context: Context, attrs: AttributeSet? = null) : View(context, attrs) {
    private var p: Double? = null
    private var smoothed: Double? = null
    private var threshold = 0.5
    private var enter = 0.5
    private var exit = 0.5

    private val density = resources.displayMetrics.density
    private val track = Paint().apply { color = context.getColor(R.color.bar_track) }
    private val fill = Paint()
    private val good = context.getColor(R.color.bar_good)
    private val low = context.getColor(R.color.bar_low)
    private val thresholdPaint = Paint().apply { color = context.getColor(R.color.bar_threshold) }
    private val hysteresisPaint = Paint().apply { color = context.getColor(R.color.bar_hysteresis) }
    private val smoothedPaint = Paint(Paint.ANTI_ALIAS_FLAG).apply { color = context.getColor(R.color.bar_smoothed) }

    /** Update the bar; [p] and [smoothed] null before the first frame. */
    fun set(p: Double?, smoothed: Double?, threshold: Double, enter: Double, exit: Double) {
        this.p = p
        this.smoothed = smoothed
        this.threshold = threshold
        this.enter = enter
        this.exit = exit
        contentDescription = context.getString(
            R.string.quality_description,
            p?.let { formatProbability(it) } ?: "–",
            formatProbability(threshold),
        )
        invalidate()
    }

    private fun x(v: Double): Float = (v.coerceIn(0.0, 1.0) * width).toFloat()

    private fun vLine(canvas: Canvas, v: Double, halfWidthDp: Float, paint: Paint) {
        val cx = x(v)
        val hw = halfWidthDp * density
        canvas.drawRect(cx - hw, 0f, cx + hw, height.toFloat(), paint)
    }

    override fun onDraw(canvas: Canvas) {
        super.onDraw(canvas)
        val h = height.toFloat()
        canvas.drawRect(0f, 0f, width.toFloat(), h, track)
        p?.let {
            fill.color = if (it >= threshold) good else low
            canvas.drawRect(0f, 0f, x(it), h, fill)
        }
        vLine(canvas, exit, 1f, hysteresisPaint)
        vLine(canvas, enter, 1f, hysteresisPaint)
        vLine(canvas, threshold, 2.5f, thresholdPaint)
        smoothed?.let {
            val cx = x(it)
            val r = 7f * density
            canvas.drawCircle(cx, h - r - 2f * density, r, smoothedPaint)
        }
    }
}
