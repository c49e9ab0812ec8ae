package org.fetaledge.iqa

import java.io.File

/*
 * iqa_spec.json, schema version 3: the Kotlin twin of fetaledge/runtime/spec.py, with the same rules.
 * Schema 2 added input.other_sizes ("refuse" | "letterbox", see FrameGeometry.kt); schema 1 specs are still read,
 * with otherSizes "refuse" (what every schema-1 runtime did), and may not carry the field.
 * Schema 3 added task: "classification", or "classification+measurement" with task.measurement (the segmentation
 * models that measure the frame the classifier's decision logic chose, and how: grid, spacing, parameters; see
 * Measurement.kt). Schema 1/2 specs are classification and may not carry the field.
 * Every key is required (null only where the schema says so), unknown keys are errors, a newer
 * schema_version is an error, and every error message reads "<source>: <field path>: <what is wrong>",
 * e.g. "iqa_spec.json: models[0].sha256: must be 64 lowercase hex characters". The checks run in the same
 * order as in Python so that a spec with several defects names the same first field on both sides
 * (tests/goldens/spec/spec_cases.json pins this).
 *
 * Numbers: an integer token is accepted for a float field, a float token never for an integer field,
 * true/false are never numbers, non-finite values are rejected.
 */

const val SCHEMA_VERSION = 3
const val TASK_SCHEMA_VERSION = 3
const val SPEC_FILE_NAME = "iqa_spec.json"

/** The raw frame the model takes; [otherSizes] says what a frame of another size becomes (FrameGeometry). */
data class InputSpec(
    val height: Int,
    val width: Int,
    val dtype: String,
    val layout: String,
    val channels: Int,
    val otherSizes: String = FrameGeometry.REFUSE,
)

/** Either [Folded] (the device passes raw frames) or [Explicit] parameters the device must apply. */
sealed class Preprocessing {
    abstract val description: String

    data class Folded(override val description: String) : Preprocessing()

    /** Order: pad to square (centred, padValue), resize, gray to RGB, x * scale, (x - mean[c]) / std[c]. */
    data class Explicit(
        override val description: String,
        val padToSquare: Boolean,
        val padValue: Int,
        val resizeHeight: Int,
        val resizeWidth: Int,
        val interpolation: String,
        val grayToRgb: Boolean,
        val scale: Double,
        val mean: List<Double>,
        val std: List<Double>,
        val outputLayout: String,
        val outputDtype: String,
    ) : Preprocessing()
}

/** Affine quantization: real = scale * (q - zeroPoint). */
data class Quantization(val scale: Double, val zeroPoint: Int) {
    fun dequantize(q: Int): Double = scale * (q - zeroPoint).toDouble()
}

data class TensorSpec(val name: String, val dtype: String, val shape: List<Int>, val quantization: Quantization?)

data class ModelSpec(
    val name: String,
    val file: String,
    val sha256: String,
    val runtime: String,
    val precision: String,
    val threads: Int,
    val input: TensorSpec,
    val output: TensorSpec,
    val outputKind: String,
)

data class Labels(val negative: String, val positive: String)

/**
 * task.measurement (schema 3): segmentation [models] (raw frame in, one mask logit per grid pixel out), in order of
 * preference, and how their output becomes a circumference ([structure] "ac" | "hc", [spacingMm] x/y of frames of the
 * input size, [spacingSource] "spec" | "probe", [gestationalAge] "hadlock1984" | "none", [frameChoice] "classifier",
 * [fieldOfView] "frame" | "nonzero_span": between the first and last non-zero pixel of the row and of the column, as
 * in fetaledge/runtime/fov.py).
 */
data class MeasurementTask(
    val models: List<ModelSpec>,
    val structure: String,
    val output: String,
    val gridHeight: Int,
    val gridWidth: Int,
    val geometry: String,
    val spacingMm: List<Double>,
    val spacingSource: String,
    val gestationalAge: String,
    val frameChoice: String,
    val fieldOfView: String,
    val params: MeasureParams,
)

/** What the bundle does with a frame: [kind] "classification" or "classification+measurement" ([measurement]). */
data class TaskSpec(val kind: String, val measurement: MeasurementTask?) {
    companion object {
        const val CLASSIFICATION = "classification"
        const val CLASSIFICATION_MEASUREMENT = "classification+measurement"
    }
}

/**
 * The whole spec.
 *
 * ```
 * val spec = IqaSpec.load(File(bundleDir, SPEC_FILE_NAME))
 * val tracker = SweepTracker(spec.decision)
 * ```
 */
data class IqaSpec(
    val schemaVersion: Int,
    val input: InputSpec,
    val preprocessing: Preprocessing,
    val models: List<ModelSpec>,
    val decision: DecisionParams,
    val labels: Labels,
    val provenance: Json.Obj,
    val task: TaskSpec = TaskSpec(TaskSpec.CLASSIFICATION, null),
) {
    /** The model called [name]; an error listing the names otherwise. */
    fun model(name: String): ModelSpec = models.firstOrNull { it.name == name }
        ?: throw IqaException("no model '$name' in the spec; it has: ${models.joinToString { it.name }}")

    companion object {
        /** Parse and validate spec text; [source] starts every error message (a file name or path). */
        fun parse(text: String, source: String = SPEC_FILE_NAME): IqaSpec {
            val doc = try {
                Json.parse(text)
            } catch (e: IqaException) {
                throw IqaException("$source: ${e.problem}")
            }
            return fromJson(doc, source)
        }

        /** Read, parse and validate a spec file. */
        fun load(file: File): IqaSpec {
            if (!file.isFile) throw IqaException("bundle spec not found: $file")
            return parse(file.readText(Charsets.UTF_8), file.path)
        }

        /** Validate an already decoded document. */
        fun fromJson(doc: Json, source: String = SPEC_FILE_NAME): IqaSpec {
            if (doc !is Json.Obj) {
                throw IqaException("$source: the top level must be a JSON object, got ${doc.typeName}")
            }
            try {
                return SpecReader.spec(doc)
            } catch (e: IqaException) {
                throw IqaException("$source: ${e.problem}", e.hint)
            }
        }
    }
}

private fun bad(path: String, what: String, hint: String? = null): Nothing = throw IqaException("$path: $what", hint)

private fun join(path: String, name: String) = if (path.isEmpty()) name else "$path.$name"

private fun quoted(v: Json): String = when (v) {
    is Json.Str -> "\"${v.value}\""
    is Json.Num -> v.text
    is Json.Bool -> v.value.toString()
    Json.Null -> "null"
    else -> v.typeName
}

private val HEX64 = Regex("^[0-9a-f]{64}$")
private val INT_RANGES = mapOf("int8" to (-128..127), "uint8" to (0..255))

/** A JSON object being read as one schema record: unknown keys, then missing keys, then each field. */
private class Rec(val obj: Json.Obj, val path: String, names: List<String>) {
    init {
        for (key in obj.fields.keys) {
            if (key !in names) bad(join(path, key), "unknown field", "the known fields here are: ${names.joinToString()}")
        }
        for (name in names) {
            if (!obj.fields.containsKey(name)) bad(join(path, name), "required field is missing")
        }
    }

    fun at(name: String) = join(path, name)

    fun raw(name: String): Json = obj.fields.getValue(name)

    fun int(name: String): Int = asInt(raw(name), at(name))

    fun dbl(name: String): Double = asDouble(raw(name), at(name))

    fun str(name: String): String = asString(raw(name), at(name))

    fun bool(name: String): Boolean {
        val v = raw(name)
        return (v as? Json.Bool)?.value ?: bad(at(name), "must be true or false, got ${v.typeName}")
    }

    fun choice(name: String, vararg choices: String): String {
        val v = raw(name)
        if (v is Json.Str && v.value in choices) return v.value
        bad(at(name), "must be one of ${choices.joinToString { "\"$it\"" }}, got ${quoted(v)}")
    }

    fun arr(name: String): List<Json> {
        val v = raw(name)
        return (v as? Json.Arr)?.items ?: bad(at(name), "must be an array, got ${v.typeName}")
    }

    fun rec(name: String, names: List<String>): Rec = asRec(raw(name), at(name), names)
}

private fun asRec(v: Json, path: String, names: List<String>): Rec {
    if (v !is Json.Obj) bad(path, "must be an object, got ${v.typeName}")
    return Rec(v, path, names)
}

private fun asInt(v: Json, path: String): Int {
    val n = (v as? Json.Num)?.toLongOrNull()
    if (n == null || n < Int.MIN_VALUE || n > Int.MAX_VALUE) bad(path, "must be an integer, got ${quoted(v)}")
    return n.toInt()
}

private fun asDouble(v: Json, path: String): Double {
    if (v !is Json.Num) bad(path, "must be a number, got ${v.typeName}")
    val d = v.toDouble()
    if (!d.isFinite()) bad(path, "must be a finite number, got ${v.text}")
    return d
}

private fun asString(v: Json, path: String): String =
    (v as? Json.Str)?.value ?: bad(path, "must be a string, got ${v.typeName}")

/** Runs a record's value checks; their errors name the field relative to the record, like Python's. */
private inline fun <T> checked(path: String, block: () -> T): T =
    try {
        block()
    } catch (e: IqaException) {
        throw IqaException(join(path, e.problem), e.hint)
    }

private fun nonEmpty(name: String, v: String) {
    if (v.isBlank()) bad(name, "must be a non-empty string")
}

private object SpecReader {
    fun spec(doc: Json.Obj): IqaSpec {
        val version = doc["schema_version"] ?: bad("schema_version", "required field is missing")
        val n = (version as? Json.Num)?.toLongOrNull() ?: bad("schema_version", "must be an integer, got ${quoted(version)}")
        if (n > SCHEMA_VERSION) {
            bad(
                "schema_version",
                "$n is newer than this runtime supports ($SCHEMA_VERSION)",
                "update the app (or fetaledge) to a version that reads schema $n, or rebuild the bundle with this one",
            )
        }
        if (n < 1) bad("schema_version", "must be >= 1, got $n")
        if (n == 1L && (doc["input"] as? Json.Obj)?.fields?.containsKey("other_sizes") == true) {
            bad("input.other_sizes", "unknown field in schema_version 1 (added in 2)", "set schema_version 2")
        }
        if (n < TASK_SCHEMA_VERSION && doc.fields.containsKey("task")) {
            bad("task", "unknown field in schema_version $n (added in $TASK_SCHEMA_VERSION)", "set schema_version $TASK_SCHEMA_VERSION")
        }
        val top = listOf("schema_version", "input", "preprocessing", "models", "decision", "labels", "provenance")
        val r = Rec(doc, "", if (n < TASK_SCHEMA_VERSION) top else top + "task")
        val schemaVersion = r.int("schema_version")
        val inputNames = listOf("height", "width", "dtype", "layout", "channels") + if (n == 1L) listOf() else listOf("other_sizes")
        val input = input(r.rec("input", inputNames))
        val pre = preprocessing(r.raw("preprocessing"), "preprocessing")
        val models = r.arr("models").mapIndexed { k, m -> model(m, "models[$k]") }
        val decision = decision(r.rec("decision", listOf("threshold", "enter_threshold", "exit_threshold", "min_run", "smoothing_alpha")))
        val labels = r.rec("labels", listOf("negative", "positive")).let { l ->
            val neg = l.str("negative")
            val pos = l.str("positive")
            checked("labels") {
                nonEmpty("negative", neg)
                nonEmpty("positive", pos)
            }
            Labels(neg, pos)
        }
        val provenance = r.raw("provenance") as? Json.Obj
            ?: bad("provenance", "must be an object, got ${r.raw("provenance").typeName}")
        val task = if (n < TASK_SCHEMA_VERSION) TaskSpec(TaskSpec.CLASSIFICATION, null) else task(r.rec("task", listOf("kind", "measurement")))
        // Cross-field checks, in Python's IqaSpec.__post_init__ order.
        if (schemaVersion !in 1..SCHEMA_VERSION) bad("schema_version", "must be $SCHEMA_VERSION, got $schemaVersion")
        if (models.isEmpty()) bad("models", "must list at least one model")
        for (key in listOf("name", "file")) {
            val seen = HashSet<String>()
            models.forEachIndexed { k, m ->
                val v = if (key == "name") m.name else m.file
                if (!seen.add(v)) bad("models[$k].$key", "'$v' is used by an earlier model too")
            }
        }
        task.measurement?.let { m ->
            val taken = HashSet<String>()
            models.forEach { taken.add(it.name); taken.add(it.file) }
            m.models.forEachIndexed { k, s ->
                for (v in listOf(s.name to "name", s.file to "file")) {
                    if (!taken.add(v.first)) bad("task.measurement.models[$k].${v.second}", "'${v.first}' is used by an earlier model too")
                }
                val shape = s.input.shape
                val want = listOf(input.height, input.width)
                if (shape.size < 2 || shape.takeLast(2).zip(want).any { (d, w) -> d != w && d != -1 }) {
                    bad("task.measurement.models[$k].input.shape", "$shape does not end with the input frame ${input.height}x${input.width}")
                }
            }
        }
        if (pre is Preprocessing.Explicit) {
            val want = if (pre.grayToRgb) 3 else input.channels
            if (pre.mean.size != want) bad("preprocessing.mean", "must hold $want values (channels), got ${pre.mean.size}")
        }
        return IqaSpec(schemaVersion, input, pre, models, decision, labels, provenance, task)
    }

    fun task(r: Rec): TaskSpec {
        val kind = r.choice("kind", TaskSpec.CLASSIFICATION, TaskSpec.CLASSIFICATION_MEASUREMENT)
        val mv = r.raw("measurement")
        val m = if (mv == Json.Null) null else measurement(mv, r.at("measurement"))
        checked(r.path) {
            if (kind == TaskSpec.CLASSIFICATION_MEASUREMENT && m == null) {
                bad("measurement", "must not be null for kind \"${TaskSpec.CLASSIFICATION_MEASUREMENT}\"")
            }
            if (kind == TaskSpec.CLASSIFICATION && m != null) bad("measurement", "must be null for kind \"${TaskSpec.CLASSIFICATION}\"")
        }
        return TaskSpec(kind, m)
    }

    fun measurement(v: Json, path: String): MeasurementTask {
        val r = asRec(
            v, path,
            listOf(
                "models", "structure", "output", "grid_height", "grid_width", "geometry", "spacing_mm", "spacing_source",
                "gestational_age", "frame_choice", "field_of_view", "params",
            ),
        )
        val models = r.arr("models").mapIndexed { k, m -> model(m, "$path.models[$k]") }
        val structure = r.choice("structure", "ac", "hc")
        val output = r.choice("output", "mask_logits")
        val gh = r.int("grid_height")
        val gw = r.int("grid_width")
        val geometry = r.choice("geometry", "letterbox")
        val spacing = r.arr("spacing_mm").mapIndexed { k, x -> asDouble(x, "$path.spacing_mm[$k]") }
        val source = r.choice("spacing_source", "spec", "probe")
        val ga = r.choice("gestational_age", "hadlock1984", "none")
        val choice = r.choice("frame_choice", "classifier")
        val fov = r.choice("field_of_view", "frame", "nonzero_span")
        val pr = r.rec(
            "params", listOf("threshold", "min_area_mm2", "max_residual", "max_cut_fraction", "min_component_share", "min_points"),
        )
        val values = listOf(pr.dbl("threshold"), pr.dbl("min_area_mm2"), pr.dbl("max_residual"), pr.dbl("max_cut_fraction"),
            pr.dbl("min_component_share"))
        val minPoints = pr.int("min_points")
        val params = try {
            MeasureParams(values[0], values[1], values[2], values[3], values[4], minPoints)
        } catch (e: IqaException) {
            bad(pr.path, e.problem, e.hint)
        }
        checked(path) {
            if (models.isEmpty()) bad("models", "must list at least one segmentation model")
            if (gh < 1) bad("grid_height", "must be >= 1, got $gh")
            if (gw < 1) bad("grid_width", "must be >= 1, got $gw")
            if (spacing.size != 2 || spacing.any { !(it > 0.0) }) bad("spacing_mm", "must be [x, y] pixel spacings > 0 mm, got $spacing")
            models.forEachIndexed { k, m ->
                if (m.output.shape.takeLast(2) != listOf(gh, gw)) {
                    bad("models[$k].output.shape", "${m.output.shape} does not end with the grid ${gh}x$gw")
                }
                if (m.outputKind != "logit") bad("models[$k].output_kind", "must be \"logit\" (mask_logits), got \"${m.outputKind}\"")
            }
        }
        return MeasurementTask(models, structure, output, gh, gw, geometry, spacing, source, ga, choice, fov, params)
    }

    fun input(r: Rec): InputSpec {
        val h = r.int("height")
        val w = r.int("width")
        val dtype = r.choice("dtype", "uint8")
        val layout = r.choice("layout", "HW", "HWC")
        val c = r.int("channels")
        val otherSizes = if (r.obj.fields.containsKey("other_sizes")) {
            r.choice("other_sizes", FrameGeometry.REFUSE, FrameGeometry.LETTERBOX)
        } else {
            FrameGeometry.REFUSE // schema 1 (the record's field list already required it in schema 2)
        }
        checked(r.path) {
            if (h < 1) bad("height", "must be >= 1, got $h")
            if (w < 1) bad("width", "must be >= 1, got $w")
            if (c != 1 && c != 3) bad("channels", "must be 1 or 3, got $c")
            if (layout == "HW" && c != 1) bad("channels", "layout HW means 1 channel, got $c", "use layout HWC")
        }
        return InputSpec(h, w, dtype, layout, c, otherSizes)
    }

    fun preprocessing(v: Json, path: String): Preprocessing {
        if (v !is Json.Obj) bad(path, "must be an object, got ${v.typeName}")
        val flag = v["folded_into_graph"] ?: bad(join(path, "folded_into_graph"), "required field is missing")
        if (flag !is Json.Bool) bad(join(path, "folded_into_graph"), "must be true or false, got ${quoted(flag)}")
        if (flag.value) {
            val r = Rec(v, path, listOf("folded_into_graph", "description"))
            val d = r.str("description")
            checked(path) { nonEmpty("description", d) }
            return Preprocessing.Folded(d)
        }
        val r = Rec(
            v, path,
            listOf(
                "folded_into_graph", "description", "pad_to_square", "pad_value", "resize_height", "resize_width",
                "interpolation", "gray_to_rgb", "scale", "mean", "std", "output_layout", "output_dtype",
            ),
        )
        val description = r.str("description")
        val padToSquare = r.bool("pad_to_square")
        val padValue = r.int("pad_value")
        val rh = r.int("resize_height")
        val rw = r.int("resize_width")
        val interpolation = r.choice("interpolation", "nearest", "bilinear", "bicubic", "area")
        val gray = r.bool("gray_to_rgb")
        val scale = r.dbl("scale")
        val mean = r.arr("mean").mapIndexed { k, x -> asDouble(x, "$path.mean[$k]") }
        val std = r.arr("std").mapIndexed { k, x -> asDouble(x, "$path.std[$k]") }
        val layout = r.choice("output_layout", "NCHW", "NHWC")
        val dtype = r.choice("output_dtype", "float32")
        checked(path) {
            nonEmpty("description", description)
            if (padValue !in 0..255) bad("pad_value", "must be in 0..255, got $padValue")
            if (rh < 1) bad("resize_height", "must be >= 1, got $rh")
            if (rw < 1) bad("resize_width", "must be >= 1, got $rw")
            if (!(scale > 0.0)) bad("scale", "must be a finite number > 0, got $scale")
            if (mean.size != 1 && mean.size != 3) bad("mean", "must hold 1 or 3 values, got ${mean.size}")
            if (std.size != mean.size) bad("std", "must hold as many values as mean (${mean.size}), got ${std.size}")
            if (std.any { !(it > 0.0) }) bad("std", "every value must be a finite number > 0, got $std")
        }
        return Preprocessing.Explicit(
            description, padToSquare, padValue, rh, rw, interpolation, gray, scale, mean, std, layout, dtype,
        )
    }

    fun tensor(v: Json, path: String): TensorSpec {
        val r = asRec(v, path, listOf("name", "dtype", "shape", "quantization"))
        val name = r.str("name")
        val dtype = r.choice("dtype", "float32", "float16", "int8", "uint8")
        val shape = r.arr("shape").mapIndexed { k, x -> asInt(x, "$path.shape[$k]") }
        val qv = r.raw("quantization")
        val q = if (qv == Json.Null) {
            null
        } else {
            val qr = asRec(qv, r.at("quantization"), listOf("scale", "zero_point"))
            val scale = qr.dbl("scale")
            val zp = qr.int("zero_point")
            checked(qr.path) { if (!(scale > 0.0)) bad("scale", "must be a finite number > 0, got $scale") }
            Quantization(scale, zp)
        }
        checked(path) {
            nonEmpty("name", name)
            if (shape.isEmpty() || shape.any { it < 1 && it != -1 }) {
                bad("shape", "must be a non-empty list of sizes >= 1 or -1, got $shape")
            }
            if (q != null) {
                val range = INT_RANGES[dtype] ?: bad("quantization", "must be null for a $dtype tensor")
                if (q.zeroPoint !in range) {
                    bad("quantization.zero_point", "must be in ${range.first}..${range.last} for $dtype, got ${q.zeroPoint}")
                }
            }
        }
        return TensorSpec(name, dtype, shape, q)
    }

    fun model(v: Json, path: String): ModelSpec {
        val r = asRec(
            v, path,
            listOf("name", "file", "sha256", "runtime", "precision", "threads", "input", "output", "output_kind"),
        )
        val name = r.str("name")
        val file = r.str("file")
        val sha = r.str("sha256")
        val runtime = r.choice("runtime", "onnxruntime", "litert")
        val precision = r.choice("precision", "fp32", "fp16", "int8")
        val threads = r.int("threads")
        val input = tensor(r.raw("input"), r.at("input"))
        val output = tensor(r.raw("output"), r.at("output"))
        val kind = r.choice("output_kind", "logit", "probability")
        checked(path) {
            nonEmpty("name", name)
            if ('\\' in file || file.split('/').any { it == "" || it == "." || it == ".." }) {
                bad("file", "must be a relative path in the bundle (no '..', '.', '//', leading '/'): '$file'")
            }
            if (!HEX64.matches(sha)) bad("sha256", "must be 64 lowercase hex characters, got '$sha'")
            if (threads < 1) bad("threads", "must be >= 1, got $threads")
            if (output.dtype in INT_RANGES && output.quantization == null) {
                bad("output.quantization", "must not be null for a ${output.dtype} output (devices dequantize it)")
            }
        }
        return ModelSpec(name, file, sha, runtime, precision, threads, input, output, kind)
    }

    fun decision(r: Rec): DecisionParams {
        val t = r.dbl("threshold")
        val enter = r.dbl("enter_threshold")
        val exit = r.dbl("exit_threshold")
        val minRun = r.int("min_run")
        val alpha = r.dbl("smoothing_alpha")
        return checked(r.path) { DecisionParams(t, enter, exit, minRun, alpha) }
    }
}
