package org.fetaledge.demo.core

import org.fetaledge.iqa.IqaException
import org.fetaledge.iqa.ModelSpec
import org.fetaledge.iqa.Quantization
import org.fetaledge.iqa.TensorSpec
import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.math.exp
import kotlin.math.round

/*
 * The arithmetic between a raw grey frame and the model's tensors, exactly as the Python runtime does it
 * (fetaledge/runtime/engines.py: _to_input, _from_output; fetaledge/runtime/verify.py: _prob). Pure Kotlin over
 * java.nio buffers: the LiteRT wrapper on the device uses it, and the JVM tests check it against values numpy
 * computed (src/test/resources/fixtures/quant_cases.json).
 *
 * Input  (frame uint8 -> tensor):
 *   quantized (int8/uint8 with {scale, zero_point}): q = clip(rint(float32(x) / float32(scale)) + zp, lo, hi),
 *       all in float32 with round-half-to-even, as numpy evaluates it;
 *   uint8 without quantization: the bytes as they are; float32: the pixel value 0..255 as a float
 *       (the preprocessing is folded into the graph; the model normalises).
 * Output (tensor -> value): float32 widened to double; int8/uint8: scale * (q - zero_point) in double.
 * Probability: output_kind "logit" -> 1 / (1 + exp(-y)) in double; "probability" -> y.
 */

/** p = sigmoid(y) in double, the same expression as Python's 1.0 / (1.0 + exp(-y)). */
fun sigmoid(y: Double): Double = 1.0 / (1.0 + exp(-y))

/** A model's raw output value turned into a probability per its output_kind ("logit" or "probability"). */
fun toProbability(y: Double, outputKind: String): Double = when (outputKind) {
    "logit" -> sigmoid(y)
    "probability" -> y
    else -> throw IqaException("output_kind '$outputKind' is not supported (logit, probability are)")
}

/** Integer range of a quantized dtype. */
fun intRange(dtype: String): IntRange = when (dtype) {
    "int8" -> -128..127
    "uint8" -> 0..255
    else -> throw IqaException("dtype '$dtype' is not an 8-bit integer type")
}

/**
 * Quantize one uint8 pixel value [x] (0..255) as numpy does in fetaledge.runtime.engines._to_input:
 * `clip(rint(x.astype(float32) / scale) + zero_point, lo, hi)`, every step in float32, ties to even.
 */
fun quantizePixel(x: Int, q: Quantization, dtype: String): Int {
    require(x in 0..255) { "pixel value $x is not in 0..255" }
    val range = intRange(dtype)
    val v = round(x.toFloat() / q.scale.toFloat()) + q.zeroPoint.toFloat() // kotlin.math.round: ties to even (rint)
    return v.coerceIn(range.first.toFloat(), range.last.toFloat()).toInt()
}

/** All 256 quantized values of a uint8 pixel, as the bytes the tensor holds (two's complement for int8). */
fun quantizeLut(q: Quantization, dtype: String): ByteArray = ByteArray(256) { x -> quantizePixel(x, q, dtype).toByte() }

/** Product of a tensor shape, a dynamic (-1) dimension counted as 1 (batch 1). */
private fun elements(shape: List<Int>): Long = shape.fold(1L) { acc, d -> acc * (if (d == -1) 1 else d) }

/**
 * Fills the model input tensor from a raw H x W uint8 frame, per the spec's input tensor.
 *
 * ```
 * val enc = InputEncoder(model, height = 562, width = 744)
 * val buf = enc.allocate()
 * enc.encode(pixels, buf)       // then interpreter.run(buf, out)
 * ```
 */
class InputEncoder(model: ModelSpec, val height: Int, val width: Int) {
    val tensor: TensorSpec = model.input
    private val pixels = height * width
    private val lut: ByteArray?
    private val floats: FloatArray?

    /** Bytes of the input tensor (batch 1). */
    val byteSize: Int

    init {
        val shape = tensor.shape
        val batchOk = shape.size == 3 && (shape[0] == 1 || shape[0] == -1)
        if (!batchOk || shape[1] != height || shape[2] != width) {
            throw IqaException(
                "model '${model.name}': input shape $shape is not [1, $height, $width] (batch, height, width of the raw frame)",
                "this app passes the raw grey frame; rebuild the bundle for android-arm64",
            )
        }
        val q = tensor.quantization
        when (tensor.dtype) {
            "int8", "uint8" -> {
                if (q != null) {
                    lut = quantizeLut(q, tensor.dtype)
                } else if (tensor.dtype == "uint8") {
                    lut = null // raw bytes
                } else {
                    throw IqaException("model '${model.name}': int8 input without quantization parameters cannot take uint8 frames")
                }
                floats = null
                byteSize = pixels
            }
            "float32" -> {
                lut = null
                floats = FloatArray(256) { it.toFloat() }
                byteSize = pixels * 4
            }
            else -> throw IqaException("model '${model.name}': input dtype ${tensor.dtype} is not supported by this app (uint8, int8, float32 are)")
        }
    }

    /** A direct buffer in native byte order, the kind LiteRT reads without a copy. */
    fun allocate(): ByteBuffer = ByteBuffer.allocateDirect(byteSize).order(ByteOrder.nativeOrder())

    /** Write [frame] (H*W bytes, row-major) into [out] from position 0; on return [out] is rewound. */
    fun encode(frame: ByteArray, out: ByteBuffer) {
        require(frame.size == pixels) { "frame has ${frame.size} bytes, the model takes $height x $width = $pixels" }
        require(out.capacity() >= byteSize) { "input buffer holds ${out.capacity()} bytes, needs $byteSize" }
        out.clear()
        val l = lut
        val f = floats
        when {
            f != null -> {
                val fb = out.asFloatBuffer() // shares the byte order of out
                for (i in 0 until pixels) fb.put(i, f[frame[i].toInt() and 0xff])
            }
            l != null -> for (i in 0 until pixels) out.put(i, l[frame[i].toInt() and 0xff])
            else -> out.put(frame, 0, pixels)
        }
        out.rewind()
    }
}

/**
 * Reads the model's single output value and turns it into a probability, per the spec's output tensor.
 *
 * ```
 * val dec = OutputDecoder(model)
 * val out = dec.allocate()
 * interpreter.run(input, out)
 * val p = dec.probability(out)
 * ```
 */
class OutputDecoder(model: ModelSpec) {
    val tensor: TensorSpec = model.output
    val outputKind: String = model.outputKind
    val byteSize: Int

    init {
        if (elements(tensor.shape) != 1L) {
            throw IqaException("model '${model.name}': output shape ${tensor.shape} has ${elements(tensor.shape)} values, expected 1")
        }
        byteSize = when (tensor.dtype) {
            "float32" -> 4
            "int8", "uint8" -> {
                if (tensor.quantization == null) {
                    throw IqaException("model '${model.name}': ${tensor.dtype} output without quantization parameters")
                }
                1
            }
            else -> throw IqaException("model '${model.name}': output dtype ${tensor.dtype} is not supported by this app")
        }
        toProbability(0.0, outputKind) // rejects an unknown output_kind now rather than at the first frame
    }

    fun allocate(): ByteBuffer = ByteBuffer.allocateDirect(byteSize).order(ByteOrder.nativeOrder())

    /** The raw output as a double (logit or probability), dequantized when the tensor is integer. */
    fun value(out: ByteBuffer): Double = when (tensor.dtype) {
        "float32" -> out.getFloat(0).toDouble()
        "int8" -> tensor.quantization!!.dequantize(out.get(0).toInt())
        else -> tensor.quantization!!.dequantize(out.get(0).toInt() and 0xff)
    }

    fun probability(out: ByteBuffer): Double = toProbability(value(out), outputKind)
}
