package dev.edgellm.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.nio.ByteBuffer

/**
 * The whole path around the interpreter (tokenize, bucket, pack, run, decode, post-process) with a fake model.
 * The fake reads input_ids and writes outputs whose right answer is known by hand.
 */
class PipelineTest {
    private val vocab = TEST_VOCAB
    private val tok = testTokenizer()
    private fun id(token: String) = vocab.id(token)!!

    private class Call(val key: String, val ids: IntArray, val typeIds: IntArray?)

    /** A model whose outputs are computed by [compute] from (input_ids, token_type_ids) into each named output. */
    private class FakeBackend(
        override val signatureKeys: List<String>,
        val compute: (ids: IntArray, types: IntArray?, outputs: Map<String, ByteBuffer>) -> Unit,
    ) : ModelBackend {
        val calls = ArrayList<Call>()

        override fun run(signatureKey: String, inputs: Map<String, ByteBuffer>, outputs: Map<String, ByteBuffer>) {
            val idsBuf = inputs.getValue("input_ids")
            val ids = IntArray(idsBuf.capacity() / 4) { idsBuf.getInt(it * 4) }
            val types = inputs["token_type_ids"]?.let { b -> IntArray(b.capacity() / 4) { b.getInt(it * 4) } }
            calls.add(Call(signatureKey, ids, types))
            compute(ids, types, outputs)
        }

        override fun close() = Unit
    }

    private fun manifest(task: Task, lengths: List<Int>, labels: Map<Int, String> = emptyMap(), outputs: (Int) -> List<TensorSpec>) =
        Manifest(
            formatVersion = 1, task = task, modelType = "bert", modelFile = "model.tflite",
            sequenceLength = lengths.max(),
            signatures = lengths.map { len ->
                SignatureSpec(
                    "seq_$len", len,
                    inputs = listOf("input_ids", "attention_mask", "token_type_ids").map { TensorSpec(it, DType.INT32, listOf(1, len), null) },
                    outputs = outputs(len),
                )
            },
            tokenizer = tokenizerSpec(), labels = labels, quantizationRecipe = null, sizeBytes = null, validation = null, versions = emptyMap(),
        )

    /** Bag of words over the vocabulary, special tokens and padding left out: cosine is easy to work out by hand. */
    private val bagOfWords = { ids: IntArray, _: IntArray?, outputs: Map<String, ByteBuffer> ->
        val out = outputs.getValue("embedding")
        for (i in ids) if (i > 4) out.putFloat(i * 4, out.getFloat(i * 4) + 1f)
    }

    @Test
    fun sentenceEmbeddingCosineOfTwoSentences() {
        val m = manifest(Task.SENTENCE_EMBEDDING, listOf(8, 16)) { listOf(TensorSpec("embedding", DType.FLOAT32, listOf(1, vocab.size), null)) }
        val backend = FakeBackend(m.signatures.map { it.name }, bagOfWords)
        val pipeline = EdgePipeline(m, tok, backend)
        // {hello, world} vs {hello, cat}: one shared word of two -> cosine 1/2.
        val outcome = pipeline.runTask("Hello world", "hello cat")
        assertEquals("cosine similarity 0.5000 (35-dim embeddings)", outcome.text)
        assertEquals(2, outcome.runs.size)
        // {the, cat} vs {the, cat, !}: 2 / (sqrt(2) * sqrt(3)).
        val cos = cosineSimilarity(pipeline.embeddingOf(pipeline.run("the cat")), pipeline.embeddingOf(pipeline.run("THE CAT!")))
        assertEquals(2 / kotlin.math.sqrt(6.0), cos, 1e-6)
    }

    @Test
    fun eachTextRunsOnTheSmallestBucketThatHoldsIt() {
        val m = manifest(Task.SENTENCE_EMBEDDING, listOf(16, 8)) { listOf(TensorSpec("embedding", DType.FLOAT32, listOf(1, vocab.size), null)) }
        val backend = FakeBackend(m.signatures.map { it.name }, bagOfWords)
        val pipeline = EdgePipeline(m, tok, backend)
        assertEquals("seq_8", pipeline.bucketFor("hello world").signature.name)
        assertEquals("seq_16", pipeline.bucketFor("where is paris", "paris is in france").signature.name) // 10 positions
        assertTrue(backend.calls.isEmpty()) // choosing a bucket runs nothing
        pipeline.run("hello world") // 4 positions -> seq_8
        pipeline.run("the cat sat on the mat the cat") // 10 positions -> seq_16
        val long = pipeline.run("the cat ".repeat(20)) // 42 positions -> seq_16, truncated
        assertEquals(listOf("seq_8", "seq_16", "seq_16"), backend.calls.map { it.key })
        assertEquals(listOf(8, 16, 16), backend.calls.map { it.ids.size })
        assertTrue(long.encoding.truncated)
        assertEquals("[SEP]", long.encoding.tokens.last())
        assertTrue(long.describe(), long.describe().startsWith("seq_16 (length 16, 16 tokens, truncated): "))
    }

    @Test
    fun featureExtractionMeanPoolsTokenStates() {
        // last_hidden_state [1, L, 2]: position p holds (p, 1); padding must not enter the mean.
        val m = manifest(Task.FEATURE_EXTRACTION, listOf(8)) { len -> listOf(TensorSpec("last_hidden_state", DType.FLOAT32, listOf(1, len, 2), null)) }
        val backend = FakeBackend(listOf("seq_8")) { _, _, outputs ->
            val out = outputs.getValue("last_hidden_state")
            for (p in 0 until 8) {
                out.putFloat(p * 8, p.toFloat())
                out.putFloat(p * 8 + 4, 1f)
            }
        }
        val pipeline = EdgePipeline(m, tok, backend)
        val v = pipeline.embeddingOf(pipeline.run("hello world")) // 4 real positions 0..3 -> mean (1.5, 1)
        assertEquals(1.5f, v[0], 0f)
        assertEquals(1f, v[1], 0f)
    }

    @Test
    fun classificationDequantizesAndReportsTopLabel() {
        // int8 logits with scale 0.5, zero point -3: raw q -> real 0.5 * (q + 3).
        val m = manifest(Task.TEXT_CLASSIFICATION, listOf(8), labels = mapOf(0 to "NEGATIVE", 1 to "POSITIVE")) {
            listOf(TensorSpec("logits", DType.INT8, listOf(1, 2), Quantization(0.5, -3)))
        }
        val backend = FakeBackend(listOf("serving_default")) { ids, _, outputs ->
            // "hello" votes POSITIVE: q = [-3, -3 + 2 * hellos] -> logits [0, hellos].
            val hellos = ids.count { it == 5 }
            outputs.getValue("logits").put(0, (-3).toByte()).put(1, (-3 + 2 * hellos).toByte())
        }
        val pipeline = EdgePipeline(m, tok, backend)
        // Logits [0, 1]: softmax -> [0.269, 0.731]; the manifest's signature name differs from the model's only key.
        assertEquals("POSITIVE  0.731\nNEGATIVE  0.269", pipeline.runTask("hello").text)
        assertEquals("serving_default", backend.calls.single().key)
    }

    @Test
    fun tokenClassificationLabelsEachWordpiece() {
        val m = manifest(Task.TOKEN_CLASSIFICATION, listOf(8), labels = mapOf(0 to "O", 1 to "B-GREET")) { len ->
            listOf(TensorSpec("logits", DType.FLOAT32, listOf(1, len, 2), null))
        }
        val backend = FakeBackend(listOf("seq_8")) { ids, _, outputs ->
            val out = outputs.getValue("logits")
            ids.forEachIndexed { p, i -> out.putFloat((p * 2 + if (i == 5) 1 else 0) * 4, 1f) }
        }
        assertEquals("hello/B-GREET ,/O world/O", EdgePipeline(m, tok, backend).runTask("Hello, world").text)
    }

    @Test
    fun questionAnsweringPicksTheBestSpanInsideTheContext() {
        val m = manifest(Task.QUESTION_ANSWERING, listOf(16)) { len ->
            listOf(TensorSpec("start_logits", DType.FLOAT32, listOf(1, len), null), TensorSpec("end_logits", DType.FLOAT32, listOf(1, len), null))
        }
        val backend = FakeBackend(listOf("seq_16")) { ids, _, outputs ->
            // Start wherever "paris" is (also in the question, which must be ignored), end at "france".
            ids.forEachIndexed { p, i ->
                if (i == id("paris")) outputs.getValue("start_logits").putFloat(p * 4, 5f)
                if (i == id("france")) outputs.getValue("end_logits").putFloat(p * 4, 5f)
            }
        }
        val pipeline = EdgePipeline(m, tok, backend)
        val outcome = pipeline.runTask("Where is Paris?", "Paris is in France.")
        assertEquals("answer: \"paris is in france\" (score 10.00)", outcome.text)
        val call = backend.calls.single()
        assertEquals(1, call.typeIds!![6]) // the context's first piece is segment 1
    }

    @Test
    fun fillMaskRanksVocabularyAtTheMask() {
        val m = manifest(Task.FILL_MASK, listOf(8)) { len -> listOf(TensorSpec("logits", DType.FLOAT32, listOf(1, len, vocab.size), null)) }
        val backend = FakeBackend(listOf("seq_8")) { ids, _, outputs ->
            val out = outputs.getValue("logits")
            ids.forEachIndexed { p, i ->
                if (i == id("[MASK]")) {
                    out.putFloat((p * vocab.size + id("cat")) * 4, 10f)
                    out.putFloat((p * vocab.size + id("mat")) * 4, 9f)
                }
            }
        }
        val pipeline = EdgePipeline(m, tok, backend)
        val text = pipeline.runTask("the [MASK] sat").text
        assertTrue(text, text.startsWith("position 2: cat 0.7"))
        assertTrue(text, text.contains(", mat 0.2"))
        assertThrowsWith<TokenizerException>("type [MASK] where a word should be predicted") { pipeline.runTask("the cat sat") }
    }

    @Test
    fun benchmarkBurnsInThenTimesEachCall() {
        val m = manifest(Task.SENTENCE_EMBEDDING, listOf(8)) { listOf(TensorSpec("embedding", DType.FLOAT32, listOf(1, vocab.size), null)) }
        val backend = FakeBackend(listOf("seq_8"), bagOfWords)
        // The fake clock advances 1, 2, 3, ... ms per model call (two reads per call), 0 ms outside it.
        var now = 0L
        var calls = 0
        var reads = 0
        val clock = {
            if (reads++ % 2 == 1) now += 1_000_000L * ++calls
            now
        }
        val stats = EdgePipeline(m, tok, backend, clock).benchmark("hello world", warmup = 2, runs = 4)
        assertEquals(6, backend.calls.size)
        // Burn-in calls took 1 and 2 ms and are not counted; timed: 3, 4, 5, 6 ms.
        assertEquals(4, stats.count)
        assertEquals(4.5, stats.meanMs, 1e-9)
        assertEquals(4.0, stats.p50Ms, 0.0)
        assertEquals(6.0, stats.p90Ms, 0.0)
    }

    @Test
    fun twoTextTasksAskForBothTexts() {
        val m = manifest(Task.SENTENCE_EMBEDDING, listOf(8)) { listOf(TensorSpec("embedding", DType.FLOAT32, listOf(1, vocab.size), null)) }
        val pipeline = EdgePipeline(m, tok, FakeBackend(listOf("seq_8"), bagOfWords))
        assertThrowsWith<TokenizerException>("type two sentences") { pipeline.runTask("hello", " ") }
        assertEquals("Question" to "Context", inputLabels(Task.QUESTION_ANSWERING))
        assertEquals("Text" to null, inputLabels(Task.TEXT_CLASSIFICATION))
    }
}
