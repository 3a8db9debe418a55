package dev.edgellm.demo.core

import java.nio.ByteBuffer

/**
 * What runs a signature of the model. On the phone it is the LiteRT Interpreter (LiteRtBackend.kt);
 * in the JVM tests a fake, so everything around the interpreter call is tested without Android.
 */
interface ModelBackend : AutoCloseable {
    /** The signature keys the loaded .tflite file has. */
    val signatureKeys: List<String>

    /** Runs [signatureKey]; [inputs] and [outputs] are keyed by tensor name, in native byte order. */
    fun run(signatureKey: String, inputs: Map<String, ByteBuffer>, outputs: Map<String, ByteBuffer>)
}

/** One model call: which bucket ran, on what, what came out (real values), and how long the call took. */
class RunResult(
    val signature: SignatureSpec,
    val encoding: Encoding,
    val outputs: Map<String, FloatArray>,
    val latencyMs: Double, // the interpreter call only, not tokenization
) {
    fun describe(): String =
        "${signature.name} (length ${signature.sequenceLength}, ${encoding.length} tokens" +
            (if (encoding.truncated) ", truncated" else "") + fmt("): %.2f ms", latencyMs)
}

/** The text a task shows, plus the runs behind it. */
class Outcome(val text: String, val runs: List<RunResult>)

/** What to label the two text boxes for a task; a null second label means the task takes one text. */
fun inputLabels(task: Task): Pair<String, String?> = when (task) {
    Task.SENTENCE_EMBEDDING, Task.FEATURE_EXTRACTION -> "Sentence A" to "Sentence B"
    Task.QUESTION_ANSWERING -> "Question" to "Context"
    Task.FILL_MASK -> "Text with [MASK]" to null
    Task.TEXT_CLASSIFICATION, Task.TOKEN_CLASSIFICATION -> "Text" to null
}

/** Example texts the app starts with, so one tap on Run shows a result. */
fun sampleInputs(task: Task): Pair<String, String> = when (task) {
    Task.SENTENCE_EMBEDDING, Task.FEATURE_EXTRACTION -> "A man is playing a guitar." to "Someone plays an instrument."
    Task.TEXT_CLASSIFICATION -> "This phone is fast and the battery lasts all day." to ""
    Task.TOKEN_CLASSIFICATION -> "Sarah moved from Berlin to Paris in 2019." to ""
    Task.QUESTION_ANSWERING -> "Where is the Eiffel Tower?" to "The Eiffel Tower is a wrought-iron tower in Paris, France."
    Task.FILL_MASK -> "The capital of France is [MASK]." to ""
}

/** Tokenize -> pick the smallest bucket -> run -> decode -> task-specific result. */
class EdgePipeline(
    val manifest: Manifest,
    val tokenizer: BertTokenizer,
    private val backend: ModelBackend,
    private val clockNanos: () -> Long = System::nanoTime,
) {
    /** The signature [text] (and [pair]) would run on. */
    fun bucketFor(text: String, pair: String? = null): BucketChoice {
        val first = tokenizer.tokenize(text)
        val second = pair?.let { tokenizer.tokenize(it) }
        return selectBucket(manifest.signatures, tokenizer.neededLength(first, second))
    }

    /** Runs one text (or a text pair, encoded as one sequence) on the smallest signature that holds it. */
    fun run(text: String, pair: String? = null): RunResult {
        val first = tokenizer.tokenize(text)
        val second = pair?.let { tokenizer.tokenize(it) }
        val signature = selectBucket(manifest.signatures, tokenizer.neededLength(first, second)).signature
        val encoding = tokenizer.encode(first, signature.sequenceLength, second)
        val key = resolveSignatureKey(signature.name, backend.signatureKeys)
        val inputs = Tensors.packInputs(signature, encoding)
        val outputs = Tensors.allocateOutputs(signature)
        val start = clockNanos()
        backend.run(key, inputs, outputs)
        val latencyMs = (clockNanos() - start) / 1e6
        val decoded = signature.outputs.associate { it.name to Tensors.decode(it, outputs.getValue(it.name)) }
        return RunResult(signature, encoding, decoded, latencyMs)
    }

    /** Runs the task the manifest names on the user's text(s); [second] is used by the two-text tasks. */
    fun runTask(first: String, second: String = ""): Outcome = when (manifest.task) {
        Task.SENTENCE_EMBEDDING, Task.FEATURE_EXTRACTION -> similarity(first, second)
        Task.TEXT_CLASSIFICATION -> classify(first)
        Task.TOKEN_CLASSIFICATION -> tagTokens(first)
        Task.QUESTION_ANSWERING -> answer(first, second)
        Task.FILL_MASK -> fillMask(first)
    }

    /**
     * Latency of the model call on [text] (and [pair]): [warmup] untimed burn-in runs (first-run allocation, XNNPACK weight
     * packing, caches), then [runs] timed ones, each timed like a single run (interpreter call only).
     * Pass the context of a question as [pair]; the two-sentence tasks time one sentence.
     */
    fun benchmark(text: String, pair: String? = null, warmup: Int = 3, runs: Int = 20): LatencyStats =
        LatencyStats.of(benchmarkSamples(text, pair, warmup, runs).second)

    /** The warm-up calls' and the timed calls' latencies in ms (the bench JSON keeps both). */
    fun benchmarkSamples(text: String, pair: String? = null, warmup: Int = 3, runs: Int = 20): Pair<List<Double>, List<Double>> {
        require(warmup >= 0) { "warmup must be >= 0, got $warmup" }
        require(runs >= 1) { "runs must be >= 1, got $runs" }
        val warm = List(warmup) { run(text, pair).latencyMs }
        return warm to List(runs) { run(text, pair).latencyMs }
    }

    /** The sentence vector of [run]: the pooled output, or the mean of the token states for a [1, L, H] output. */
    fun embeddingOf(run: RunResult): FloatArray {
        val spec = pickOutput(run.signature, listOf("embedding", "sentence_embedding", "pooler_output", "last_hidden_state"))
        val values = run.outputs.getValue(spec.name)
        return if (spec.shape.size == 3) meanPool(values, run.encoding.attentionMask, spec.shape[2]) else values
    }

    fun similarity(a: String, b: String): Outcome {
        if (a.isBlank() || b.isBlank()) throw TokenizerException("type two sentences to compare")
        val runA = run(a)
        val runB = run(b)
        val embeddingA = embeddingOf(runA)
        val cosine = cosineSimilarity(embeddingA, embeddingOf(runB))
        return Outcome(fmt("cosine similarity %.4f (%d-dim embeddings)", cosine, embeddingA.size), listOf(runA, runB))
    }

    fun classify(text: String): Outcome {
        val r = run(text)
        val logits = r.outputs.getValue(pickOutput(r.signature, listOf("logits")).name)
        val probs = softmax(logits)
        val lines = topK(probs, minOf(3, probs.size)).map { fmt("%s  %.3f", manifest.labelOf(it), probs[it]) }
        return Outcome(lines.joinToString("\n"), listOf(r))
    }

    /** One label per wordpiece (special tokens skipped): "hugging/B-ORG face/I-ORG". */
    fun tagTokens(text: String): Outcome {
        val r = run(text)
        val spec = pickOutput(r.signature, listOf("logits"))
        val logits = r.outputs.getValue(spec.name)
        val classes = spec.shape.last()
        val tags = (1 until r.encoding.length - 1).map { pos ->
            "${r.encoding.tokens[pos]}/${manifest.labelOf(argmax(rowOf(logits, pos, classes)))}"
        }
        return Outcome(if (tags.isEmpty()) "(no tokens)" else tags.joinToString(" "), listOf(r))
    }

    /** Best span of the context: max start_logit + end_logit with start <= end and at most [maxAnswerTokens] pieces. */
    fun answer(question: String, context: String, maxAnswerTokens: Int = 30): Outcome {
        if (question.isBlank() || context.isBlank()) throw TokenizerException("type a question and a context")
        val r = run(question, context)
        val outs = r.signature.outputs
        val startSpec = outs.firstOrNull { it.name == "start_logits" } ?: outs[0]
        val endSpec = outs.firstOrNull { it.name == "end_logits" } ?: outs.getOrNull(1)
            ?: throw TensorException("a question-answering model needs start and end logits; signature '${r.signature.name}' has one output")
        val start = r.outputs.getValue(startSpec.name)
        val end = r.outputs.getValue(endSpec.name)
        val context = r.encoding.secondSegment()
        if (context.isEmpty()) throw TokenizerException("the question fills the whole sequence; no context is left")
        var best = Triple(-1, -1, Float.NEGATIVE_INFINITY)
        for (s in context) {
            for (e in s..minOf(context.last, s + maxAnswerTokens - 1)) {
                val score = start[s] + end[e]
                if (score > best.third) best = Triple(s, e, score)
            }
        }
        val text = tokenizer.detokenize(r.encoding.tokens.subList(best.first, best.second + 1))
        return Outcome(fmt("answer: \"%s\" (score %.2f)", text, best.third), listOf(r))
    }

    /** Top 5 vocabulary entries for every [MASK] in the text. */
    fun fillMask(text: String): Outcome {
        val r = run(text)
        val positions = r.encoding.tokens.indices.filter { r.encoding.tokens[it] == tokenizer.maskToken }
        if (positions.isEmpty()) throw TokenizerException("type ${tokenizer.maskToken} where a word should be predicted")
        val spec = pickOutput(r.signature, listOf("logits"))
        val logits = r.outputs.getValue(spec.name)
        val vocabSize = spec.shape.last()
        val lines = positions.map { pos ->
            val probs = softmax(rowOf(logits, pos, vocabSize))
            "position $pos: " + topK(probs, 5).joinToString(", ") { fmt("%s %.3f", tokenizer.tokenOf(it), probs[it]) }
        }
        return Outcome(lines.joinToString("\n"), listOf(r))
    }

    private fun pickOutput(signature: SignatureSpec, preferred: List<String>): TensorSpec {
        for (name in preferred) signature.outputs.firstOrNull { it.name == name }?.let { return it }
        return signature.outputs.first()
    }
}
