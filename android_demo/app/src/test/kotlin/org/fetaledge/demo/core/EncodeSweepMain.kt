package org.fetaledge.demo.core

import org.fetaledge.iqa.loadBundle
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * The device's input tensors for a bundle's recorded sweep, written by the app's own code (iqa-core loadBundle,
 * the primary LiteRT model, NpyFrames, InputEncoder), for tests/test_android_e2e.py, which feeds them to Python's
 * ai-edge-litert and compares with goldens/sweep.json. Not a JUnit test: a command.
 *
 *   java -cp <iqa-core>:<app main>:<app test>:kotlin-stdlib.jar org.fetaledge.demo.core.EncodeSweepMainKt BUNDLE OUT
 *
 * Writes OUT (frames x tensor bytes, native order) and prints one JSON line describing it.
 */
fun main(args: Array<String>) {
    require(args.size == 2) { "usage: EncodeSweepMain BUNDLE_DIR OUT_FILE" }
    val bundle = File(args[0])
    val spec = loadBundle(bundle) // the spec parsed and validated, every model's sha256 checked
    val model = choosePrimaryModel(spec)
    val golden = SweepGolden.parse(File(bundle, "goldens/sweep.json").readText(Charsets.UTF_8), "goldens/sweep.json")
    val frames = NpyFrames.open(ByteBuffer.wrap(File(bundle, golden.framesFile).readBytes()), golden.framesFile,
        spec.input.height, spec.input.width)
    val encoder = InputEncoder(model, spec.input.height, spec.input.width)
    val buf = encoder.allocate()
    val bytes = ByteArray(encoder.byteSize)
    File(args[1]).outputStream().buffered().use { out ->
        for (i in 0 until frames.count) {
            encoder.encode(frames.frame(i), buf)
            buf.get(bytes)
            out.write(bytes)
        }
    }
    val order = if (ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) "little" else "big"
    println("{\"model\": \"${model.name}\", \"golden_model\": \"${golden.model}\", \"frames\": ${frames.count}, " +
        "\"bytes_per_frame\": ${encoder.byteSize}, \"dtype\": \"${model.input.dtype}\", \"byte_order\": \"$order\"}")
}
