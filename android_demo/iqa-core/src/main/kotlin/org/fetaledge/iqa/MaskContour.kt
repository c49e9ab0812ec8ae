package org.fetaledge.iqa

/**
 * A segmentation output in the model's grid: probabilities (or 0/1) in [0, 1], row-major.
 * The Kotlin twin of the `mask` argument of Python's `fetaledge.runtime.measure.measure_mask`.
 */
class ProbMap(val height: Int, val width: Int, val values: DoubleArray) {
    init {
        if (height < 1 || width < 1 || values.size != height * width) {
            throw IqaException("a mask must be ${height}x$width = ${height * width} values, got ${values.size}")
        }
        for (v in values) {
            if (!(v >= 0.0 && v <= 1.0)) {
                throw IqaException("mask value $v outside [0, 1]", "pass a 0/1 mask or sigmoid probabilities")
            }
        }
    }

    operator fun get(y: Int, x: Int): Double = values[y * width + x]
}

/** Edge points of the largest component (output-grid coordinates), as `fetaledge.runtime.contour.Edges`. */
class Edges(val seen: List<DoubleArray>, val cut: List<DoubleArray>, val area: Int, val foreground: Int)

/**
 * Mirror of `fetaledge/runtime/contour.py`: 8-connected components labelled over runs (union-find, roots are
 * the earliest run), the largest one (ties to raster order), and its sub-pixel edge points in the same order
 * as Python (horizontal pairs row by row, then vertical pairs, then the frame border), so the floating-point
 * sums of the fit run over the same sequence.
 */
object MaskContour {
    /** Component labels (0 background, 1.. by first pixel in row-major order) and sizes. */
    fun labelComponents(height: Int, width: Int, fg: BooleanArray, diagonal: Boolean = true): Pair<IntArray, IntArray> {
        val reach = if (diagonal) 1 else 0
        val parent = ArrayList<Int>()
        fun find(k0: Int): Int {
            var k = k0
            while (parent[k] != k) {
                parent[k] = parent[parent[k]]
                k = parent[k]
            }
            return k
        }
        val rows = ArrayList<List<IntArray>>(height) // (start, end exclusive, run id)
        var prev: List<IntArray> = emptyList()
        for (i in 0 until height) {
            val cur = ArrayList<IntArray>()
            var x = 0
            while (x < width) {
                if (!fg[i * width + x]) { x++; continue }
                val s = x
                while (x < width && fg[i * width + x]) x++
                val rid = parent.size
                parent.add(rid)
                for (p in prev) {
                    if (p[0] < x + reach && p[1] + reach > s) {
                        val ra = find(rid)
                        val rb = find(p[2])
                        if (ra != rb) parent[maxOf(ra, rb)] = minOf(ra, rb)
                    }
                }
                cur.add(intArrayOf(s, x, rid))
            }
            rows.add(cur)
            prev = cur
        }
        val labels = IntArray(height * width)
        val number = HashMap<Int, Int>()
        val sizes = ArrayList<Int>()
        for (i in 0 until height) {
            for (run in rows[i]) {
                val r = find(run[2])
                val k = number.getOrPut(r) { sizes.add(0); number.size + 1 }
                for (x in run[0] until run[1]) labels[i * width + x] = k
                sizes[k - 1] = sizes[k - 1] + (run[1] - run[0])
            }
        }
        return labels to sizes.toIntArray()
    }

    fun edgePoints(p: ProbMap, threshold: Double, view: BooleanArray): Edges {
        if (!(threshold > 0.0 && threshold < 1.0)) throw IqaException("threshold must be in (0, 1), got $threshold")
        val h = p.height
        val w = p.width
        if (view.size != h * w) throw IqaException("field-of-view mask has ${view.size} values, the mask ${h * w}")
        val fg = BooleanArray(h * w) { p.values[it] >= threshold }
        val (labels, sizes) = labelComponents(h, w, fg, diagonal = true)
        if (sizes.isEmpty()) return Edges(emptyList(), emptyList(), 0, 0)
        var best = 0
        for (k in sizes.indices) if (sizes[k] > sizes[best]) best = k
        val comp = BooleanArray(h * w) { labels[it] == best + 1 }
        val seen = ArrayList<DoubleArray>()
        val cut = ArrayList<DoubleArray>()
        for (axis in intArrayOf(1, 0)) {
            val (di, dj) = if (axis == 1) 0 to 1 else 1 to 0
            for (i in 0 until h - di) for (j in 0 until w - dj) {
                val a = i * w + j
                val b = (i + di) * w + (j + dj)
                val forward = comp[a] && !fg[b]
                val backward = comp[b] && !fg[a]
                if (!forward && !backward) continue
                val pIn = if (forward) p.values[a] else p.values[b]
                val pOut = if (forward) p.values[b] else p.values[a]
                val outSeen = if (forward) view[b] else view[a]
                var t = (pIn - threshold) / (pIn - pOut)
                if (!outSeen) t = 0.5
                if (!forward) t = 1.0 - t
                val pt = doubleArrayOf(j + 0.5 + t * dj, i + 0.5 + t * di)
                if (outSeen) seen.add(pt) else cut.add(pt)
            }
        }
        for (i in 0 until h) if (comp[i * w]) cut.add(doubleArrayOf(0.0, i + 0.5))
        for (i in 0 until h) if (comp[i * w + w - 1]) cut.add(doubleArrayOf(w.toDouble(), i + 0.5))
        for (j in 0 until w) if (comp[j]) cut.add(doubleArrayOf(j + 0.5, 0.0))
        for (j in 0 until w) if (comp[(h - 1) * w + j]) cut.add(doubleArrayOf(j + 0.5, h.toDouble()))
        return Edges(seen, cut, sizes[best], sizes.sum())
    }
}
