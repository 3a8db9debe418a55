package dev.edgellm.demo

import android.app.Activity
import android.graphics.Typeface
import android.os.Build
import android.os.Bundle
import android.text.InputType
import android.view.View
import android.view.WindowInsets
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.CheckBox
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.Spinner
import android.widget.TextView
import dev.edgellm.demo.core.BpeTokenizer
import dev.edgellm.demo.core.ConfigException
import dev.edgellm.demo.core.EdgeDemoException
import dev.edgellm.demo.core.EdgePipeline
import dev.edgellm.demo.core.ExportFolder
import dev.edgellm.demo.core.LlmFolder
import dev.edgellm.demo.core.LlmSession
import dev.edgellm.demo.core.TextStream
import dev.edgellm.demo.core.benchmark
import dev.edgellm.demo.core.encodePrompt
import dev.edgellm.demo.core.Task
import dev.edgellm.demo.core.inputLabels
import dev.edgellm.demo.core.sampleInputs
import dev.edgellm.demo.core.summarize
import java.io.File
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * One screen: export folder path + threads, the manifest summary, one or two text boxes (by task), Run and
 * Benchmark, the result and the latency of each model call. An LLM export (task text-generation) gets a prompt,
 * a new-token count and a Chat switch instead: Run streams the greedy reply, Benchmark times fixed-length
 * generations (first token, prefill and decode tokens/s). All model work happens on [worker], one thread,
 * because the Interpreter is not thread-safe; the views are touched on the main thread only.
 */
class MainActivity : Activity() {
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()

    // Owned by the worker thread.
    private var backend: LiteRtBackend? = null
    private var pipeline: EdgePipeline? = null
    private var session: LlmSession? = null
    private var llmTokenizer: BpeTokenizer? = null

    private lateinit var pathInput: EditText
    private lateinit var threadsSpinner: Spinner
    private lateinit var summaryView: TextView
    private lateinit var labelA: TextView
    private lateinit var inputA: EditText
    private lateinit var labelB: TextView
    private lateinit var inputB: EditText
    private lateinit var resultView: TextView
    private lateinit var latencyView: TextView
    private lateinit var chatBox: CheckBox
    private lateinit var actionButtons: List<Button>
    private var loadedTask: Task? = null // main thread's view of what is loaded
    private var loadedLlm = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(buildLayout())
        setBusy(true)
        summaryView.text = "looking for an export folder..."
        worker.execute {
            val dir = try {
                ExportLocator.defaultDir(this, intent)
            } catch (e: EdgeDemoException) {
                runOnUiThread { showError(e) }
                File("/data/local/tmp/edgellm")
            }
            runOnUiThread {
                pathInput.setText(dir.path)
                load()
            }
        }
    }

    override fun onDestroy() {
        worker.execute {
            backend?.close()
            backend = null
            pipeline = null
            session = null
        }
        worker.shutdown()
        super.onDestroy()
    }

    /** (Re)opens the folder in the path box with the selected thread count; runs on [worker]. */
    private fun load() {
        val dir = File(pathInput.text.toString().trim())
        val threads = THREAD_CHOICES[threadsSpinner.selectedItemPosition]
        setBusy(true)
        loadedTask = null
        loadedLlm = false
        summaryView.text = "loading $dir ..."
        inBackground {
            if (LlmFolder.isLlmExport(dir)) {
                loadLlm(dir, threads)
                return@inBackground
            }
            val folder = ExportFolder.open(dir)
            val tokenizer = folder.loadTokenizer()
            pipeline = EdgePipeline(folder.manifest, tokenizer, replaceBackend(folder.modelFile, threads))
            val summary = summarize(folder.manifest) + runtimeLines(threads, dir)
            runOnUiThread { showLoaded(folder.manifest.task, summary.joinToString("\n")) }
        }
    }

    /** Closes the loaded model (and what runs on it), then loads [modelFile]; on [worker]. */
    private fun replaceBackend(modelFile: File, threads: Int): LiteRtBackend {
        backend?.close()
        backend = null
        pipeline = null
        session = null
        return LiteRtBackend(modelFile, threads).also { backend = it }
    }

    private fun runtimeLines(threads: Int, dir: File) =
        listOf("runtime: LiteRT Interpreter, XNNPACK, $threads thread${if (threads > 1) "s" else ""}", "folder: $dir")

    /** An LLM export: tokenizer.json's BPE tokenizer and a KV-cache session over the Interpreter; on [worker]. */
    private fun loadLlm(dir: File, threads: Int) {
        val folder = LlmFolder.open(dir)
        val tokenizer = folder.loadTokenizer()
        session = LlmSession(folder.manifest, replaceBackend(folder.modelFile, threads))
        llmTokenizer = tokenizer
        val summary = folder.manifest.summary() + runtimeLines(threads, dir)
        val canChat = folder.manifest.chatFormat != null
        runOnUiThread { showLoadedLlm(canChat, summary.joinToString("\n")) }
    }

    private fun showLoadedLlm(canChat: Boolean, summary: String) {
        loadedLlm = true
        summaryView.text = summary
        labelA.text = "Prompt"
        if (inputA.text.isEmpty()) inputA.setText(LLM_SAMPLE_PROMPT)
        labelB.text = "Max new tokens"
        labelB.visibility = View.VISIBLE
        inputB.visibility = View.VISIBLE
        inputB.inputType = InputType.TYPE_CLASS_NUMBER
        inputB.setText(LLM_DEFAULT_NEW_TOKENS.toString())
        chatBox.visibility = View.VISIBLE
        chatBox.isChecked = canChat
        chatBox.isEnabled = canChat // the summary's "chat:" line says why not
        resultView.text = ""
        latencyView.text = ""
        setBusy(false)
    }

    /** The prompt's ids and the new-token count from the boxes; on [worker]. */
    private fun llmRequest(prompt: String, newTokens: String, chat: Boolean): Triple<LlmSession, IntArray, Int> {
        val s = session ?: throw EdgeDemoException("no model loaded; fix the folder path and tap Load")
        val tokenizer = llmTokenizer ?: throw EdgeDemoException("no tokenizer loaded; tap Load")
        val max = newTokens.trim().toIntOrNull()?.takeIf { it >= 1 }
            ?: throw ConfigException("max new tokens must be a whole number >= 1; got '$newTokens'")
        return Triple(s, encodePrompt(tokenizer, s.manifest, prompt, chat), max)
    }

    private fun generateText() {
        val prompt = inputA.text.toString()
        val newTokens = inputB.text.toString()
        val chat = chatBox.isChecked
        setBusy(true)
        resultView.text = ""
        latencyView.text = "generating ..."
        inBackground {
            val (s, ids, max) = llmRequest(prompt, newTokens, chat)
            val stream = TextStream(llmTokenizer ?: throw EdgeDemoException("no tokenizer loaded; tap Load"))
            val stats = s.generate(ids, max) { id ->
                val piece = stream.append(id)
                if (piece.isNotEmpty()) runOnUiThread { resultView.append(piece) }
                true
            }
            runOnUiThread {
                latencyView.text = stats.describe()
                setBusy(false)
            }
        }
    }

    private fun benchmarkLlm() {
        val prompt = inputA.text.toString()
        val newTokens = inputB.text.toString()
        val chat = chatBox.isChecked
        setBusy(true)
        latencyView.text = "benchmarking: $LLM_BENCH_WARMUP warm-up + $LLM_BENCH_RUNS timed generations ..."
        inBackground {
            val (s, ids, max) = llmRequest(prompt, newTokens, chat)
            val bench = s.benchmark(ids, minOf(max, s.manifest.cacheLength - ids.size), LLM_BENCH_WARMUP, LLM_BENCH_RUNS)
            runOnUiThread {
                latencyView.text = bench.describe()
                setBusy(false)
            }
        }
    }

    private fun showLoaded(task: Task, summary: String) {
        loadedTask = task
        chatBox.visibility = View.GONE
        inputB.inputType = InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_FLAG_MULTI_LINE
        summaryView.text = summary
        val (first, second) = inputLabels(task)
        val (sampleA, sampleB) = sampleInputs(task)
        labelA.text = first
        if (inputA.text.isEmpty()) inputA.setText(sampleA)
        labelB.visibility = if (second == null) View.GONE else View.VISIBLE
        inputB.visibility = if (second == null) View.GONE else View.VISIBLE
        labelB.text = second ?: ""
        if (second != null && inputB.text.isEmpty()) inputB.setText(sampleB)
        resultView.text = ""
        latencyView.text = ""
        setBusy(false)
    }

    private fun runOnce() {
        if (loadedLlm) return generateText()
        val a = inputA.text.toString()
        val b = inputB.text.toString()
        setBusy(true)
        inBackground {
            val p = pipeline ?: throw EdgeDemoException("no model loaded; fix the folder path and tap Load")
            val outcome = p.runTask(a, b)
            val latencies = outcome.runs.joinToString("\n") { it.describe() }
            runOnUiThread {
                resultView.text = outcome.text
                latencyView.text = latencies
                setBusy(false)
            }
        }
    }

    private fun runBenchmark() {
        if (loadedLlm) return benchmarkLlm()
        val a = inputA.text.toString()
        val b = inputB.text.toString()
        setBusy(true)
        latencyView.text = "benchmarking: $BENCH_WARMUP warm-up + $BENCH_RUNS timed runs ..."
        inBackground {
            val p = pipeline ?: throw EdgeDemoException("no model loaded; fix the folder path and tap Load")
            val pair = if (p.manifest.task == Task.QUESTION_ANSWERING) b else null
            val bucket = p.bucketFor(a, pair).signature
            val stats = p.benchmark(a, pair, warmup = BENCH_WARMUP, runs = BENCH_RUNS)
            val text = "benchmark on ${bucket.name} (length ${bucket.sequenceLength}), " +
                "$BENCH_WARMUP warm-up + $BENCH_RUNS timed runs:\n${stats.describe()}"
            runOnUiThread {
                latencyView.text = text
                setBusy(false)
            }
        }
    }

    /** Runs [block] on the worker; an error the app knows about becomes one line on screen. */
    private fun inBackground(block: () -> Unit) {
        worker.execute {
            try {
                block()
            } catch (e: EdgeDemoException) {
                runOnUiThread { showError(e) }
            } catch (e: IllegalArgumentException) { // LiteRT reports bad models and inputs this way
                runOnUiThread { showError(e) }
            } catch (e: IllegalStateException) {
                runOnUiThread { showError(e) }
            }
        }
    }

    private fun showError(e: Exception) {
        val message = if (e is EdgeDemoException) e.message else "${e.javaClass.simpleName}: ${e.message}"
        if (loadedTask == null && !loadedLlm) summaryView.text = "error: $message" else resultView.text = "error: $message"
        setBusy(false)
    }

    private fun setBusy(busy: Boolean) {
        actionButtons.forEach { it.isEnabled = !busy }
    }

    private fun buildLayout(): View {
        val pad = (12 * resources.displayMetrics.density).toInt()
        val root = LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            setPadding(pad, pad, pad, pad)
        }

        fun label(text: String) = TextView(this).apply {
            this.text = text
            setTypeface(typeface, Typeface.BOLD)
            setPadding(0, pad, 0, 0)
        }

        fun output() = TextView(this).apply {
            setTextIsSelectable(true)
            typeface = Typeface.MONOSPACE
            setPadding(0, pad / 2, 0, 0)
        }

        fun button(text: String, onClick: () -> Unit) = Button(this).apply {
            this.text = text
            setOnClickListener { onClick() }
        }

        root.addView(label("Export folder"))
        pathInput = EditText(this).apply {
            setSingleLine()
            inputType = InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_FLAG_NO_SUGGESTIONS
        }
        root.addView(pathInput)

        val loadRow = LinearLayout(this).apply { orientation = LinearLayout.HORIZONTAL }
        threadsSpinner = Spinner(this).apply {
            adapter = ArrayAdapter(
                this@MainActivity,
                android.R.layout.simple_spinner_dropdown_item,
                THREAD_CHOICES.map { "$it thread${if (it > 1) "s" else ""}" },
            )
            setSelection(THREAD_CHOICES.indexOf(defaultThreads()))
        }
        val loadButton = button("Load") { load() }
        loadRow.addView(threadsSpinner)
        loadRow.addView(loadButton)
        root.addView(loadRow)

        summaryView = output()
        root.addView(summaryView)

        labelA = label("Text")
        inputA = EditText(this).apply { inputType = InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_FLAG_MULTI_LINE }
        labelB = label("Second text")
        inputB = EditText(this).apply { inputType = InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_FLAG_MULTI_LINE }
        root.addView(labelA)
        root.addView(inputA)
        root.addView(labelB)
        root.addView(inputB)
        chatBox = CheckBox(this).apply {
            text = "Chat (the prompt as one user message in the model's chat template)"
            visibility = View.GONE
        }
        root.addView(chatBox)

        val runRow = LinearLayout(this).apply { orientation = LinearLayout.HORIZONTAL }
        val runButton = button("Run") { runOnce() }
        val benchButton = button("Benchmark") { runBenchmark() }
        runRow.addView(runButton)
        runRow.addView(benchButton)
        root.addView(runRow)
        actionButtons = listOf(loadButton, runButton, benchButton)

        root.addView(label("Result"))
        resultView = output()
        root.addView(resultView)
        root.addView(label("Latency"))
        latencyView = output()
        root.addView(latencyView)

        // A new thread count takes effect by reloading, once a model is loaded.
        threadsSpinner.onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            private var last = threadsSpinner.selectedItemPosition

            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) {
                if (position == last) return
                last = position
                if (actionButtons.first().isEnabled) load()
            }

            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }

        val scroll = ScrollView(this).apply {
            isFillViewport = true
            addView(root)
        }
        // targetSdk 35+ draws edge to edge: keep the content clear of the status bar, navigation bar and keyboard.
        scroll.setOnApplyWindowInsetsListener { v, insets ->
            if (Build.VERSION.SDK_INT >= 30) {
                val bars = insets.getInsets(WindowInsets.Type.systemBars() or WindowInsets.Type.ime())
                v.setPadding(bars.left, bars.top, bars.right, bars.bottom)
            } else {
                @Suppress("DEPRECATION")
                v.setPadding(insets.systemWindowInsetLeft, insets.systemWindowInsetTop, insets.systemWindowInsetRight, insets.systemWindowInsetBottom)
            }
            insets
        }
        return scroll
    }

    private fun defaultThreads(): Int {
        val cores = Runtime.getRuntime().availableProcessors()
        return THREAD_CHOICES.lastOrNull { it <= minOf(cores, 4) } ?: 1
    }

    companion object {
        private val THREAD_CHOICES = listOf(1, 2, 4, 8)
        private const val BENCH_WARMUP = 3
        private const val BENCH_RUNS = 20
        private const val LLM_SAMPLE_PROMPT = "What is the capital of France?"
        private const val LLM_DEFAULT_NEW_TOKENS = 64
        private const val LLM_BENCH_WARMUP = 1
        private const val LLM_BENCH_RUNS = 3
    }
}
