package dev.edgellm.demo.core

import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.FloatBuffer

/**
 * A [BoundCacheBackend] for the JVM tests: it keeps the bound cache tensors on its side (as LiteRT's
 * CompiledModel keeps its TensorBuffers), applies the session's row writes to them, and runs [inner] (the fake
 * model or the ai-edge-litert bridge) with them added to the inputs. It records what the session handed over.
 */
class HostBoundCache(private val inner: ModelBackend) : BoundCacheBackend {
    val caches = LinkedHashMap<String, ByteBuffer>()
    var binds = 0
    val runInputs = ArrayList<Set<String>>() // the input names the session passed, per run
    val writes = ArrayList<Pair<String, List<RowSpan>>>()

    override val signatureKeys: List<String> get() = inner.signatureKeys

    override fun bindCache(tensors: Map<String, Int>) {
        binds++
        for ((name, count) in tensors) caches[name] = ByteBuffer.allocateDirect(4 * count).order(ByteOrder.nativeOrder())
    }

    override fun writeRows(name: String, rows: FloatBuffer, spans: List<RowSpan>) {
        writes.add(name to spans)
        val src = rows.duplicate()
        val dst = caches.getValue(name).duplicate().order(ByteOrder.nativeOrder()).asFloatBuffer()
        for (span in spans) {
            val chunk = FloatArray(span.count)
            src.position(span.from)
            src.get(chunk)
            dst.position(span.to)
            dst.put(chunk)
        }
    }

    override fun zeroCache() {
        for (b in caches.values) {
            val d = b.duplicate()
            d.clear()
            while (d.hasRemaining()) d.put(0)
        }
    }

    override fun run(signatureKey: String, inputs: Map<String, ByteBuffer>, outputs: Map<String, ByteBuffer>) {
        runInputs.add(inputs.keys)
        inner.run(signatureKey, inputs + caches.mapValues { it.value.duplicate().order(ByteOrder.nativeOrder()) }, outputs)
    }

    override fun close() = inner.close()
}
