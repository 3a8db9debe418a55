package dev.edgellm.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

/** Fixed statistics of a phone run, shared with LlmCheck's bench-json command (read by tests/test_android_demo.py). */
object PhoneBenchSample {
    val host = BenchJson.PhoneHost("Google", "Pixel 8", "Tensor G3", "15", 35, "arm64-v8a", 9, "5.15.110-android14")
    val runtime = BenchJson.Runtime("litert-android", "2.2.0", "compiled_model")
    val gpuFellBack = AcceleratorOutcome(AcceleratorChoice.GPU, AcceleratorChoice.CPU, "GPU could not run this model (unsupported op); fell back to CPU")
    const val CREATED = "2026-12-06T20:00:00+00:00"

    fun llm(export: String, sizeBytes: Long): Map<String, Any?> {
        // 3 timed generations of 16 prompt + 8 new tokens: medians 190 ms to the first token, 100 ms for 7 decodes
        val runs = listOf(200.0, 180.0, 190.0).map { ttft -> GenerationStats(16, 8, ttft, ttft - 20, 100.0, "max_new_tokens") }
        val model = BenchJson.BenchModel("$export/model.tflite", sizeBytes, export.substringAfterLast('/'), "llama", TEXT_GENERATION, "fp32")
        return BenchJson.llmReport(host, runtime, model, export, 2, gpuFellBack, LlmBenchmark(runs), 0.75, true, 300L * 1048576,
            BenchJson.fidelity("fp32", true, emptyMap(), mapOf("top1" to 1.0)), CREATED)
    }

    fun encoder(): Map<String, Any?> {
        val model = BenchJson.BenchModel("/data/local/tmp/edgellm/model.tflite", 22_900_000, "edgellm", "bert", "sentence-embedding", "int8")
        return BenchJson.encoderReport(host, runtime, model, 2, AcceleratorOutcome(AcceleratorChoice.CPU, AcceleratorChoice.CPU, null),
            "seq_16", listOf(4.0, 1.0, 3.0, 2.0), listOf(9.0, 5.0), 120.0, null, null, CREATED)
    }
}

class BenchJsonTest {
    @Test
    fun latencyFollowsTheWorkstationsDefinition() {
        // edgellm/bench/stats.py's worked example
        assertEquals(mapOf("p50" to 2.5, "p90" to 3.7, "p99" to 3.97, "mean" to 2.5, "std" to 1.291, "min" to 1.0, "max" to 4.0), BenchJson.latencyJson(listOf(4.0, 1.0, 3.0, 2.0)))
        assertEquals(0.0, BenchJson.latencyJson(listOf(7.0))["std"])
    }

    @Test
    fun anLlmReportHasTheSchemaAndKeysEdgellmBenchReads() {
        val text = BenchJson.write(PhoneBenchSample.llm("/data/local/tmp/edgellm", 1000))
        val root = Json.parse(text) as Map<*, *>
        assertEquals("edgellm.bench/1", root["schema"])
        val host = root["host"] as Map<*, *>
        assertEquals(listOf("Google Pixel 8", "Tensor G3", "Android 15 (API 35)", "arm64-v8a"), listOf(host["board"], host["cpu"], host["os"], host["arch"]))
        val row = (root["results"] as List<*>).single() as Map<*, *>
        // the stable keys of an LLM row (edgellm/bench/report.py, marked *)
        for (key in listOf("model", "runtime", "export", "recipe", "threads", "prompt_tokens", "new_tokens", "runs", "load_s",
            "time_to_first_token_ms", "prefill_tokens_per_second", "decode_tokens_per_second", "peak_rss_bytes", "num_threads",
            "runtime_package", "init_ms", "peak_rss_mb")) {
            assertTrue("row lacks $key", row.containsKey(key))
        }
        assertEquals(TEXT_GENERATION, (row["model"] as Map<*, *>)["task"])
        assertEquals(190.0, row["time_to_first_token_ms"])
        assertEquals(70.0, row["decode_tokens_per_second"]) // 7 tokens in the median 100 ms
        assertEquals(mapOf("requested" to "gpu", "used" to "cpu", "note" to "GPU could not run this model (unsupported op); fell back to CPU"), row["accelerator"])
        assertEquals(300.0, row["peak_rss_mb"])
        assertEquals(750.0, row["init_ms"])
    }

    @Test
    fun anEncoderReportCarriesLatencyAndTheAcceleratorThatRan() {
        val root = Json.parse(BenchJson.write(PhoneBenchSample.encoder())) as Map<*, *>
        val row = (root["results"] as List<*>).single() as Map<*, *>
        assertEquals(2.5, (row["latency_ms"] as Map<*, *>)["p50"])
        assertEquals(400.0, row["inferences_per_s"])
        assertEquals(9.0, row["first_invoke_ms"])
        assertEquals("cpu", (row["accelerator"] as Map<*, *>)["used"])
        assertEquals("compiled_model", row["api"])
        assertNull(row["peak_rss_mb"])
    }

    @Test
    fun writerEscapesAndDropsNonFiniteNumbers() {
        val text = BenchJson.write(mapOf("a" to "q\"\\\n\u0001é😀", "b" to Double.NaN, "c" to listOf(1, 2L, 1.5, true, null), "d" to emptyMap<String, Any>()))
        assertEquals(mapOf("a" to "q\"\\\n\u0001é😀", "b" to null, "c" to listOf(1L, 2L, 1.5, true, null), "d" to emptyMap<String, Any>()), Json.parse(text))
    }

    @Test
    fun peakRssAndTimestamp() {
        assertEquals(123456L * 1024, BenchJson.peakRssBytes("Name:\tx\nVmPeak:\t 999 kB\nVmHWM:\t  123456 kB\n"))
        assertNull(BenchJson.peakRssBytes("Name:\tx\n"))
        assertEquals("1970-01-02T00:00:01+00:00", BenchJson.isoUtc(86_401_000))
    }
}
