package dev.edgellm.demo.core

import org.junit.Assert.assertEquals
import org.junit.Test

class SummaryTest {
    @Test
    fun summarizesTheExampleManifest() {
        assertEquals(
            listOf(
                "task: sentence-embedding (bert)",
                "recipe: int8-dynamic, 21.8 MiB",
                "validation: passed (min_cosine 0.99; embedding max_abs 0.01, mean_cosine 0.998)",
                "lengths: 16, 32, 128 (signatures seq_16, seq_32, seq_128)",
                "labels: NEGATIVE, POSITIVE",
            ),
            summarize(Manifest.parse(exampleManifestJson())),
        )
    }

    @Test
    fun summarizesAFloatUnvalidatedSingleSignatureExport() {
        val m = Manifest.parse(
            """{"format_version": 1, "task": "fill-mask", "model_type": "distilbert", "model_file": "model.tflite",
                "signatures": [{"name": "serving_default", "sequence_length": 64,
                   "inputs": [{"name": "input_ids", "dtype": "int32", "shape": [1, 64]}],
                   "outputs": [{"name": "logits", "dtype": "float32", "shape": [1, 64, 30522]}]}],
                "tokenizer": {"kind": "wordpiece"}, "validation": {"passed": false}}""",
        )
        assertEquals(
            listOf(
                "task: fill-mask (distilbert)",
                "recipe: float (not quantized)",
                "validation: FAILED",
                "lengths: 64 (signature serving_default)",
            ),
            summarize(m),
        )
    }

    @Test
    fun formatsBytes() {
        assertEquals("512 B", formatBytes(512))
        assertEquals("1.5 KiB", formatBytes(1536))
        assertEquals("21.8 MiB", formatBytes(22_900_000))
    }
}
