package dev.edgellm.demo.core

import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import java.io.File
import java.nio.file.Files

/** Runs [block], expects a [T] whose message contains every one of [fragments]; returns it. */
inline fun <reified T : Throwable> assertThrowsWith(vararg fragments: String, block: () -> Unit): T {
    try {
        block()
    } catch (e: Throwable) {
        if (e !is T) throw AssertionError("expected ${T::class.simpleName}, got ${e::class.simpleName}: ${e.message}", e)
        val message = e.message ?: ""
        for (f in fragments) assertTrue("message \"$message\" lacks \"$f\"", message.contains(f))
        assertTrue("message is not one line: \"$message\"", !message.contains('\n'))
        return e
    }
    fail("expected ${T::class.simpleName}, nothing was thrown")
    throw IllegalStateException("unreachable")
}

/** A vocabulary small enough to read, with the pieces BERT's docs use as examples. */
val TEST_VOCAB_TOKENS = listOf(
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", // 0..4
    "hello", "world", ",", "!", ".", // 5..9
    "un", "##aff", "##able", "the", "cat", // 10..14
    "sat", "on", "mat", "a", "##s", // 15..19
    "你", "好", "cafe", "naive", "'", // 20..24
    "Hello", "play", "##ing", "?", "is", // 25..29
    "where", "paris", "in", "france", "capital", // 30..34
)

val TEST_VOCAB = Vocab(TEST_VOCAB_TOKENS)

fun tokenizerSpec(doLowerCase: Boolean = true, stripAccents: Boolean? = null) = TokenizerSpec(
    files = listOf("vocab.txt"),
    kind = "wordpiece",
    doLowerCase = doLowerCase,
    stripAccents = stripAccents,
    clsToken = "[CLS]",
    sepToken = "[SEP]",
    padToken = "[PAD]",
    unkToken = "[UNK]",
    maskToken = "[MASK]",
    padTokenId = 0,
)

fun testTokenizer(doLowerCase: Boolean = true, stripAccents: Boolean? = null) =
    BertTokenizer(TEST_VOCAB, tokenizerSpec(doLowerCase, stripAccents))

fun tempDir(): File = Files.createTempDirectory("edgellm-test").toFile().also { it.deleteOnExit() }

/** The example manifest of the bundle format (format_version 1), three length buckets. */
fun exampleManifestJson(
    formatVersion: String = "1",
    task: String = "sentence-embedding",
    extra: String = "",
): String = """
{
  "format_version": $formatVersion,
  "task": "$task",
  "model_type": "bert",
  "model_file": "model.tflite",
  "sequence_length": 128,
  "signatures": [
    ${signatureJson("seq_16", 16)},
    ${signatureJson("seq_32", 32)},
    ${signatureJson("seq_128", 128)}
  ],
  "inputs": [{"name": "input_ids", "dtype": "int32", "shape": [1, 128], "quantization": null}],
  "outputs": [{"name": "embedding", "dtype": "float32", "shape": [1, 384], "quantization": null}],
  "tokenizer": {"files": ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"],
                "kind": "wordpiece", "do_lower_case": true,
                "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]", "pad_token_id": 0},
  "labels": {"0": "NEGATIVE", "1": "POSITIVE"},
  "quantization": {"recipe": "int8-dynamic"},
  "size_bytes": 22900000,
  "validation": {"passed": true, "tolerance": {"min_cosine": 0.99}, "metrics": {"embedding": {"max_abs": 0.01, "mean_cosine": 0.998}}},
  "versions": {"edgellm": "0.1.0", "torch": "2.13.0", "litert_torch": "0.10.0"}$extra
}
"""

fun signatureJson(name: String, length: Int, outputs: String = """{"name": "embedding", "dtype": "float32", "shape": [1, 384], "quantization": null}"""): String = """
    {"name": "$name", "sequence_length": $length,
     "inputs":  [{"name": "input_ids", "dtype": "int32", "shape": [1, $length], "quantization": null},
                 {"name": "attention_mask", "dtype": "int32", "shape": [1, $length], "quantization": null},
                 {"name": "token_type_ids", "dtype": "int32", "shape": [1, $length], "quantization": null}],
     "outputs": [$outputs]}
"""
