package dev.edgellm.demo.core

import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.Random
import kotlin.math.exp

/**
 * Next-token choice, as edgellm.generate.sampling: temperature 0 is greedy (argmax, first of equal maxima); else
 * logits / temperature -> the top [topK] (0 = all) -> the smallest set reaching probability [topP] -> draw.
 * The draw uses java.util.Random, so a seed repeats the app's own text, not Python's.
 */
data class SamplingConfig(val temperature: Double = 0.0, val topK: Int = 0, val topP: Double = 1.0, val seed: Long? = null) {
    init {
        if (!(temperature in 0.0..100.0)) throw ConfigException("temperature must be in [0, 100] (0 = greedy); got $temperature")
        if (topK < 0) throw ConfigException("top-k must be >= 0 (0 = no top-k); got $topK")
        if (!(topP > 0.0 && topP <= 1.0)) throw ConfigException("top-p must be in (0, 1] (1 = no nucleus filtering); got $topP")
    }

    val greedy: Boolean get() = temperature == 0.0
}

class Sampler(private val config: SamplingConfig) {
    private val random = config.seed?.let { Random(it) } ?: Random()

    fun next(logits: FloatArray): Int {
        if (config.greedy) return argmax(logits)
        val d = distribution(logits)
        return draw(d.ids, d.weights)
    }

    /**
     * The ids sampling can pick, most probable first, with their weights (probabilities before the top-p cut, so
     * they sum to [Distribution.total] <= 1): temperature, top-k, top-p as [SamplingConfig] says.
     */
    internal fun distribution(logits: FloatArray): Distribution {
        // descending logits, equal ones in index order: (order key of -logit, index) packed in a Long, one
        // primitive sort (boxing 50k indices per token would cost as much as a decode step on a phone)
        val keys = LongArray(logits.size) { i ->
            val bits = java.lang.Float.floatToIntBits(-logits[i])
            ((if (bits < 0) bits xor 0x7fffffff else bits).toLong() shl 32) or i.toLong()
        }
        keys.sort()
        val keep0 = if (config.topK in 1 until keys.size) config.topK else keys.size
        val ids = IntArray(keep0) { (keys[it] and 0xffffffffL).toInt() }
        val top = logits[ids[0]] / config.temperature
        val p = DoubleArray(ids.size) { exp(logits[ids[it]] / config.temperature - top) }
        val total = p.sum()
        for (i in p.indices) p[i] /= total
        var keep = p.size
        if (config.topP < 1.0) {
            var sum = 0.0
            keep = p.indexOfFirst { sum += it; sum >= config.topP } + 1
            if (keep == 0) keep = p.size
        }
        return Distribution(ids.copyOf(keep), p.copyOf(keep))
    }

    /** One of [ids], with probability proportional to [weights]. */
    internal fun draw(ids: IntArray, weights: DoubleArray): Int {
        var r = random.nextDouble() * weights.sum()
        for (i in ids.indices) {
            r -= weights[i]
            if (r < 0) return ids[i]
        }
        return ids[ids.size - 1]
    }

    /** A uniform draw in [0, 1) from the same generator (speculative sampling's acceptance test). */
    internal fun uniform(): Double = random.nextDouble()

    internal class Distribution(val ids: IntArray, val weights: DoubleArray) {
        val total: Double = weights.sum()

        /** The probability of [id] (0 when it was cut). */
        fun probability(id: Int): Double = ids.indexOf(id).let { if (it < 0) 0.0 else weights[it] / total }
    }
}

/** The first index of the largest value, as numpy's argmax. */
internal fun argmax(logits: FloatArray, from: Int = 0, size: Int = logits.size - from): Int {
    var best = from
    for (i in from + 1 until from + size) if (logits[i] > logits[best]) best = i
    return best - from
}

/** One generation's figures; tokens/s as `edgellm bench` reports them. */
data class GenerationStats(
    val promptTokens: Int,
    val newTokens: Int,
    val timeToFirstTokenMs: Double, // prefill + the first decode + sampling
    val prefillMs: Double,
    val decodeMs: Double, // the new tokens after the first
    val stopReason: String, // "eos", "max_new_tokens" or "cache_full"
    val speculative: String? = null, // the mode ("lookup"), null for plain decoding
    val targetSteps: Int = 0, // speculative: model calls after the first token (decode, or verify of drafts)
    val verifySteps: Int = 0, // of which verify_<T> calls
    val draftedTokens: Int = 0,
    val acceptedTokens: Int = 0,
) {
    val prefillTokensPerSecond: Double get() = if (timeToFirstTokenMs > 0) promptTokens * 1000.0 / timeToFirstTokenMs else 0.0
    val decodeTokensPerSecond: Double get() = if (decodeMs > 0 && newTokens > 1) (newTokens - 1) * 1000.0 / decodeMs else 0.0

    /** Accepted / drafted tokens (speculative decoding; 0 without drafts). */
    val acceptanceRate: Double get() = if (draftedTokens > 0) acceptedTokens.toDouble() / draftedTokens else 0.0

    /** New tokens per model call after the first token: accepted drafts + the model's own token (1.0 is plain decoding). */
    val meanAcceptedTokensPerStep: Double get() = if (targetSteps > 0) (newTokens - 1).toDouble() / targetSteps else 0.0

    fun describe(): String = fmt(
        "%d prompt tokens, %d new (%s): first token %.0f ms, prefill %.1f tokens/s, decode %.1f tokens/s",
        promptTokens, newTokens, stopReason, timeToFirstTokenMs, prefillTokensPerSecond, decodeTokensPerSecond,
    ) + (speculative?.let {
        fmt("; %s: %d of %d draft tokens accepted (%.2f), %.2f tokens per step", it, acceptedTokens, draftedTokens, acceptanceRate, meanAcceptedTokensPerStep)
    } ?: "")
}

/**
 * Prefill chunks (signature length T, tokens taken) for n tokens with the least padded work, as
 * edgellm.generate.runner.plan_prefill: a prefill_T call costs T rows, a decode call (T = 1) [DECODE_ROWS];
 * padded rows must stay inside the cache ([room] positions left). Lengths (32, 128): 63 -> [(32, 32), (32, 31)].
 */
fun planPrefill(n: Int, lengths: List<Int>, room: Int): List<Pair<Int, Int>> {
    data class Choice(val cost: Int, val negT: Int, val take: Int) : Comparable<Choice> {
        override fun compareTo(other: Choice) = compareValuesBy(this, other, Choice::cost, Choice::negT, Choice::take)
    }
    val best = arrayListOf(Choice(0, 0, 0))
    for (k in 1..n) {
        val options = arrayListOf(Choice(DECODE_ROWS + best[k - 1].cost, -1, 1))
        for (t in lengths) {
            val take = minOf(t, k)
            if ((n - k) + t <= room) options.add(Choice(t + best[k - take].cost, -t, take))
        }
        best.add(options.min())
    }
    val plan = ArrayList<Pair<Int, Int>>()
    var k = n
    while (k > 0) {
        plan.add(-best[k].negT to best[k].take)
        k -= best[k].take
    }
    return plan
}

const val DECODE_ROWS = 4

/**
 * A conversation's KV cache and the calls that fill it, over [backend]. Every signature takes token ids, their
 * positions and the whole cache, and returns the next-token logits (decode) and the K/V rows of its tokens only,
 * which go into the cache at their positions ([newRowSpans]). A decode step at position p runs decode_<W> for the
 * smallest window W >= p, else decode, as `edgellm generate` does.
 *
 * Where the cache lives depends on the backend: a [BoundCacheBackend] (LiteRT's CompiledModel) holds it, bound
 * once and shared by every signature, and gets only the new rows; any other [ModelBackend] (the Interpreter)
 * gets the session's own cache buffers as inputs of every call. Not thread-safe: one worker thread runs it.
 */
class LlmSession(
    val manifest: LlmManifest,
    private val backend: ModelBackend,
    private val clockNanos: () -> Long = System::nanoTime,
) {
    private val m = manifest
    private val bound = backend as? BoundCacheBackend
    private val kFloats = m.k.shape.fold(1) { a, d -> a * d }
    private val vFloats = m.v.shape.fold(1) { a, d -> a * d }
    private val kCache = if (bound == null) List(m.numLayers) { direct(4 * kFloats) } else emptyList()
    private val vCache = if (bound == null) List(m.numLayers) { direct(4 * vFloats) } else emptyList()
    private val calls = HashMap<String, Call>()

    /** Floats written into the cache since the session began: new rows, and the rows verify clears first. */
    var cacheFloatsWritten = 0L
        private set

    init {
        bound?.bindCache((0 until m.numLayers).flatMap { i -> listOf(m.k.inputName(i) to kFloats, m.v.inputName(i) to vFloats) }.toMap())
    }

    /** One signature's buffers, made once: inputs (ids, positions, the shared cache) and outputs. */
    private inner class Call(val signature: SignatureSpec) {
        val tokens = intInput("tokens")
        val positions = intInput("input_pos")
        val inputs: Map<String, ByteBuffer>
        val outputs: Map<String, ByteBuffer> = signature.outputs.associate { it.name to direct(it.byteCount()) }

        init {
            val floats = (0 until m.numLayers).flatMap { i -> listOf(m.k.inputName(i) to kFloats, m.v.inputName(i) to vFloats) }.toMap()
            for (spec in signature.inputs) {
                val count = floats[spec.name] ?: continue
                if (spec.dtype != DType.FLOAT32 || spec.byteCount() != 4 * count) {
                    throw TensorException("cache input '${spec.name}' of ${signature.name} is ${spec.dtype.wireName} ${spec.shape}; the manifest's kv_cache says float32 of $count values")
                }
            }
            val unknown = signature.inputs.map { it.name }.filter { it != "tokens" && it != "input_pos" && it !in floats }
            if (unknown.isNotEmpty()) throw TensorException("${signature.name} takes inputs this app does not fill: ${unknown.joinToString()}")
            val caches = if (bound != null) {
                emptyMap() // bound in the backend once, shared by every signature
            } else {
                (0 until m.numLayers).flatMap { i -> listOf(m.k.inputName(i) to kCache[i], m.v.inputName(i) to vCache[i]) }.toMap()
                    .filterKeys { name -> signature.inputs.any { it.name == name } }
            }
            inputs = mapOf("tokens" to tokens, "input_pos" to positions) + caches
        }

        private fun intInput(name: String): ByteBuffer {
            val spec = signature.inputs.first { it.name == name }
            if (spec.dtype != DType.INT32) throw TensorException("input '$name' of ${signature.name} is ${spec.dtype.wireName}; this app feeds int32")
            return direct(spec.byteCount())
        }

        fun run(ids: IntArray, start: Int): Map<String, ByteBuffer> {
            val t = signature.sequenceLength
            tokens.clear()
            positions.clear()
            for (j in 0 until t) {
                tokens.putInt(if (j < ids.size) ids[j] else 0)
                // padding's positions clipped to the cache (verify_<T> near its end; GPT-2's position table ends there)
                positions.putInt(minOf(start + j, m.cacheLength - 1))
            }
            (inputs.values + outputs.values).forEach { it.rewind() }
            backend.run(signature.name, inputs, outputs)
            return outputs
        }
    }

    private fun call(name: String): Call = calls.getOrPut(name) {
        Call(m.signatures[name] ?: throw TensorException("the model has no signature '$name'; re-export the folder"))
    }

    /** Forget the conversation. Masked cache rows still enter the products (with weight 0), so they are zeroed. */
    fun reset() {
        bound?.zeroCache()
        val zeros = ByteArray(1 shl 16)
        for (b in kCache + vCache) {
            b.clear()
            while (b.hasRemaining()) b.put(zeros, 0, minOf(zeros.size, b.remaining()))
            b.clear()
        }
    }

    /** Put [ids] into the cache at positions [start].. (chunked over the prefill signatures). */
    fun prefill(ids: IntArray, start: Int) {
        if (start + ids.size > m.cacheLength) throw ConfigException("${start + ids.size} tokens do not fit the KV cache of ${m.cacheLength}; shorten the prompt or re-export with a larger --cache-length")
        var pos = start
        var rest = ids
        for ((t, take) in planPrefill(ids.size, m.prefillLengths, room = m.cacheLength - start)) {
            if (t == 1) {
                decode(rest[0], pos)
            } else {
                store(call("prefill_$t").run(rest.copyOfRange(0, take), pos), pos, take)
            }
            rest = rest.copyOfRange(take, rest.size)
            pos += take
        }
    }

    /** Run [token] at [position], keep its K/V row; the next-token logits. */
    fun decode(token: Int, position: Int): FloatArray {
        if (position !in 0 until m.cacheLength) throw ConfigException("position $position is outside the KV cache of ${m.cacheLength}")
        val name = m.decodeWindows.sorted().firstOrNull { position <= it }?.let { "decode_$it" } ?: "decode"
        val out = call(name).run(intArrayOf(token), position)
        store(out, position, 1)
        val logits = out["logits"] ?: throw TensorException("signature $name has no 'logits' output")
        return FloatArray(m.vocabSize).also { floats(logits).get(it) }
    }

    /**
     * Run [ids] (the pending token, then draft tokens) at [position].. through the smallest verify_<T> with
     * T >= ids.size and keep their K/V rows, also those of drafts the caller then rejects: a call starting at s
     * reads cache rows [0, s) only, so a row past the accepted length is rewritten before anything reads it.
     * Padding comes after the real tokens (the causal mask hides it from them); its rows are not kept.
     * Returns the next-token logits after each token, ids.size rows of vocabSize floats.
     */
    fun verify(ids: IntArray, position: Int): FloatArray {
        val t = m.verifyLengths.sorted().firstOrNull { it >= ids.size }
            ?: throw ConfigException("${ids.size} tokens do not fit a verify signature (verify lengths ${m.verifyLengths.joinToString().ifEmpty { "none" }}); draft at most ${(m.verifyLengths.maxOrNull() ?: 1) - 1} tokens")
        if (ids.isEmpty() || position < 0 || position + ids.size > m.cacheLength) {
            throw ConfigException("${ids.size} tokens at position $position do not fit the KV cache of ${m.cacheLength}")
        }
        val name = "verify_$t"
        clearRows(position, minOf(t, m.cacheLength - position))
        val out = call(name).run(ids, position)
        store(out, position, ids.size)
        val logits = out["logits"] ?: throw TensorException("signature $name has no 'logits' output")
        val all = floats(logits)
        if (all.remaining() < ids.size * m.vocabSize) throw TensorException("$name's logits hold ${all.remaining()} values, not $t rows of the vocabulary of ${m.vocabSize}; re-export the folder")
        return FloatArray(ids.size * m.vocabSize).also { all.get(it) }
    }

    /**
     * Zeroes cache rows [start, start + n) of every layer: verify_<T> adds its new rows onto the cache rows where
     * they land (exact only onto zeros), and rejected draft rows of an earlier call may sit there.
     */
    private fun clearRows(start: Int, n: Int) {
        val kZeros = direct(4 * kFloats / m.k.shape[m.k.sequenceAxis] * n)
        val vZeros = direct(4 * vFloats / m.v.shape[m.v.sequenceAxis] * n)
        for (i in 0 until m.numLayers) {
            storeRows(kZeros, m.k, m.k.inputName(i), if (bound == null) kCache[i] else null, start, n)
            storeRows(vZeros, m.v, m.v.inputName(i), if (bound == null) vCache[i] else null, start, n)
        }
    }

    /** The first [n] new rows of each layer's k/v outputs into the cache at positions [start]... */
    private fun store(out: Map<String, ByteBuffer>, start: Int, n: Int) {
        for (i in 0 until m.numLayers) {
            storeRows(out.getValue(m.k.outputName(i)), m.k, m.k.inputName(i), if (bound == null) kCache[i] else null, start, n)
            storeRows(out.getValue(m.v.outputName(i)), m.v, m.v.inputName(i), if (bound == null) vCache[i] else null, start, n)
        }
    }

    private fun storeRows(new: ByteBuffer, spec: KvSpec, name: String, cache: ByteBuffer?, start: Int, n: Int) {
        val rows = new.capacity() / 4 / (spec.shape.fold(1) { a, d -> a * d } / spec.shape[spec.sequenceAxis]) // the call's T
        val spans = newRowSpans(spec, rows, start, n)
        cacheFloatsWritten += spans.sumOf { it.count.toLong() }
        if (cache == null) {
            bound!!.writeRows(name, floats(new), spans)
            return
        }
        val src = floats(new)
        val dst = floats(cache)
        val chunk = FloatArray(spans.firstOrNull()?.count ?: 0)
        for (span in spans) {
            src.position(span.from)
            src.get(chunk)
            dst.position(span.to)
            dst.put(chunk)
        }
    }

    /** Milliseconds per decode / verify_<T> call (DraftPolicy's cost), measured by earlier speculative generations. */
    private val speculativeCosts = HashMap<Int, Double>()

    /** Tests: draft as many tokens as allowed every step instead of asking the cost model, so every path runs. */
    internal var alwaysDraft = false

    /**
     * New token ids for [promptIds], each handed to [onToken] as it comes (return false to stop); the
     * end-of-sequence token is not handed on. As `edgellm generate`: the prompt but its last token is prefilled,
     * the last one goes through decode, whose logits give the first new token. [speculative]: decode with draft
     * tokens checked by verify_<T> (same greedy tokens, fewer model calls when drafts are accepted); null: plain.
     */
    fun generate(
        promptIds: IntArray,
        maxNewTokens: Int,
        sampling: SamplingConfig = SamplingConfig(),
        stopAtEos: Boolean = true,
        speculative: SpeculativeConfig? = null,
        onToken: (Int) -> Boolean = { true },
    ): GenerationStats {
        if (promptIds.isEmpty()) throw ConfigException("the prompt is empty; give at least one token of text")
        if (maxNewTokens < 1) throw ConfigException("max new tokens must be >= 1; got $maxNewTokens")
        if (promptIds.size >= m.cacheLength) {
            throw ConfigException("the prompt has ${promptIds.size} tokens but the KV cache holds ${m.cacheLength}; shorten the prompt or re-export with a larger --cache-length")
        }
        if (speculative != null) return generateSpeculative(promptIds, maxNewTokens, sampling, stopAtEos, speculative, onToken)
        reset()
        val sampler = Sampler(sampling)
        val t0 = clockNanos()
        prefill(promptIds.copyOfRange(0, promptIds.size - 1), 0)
        val tPrefill = clockNanos()
        var pos = promptIds.size - 1
        var token = sampler.next(decode(promptIds.last(), pos))
        val tFirst = clockNanos()
        var n = 0
        var reason = "max_new_tokens"
        while (true) {
            if (stopAtEos && token in m.eosTokenIds) {
                reason = "eos"
                break
            }
            n++
            if (!onToken(token) || n >= maxNewTokens) break
            pos++
            if (pos >= m.cacheLength) {
                reason = "cache_full"
                break
            }
            token = sampler.next(decode(token, pos))
        }
        fun ms(a: Long, b: Long) = (b - a) / 1e6
        return GenerationStats(promptIds.size, n, ms(t0, tFirst), ms(t0, tPrefill), ms(tFirst, clockNanos()), reason)
    }

    /** [generate] with lookup drafts: edgellm.generate.speculative.speculative_tokens, step for step. */
    private fun generateSpeculative(
        promptIds: IntArray,
        maxNewTokens: Int,
        sampling: SamplingConfig,
        stopAtEos: Boolean,
        speculative: SpeculativeConfig,
        onToken: (Int) -> Boolean,
    ): GenerationStats {
        val policy = DraftPolicy(speculative.maxDraft(m), m.verifyLengths.sorted(), speculativeCosts)
        val drafter = LookupDrafter()
        reset()
        val sampler = Sampler(sampling)
        fun ms(a: Long, b: Long) = (b - a) / 1e6
        val t0 = clockNanos()
        prefill(promptIds.copyOfRange(0, promptIds.size - 1), 0)
        val tPrefill = clockNanos()
        val ids = promptIds.toMutableList()
        var pending = listOf(sampler.next(decode(promptIds.last(), promptIds.size - 1)))
        val tFirst = clockNanos()
        policy.time(DraftPolicy.DECODE, ms(tPrefill, tFirst), weight = if (DraftPolicy.DECODE in policy.cost) 0.0 else 1.0)
        var n = 0
        var steps = 0
        var verifySteps = 0
        var drafted = 0
        var accepted = 0
        var reason = "max_new_tokens"
        generation@ while (true) {
            for (token in pending) { // the tokens of the last step, in order
                if (stopAtEos && token in m.eosTokenIds) {
                    reason = "eos"
                    break@generation
                }
                n++
                ids.add(token)
                if (!onToken(token) || n >= maxNewTokens) break@generation
            }
            val pos = ids.size - 1 // the last emitted token is the new pending one
            if (pos >= m.cacheLength) {
                reason = "cache_full"
                break
            }
            val token = ids.last()
            // at most the tokens still wanted after this step's own, and what the cache holds
            val k = minOf(if (alwaysDraft) policy.maxDraft else policy.choose(), maxNewTokens - n - 1, m.cacheLength - pos - 1)
            val drafts = if (k > 0) drafter.propose(ids, k) else emptyList()
            steps++
            val t = clockNanos()
            if (drafts.isEmpty()) {
                pending = listOf(sampler.next(decode(token, pos)))
                policy.time(DraftPolicy.DECODE, ms(t, clockNanos()))
                policy.observe(0, 0)
                continue
            }
            val logits = verify((listOf(token) + drafts).toIntArray(), pos)
            val (a, next) = acceptDrafts(logits, m.vocabSize, drafts, sampling, sampler)
            policy.time(m.verifyLengths.sorted().first { it >= drafts.size + 1 }, ms(t, clockNanos()))
            policy.observe(drafts.size, a)
            verifySteps++
            drafted += drafts.size
            accepted += a
            pending = drafts.subList(0, a) + next
        }
        return GenerationStats(
            promptIds.size, n, ms(t0, tFirst), ms(t0, tPrefill), ms(tFirst, clockNanos()), reason,
            speculative = speculative.mode, targetSteps = steps, verifySteps = verifySteps, draftedTokens = drafted, acceptedTokens = accepted,
        )
    }

    private fun direct(bytes: Int): ByteBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder())

    /** A float view of the whole of [b] (a duplicate: the caller's position and order are left alone). */
    private fun floats(b: ByteBuffer) = b.duplicate().order(ByteOrder.nativeOrder()).also { it.rewind() }.asFloatBuffer()
}

/**
 * Text as it is generated: [append] a token id, get the text it adds ("" while a character's UTF-8 bytes are
 * incomplete), as `edgellm generate` streams it.
 */
class TextStream(private val tokenizer: BpeTokenizer) {
    private val ids = ArrayList<Int>()
    private var shown = ""

    fun append(id: Int): String {
        ids.add(id)
        val text = tokenizer.decode(ids.toIntArray())
        if (text.endsWith('\uFFFD') || text.length <= shown.length) return ""
        return text.substring(shown.length).also { shown = text }
    }

    val text: String get() = tokenizer.decode(ids.toIntArray())
}

/** The prompt's token ids: as one user message in the export's chat format, or as raw text (with BOS etc.). */
fun encodePrompt(tokenizer: BpeTokenizer, manifest: LlmManifest, prompt: String, chat: Boolean): IntArray {
    if (!chat) return tokenizer.encode(prompt, addSpecialTokens = true)
    val format = manifest.chatFormat ?: throw TokenizerException("this export cannot chat in the app: ${manifest.chatFormatNote}; turn chat off")
    return tokenizer.encode(format.render(listOf(prompt)), addSpecialTokens = false)
}

/** Medians over timed generations of a fixed length, as `edgellm bench` on an LLM export (llama-bench's pp/tg). */
data class LlmBenchmark(val runs: List<GenerationStats>) {
    private fun median(values: List<Double>) = values.sorted().let { (it[(it.size - 1) / 2] + it[it.size / 2]) / 2 }

    val timeToFirstTokenMs: Double get() = median(runs.map { it.timeToFirstTokenMs })
    val prefillTokensPerSecond: Double get() = median(runs.map { it.prefillTokensPerSecond })
    val decodeTokensPerSecond: Double get() = median(runs.map { it.decodeTokensPerSecond })

    fun describe(): String = fmt(
        "%d prompt + %d new tokens, median of %d runs: first token %.0f ms, prefill %.1f tokens/s, decode %.1f tokens/s",
        runs[0].promptTokens, runs[0].newTokens, runs.size, timeToFirstTokenMs, prefillTokensPerSecond, decodeTokensPerSecond,
    )
}

/** [warmup] untimed then [runs] timed greedy generations of exactly [newTokens] (end-of-sequence ignored). */
fun LlmSession.benchmark(promptIds: IntArray, newTokens: Int, warmup: Int = 1, runs: Int = 3): LlmBenchmark {
    if (runs < 1) throw ConfigException("runs must be >= 1; got $runs")
    if (promptIds.size + newTokens > manifest.cacheLength) {
        throw ConfigException("${promptIds.size} prompt + $newTokens new tokens do not fit the KV cache of ${manifest.cacheLength}; ask fewer new tokens")
    }
    repeat(warmup) { generate(promptIds, newTokens, stopAtEos = false) }
    return LlmBenchmark(List(runs) { generate(promptIds, newTokens, stopAtEos = false) })
}
