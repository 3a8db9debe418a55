package dev.edgellm.demo

import dev.edgellm.demo.core.ModelBackend
import dev.edgellm.demo.core.ModelFileException
import dev.edgellm.demo.core.TensorException
import org.tensorflow.lite.Interpreter
import java.io.File
import java.nio.ByteBuffer

/**
 * [ModelBackend] over the LiteRT Interpreter on the CPU, with the XNNPACK delegate and [numThreads] threads.
 * Not thread-safe (neither is the Interpreter): MainActivity calls it from its single worker thread only.
 */
class LiteRtBackend(modelFile: File, val numThreads: Int) : ModelBackend {
    private val interpreter: Interpreter = try {
        Interpreter(modelFile, Interpreter.Options().setNumThreads(numThreads).setUseXNNPACK(true))
    } catch (e: IllegalArgumentException) {
        throw ModelFileException("LiteRT cannot load $modelFile: ${firstLine(e)}", e)
    }

    override val signatureKeys: List<String> = interpreter.signatureKeys.toList()

    override fun run(signatureKey: String, inputs: Map<String, ByteBuffer>, outputs: Map<String, ByteBuffer>) {
        try {
            // Buffers are copied as they are: no resizing, so their byte sizes must match the tensors.
            interpreter.runSignature(inputs, outputs, signatureKey)
        } catch (e: IllegalArgumentException) {
            throw TensorException("running signature '$signatureKey' failed: ${firstLine(e)}", e)
        }
    }

    override fun close() = interpreter.close()

    private fun firstLine(e: Throwable): String = e.message?.lineSequence()?.firstOrNull { it.isNotBlank() } ?: e.javaClass.simpleName
}
