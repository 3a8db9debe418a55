package dev.edgellm.demo

import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.Environment
import com.google.ai.edge.litert.LiteRtException
import com.google.ai.edge.litert.TensorBuffer
import dev.edgellm.demo.core.AcceleratorChoice
import dev.edgellm.demo.core.AcceleratorException
import dev.edgellm.demo.core.AcceleratorOutcome
import dev.edgellm.demo.core.BoundCacheBackend
import dev.edgellm.demo.core.DType
import dev.edgellm.demo.core.RowSpan
import dev.edgellm.demo.core.SignatureSpec
import dev.edgellm.demo.core.TensorException
import dev.edgellm.demo.core.openWithFallback
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.FloatBuffer

/**
 * [BoundCacheBackend] over LiteRT's CompiledModel (com.google.ai.edge.litert 2.x): CPU (XNNPACK, [numThreads]
 * threads), GPU or NPU. Every input and output is a TensorBuffer made once per signature and reused; the KV
 * cache TensorBuffers are made once (from decode's inputs) and handed to every signature, as edgellm's Python
 * `compiled` runner does, so there is one cache and XNNPACK packs the weights once for all signatures.
 *
 * The session writes only new rows ([writeRows]) into a host copy of each cache tensor. LiteRT 2.2.0's Kotlin
 * TensorBuffer can only be written whole from offset 0 (`writeFloat(FloatArray)`), so before a call each cache
 * tensor that got rows is written once; with a TensorBuffer that can be written at an offset, [writeRows] would
 * write the spans straight into it and nothing else would change (the arithmetic is in core/KvCache.kt).
 * Not thread-safe: MainActivity calls it from its single worker thread only.
 */
class LiteRtCompiledBackend private constructor(
    private val env: Environment,
    private val model: CompiledModel,
    private val signatures: Map<String, SignatureSpec>,
    val outcome: AcceleratorOutcome,
) : BoundCacheBackend {
    override val signatureKeys: List<String> = signatures.keys.toList()

    private val inputBuffers = HashMap<String, HashMap<String, TensorBuffer>>() // signature -> name -> buffer
    private val outputBuffers = HashMap<String, HashMap<String, TensorBuffer>>()
    private val cache = LinkedHashMap<String, TensorBuffer>() // bound once, every signature reads these
    private val host = HashMap<String, FloatArray>() // the cache's host copy the new rows go into
    private val dirty = HashSet<String>()

    override fun bindCache(tensors: Map<String, Int>) {
        val decode = signatures.keys.firstOrNull { it == "decode" } ?: signatures.keys.first()
        for ((name, count) in tensors) {
            cache[name] = lite("binding cache input '$name'") { model.createInputBuffer(name, decode) }
            host[name] = FloatArray(count)
            dirty.add(name)
        }
    }

    override fun writeRows(name: String, rows: FloatBuffer, spans: List<RowSpan>) {
        val dst = host[name] ?: throw TensorException("cache input '$name' was not bound; reload the model")
        val src = rows.duplicate()
        for (span in spans) {
            src.position(span.from)
            src.get(dst, span.to, span.count)
        }
        dirty.add(name)
    }

    override fun zeroCache() {
        for ((name, values) in host) {
            values.fill(0f)
            dirty.add(name)
        }
    }

    override fun run(signatureKey: String, inputs: Map<String, ByteBuffer>, outputs: Map<String, ByteBuffer>) {
        val spec = signatures[signatureKey] ?: throw TensorException("the model has no signature '$signatureKey'; re-export the folder")
        for (name in dirty) lite("writing the KV cache '$name'") { cache.getValue(name).writeFloat(host.getValue(name)) }
        dirty.clear()
        val ins = inputBuffers.getOrPut(signatureKey) { HashMap() }
        for ((name, bytes) in inputs) {
            val tensor = spec.inputs.firstOrNull { it.name == name } ?: throw TensorException("$signatureKey has no input '$name'")
            val buffer = ins.getOrPut(name) { lite("creating input '$name'") { model.createInputBuffer(name, signatureKey) } }
            val b = bytes.duplicate().order(ByteOrder.nativeOrder()).also { it.rewind() }
            lite("writing input '$name'") {
                when (tensor.dtype) {
                    DType.INT32 -> buffer.writeInt(IntArray(b.remaining() / 4).also { b.asIntBuffer().get(it) })
                    DType.FLOAT32 -> buffer.writeFloat(FloatArray(b.remaining() / 4).also { b.asFloatBuffer().get(it) })
                    DType.INT8, DType.UINT8 -> buffer.writeInt8(ByteArray(b.remaining()).also { b.get(it) })
                    else -> throw TensorException("input '$name' of $signatureKey is ${tensor.dtype.wireName}; the CompiledModel backend feeds int32, float32 and 8-bit inputs")
                }
            }
        }
        val all = HashMap<String, TensorBuffer>(ins.filterKeys { it in inputs })
        for (name in cache.keys) if (spec.inputs.any { it.name == name }) all[name] = cache.getValue(name)
        val outs = outputBuffers.getOrPut(signatureKey) { HashMap() }
        for (name in outputs.keys) outs.getOrPut(name) { lite("creating output '$name'") { model.createOutputBuffer(name, signatureKey) } }
        lite("running signature '$signatureKey'") { model.run(all, outs.filterKeys { it in outputs }, signatureKey) }
        for ((name, bytes) in outputs) {
            val tensor = spec.outputs.firstOrNull { it.name == name } ?: throw TensorException("$signatureKey has no output '$name'")
            val b = bytes.duplicate().order(ByteOrder.nativeOrder()).also { it.rewind() }
            val buffer = outs.getValue(name)
            fun sized(count: Int, size: Int) {
                if (count * size != b.remaining()) throw TensorException("output '$name' of $signatureKey has ${count * size} bytes, the manifest says ${b.remaining()}; re-export the folder")
            }
            lite("reading output '$name'") {
                when (tensor.dtype) {
                    DType.FLOAT32 -> buffer.readFloat().let { sized(it.size, 4); b.asFloatBuffer().put(it) }
                    DType.INT32 -> buffer.readInt().let { sized(it.size, 4); b.asIntBuffer().put(it) }
                    DType.INT8, DType.UINT8 -> buffer.readInt8().let { sized(it.size, 1); b.put(it) }
                    else -> throw TensorException("output '$name' of $signatureKey is ${tensor.dtype.wireName}; the CompiledModel backend reads float32, int32 and 8-bit outputs")
                }
            }
        }
    }

    override fun close() {
        (inputBuffers.values.flatMap { it.values } + outputBuffers.values.flatMap { it.values } + cache.values).forEach { it.close() }
        model.close()
        env.close()
    }

    companion object {
        /**
         * Compiles [modelFile] for [requested], falling back to the CPU with a note of why (core/Accelerators.kt).
         * A CPU failure is a [AcceleratorException] too: MainActivity then loads the Interpreter backend.
         */
        fun open(modelFile: File, signatures: Map<String, SignatureSpec>, numThreads: Int, requested: AcceleratorChoice): LiteRtCompiledBackend {
            val env = lite("creating the LiteRT environment") { Environment.create() }
            val available = lite("listing accelerators") { env.getAvailableAccelerators() }.mapNotNull {
                when (it) {
                    Accelerator.CPU -> AcceleratorChoice.CPU
                    Accelerator.GPU -> AcceleratorChoice.GPU
                    Accelerator.NPU -> AcceleratorChoice.NPU
                    else -> null
                }
            }.toSet()
            try {
                val (model, outcome) = openWithFallback(requested, available) { choice ->
                    val accelerator = when (choice) {
                        AcceleratorChoice.CPU -> Accelerator.CPU
                        AcceleratorChoice.GPU -> Accelerator.GPU
                        AcceleratorChoice.NPU -> Accelerator.NPU
                    }
                    val options = CompiledModel.Options(accelerator)
                    options.cpuOptions = CompiledModel.CpuOptions(numThreads, null, null)
                    lite("compiling ${modelFile.name} for ${choice.label}") { CompiledModel.create(modelFile.path, options, env) }
                }
                return LiteRtCompiledBackend(env, model, signatures, outcome)
            } catch (e: AcceleratorException) {
                env.close()
                throw e
            }
        }

        /** Runs [block]; LiteRT's exception becomes one line naming [what] was being done. */
        private fun <T> lite(what: String, block: () -> T): T = try {
            block()
        } catch (e: LiteRtException) {
            throw AcceleratorException("LiteRT failed $what: ${e.message?.lineSequence()?.firstOrNull { it.isNotBlank() } ?: "no detail"}", e)
        }
    }
}
