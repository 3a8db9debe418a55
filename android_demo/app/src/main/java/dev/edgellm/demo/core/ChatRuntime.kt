package dev.edgellm.demo.core

/** The chat screen's two ways to run one LLM export, so a developer sees both: same prompt, same figures. */
enum class ChatRuntime(val label: String) {
    SESSION("edgellm session: model.tflite on LiteRT, the app's tokenizer and KV cache"),
    LITERTLM("LiteRT-LM: model.litertlm, Google's LLM runtime (Engine, Conversation)"),
}

/**
 * Figures of a reply streamed as text chunks (LiteRT-LM's Conversation hands over text, not token ids): time to
 * the first chunk, the whole reply, and chunks per second after the first (LiteRT-LM streams about one token a
 * chunk). [kvTokens]: the conversation's KV-cache length after the reply (prompt with its template + reply).
 */
data class StreamStats(val firstChunkMs: Double, val totalMs: Double, val chunks: Int, val chars: Int, val kvTokens: Int?) {
    val chunksPerSecond: Double get() = if (chunks > 1 && totalMs > firstChunkMs) (chunks - 1) * 1000.0 / (totalMs - firstChunkMs) else 0.0

    fun describe(): String = fmt("first text %.0f ms, reply %.0f ms, %d chunks (%.1f chunks/s after the first), %d characters", firstChunkMs, totalMs, chunks, chunksPerSecond, chars) +
        (kvTokens?.let { ", KV cache $it tokens (prompt + reply)" } ?: "")
}

/** Times a streamed reply: [start] when the message is sent, [chunk] per piece of text, [finish] at the end. */
class StreamTimer(private val clockNanos: () -> Long = System::nanoTime) {
    private var t0 = 0L
    private var first = -1L
    private var chunks = 0
    private var chars = 0

    fun start() {
        t0 = clockNanos()
        first = -1L
        chunks = 0
        chars = 0
    }

    fun chunk(text: String) {
        if (first < 0) first = clockNanos()
        chunks++
        chars += text.length
    }

    fun finish(kvTokens: Int? = null): StreamStats {
        val end = clockNanos()
        return StreamStats(if (first < 0) 0.0 else (first - t0) / 1e6, (end - t0) / 1e6, chunks, chars, kvTokens)
    }
}
