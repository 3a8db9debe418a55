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
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.Spinner
import android.widget.TextView
import dev.edgellm.demo.core.EdgeDemoException
import dev.edgellm.demo.core.EdgePipeline
import dev.edgellm.demo.core.ExportFolder
import dev.edgellm.demo.core.Task
import dev.edgellm.demo.core.inputLabels
import dev.edgellm.demo.core.sampleInputs
import dev.edgellm.demo.core.summarize
import java.io.File
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * One screen: export folder path + threads, the manifest summary, one or two text boxes (by task), Run and
 * Benchmark, the result and the latency of each model call. All model work happens on [worker], one thread,
 * because the Interpreter is not thread-safe; the views are touched on the main thread only.
 */
class MainActivity : Activity() {
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()

    // Owned by the worker thread.
    private var backend: LiteRtBackend? = null
    private var pipeline: EdgePipeline? = null

    private lateinit var pathInput: EditText
    private lateinit var threadsSpinner: Spinner
    private lateinit var summaryView: TextView
    private lateinit var labelA: TextView
    private lateinit var inputA: EditText
    private lateinit var labelB: TextView
    private lateinit var inputB: EditText
    private lateinit var resultView: TextView
    private lateinit var latencyView: TextView
    private lateinit var actionButtons: List<Button>
    private var loadedTask: Task? = null // main thread's view of what is loaded

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
        summaryView.text = "loading $dir ..."
        inBackground {
            val folder = ExportFolder.open(dir)
            val tokenizer = folder.loadTokenizer()
            backend?.close()
            backend = null
            pipeline = null
            val fresh = LiteRtBackend(folder.modelFile, threads)
            backend = fresh
            pipeline = EdgePipeline(folder.manifest, tokenizer, fresh)
            val summary = summarize(folder.manifest) +
                "runtime: LiteRT Interpreter, XNNPACK, $threads thread${if (threads > 1) "s" else ""}" +
                "folder: $dir"
            runOnUiThread { showLoaded(folder.manifest.task, summary.joinToString("\n")) }
        }
    }

    private fun showLoaded(task: Task, summary: String) {
        loadedTask = task
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
        if (loadedTask == null) summaryView.text = "error: $message" else resultView.text = "error: $message"
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
    }
}
