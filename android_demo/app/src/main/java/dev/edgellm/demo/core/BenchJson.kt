package dev.edgellm.demo.core

import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import java.util.TimeZone
import kotlin.math.floor
import kotlin.math.sqrt

/**
 * The benchmark screen's result as the JSON `edgellm bench --format json` writes (schema "edgellm.bench/1", keys
 * documented in edgellm/bench/report.py), so `edgellm bench phone.json pc.json` puts the phone beside the
 * workstation and the Pi. One report, one result row: an encoder row (invokes timed) or an LLM row (generations
 * timed). The phone fills `host` with what it is (board = phone model, cpu = SoC, os = Android version).
 */
object BenchJson {
    const val SCHEMA = "edgellm.bench/1"

    /** The phone as the report's host; the keys of edgellm.bench.host.host_info, Python's left null. */
    data class PhoneHost(
        val manufacturer: String, // Build.MANUFACTURER
        val model: String, // Build.MODEL
        val soc: String?, // Build.SOC_MODEL (API 31+), else Build.HARDWARE
        val androidRelease: String, // Build.VERSION.RELEASE
        val sdkInt: Int, // Build.VERSION.SDK_INT
        val abi: String, // Build.SUPPORTED_ABIS[0]
        val cores: Int,
        val kernel: String?, // System.getProperty("os.version")
    ) {
        fun toJson(): Map<String, Any?> = linkedMapOf(
            "cpu" to (soc ?: "unknown SoC"), "board" to "$manufacturer $model".trim(), "cores" to cores,
            "usable_cores" to cores, "cpu_max_mhz" to null, "governor" to null,
            "os" to "Android $androidRelease (API $sdkInt)", "kernel" to kernel, "arch" to abi,
            "python" to null, "python_bits" to null, "numpy" to null,
        )
    }

    /** The model row's `model` object: the file the runtime loaded. */
    data class BenchModel(val path: String, val sizeBytes: Long?, val name: String, val modelType: String?, val task: String, val recipe: String?) {
        fun toJson(): Map<String, Any?> = linkedMapOf(
            "path" to path, "size_bytes" to sizeBytes, "name" to name, "kind" to "export-folder",
            "model_type" to modelType, "task" to task, "recipe" to recipe,
        )
    }

    /** What ran the model: LiteRT's Android artefact and its version (the report's and the row's `runtime`). */
    data class Runtime(val name: String, val version: String, val api: String /* "interpreter" | "compiled_model" */) {
        fun toJson(): Map<String, Any?> = linkedMapOf("name" to name, "version" to version)
    }

    /**
     * Latency summary as edgellm.bench.stats.summarize: percentiles interpolated linearly between ranks (numpy's
     * default), sample standard deviation. [4, 1, 3, 2] -> p50 2.5, p90 3.7, mean 2.5, std 1.291.
     * (The screen's LatencyStats uses nearest-rank percentiles; the JSON follows the workstation's definition.)
     */
    fun latencyJson(samplesMs: List<Double>): Map<String, Any?> {
        require(samplesMs.isNotEmpty()) { "no timings to summarize" }
        val v = samplesMs.sorted()
        fun pct(q: Double): Double {
            val rank = (v.size - 1) * q / 100.0
            val lo = floor(rank).toInt()
            val hi = minOf(lo + 1, v.size - 1)
            return v[lo] + (rank - lo) * (v[hi] - v[lo])
        }
        val mean = v.sum() / v.size
        val std = if (v.size > 1) sqrt(v.sumOf { (it - mean) * (it - mean) } / (v.size - 1)) else 0.0
        return linkedMapOf(
            "p50" to round4(pct(50.0)), "p90" to round4(pct(90.0)), "p99" to round4(pct(99.0)), "mean" to round4(mean),
            "std" to round4(std), "min" to round4(v.first()), "max" to round4(v.last()),
        )
    }

    /** An encoder row: [samplesMs] timed invokes of [signature] after [warmupMs] untimed ones. */
    fun encoderReport(
        host: PhoneHost, runtime: Runtime, model: BenchModel, threads: Int, accelerator: AcceleratorOutcome,
        signature: String, samplesMs: List<Double>, warmupMs: List<Double>, initMs: Double?, peakRssBytes: Long?,
        fidelity: Map<String, Any?>?, created: String,
    ): Map<String, Any?> {
        val latency = latencyJson(samplesMs)
        val row = linkedMapOf(
            "model" to model.toJson(), "signature" to signature, "num_threads" to threads,
            "xnnpack" to (accelerator.used == AcceleratorChoice.CPU), "delegate_partitions" to null,
            "api" to runtime.api, "accelerator" to accelerator.toJson(), "runtime" to runtime.toJson(),
            "inputs" to linkedMapOf("source" to "app text box", "samples" to 1, "note" to null),
            "init_ms" to initMs?.let(::round4), "first_invoke_ms" to warmupMs.firstOrNull()?.let(::round4),
            "warmup_ms" to linkedMapOf("runs" to warmupMs.size, "mean" to warmupMs.takeIf { it.isNotEmpty() }?.let { round4(it.average()) }),
            "latency_ms" to latency, "runs" to samplesMs.size,
            "inferences_per_s" to round4(1000.0 / (latency["mean"] as Double)),
            "peak_rss_mb" to peakRssBytes?.let { round2(it / 1048576.0) }, "fidelity" to fidelity,
        )
        return report(host, runtime, threads, row, created, linkedMapOf("threads" to listOf(threads), "runs" to samplesMs.size, "warmup" to warmupMs.size, "accelerator" to accelerator.requested.wireName))
    }

    /** An LLM row: [bench]'s timed generations (medians), as edgellm.bench.llm.bench_llm's row plus the shared keys. */
    fun llmReport(
        host: PhoneHost, runtime: Runtime, model: BenchModel, export: String, threads: Int, accelerator: AcceleratorOutcome,
        bench: LlmBenchmark, loadSeconds: Double?, verified: Boolean, peakRssBytes: Long?, fidelity: Map<String, Any?>?,
        created: String,
    ): Map<String, Any?> {
        val first = bench.runs.first()
        val row = linkedMapOf(
            "model" to model.toJson(), "runtime" to "litert", "export" to export, "recipe" to model.recipe, "threads" to threads,
            "prompt_tokens" to first.promptTokens, "new_tokens" to first.newTokens, "runs" to bench.runs.size,
            "mode" to (if (runtime.api == "compiled_model") "compiled" else "copy"), "weight_cache" to null, "verify" to verified,
            "runner_mode" to (if (runtime.api == "compiled_model") "compiled" else "copy"), "runner_fallback_reason" to accelerator.note,
            "load_s" to loadSeconds?.let(::round4),
            "time_to_first_token_ms" to round4(bench.timeToFirstTokenMs),
            "prefill_tokens_per_second" to round4(bench.prefillTokensPerSecond),
            "decode_tokens_per_second" to round4(bench.decodeTokensPerSecond),
            "bytes_read_per_token" to null, "peak_rss_bytes" to peakRssBytes,
            "num_threads" to threads, "runtime_package" to runtime.toJson(),
            "init_ms" to loadSeconds?.let { round4(it * 1000) }, "peak_rss_mb" to peakRssBytes?.let { round2(it / 1048576.0) },
            "fidelity" to fidelity, "api" to runtime.api, "accelerator" to accelerator.toJson(),
        )
        return report(host, runtime, threads, row, created, linkedMapOf("threads" to listOf(threads), "prompt_tokens" to first.promptTokens, "new_tokens" to first.newTokens, "runtime" to "litert", "accelerator" to accelerator.requested.wireName))
    }

    private fun report(host: PhoneHost, runtime: Runtime, threads: Int, row: Map<String, Any?>, created: String, config: Map<String, Any?>): Map<String, Any?> {
        val comparison = linkedMapOf(
            "name" to (row["model"] as Map<*, *>)["name"], "num_threads" to threads, "baseline" to (row["model"] as Map<*, *>)["name"],
            "is_baseline" to true, "speedup" to 1.0, "speedup_of" to (if ("latency_ms" in row) "latency_ms.p50" else "decode_tokens_per_second"),
            "size_ratio" to 1.0, "fidelity" to row["fidelity"],
        )
        return linkedMapOf(
            "schema" to SCHEMA, "created" to created, "host" to host.toJson(), "runtime" to runtime.toJson(), "config" to config,
            "notes" to listOf("measured on ${host.manufacturer} ${host.model} by the edgellm Android demo (${runtime.api})"),
            "results" to listOf(row), "comparison" to listOf(comparison),
        )
    }

    /** `fidelity` of a result row from the manifest's validation: {recipe, passed, tolerance, metrics}. */
    fun fidelity(recipe: String?, passed: Boolean?, tolerance: Map<String, Double>, metrics: Map<String, Any?>): Map<String, Any?>? =
        if (passed == null && metrics.isEmpty()) null else linkedMapOf("recipe" to recipe, "passed" to passed, "tolerance" to tolerance, "metrics" to metrics)

    /** Peak resident memory from /proc/self/status's VmHWM line ("VmHWM:   123456 kB"); null when absent. */
    fun peakRssBytes(procStatus: String): Long? =
        Regex("""^VmHWM:\s+(\d+)\s+kB""", RegexOption.MULTILINE).find(procStatus)?.groupValues?.get(1)?.toLong()?.times(1024)

    /** UTC ISO-8601 to the second, as the workstation's `created` ("2026-12-06T20:01:00+00:00"). */
    fun isoUtc(millis: Long): String = SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'+00:00'", Locale.ROOT)
        .apply { timeZone = TimeZone.getTimeZone("UTC") }.format(Date(millis))

    private fun round4(x: Double) = Math.round(x * 1e4) / 1e4
    private fun round2(x: Double) = Math.round(x * 1e2) / 1e2

    /** [value] (maps, lists, strings, numbers, booleans, null) as indented JSON text; NaN and infinities as null. */
    fun write(value: Any?, indent: String = "  "): String = StringBuilder().also { writeTo(it, value, indent, "") }.toString()

    private fun writeTo(out: StringBuilder, value: Any?, indent: String, pad: String) {
        val inner = pad + indent
        when (value) {
            null -> out.append("null")
            is String -> quote(out, value)
            is Boolean -> out.append(value)
            is Int, is Long -> out.append(value)
            is Double -> if (value.isFinite()) out.append(value) else out.append("null")
            is Float -> writeTo(out, value.toDouble(), indent, pad)
            is Map<*, *> -> {
                if (value.isEmpty()) { out.append("{}"); return }
                out.append("{\n")
                value.entries.forEachIndexed { i, (k, v) ->
                    out.append(inner)
                    quote(out, k as String)
                    out.append(": ")
                    writeTo(out, v, indent, inner)
                    out.append(if (i < value.size - 1) ",\n" else "\n")
                }
                out.append(pad).append('}')
            }
            is List<*> -> {
                if (value.isEmpty()) { out.append("[]"); return }
                out.append("[\n")
                value.forEachIndexed { i, v ->
                    out.append(inner)
                    writeTo(out, v, indent, inner)
                    out.append(if (i < value.size - 1) ",\n" else "\n")
                }
                out.append(pad).append(']')
            }
            else -> throw IllegalArgumentException("cannot write ${value.javaClass.simpleName} as JSON")
        }
    }

    private fun quote(out: StringBuilder, s: String) {
        out.append('"')
        for (c in s) {
            when {
                c == '"' -> out.append("\\\"")
                c == '\\' -> out.append("\\\\")
                c == '\n' -> out.append("\\n")
                c < ' ' || c.isSurrogate() || c == '\u2028' || c == '\u2029' -> out.append(fmt("\\u%04x", c.code))
                else -> out.append(c)
            }
        }
        out.append('"')
    }
}
