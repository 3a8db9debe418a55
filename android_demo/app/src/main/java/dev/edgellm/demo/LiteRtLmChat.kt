package dev.edgellm.demo

import com.google.ai.edge.litertlm.Backend
import com.google.ai.edge.litertlm.ConversationConfig
import com.google.ai.edge.litertlm.Engine
import com.google.ai.edge.litertlm.EngineConfig
import com.google.ai.edge.litertlm.LiteRtLmJniException
import com.google.ai.edge.litertlm.Message
import com.google.ai.edge.litertlm.MessageCallback
import com.google.ai.edge.litertlm.SamplerConfig
import dev.edgellm.demo.core.AcceleratorChoice
import dev.edgellm.demo.core.ModelFileException
import dev.edgellm.demo.core.StreamStats
import dev.edgellm.demo.core.StreamTimer
import dev.edgellm.demo.core.TensorException
import java.io.File
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

/**
 * The second chat backend: the export's model.litertlm on LiteRT-LM (com.google.ai.edge.litertlm:litertlm-android):
 * one Engine per loaded export, a fresh Conversation per prompt (greedy: top-k 1), its streamed text handed to
 * [onText]. The same prompt box and the same figures as the session backend, so both ways to ship an LLM can be
 * compared on one phone. Call from the worker thread; [reply] blocks until the reply is complete.
 */
class LiteRtLmChat private constructor(private val engine: Engine, val accelerator: AcceleratorChoice) : AutoCloseable {
    fun reply(prompt: String, onText: (String) -> Unit): StreamStats {
        val timer = StreamTimer()
        val done = CountDownLatch(1)
        var failure: Throwable? = null
        val callback = object : MessageCallback {
            override fun onMessage(message: Message) {
                val text = message.toString() // a chunk's text (the library's sample prints chunks this way)
                timer.chunk(text)
                onText(text)
            }

            override fun onDone() = done.countDown()

            override fun onError(throwable: Throwable) {
                failure = throwable
                done.countDown()
            }
        }
        val greedy = SamplerConfig(1, 1.0, 0.0, 0)
        val conversation = try {
            engine.createConversation(ConversationConfig(null, emptyList(), emptyList(), greedy))
        } catch (e: LiteRtLmJniException) {
            throw TensorException("LiteRT-LM cannot start a conversation: ${firstLine(e)}", e)
        }
        conversation.use { c ->
            timer.start()
            try {
                c.sendMessageAsync(prompt, callback)
            } catch (e: LiteRtLmJniException) {
                throw TensorException("LiteRT-LM refused the prompt: ${firstLine(e)}", e)
            }
            if (!done.await(REPLY_TIMEOUT_S, TimeUnit.SECONDS)) {
                c.cancelProcess()
                throw TensorException("LiteRT-LM gave no complete reply in $REPLY_TIMEOUT_S s; try a shorter prompt or the session backend")
            }
            failure?.let { throw TensorException("LiteRT-LM failed while replying: ${firstLine(it)}", it) }
            return timer.finish(c.getTokenCount())
        }
    }

    override fun close() = engine.close()

    companion object {
        private const val REPLY_TIMEOUT_S = 300L

        private fun firstLine(e: Throwable) = e.message?.lineSequence()?.firstOrNull { it.isNotBlank() } ?: e.javaClass.simpleName

        /**
         * Initializes LiteRT-LM on [file] (checked against edgellm.json by LlmFolder.litertlmFile()). [accelerator]:
         * CPU with [threads] threads, GPU or NPU ([nativeLibraryDir]: the app's native libraries, where NPU
         * dispatch libraries ship). A `.litertlm` the runtime refuses is one line, and the app stays usable.
         */
        fun open(file: File, accelerator: AcceleratorChoice, threads: Int, maxTokens: Int, cacheDir: File, nativeLibraryDir: String): LiteRtLmChat {
            val backend = when (accelerator) {
                AcceleratorChoice.CPU -> Backend.CPU(threads)
                AcceleratorChoice.GPU -> Backend.GPU()
                AcceleratorChoice.NPU -> Backend.NPU(nativeLibraryDir)
            }
            val engine = Engine(EngineConfig(file.path, backend, null, null, maxTokens, null, cacheDir.path))
            try {
                engine.initialize() // seconds for a large model: the worker thread calls this
            } catch (e: LiteRtLmJniException) {
                throw ModelFileException("LiteRT-LM refused ${file.name} on ${accelerator.label}: ${firstLine(e)}; re-export it or choose the session backend", e)
            }
            return LiteRtLmChat(engine, accelerator)
        }
    }
}
