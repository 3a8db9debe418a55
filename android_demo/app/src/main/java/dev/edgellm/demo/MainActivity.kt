package dev.edgellm.demo

import android.app.Activity
import android.content.Intent
import android.graphics.Typeface
import android.os.Build
import android.os.Bundle
import android.text.InputType
import android.util.Log
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
import dev.edgellm.demo.core.AcceleratorChoice
import dev.edgellm.demo.core.AcceleratorException
import dev.edgellm.demo.core.AcceleratorOutcome
import dev.edgellm.demo.core.BenchJson
import dev.edgellm.demo.core.BpeTokenizer
import dev.edgellm.demo.core.ChatRuntime
import dev.edgellm.demo.core.ConfigException
import dev.edgellm.demo.core.EdgeDemoException
import dev.edgellm.demo.core.EdgePipeline
import dev.edgellm.demo.core.LatencyStats
import dev.edgellm.demo.core.ExportFolder
import dev.edgellm.demo.core.LlmFolder
import dev.edgellm.demo.core.LlmSession
import dev.edgellm.demo.core.ModelBackend
import dev.edgellm.demo.core.SignatureSpec
import dev.edgellm.demo.core.TEXT_GENERATION
import dev.edgellm.demo.core.TextStream
import dev.edgellm.demo.core.benchmark
import dev.edgellm.demo.core.encodePrompt
import dev.edgellm.demo.core.Task
import dev.edgellm.demo.core.inputLabels
import dev.edgellm.demo.core.sampleInputs
import dev.edgellm.demo.core.summarize
import java.io.File
import java.io.IOException
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * One screen: export folder path, threads and accelerator (CPU/GPU/NPU), the manifest summary with the file
 * check, one or two text boxes (by task), Run and Benchmark, the result and the latency of each model call;
 * Save JSON / Share JSON for the last benchmark (edgellm.bench/1, for `edgellm bench phone.json pc.json`).
 * An LLM export (task text-generation) gets a prompt, a new-token count, a Chat switch and the chat runtime
 * (the app's session on model.tflite, or LiteRT-LM on model.litertlm) instead: Run streams the greedy reply,
 * Benchmark times fixed-length generations (first token, prefill and decode tokens/s). Models run on LiteRT's
 * CompiledModel (the Interpreter when it cannot load them). All model work happens on [worker], one thread,
 * because neither runtime is thread-safe; the views are touched on the main thread only.
 */
class MainActivity : Activity() {
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()

    // Owned by the worker thread.
    private var backend: ModelBackend? = null
    private var loaded: Loaded? = null
    private var pipeline: EdgePipeline? = null
    private var session: LlmSession? = null
    private var llmTokenizer: BpeTokenizer? = null
    private var llmFolder: LlmFolder? = null
    private var litertlm: LiteRtLmChat? = null
    private var loadSeconds: Double? = null

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
    private lateinit var acceleratorSpinner: Spinner
    private lateinit var chatRuntimeSpinner: Spinner
    private lateinit var saveButton: Button
    private lateinit var shareButton: Button
    private lateinit var actionButtons: List<Button>
    private var lastReport: Pair<String, String>? = null // main thread: file name stem, bench JSON text
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
        worker.execute { closeModels() }
        worker.shutdown()
        super.onDestroy()
    }

    /** (Re)opens the folder in the path box with the selected thread count; runs on [worker]. */
    private fun load() {
        val dir = File(pathInput.text.toString().trim())
        val threads = THREAD_CHOICES[threadsSpinner.selectedItemPosition]
        val accelerator = AcceleratorChoice.entries[acceleratorSpinner.selectedItemPosition]
        setBusy(true)
        loadedTask = null
        loadedLlm = false
        setReport(null)
        summaryView.text = "loading $dir ..."
        inBackground {
            closeModels() // a failed load leaves nothing half-loaded behind: the next choice starts clean
            val t0 = System.nanoTime()
            if (LlmFolder.isLlmExport(dir)) {
                loadLlm(dir, threads, accelerator, t0)
                return@inBackground
            }
            val folder = ExportFolder.open(dir) // checks every file's size and sha256 first
            val tokenizer = folder.loadTokenizer()
            val run = openBackend(folder.modelFile, folder.manifest.signatures.associateBy { it.name }, threads, accelerator)
            pipeline = EdgePipeline(folder.manifest, tokenizer, run.backend)
            loadSeconds = (System.nanoTime() - t0) / 1e9
            val summary = summarize(folder.manifest) + folder.integrity.describe() + runtimeLines(threads, dir, run)
            runOnUiThread { showLoaded(folder.manifest.task, summary.joinToString("\n")) }
        }
    }

    /** What runs the model: the backend, LiteRT's API ("compiled_model" or "interpreter") and the accelerator that ran. */
    private class Loaded(val backend: ModelBackend, val api: String, val outcome: AcceleratorOutcome, val threads: Int)

    /** Closes whatever is loaded; on [worker]. */
    private fun closeModels() {
        litertlm?.close()
        litertlm = null
        backend?.close()
        backend = null
        loaded = null
        pipeline = null
        session = null
        llmFolder = null
    }

    /**
     * [modelFile] on LiteRT's CompiledModel for [requested] (falling back to the CPU with a note), else, when
     * CompiledModel cannot load it at all, on the Interpreter's CPU path; on [worker].
     */
    private fun openBackend(modelFile: File, signatures: Map<String, SignatureSpec>, threads: Int, requested: AcceleratorChoice): Loaded {
        val run = try {
            val compiled = LiteRtCompiledBackend.open(modelFile, signatures, threads, requested)
            Loaded(compiled, "compiled_model", compiled.outcome, threads)
        } catch (e: AcceleratorException) {
            Log.w(TAG, "CompiledModel: ${e.message}; using the Interpreter")
            val note = "CompiledModel could not load the model (${e.message}); the Interpreter runs it on the CPU"
            Loaded(LiteRtBackend(modelFile, threads), "interpreter", AcceleratorOutcome(requested, AcceleratorChoice.CPU, note), threads)
        }
        run.outcome.note?.let { Log.w(TAG, it) }
        backend = run.backend
        loaded = run
        return run
    }

    private fun runtimeLines(threads: Int, dir: File, run: Loaded) = listOf(
        "runtime: LiteRT " + (if (run.api == "compiled_model") "CompiledModel" else "Interpreter") +
            ", $threads thread${if (threads > 1) "s" else ""}",
        run.outcome.describe(),
        "folder: $dir",
    )

    /**
     * An LLM export: tokenizer.json's BPE tokenizer and a KV-cache session; on CompiledModel the cache is bound
     * in the backend once and each step writes only its new rows; on [worker].
     */
    private fun loadLlm(dir: File, threads: Int, accelerator: AcceleratorChoice, t0: Long) {
        val folder = LlmFolder.open(dir) // checks model.tflite and tokenizer.json against edgellm.json
        val tokenizer = folder.loadTokenizer()
        val run = openBackend(folder.modelFile, folder.manifest.signatures, threads, accelerator)
        session = LlmSession(folder.manifest, run.backend)
        llmTokenizer = tokenizer
        llmFolder = folder
        loadSeconds = (System.nanoTime() - t0) / 1e9
        val cache = if (run.api == "compiled_model") "KV cache bound once, new rows only" else "KV cache passed to every call"
        val summary = folder.manifest.summary() + folder.integrity.describe() + runtimeLines(threads, dir, run) + cache
        val canChat = folder.manifest.chatFormat != null
        runOnUiThread { showLoadedLlm(canChat, summary.joinToString("\n")) }
    }

    /** LiteRT-LM on the export's model.litertlm, opened on first use with the screen's accelerator; on [worker]. */
    private fun liteRtLm(): LiteRtLmChat {
        litertlm?.let { return it }
        val folder = llmFolder ?: throw EdgeDemoException("no LLM export loaded; fix the folder path and tap Load")
        val accelerator = loaded?.outcome?.requested ?: AcceleratorChoice.CPU
        val threads = loaded?.threads ?: THREAD_CHOICES[0]
        val chat = LiteRtLmChat.open(folder.litertlmFile(), accelerator, threads, folder.manifest.cacheLength, cacheDir, applicationInfo.nativeLibraryDir)
        litertlm = chat
        return chat
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
        chatRuntimeSpinner.visibility = View.VISIBLE
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
        val runtime = ChatRuntime.entries[chatRuntimeSpinner.selectedItemPosition]
        setBusy(true)
        resultView.text = ""
        latencyView.text = "generating ..."
        if (runtime == ChatRuntime.LITERTLM) {
            inBackground {
                // LiteRT-LM renders its own chat template from the bundle and decodes until its own stop
                val stats = liteRtLm().reply(prompt) { piece -> runOnUiThread { resultView.append(piece) } }
                runOnUiThread {
                    latencyView.text = "LiteRT-LM (${litertlm?.accelerator?.label}): ${stats.describe()}"
                    setBusy(false)
                }
            }
            return
        }
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
            val run = loaded ?: throw EdgeDemoException("no model loaded; tap Load")
            val folder = llmFolder ?: throw EdgeDemoException("no model loaded; tap Load")
            val m = folder.manifest
            val model = BenchJson.BenchModel(folder.modelFile.path, folder.modelFile.length(), folder.dir.name, m.modelType, TEXT_GENERATION, m.quantizationRecipe)
            val fidelity = BenchJson.fidelity(m.quantizationRecipe, m.validationPassed, emptyMap(), m.validationMetrics)
            val report = BenchJson.llmReport(phoneHost(), litertRuntime(run), model, folder.dir.path, threadsOf(run), run.outcome, bench,
                loadSeconds, folder.integrity.warning == null, peakRss(), fidelity, BenchJson.isoUtc(System.currentTimeMillis()))
            val text = "${run.outcome.describe()}\n${bench.describe()}"
            runOnUiThread {
                latencyView.text = text
                setReport(folder.dir.name to BenchJson.write(report))
                setBusy(false)
            }
        }
    }

    private fun showLoaded(task: Task, summary: String) {
        loadedTask = task
        chatBox.visibility = View.GONE
        chatRuntimeSpinner.visibility = View.GONE
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
        val dir = File(pathInput.text.toString().trim())
        setBusy(true)
        latencyView.text = "benchmarking: $BENCH_WARMUP warm-up + $BENCH_RUNS timed runs ..."
        inBackground {
            val p = pipeline ?: throw EdgeDemoException("no model loaded; fix the folder path and tap Load")
            val pair = if (p.manifest.task == Task.QUESTION_ANSWERING) b else null
            val bucket = p.bucketFor(a, pair).signature
            val (warm, timed) = p.benchmarkSamples(a, pair, warmup = BENCH_WARMUP, runs = BENCH_RUNS)
            val stats = LatencyStats.of(timed)
            val run = loaded ?: throw EdgeDemoException("no model loaded; tap Load")
            val m = p.manifest
            val modelFile = File(dir, m.modelFile)
            val model = BenchJson.BenchModel(modelFile.path, modelFile.length(), dir.name, m.modelType, m.task.wireName, m.quantizationRecipe)
            val fidelity = m.validation?.let { v -> BenchJson.fidelity(m.quantizationRecipe, v.passed, v.tolerance, v.metrics) }
            val report = BenchJson.encoderReport(phoneHost(), litertRuntime(run), model, threadsOf(run), run.outcome, bucket.name, timed, warm,
                loadSeconds?.let { it * 1000 }, peakRss(), fidelity, BenchJson.isoUtc(System.currentTimeMillis()))
            val text = "benchmark on ${bucket.name} (length ${bucket.sequenceLength}), " +
                "$BENCH_WARMUP warm-up + $BENCH_RUNS timed runs, ${run.outcome.describe()}:\n${stats.describe()}"
            runOnUiThread {
                latencyView.text = text
                setReport(dir.name to BenchJson.write(report))
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
        Log.e(TAG, message ?: e.javaClass.simpleName)
        if (loadedTask == null && !loadedLlm) summaryView.text = "error: $message" else resultView.text = "error: $message"
        setBusy(false)
    }

    private fun setBusy(busy: Boolean) {
        actionButtons.forEach { it.isEnabled = !busy }
        saveButton.isEnabled = !busy && lastReport != null
        shareButton.isEnabled = !busy && lastReport != null
    }

    /** The last benchmark's JSON (null: none yet); main thread. */
    private fun setReport(report: Pair<String, String>?) {
        lastReport = report
        saveButton.isEnabled = report != null
        shareButton.isEnabled = report != null
    }

    /** The phone as the bench JSON's host. */
    private fun phoneHost(): BenchJson.PhoneHost = BenchJson.PhoneHost(
        Build.MANUFACTURER, Build.MODEL, if (Build.VERSION.SDK_INT >= 31) Build.SOC_MODEL else Build.HARDWARE,
        Build.VERSION.RELEASE, Build.VERSION.SDK_INT, Build.SUPPORTED_ABIS.firstOrNull() ?: "unknown",
        Runtime.getRuntime().availableProcessors(), System.getProperty("os.version"),
    )

    private fun litertRuntime(run: Loaded) = BenchJson.Runtime("litert-android", LITERT_VERSION, run.api)

    private fun threadsOf(run: Loaded): Int = run.threads

    private fun peakRss(): Long? = try {
        BenchJson.peakRssBytes(File("/proc/self/status").readText())
    } catch (e: IOException) {
        null
    }

    /** Writes the last report to the app's external folder (temporary file, then rename) and says how to pull it. */
    private fun saveReport() {
        val (stem, json) = lastReport ?: return
        setBusy(true)
        inBackground {
            val folder = File(getExternalFilesDir(null) ?: filesDir, "bench")
            val stamp = SimpleDateFormat("yyyyMMdd-HHmmss", Locale.ROOT).format(Date())
            val file = File(folder, "$stem-$stamp.json")
            val tmp = File(folder, ".${file.name}.part")
            try {
                folder.mkdirs()
                tmp.writeText(json)
                if (!tmp.renameTo(file)) throw IOException("cannot rename $tmp to $file")
            } catch (e: IOException) {
                tmp.delete()
                throw EdgeDemoException("cannot save the bench JSON in $folder: ${e.message}; check free space", e)
            }
            runOnUiThread {
                latencyView.append("\nsaved ${file.path}\non the workstation: adb pull ${file.path} phone.json && edgellm bench phone.json pc.json")
                setBusy(false)
            }
        }
    }

    /** Hands the last report's JSON to another app (mail, chat, Drive) as text. */
    private fun shareReport() {
        val (stem, json) = lastReport ?: return
        val send = Intent(Intent.ACTION_SEND).setType("application/json").putExtra(Intent.EXTRA_SUBJECT, "$stem.json").putExtra(Intent.EXTRA_TEXT, json)
        startActivity(Intent.createChooser(send, "Share the bench JSON"))
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
        acceleratorSpinner = Spinner(this).apply {
            adapter = ArrayAdapter(this@MainActivity, android.R.layout.simple_spinner_dropdown_item, AcceleratorChoice.entries.map { it.label })
            setSelection(AcceleratorChoice.CPU.ordinal)
        }
        val loadButton = button("Load") { load() }
        loadRow.addView(threadsSpinner)
        loadRow.addView(acceleratorSpinner)
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
        chatRuntimeSpinner = Spinner(this).apply {
            adapter = ArrayAdapter(this@MainActivity, android.R.layout.simple_spinner_dropdown_item, ChatRuntime.entries.map { it.label })
            setSelection(ChatRuntime.SESSION.ordinal)
            visibility = View.GONE
        }
        root.addView(chatRuntimeSpinner)

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
        val reportRow = LinearLayout(this).apply { orientation = LinearLayout.HORIZONTAL }
        saveButton = button("Save JSON") { saveReport() }
        shareButton = button("Share JSON") { shareReport() }
        reportRow.addView(saveButton)
        reportRow.addView(shareButton)
        root.addView(reportRow)
        setReport(null)

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
        // So does another accelerator: the figure always names the one that ran.
        acceleratorSpinner.onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            private var last = acceleratorSpinner.selectedItemPosition

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
        private const val TAG = "edgellm"
        private const val LITERT_VERSION = "2.2.0" // com.google.ai.edge.litert:litert in app/build.gradle.kts
    }
}
