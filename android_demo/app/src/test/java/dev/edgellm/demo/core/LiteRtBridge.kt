package dev.edgellm.demo.core

import java.io.BufferedInputStream
import java.io.BufferedOutputStream
import java.io.DataInputStream
import java.io.File
import java.nio.ByteBuffer

/**
 * [ModelBackend] over tools/litert_bridge.py: the real model through ai-edge-litert in a child Python process,
 * so the app's LLM code (tokenizer, cache bookkeeping, decode windows, sampling) runs end to end on the JVM.
 * Each call sends the inputs' bytes and reads the outputs' back, as Interpreter.runSignature copies them.
 */
class LiteRtBridge(python: String, script: File, model: File, threads: Int = 1) : ModelBackend {
    private val process = ProcessBuilder(python, script.path, model.path, "--threads", threads.toString())
        .redirectError(ProcessBuilder.Redirect.INHERIT).start()
    private val toChild = BufferedOutputStream(process.outputStream, 1 shl 20)
    private val fromChild = DataInputStream(BufferedInputStream(process.inputStream, 1 shl 20))

    override val signatureKeys: List<String> get() = emptyList()

    override fun run(signatureKey: String, inputs: Map<String, ByteBuffer>, outputs: Map<String, ByteBuffer>) {
        fun list(m: Map<String, ByteBuffer>) = m.entries.joinToString(",", "[", "]") { "[\"${it.key}\", ${it.value.capacity()}]" }
        toChild.write("{\"signature\": \"$signatureKey\", \"inputs\": ${list(inputs)}, \"outputs\": ${list(outputs)}}\n".toByteArray())
        for (b in inputs.values) {
            val bytes = ByteArray(b.capacity())
            b.duplicate().also { it.rewind() }.get(bytes)
            toChild.write(bytes)
        }
        toChild.flush()
        val status = readLine()
        if (status != "ok") throw TensorException("bridge: running $signatureKey failed: $status")
        for (b in outputs.values) {
            val bytes = ByteArray(b.capacity())
            fromChild.readFully(bytes)
            b.duplicate().also { it.rewind() }.put(bytes)
        }
    }

    private fun readLine(): String {
        val out = StringBuilder()
        while (true) {
            val c = fromChild.read()
            if (c < 0) throw TensorException("bridge: the Python process ended (exit ${process.waitFor()})")
            if (c == '\n'.code) return out.toString()
            out.append(c.toChar())
        }
    }

    override fun close() {
        toChild.close()
        process.waitFor()
    }
}
