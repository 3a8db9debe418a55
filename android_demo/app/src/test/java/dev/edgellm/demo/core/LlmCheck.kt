package dev.edgellm.demo.core

import java.io.File
import kotlin.system.exitProcess

/**
 * The app's LLM code on the JVM, for tests/test_android_demo.py to compare with `edgellm generate`:
 *
 *   LlmCheckKt generate EXPORT_DIR PYTHON [--chat] [--max-new-tokens N] [--bound]
 *                       [--speculative lookup [--draft-tokens K] [--always-draft]] < prompts.json
 *       For each prompt (a JSON list of strings on stdin): "prompt_ids", "new_ids" (greedy, through
 *       tools/litert_bridge.py) and "text" lines, then "stats". --bound: the session binds the KV cache in the
 *       backend once and hands over only new rows (BoundCacheBackend, as on CompiledModel), through HostBoundCache.
 *       --speculative lookup: lookup speculative decoding, and a "counts" line before "stats": target steps,
 *       verify steps, drafted and accepted tokens. --always-draft: the most drafts every step (no cost model).
 *   LlmCheckKt bench-json OUT_DIR EXPORT_DIR
 *       Writes OUT_DIR/phone_llm.json (an LLM row for EXPORT_DIR) and OUT_DIR/phone_encoder.json: the benchmark
 *       screen's JSON (BenchJson) from the fixed statistics of PhoneBenchSample, for `edgellm bench` to read.
 *   LlmCheckKt tokenize TOKENIZER_JSON < texts.json
 *       For each text: "ids" (encode with special tokens), "plain" (without), "decoded" (decode of ids, JSON).
 *
 * Exit code 0, or 2 with one line on stderr for an error.
 */
fun main(args: Array<String>) {
    try {
        val texts by lazy { (Json.parse(System.`in`.readBytes().toString(Charsets.UTF_8)) as List<*>).map { it as String } }
        when (args.getOrNull(0)) {
            "bench-json" -> {
                val out = File(args[1])
                val export = File(args[2]).canonicalFile
                File(out, "phone_llm.json").writeText(BenchJson.write(PhoneBenchSample.llm(export.path, File(export, "model.tflite").length())))
                File(out, "phone_encoder.json").writeText(BenchJson.write(PhoneBenchSample.encoder()))
            }
            "tokenize" -> {
                val tokenizer = BpeTokenizer.load(File(args[1]))
                for (text in texts) {
                    val ids = tokenizer.encode(text)
                    println("ids\t${ids.joinToString(" ")}")
                    println("plain\t${tokenizer.encode(text, addSpecialTokens = false).joinToString(" ")}")
                    println("decoded\t${jsonString(tokenizer.decode(ids))}")
                }
            }
            "generate" -> {
                val folder = LlmFolder.open(File(args[1]))
                val chat = "--chat" in args
                val max = args.indexOf("--max-new-tokens").takeIf { it > 0 }?.let { args[it + 1].toInt() } ?: 16
                val speculative = args.indexOf("--speculative").takeIf { it > 0 }?.let { i ->
                    SpeculativeConfig(args[i + 1], args.indexOf("--draft-tokens").takeIf { it > 0 }?.let { args[it + 1].toInt() })
                }
                val tokenizer = folder.loadTokenizer()
                val script = File(File(LlmCheck::class.java.protectionDomain.codeSource.location.toURI()), "../../../tools/litert_bridge.py")
                val bridge = LiteRtBridge(args[2], script.canonicalFile, folder.modelFile)
                (if ("--bound" in args) HostBoundCache(bridge) else bridge).use { backend ->
                    val session = LlmSession(folder.manifest, backend)
                    session.alwaysDraft = "--always-draft" in args
                    for (prompt in texts) {
                        val ids = encodePrompt(tokenizer, folder.manifest, prompt, chat)
                        val stream = TextStream(tokenizer)
                        val new = ArrayList<Int>()
                        val pieces = StringBuilder()
                        val stats = session.generate(ids, max, speculative = speculative) { new.add(it); pieces.append(stream.append(it)); true }
                        println("prompt_ids\t${ids.joinToString(" ")}")
                        println("new_ids\t${new.joinToString(" ")}")
                        println("text\t${jsonString(stream.text)}")
                        println("streamed\t${jsonString(pieces.toString())}")
                        if (speculative != null) println("counts\t${stats.targetSteps} ${stats.verifySteps} ${stats.draftedTokens} ${stats.acceptedTokens}")
                        println("stats\t${stats.describe()}")
                    }
                }
            }
            else -> throw ConfigException("usage: LlmCheckKt generate EXPORT_DIR PYTHON [--chat] [--max-new-tokens N] [--bound] [--speculative lookup [--draft-tokens K] [--always-draft]] | bench-json OUT_DIR EXPORT_DIR | tokenize TOKENIZER_JSON (texts as a JSON list on stdin)")
        }
    } catch (e: EdgeDemoException) {
        System.err.println("error: ${e.message}")
        exitProcess(2)
    }
}

private object LlmCheck

fun jsonString(s: String): String {
    val out = StringBuilder("\"")
    for (c in s) {
        when {
            c == '"' -> out.append("\\\"")
            c == '\\' -> out.append("\\\\")
            c < ' ' || c in '\u007f'..'\u009f' || c.isSurrogate() || c == '\u2028' || c == '\u2029' -> out.append("\\u%04x".format(c.code))
            else -> out.append(c)
        }
    }
    return out.append('"').toString()
}
