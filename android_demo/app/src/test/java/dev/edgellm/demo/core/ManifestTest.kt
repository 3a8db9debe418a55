package dev.edgellm.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

class ManifestTest {
    @Test
    fun parsesTheExampleManifest() {
        val m = Manifest.parse(exampleManifestJson())
        assertEquals(1L, m.formatVersion)
        assertEquals(Task.SENTENCE_EMBEDDING, m.task)
        assertEquals("bert", m.modelType)
        assertEquals("model.tflite", m.modelFile)
        assertEquals(128, m.sequenceLength)
        assertEquals(listOf("seq_16", "seq_32", "seq_128"), m.signatures.map { it.name })
        assertEquals(listOf(16, 32, 128), m.signatures.map { it.sequenceLength })
        val sig = m.signatures[0]
        assertEquals(listOf("input_ids", "attention_mask", "token_type_ids"), sig.inputs.map { it.name })
        assertEquals(TensorSpec("input_ids", DType.INT32, listOf(1, 16), null), sig.inputs[0])
        assertEquals(TensorSpec("embedding", DType.FLOAT32, listOf(1, 384), null), sig.outputs[0])
        assertEquals(listOf("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"), m.tokenizer.files)
        assertEquals("wordpiece", m.tokenizer.kind)
        assertTrue(m.tokenizer.doLowerCase)
        assertNull(m.tokenizer.stripAccents)
        assertEquals("[MASK]", m.tokenizer.maskToken) // absent in the manifest: BERT's default
        assertEquals(0, m.tokenizer.padTokenId)
        assertEquals(mapOf(0 to "NEGATIVE", 1 to "POSITIVE"), m.labels)
        assertEquals("POSITIVE", m.labelOf(1))
        assertEquals("LABEL_7", m.labelOf(7))
        assertEquals("int8-dynamic", m.quantizationRecipe)
        assertEquals(22900000L, m.sizeBytes)
        val v = m.validation!!
        assertEquals(true, v.passed)
        assertEquals(mapOf("min_cosine" to 0.99), v.tolerance)
        assertEquals(mapOf("embedding" to mapOf("max_abs" to 0.01, "mean_cosine" to 0.998)), v.metrics)
        assertEquals("0.10.0", m.versions["litert_torch"])
    }

    @Test
    fun parsesWhatEdgellmBundleWrites() {
        // The shape edgellm/bundle writes for an fp32 question-answering export: outputs sorted by name,
        // "validation": null, extra keys (source, model_input_names, *_token_id) the app does not use.
        val m = Manifest.parse(
            """{"format_version": 1, "task": "question-answering", "model_type": "bert", "model_file": "model.tflite",
                "source": {"path": "/models/tiny", "sha256": {"model.safetensors": "ab12"}}, "sequence_length": 16,
                "signatures": [{"name": "serving_default", "sequence_length": 16,
                  "inputs": [{"name": "attention_mask", "dtype": "int32", "shape": [1, 16], "quantization": null},
                             {"name": "input_ids", "dtype": "int32", "shape": [1, 16], "quantization": null}],
                  "outputs": [{"name": "end_logits", "dtype": "float32", "shape": [1, 16], "quantization": null},
                              {"name": "start_logits", "dtype": "float32", "shape": [1, 16], "quantization": null}]}],
                "inputs": [], "outputs": [],
                "tokenizer": {"files": ["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"],
                  "kind": "wordpiece", "do_lower_case": true, "model_input_names": ["input_ids", "attention_mask"],
                  "cls_token": "[CLS]", "cls_token_id": 2, "pad_token": "[PAD]", "pad_token_id": 0, "mask_token": "[MASK]", "mask_token_id": 4},
                "quantization": {"recipe": "fp32"}, "size_bytes": 123456, "validation": null,
                "versions": {"python": "3.11.2", "edgellm": "0.1.0", "ai-edge-litert": "2.1.0"}}""",
        )
        assertEquals(Task.QUESTION_ANSWERING, m.task)
        assertEquals(listOf("end_logits", "start_logits"), m.signatures.single().outputs.map { it.name })
        assertEquals("fp32", m.quantizationRecipe)
        assertNull(m.validation)
        assertEquals(0, m.tokenizer.padTokenId)
        assertEquals("2.1.0", m.versions["ai-edge-litert"])
    }

    @Test
    fun ignoresUnknownKeys() {
        val m = Manifest.parse(
            exampleManifestJson(extra = """, "future_key": {"nested": [1, 2]}, "calibration": "en.txt""""),
        )
        assertEquals(Task.SENTENCE_EMBEDDING, m.task)
    }

    @Test
    fun parsesQuantizedOutputsAndServingDefault() {
        val json = """
        {"format_version": 1, "task": "text-classification", "model_file": "m.tflite",
         "signatures": [{"name": "serving_default",
            "inputs": [{"name": "input_ids", "dtype": "int64", "shape": [1, 64]}],
            "outputs": [{"name": "logits", "dtype": "int8", "shape": [1, 2], "quantization": {"scale": 0.0123, "zero_point": -3}},
                        {"name": "aux", "dtype": "uint8", "shape": [1, 2], "quantization": {"scale": [0.5], "zero_point": [128]}}]}],
         "tokenizer": {"kind": "wordpiece"}}
        """
        val m = Manifest.parse(json)
        val sig = m.signatures.single()
        assertEquals(64, sig.sequenceLength) // taken from the input_ids shape
        assertEquals(64, m.sequenceLength)
        assertEquals(DType.INT64, sig.inputs[0].dtype)
        assertEquals(Quantization(0.0123, -3), sig.outputs[0].quantization)
        assertEquals(Quantization(0.5, 128), sig.outputs[1].quantization)
        assertEquals(emptyMap<Int, String>(), m.labels)
        assertNull(m.quantizationRecipe)
        assertNull(m.validation)
        assertNull(m.tokenizer.padTokenId)
    }

    @Test
    fun topLevelInputsAloneDescribeOneSignature() {
        val m = Manifest.parse(
            """{"format_version": 1, "task": "fill-mask", "model_file": "model.tflite", "sequence_length": 32,
                "inputs": [{"name": "input_ids", "dtype": "int32", "shape": [1, 32]}],
                "outputs": [{"name": "logits", "dtype": "float32", "shape": [1, 32, 30522]}],
                "tokenizer": {}, "labels": ["a", "b"]}""",
        )
        assertEquals("serving_default", m.signatures.single().name)
        assertEquals(32, m.signatures.single().sequenceLength)
        assertEquals(mapOf(0 to "a", 1 to "b"), m.labels)
    }

    @Test
    fun unsupportedFormatVersionIsOneClearLine() {
        assertThrowsWith<ManifestException>("edgellm.json: format_version 2 is not supported", "reads format_version 1") {
            Manifest.parse(exampleManifestJson(formatVersion = "2"))
        }
    }

    @Test
    fun invalidJsonNamesThePosition() {
        assertThrowsWith<ManifestException>("edgellm.json is not valid JSON", "line 1, column 2", "expected a string key") {
            Manifest.parse("{,}")
        }
        // The example in the docs carries // comments; a real manifest must not.
        assertThrowsWith<ManifestException>("not valid JSON") {
            Manifest.parse(exampleManifestJson().replace("\"task\": \"sentence-embedding\",", "\"task\": \"sentence-embedding\", // or feature-extraction"))
        }
    }

    @Test
    fun missingAndMistypedKeysNameTheirPath() {
        assertThrowsWith<ManifestException>("\$.model_file is missing; expected a string") {
            Manifest.parse(exampleManifestJson().replace("\"model_file\": \"model.tflite\",", ""))
        }
        assertThrowsWith<ManifestException>("\$.format_version: expected an integer, got string \"1\"") {
            Manifest.parse(exampleManifestJson(formatVersion = "\"1\""))
        }
        assertThrowsWith<ManifestException>("\$.signatures[1].inputs[0].dtype 'complex64' is not supported") {
            Manifest.parse(exampleManifestJson().replaceFirst("\"int32\", \"shape\": [1, 32]", "\"complex64\", \"shape\": [1, 32]"))
        }
        assertThrowsWith<ManifestException>("edgellm.json: \$: expected a JSON object at the top level, got an array") {
            Manifest.parse("[]")
        }
    }

    @Test
    fun refusesWhatTheAppCannotRun() {
        assertThrowsWith<ManifestException>("\$.task 'summarization' is not supported", "supported: sentence-embedding") {
            Manifest.parse(exampleManifestJson(task = "summarization"))
        }
        assertThrowsWith<ManifestException>("must be a plain file name") {
            Manifest.parse(exampleManifestJson().replace("\"model.tflite\"", "\"../model.tflite\""))
        }
        assertThrowsWith<ManifestException>("per-channel quantization") {
            Manifest.parse(
                exampleManifestJson().replaceFirst("\"quantization\": null}]}", "\"quantization\": {\"scale\": [0.1, 0.2], \"zero_point\": [0, 0]}}]}"),
            )
        }
        assertThrowsWith<ManifestException>("signature names must be unique", "seq_16") {
            Manifest.parse(exampleManifestJson().replace("\"seq_32\"", "\"seq_16\""))
        }
        assertThrowsWith<ManifestException>("expected at least one signature") {
            Manifest.parse("""{"format_version": 1, "task": "fill-mask", "model_file": "m.tflite", "signatures": [], "tokenizer": {}}""")
        }
    }

    @Test
    fun locatePicksTheFirstFolderWithAManifest() {
        val pushed = File(tempDir(), "edgellm") // nothing pushed there
        val bundled = tempDir().also { File(it, "edgellm.json").writeText("{}") }
        val other = tempDir().also { File(it, "edgellm.json").writeText("{}") }
        assertEquals(bundled, ExportFolder.locate(listOf(pushed, bundled, other)))
        assertEquals(pushed, ExportFolder.locate(listOf(pushed, File(tempDir(), "none"))))
    }

    @Test
    fun exportFolderChecksManifestAndModelFile() {
        val missing = File(tempDir(), "nope")
        assertThrowsWith<ModelFileException>("export folder", "does not exist", "adb push") { ExportFolder.open(missing) }

        val dir = tempDir()
        assertThrowsWith<ManifestException>("no edgellm.json in $dir") { ExportFolder.open(dir) }

        File(dir, "edgellm.json").writeText("{\"format_version\": 1,")
        assertThrowsWith<ManifestException>("${File(dir, "edgellm.json")} is not valid JSON") { ExportFolder.open(dir) }

        File(dir, "edgellm.json").writeText(exampleManifestJson())
        assertThrowsWith<ModelFileException>("model file 'model.tflite' named in", "is missing") { ExportFolder.open(dir) }

        File(dir, "model.tflite").writeBytes(ByteArray(0))
        assertThrowsWith<ModelFileException>("is empty") { ExportFolder.open(dir) }

        File(dir, "model.tflite").writeBytes(ByteArray(16))
        File(dir, "vocab.txt").writeText(TEST_VOCAB_TOKENS.joinToString("\n"))
        val folder = ExportFolder.open(dir)
        assertEquals(File(dir, "model.tflite"), folder.modelFile)
        assertEquals(listOf("hello", "world"), folder.loadTokenizer().tokenize("Hello world"))
    }
}
