package org.fetaledge.demo

import org.fetaledge.demo.core.FrameScorer
import org.fetaledge.demo.core.InputEncoder
import org.fetaledge.demo.core.OutputDecoder
import org.fetaledge.iqa.IqaException
import org.fetaledge.iqa.InputSpec
import org.fetaledge.iqa.ModelSpec
import org.fetaledge.iqa.TensorSpec
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import java.nio.ByteBuffer

/**
 * The frame classifier on the device: a LiteRT [Interpreter] (org.tensorflow.lite API, as shipped by
 * com.google.ai.edge.litert) over the memory-mapped .tflite, on the CPU with the XNNPACK delegate and the spec's
 * thread count. Input quantization and output dequantization follow the spec ([InputEncoder], [OutputDecoder],
 * the same arithmetic as fetaledge.runtime.engines); the interpreter's own tensor description is checked against
 * the spec (dtype, shape, quantization parameters) so a spec that does not describe this model is an error, not a
 * silently wrong probability.
 *
 * Not thread-safe: the app calls it from its single inference thread.
 *
 * ```
 * val clf = LiteRtClassifier(spec.models[0], mappedModel, spec.input)
 * val p = clf.probability(frame)   // frame: H*W uint8 grey, row-major
 * ```
 */
class LiteRtClassifier(
    val model: ModelSpec,
    private val modelBuffer: ByteBuffer,
    input: InputSpec,
) : FrameScorer {
    private val encoder = InputEncoder(model, input.height, input.width)
    private val decoder = OutputDecoder(model)
    private val inputBuffer = encoder.allocate()
    private val outputBuffer = decoder.allocate()
    private val interpreter: Interpreter

    init {
        if (model.runtime != "litert") throw IqaException("model '${model.name}' is for ${model.runtime}, not LiteRT")
        val options = Interpreter.Options()
            .setNumThreads(model.threads)
            .setUseXNNPACK(true)
        interpreter = try {
            Interpreter(modelBuffer, options)
        } catch (e: IllegalArgumentException) {
            throw IqaException(
                "model '${model.name}': LiteRT cannot load ${model.file}: ${e.message?.lineSequence()?.firstOrNull()}",
                "the model needs a newer LiteRT, or the file is damaged: rebuild the bundle",
            )
        }
        try {
            if (interpreter.inputTensorCount != 1 || interpreter.outputTensorCount != 1) {
                throw IqaException(
                    "model '${model.name}': has ${interpreter.inputTensorCount} inputs and ${interpreter.outputTensorCount} outputs, expected 1 and 1",
                )
            }
            val want = intArrayOf(1, input.height, input.width)
            if (!interpreter.getInputTensor(0).shape().contentEquals(want)) interpreter.resizeInput(0, want)
            interpreter.allocateTensors()
            val problems = ArrayList<String>()
            checkTensor("input", interpreter.getInputTensor(0), model.input, want, problems)
            checkTensor("output", interpreter.getOutputTensor(0), model.output, null, problems)
            if (interpreter.getOutputTensor(0).numElements() != 1) {
                problems.add("output has ${interpreter.getOutputTensor(0).numElements()} values, expected 1")
            }
            if (problems.isNotEmpty()) {
                throw IqaException(
                    "model '${model.name}' (${model.file}) does not match iqa_spec.json: ${problems.joinToString("; ")}",
                    "the spec was written for another model: rebuild the bundle",
                )
            }
        } catch (e: Throwable) {
            interpreter.close()
            throw e
        }
    }

    private fun dtypeName(t: DataType): String = when (t) {
        DataType.FLOAT32 -> "float32"
        DataType.INT8 -> "int8"
        DataType.UINT8 -> "uint8"
        else -> t.toString().lowercase()
    }

    private fun checkTensor(role: String, t: Tensor, spec: TensorSpec, shape: IntArray?, problems: MutableList<String>) {
        val dtype = dtypeName(t.dataType())
        if (dtype != spec.dtype) problems.add("$role dtype is $dtype, the spec says ${spec.dtype}")
        if (shape != null && !t.shape().contentEquals(shape)) {
            problems.add("$role shape is ${t.shape().contentToString()}, expected ${shape.contentToString()}")
        }
        val q = spec.quantization
        if (q != null) {
            val tq = t.quantizationParams()
            // The spec stores the model's float32 scale widened to double (exact), so they compare exactly.
            if (tq.scale != q.scale.toFloat() || tq.zeroPoint != q.zeroPoint) {
                problems.add("$role quantization is (${tq.scale}, ${tq.zeroPoint}), the spec says (${q.scale}, ${q.zeroPoint})")
            }
        }
    }

    /** The probability that [frame] (H*W uint8 grey, row-major) shows the plane. */
    override fun probability(frame: ByteArray): Double {
        encoder.encode(frame, inputBuffer)
        outputBuffer.rewind()
        interpreter.run(inputBuffer, outputBuffer)
        return decoder.probability(outputBuffer)
    }

    override fun close() {
        interpreter.close()
    }
}
