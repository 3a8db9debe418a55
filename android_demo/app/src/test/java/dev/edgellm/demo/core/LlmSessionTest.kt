package dev.edgellm.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** A 2-layer fake LLM with the export's cache layout: k [heads, C, D] (axis 1), v [heads, D, C] (axis 2). */
internal const val C = 16
internal const val HEADS = 2
internal const val D = 3
internal const val VOCAB = 10

/** [verify]: verify_<T> signatures (logits [T, VOCAB]) and the manifest's llm.verify_lengths; empty: neither. */
fun llmManifestJson(chatFormat: String = """{"identical": true, "begin": "<s>[U]", "user_to_assistant": "[/U][A]",
    "assistant_to_user": "[/A][U]", "generation_prompt": "[/U][A]"}""", verify: List<Int> = emptyList()): String {
    fun tensor(name: String, dtype: String, vararg shape: Int) = """{"name": "$name", "dtype": "$dtype", "shape": [${shape.joinToString()}], "quantization": null}"""
    fun signature(name: String, t: Int, logits: Int): String {
        val caches = (0 until 2).flatMap { listOf(tensor("kv_k_cache_$it", "float32", HEADS, C, D), tensor("kv_v_cache_$it", "float32", HEADS, D, C)) }
        val news = (0 until 2).flatMap { listOf(tensor("k_new_$it", "float32", HEADS, t, D), tensor("v_new_$it", "float32", HEADS, D, t)) }
        val inputs = listOf(tensor("input_pos", "int32", t), tensor("tokens", "int32", 1, t)) + caches
        val outputs = news + (if (logits > 0) listOf(tensor("logits", "float32", logits, VOCAB)) else emptyList())
        return """{"name": "$name", "inputs": [${inputs.joinToString()}], "outputs": [${outputs.joinToString()}]}"""
    }
    val signatures = listOf(signature("prefill_4", 4, 0), signature("decode", 1, 1), signature("decode_8", 1, 1)) + verify.map { signature("verify_$it", it, it) }
    val verifyKey = if (verify.isEmpty()) "" else """"verify_lengths": [${verify.joinToString()}], """
    return """{"format_version": 1, "task": "text-generation", "model_type": "llama", "model_file": "model.tflite",
      "signatures": [${signatures.joinToString()}],
      "llm": {"cache_length": $C, "prefill_lengths": [4], "decode_windows": [8], $verifyKey"vocab_size": $VOCAB,
              "kv_cache": {"num_layers": 2, "k": {"inputs": "kv_k_cache_{i}", "outputs": "k_new_{i}", "shape": [$HEADS, $C, $D], "sequence_axis": 1},
                                        "v": {"inputs": "kv_v_cache_{i}", "outputs": "v_new_{i}", "shape": [$HEADS, $D, $C], "sequence_axis": 2}},
              "eos_token_ids": [9], "chat_template": true, "chat_format": $chatFormat},
      "tokenizer": {"files": ["tokenizer.json"]}, "quantization": {"recipe": "int8-dynamic"},
      "validation": {"passed": true, "metrics": {"top1": 0.95, "perplexity_ratio": 1.01, "greedy": []}}}"""
}

/** The fake's default next token after tokens [0, p]: (their sum + p) % VOCAB. */
internal fun sumRule(seq: List<Int>) = (seq.sum() + seq.size - 1) % VOCAB

/**
 * The fake: a token t at position p has K/V value code(t, p, layer) everywhere. Each call first checks that the
 * cache it is given holds every earlier position's code (so rows were copied to the right place along each
 * layout's axis) and that every later row is zero or a row written at that very position before (a rejected
 * draft's); its logits, one row per token for verify_<T>, make the next token [rule] of the tokens so far.
 */
internal class FakeLlm(private val rule: (List<Int>) -> Int = ::sumRule) : ModelBackend {
    val history = HashMap<Int, Int>() // position -> token
    val calls = ArrayList<String>()
    override val signatureKeys = listOf("prefill_4", "decode", "decode_8", "verify_2", "verify_4")

    fun code(t: Int, p: Int, layer: Int) = (t * 100 + p + 1000 * layer).toFloat()

    override fun run(signatureKey: String, inputs: Map<String, ByteBuffer>, outputs: Map<String, ByteBuffer>) {
        calls.add(signatureKey)
        val tokens = ints(inputs.getValue("tokens"))
        val positions = ints(inputs.getValue("input_pos"))
        val start = positions[0]
        for (layer in 0..1) {
            val k = floats(inputs.getValue("kv_k_cache_$layer"))
            val v = floats(inputs.getValue("kv_v_cache_$layer"))
            for (p in 0 until start) {
                val want = code(history.getValue(p), p, layer)
                for (h in 0 until HEADS) for (d in 0 until D) {
                    assertEquals("k layer $layer position $p", want, k[(h * C + p) * D + d], 0f)
                    assertEquals("v layer $layer position $p", want, v[(h * D + d) * C + p], 0f)
                }
            }
            val t = tokens.size
            for (p in start + t until C) for (h in 0 until HEADS) for (d in 0 until D) { // not written yet, or a rejected draft
                for ((name, value) in listOf("k" to k[(h * C + p) * D + d], "v" to v[(h * D + d) * C + p])) {
                    val token = (value - p - 1000 * layer) / 100
                    assertTrue("$name layer $layer position $p (stale) holds $value", value == 0f || (token == Math.round(token).toFloat() && token in 0f..(VOCAB - 1f)))
                }
            }
            put(outputs.getValue("k_new_$layer"), FloatArray(HEADS * t * D) { i -> code(tokens[(i / D) % t], positions[(i / D) % t], layer) })
            put(outputs.getValue("v_new_$layer"), FloatArray(HEADS * D * t) { i -> code(tokens[i % t], positions[i % t], layer) })
        }
        tokens.forEachIndexed { j, token -> history[positions[j]] = token }
        outputs["logits"]?.let { out ->
            val rows = out.capacity() / 4 / VOCAB
            put(out, FloatArray(rows * VOCAB) { i ->
                val p = positions[i / VOCAB]
                if (i % VOCAB == rule((0..p).map { history.getValue(it) })) 1f else 0f
            })
        }
    }

    private fun ints(b: ByteBuffer) = b.duplicate().order(ByteOrder.nativeOrder()).also { it.rewind() }.asIntBuffer().let { IntArray(it.remaining()).also(it::get) }
    private fun floats(b: ByteBuffer) = b.duplicate().order(ByteOrder.nativeOrder()).also { it.rewind() }.asFloatBuffer().let { FloatArray(it.remaining()).also(it::get) }
    private fun put(b: ByteBuffer, values: FloatArray) = b.duplicate().order(ByteOrder.nativeOrder()).also { it.rewind() }.asFloatBuffer().put(values)

    override fun close() {}
}

class LlmSessionTest {
    private val manifest = LlmManifest.parse(llmManifestJson())

    /** The fake's rule applied by hand: what greedy generation must give. */
    private fun expected(prompt: IntArray, n: Int): List<Int> {
        val seq = prompt.toMutableList()
        val out = ArrayList<Int>()
        while (out.size < n) {
            val next = (seq.sum() + seq.size - 1) % VOCAB
            if (next == 9) break
            out.add(next)
            seq.add(next)
        }
        return out
    }

    @Test
    fun greedyGenerationKeepsEveryRowOfTheCacheInPlace() {
        val fake = FakeLlm()
        val session = LlmSession(manifest, fake)
        val prompt = intArrayOf(3, 1, 4, 1, 5, 2) // 5 prefilled (prefill_4 + prefill_4 padded: less work than decodes), last via decode
        val got = ArrayList<Int>()
        val stats = session.generate(prompt, maxNewTokens = 8) { got.add(it); true }
        assertEquals(expected(prompt, 8), got)
        assertEquals(got.size, stats.newTokens)
        assertEquals(listOf("prefill_4", "prefill_4"), fake.calls.take(2))
        // positions 5..8 read at most 8 rows: decode_8; from position 9 on the full decode
        val decodes = fake.calls.drop(2)
        assertTrue(decodes.take(4).all { it == "decode_8" })
        assertTrue(decodes.drop(4).all { it == "decode" })
    }

    @Test
    fun aSecondGenerationStartsFromAnEmptyCache() {
        // the fake checks that rows not written yet are zero: the first generation's rows must be gone
        val session = LlmSession(manifest, FakeLlm())
        session.generate(intArrayOf(1, 2, 3, 4, 5, 6), maxNewTokens = 8, stopAtEos = false)
        val a = ArrayList<Int>()
        session.generate(intArrayOf(7, 7), maxNewTokens = 5) { a.add(it); true }
        assertEquals(expected(intArrayOf(7, 7), 5), a)
    }

    @Test
    fun stopsAtEosAndWhenTheCacheIsFull() {
        // prompt [4]: next = 4 % 10 = 4, then (8 + 1) % 10 = 9 = eos
        val stats = LlmSession(manifest, FakeLlm()).generate(intArrayOf(4), maxNewTokens = 10)
        assertEquals("eos", stats.stopReason)
        assertEquals(1, stats.newTokens)
        val full = LlmSession(manifest, FakeLlm()).generate(intArrayOf(0, 0), maxNewTokens = 100, stopAtEos = false)
        assertEquals("cache_full", full.stopReason)
        assertEquals(C - 1, full.newTokens) // positions 2..15 hold 14 fed-back tokens, plus the first new one
    }

    @Test
    fun promptsThatDoNotFitAndBadSettingsAreOneLineErrors() {
        val session = LlmSession(manifest, FakeLlm())
        assertThrowsWith<ConfigException>("16 tokens", "KV cache holds 16", "--cache-length") { session.generate(IntArray(C) { 1 }, 4) }
        assertThrowsWith<ConfigException>("empty") { session.generate(IntArray(0), 4) }
        assertThrowsWith<ConfigException>("temperature") { SamplingConfig(temperature = -1.0) }
        assertThrowsWith<ConfigException>("top-p") { SamplingConfig(temperature = 1.0, topP = 0.0) }
    }

    @Test
    fun planPrefillMatchesThePythonRunner() {
        assertEquals(listOf(32 to 32, 32 to 31), planPrefill(63, listOf(32, 128), room = 256))
        assertEquals(listOf(128 to 128, 32 to 22), planPrefill(150, listOf(32, 128), room = 256))
        assertEquals(listOf(1 to 1), planPrefill(1, listOf(32), room = 256)) // one token: a decode call beats 32 rows
    }

    @Test
    fun samplingIsSeededAndTopKOneIsGreedy() {
        val logits = floatArrayOf(0.1f, 2f, 1.9f, -1f)
        assertEquals(1, Sampler(SamplingConfig()).next(logits))
        assertEquals(1, Sampler(SamplingConfig(temperature = 5.0, topK = 1, seed = 3)).next(logits))
        val a = List(20) { Sampler(SamplingConfig(temperature = 1.0, seed = 42)).next(logits) }
        assertEquals(1, a.toSet().size) // same seed, same draw
        val draws = Sampler(SamplingConfig(temperature = 1.0, topP = 0.5, seed = 1)).let { s -> List(200) { s.next(logits) } }
        assertEquals(setOf(1, 2), draws.toSet()) // 0.5 needs the two near-equal best; the rest are cut
    }

    @Test
    fun manifestReadsTheChatFormatAndSaysWhyWhenThereIsNone() {
        val format = manifest.chatFormat ?: throw AssertionError("no chat format")
        assertEquals("<s>[U]hi[/U][A]", format.render(listOf("hi")))
        assertEquals("<s>[U]a[/U][A]b[/A][U]c[/U][A]", format.render(listOf("a", "b", "c")))
        val refused = LlmManifest.parse(llmManifestJson("""{"identical": false, "reason": "the template rewrites contents"}"""))
        assertNull(refused.chatFormat)
        assertEquals("the template rewrites contents", refused.chatFormatNote)
        assertTrue(manifest.summary().any { it.contains("top1 0.9500") })
        val noDecode = llmManifestJson().replace("\"decode_windows\": [8]", "\"decode_windows\": [12]")
        assertThrowsWith<ManifestException>("decode_12") { LlmManifest.parse(noDecode) }
    }
}

class LlmBenchmarkTest {
    @Test
    fun benchmarkRunsFixedLengthGenerationsAndTakesMedians() {
        var now = 0L
        val fake = FakeLlm()
        val session = LlmSession(LlmManifest.parse(llmManifestJson()), fake) { now.also { now += 1_000_000 } } // +1 ms per reading
        val bench = session.benchmark(intArrayOf(4), newTokens = 6, warmup = 1, runs = 3)
        assertEquals(3, bench.runs.size)
        assertTrue(bench.runs.all { it.newTokens == 6 && it.stopReason == "max_new_tokens" }) // past the fake's eos
        assertEquals(2.0, bench.timeToFirstTokenMs, 1e-9) // readings before prefill, after it, after the first token
        assertEquals(4 * 6, fake.calls.size) // 4 generations (1 warm-up) of 6 decode calls: nothing to prefill
        assertThrowsWith<ConfigException>("do not fit", "KV cache of 16") { session.benchmark(intArrayOf(1, 2), newTokens = 15) }
    }
}

class SamplerOrderTest {
    @Test
    fun samplingSeesLogitsInDescendingOrderWithTiesInIndexOrder() {
        // top-k 3 of these keeps 7.5, 2.0, 2.0 (ids 3, 1, 4); with a tiny temperature the best one always wins
        val logits = floatArrayOf(-3f, 2f, -0.5f, 7.5f, 2f, 0f, -1e9f)
        val s = Sampler(SamplingConfig(temperature = 1e-3, topK = 3, seed = 0))
        assertEquals(3, s.next(logits))
        val draws = Sampler(SamplingConfig(temperature = 100.0, topK = 3, seed = 5)).let { t -> List(300) { t.next(logits) } }
        assertEquals(setOf(1, 3, 4), draws.toSet()) // nearly uniform over the three kept, never another id
    }
}
