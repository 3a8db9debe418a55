package dev.edgellm.demo.core

import java.io.File
import java.io.IOException

/** The LiteRT-LM bundle an LLM export ships beside model.tflite (edgellm.manifest.LITERTLM_FILE). */
const val LITERTLM_FILE = "model.litertlm"

/** The manifest's "task" for decoder LLMs (`edgellm export --task text-generation`). */
const val TEXT_GENERATION = "text-generation"

/**
 * One KV-cache tensor kind (k or v): per layer i an input named [inputs] with "{i}" replaced, of [shape], and an
 * output [outputs] holding only the rows of the tokens a call processed, along [sequenceAxis].
 * Example (SmolLM2): k inputs "kv_k_cache_{i}", outputs "k_new_{i}", shape [3, 256, 64], sequence axis 1.
 */
data class KvSpec(val inputs: String, val outputs: String, val shape: List<Int>, val sequenceAxis: Int) {
    fun inputName(layer: Int) = inputs.replace("{i}", layer.toString())

    fun outputName(layer: Int) = outputs.replace("{i}", layer.toString())
}

/**
 * The chat template as four fixed strings (the exporter cuts them from the Jinja template and checks them
 * against transformers' apply_chat_template): user u1, assistant a1, ..., user uN renders as
 * begin + u1 + userToAssistant + a1 + assistantToUser + u2 + ... + uN + generationPrompt.
 */
data class ChatFormat(val begin: String, val userToAssistant: String, val assistantToUser: String, val generationPrompt: String) {
    /** [turns]: user, assistant, user, ... ending with the user message to answer. */
    fun render(turns: List<String>): String {
        if (turns.size % 2 == 0) throw TokenizerException("a chat must end with a user message; got ${turns.size} turns")
        val out = StringBuilder(begin)
        turns.forEachIndexed { i, text ->
            out.append(text).append(
                when {
                    i == turns.size - 1 -> generationPrompt
                    i % 2 == 0 -> userToAssistant
                    else -> assistantToUser
                },
            )
        }
        return out.toString()
    }
}

/**
 * edgellm.json of a text-generation export: signatures prefill_<T>, decode, decode_<W>, verify_<T> (speculative
 * decoding), and the KV cache.
 */
data class LlmManifest(
    val modelType: String,
    val modelFile: String,
    val signatures: Map<String, SignatureSpec>,
    val cacheLength: Int,
    val prefillLengths: List<Int>, // prefill_<T> signatures
    val decodeWindows: List<Int>, // decode_<W>: decode reading cache positions [0, W) only
    val verifyLengths: List<Int>, // verify_<T>: T tokens in, the logits of every one out; empty: no speculative decoding
    val vocabSize: Int,
    val numLayers: Int,
    val k: KvSpec,
    val v: KvSpec,
    val eosTokenIds: Set<Int>,
    val chatFormat: ChatFormat?, // null: no template, or one that does not split into four strings
    val chatFormatNote: String?, // why chatFormat is null
    val tokenizerFile: String,
    val quantizationRecipe: String?,
    val sizeBytes: Long?,
    val validationPassed: Boolean?,
    val validationMetrics: Map<String, Double>, // e.g. top1, perplexity_ratio, greedy_match_mean
    val versions: Map<String, String>,
) {
    companion object {
        fun parse(text: String, source: String = Manifest.FILE_NAME): LlmManifest {
            val root = try {
                Json.parse(text)
            } catch (e: JsonException) {
                throw ManifestException("$source is not valid JSON: ${e.message}; re-export the model folder", e)
            }
            try {
                return read(Node(root, "\$", present = true))
            } catch (e: ManifestException) {
                throw ManifestException("$source: ${e.message}", e)
            }
        }

        private fun read(root: Node): LlmManifest {
            if (root.value !is Map<*, *>) throw root.typeError("a JSON object at the top level")
            val version = root["format_version"].long()
            if (version != SUPPORTED_FORMAT_VERSION) {
                throw ManifestException("format_version $version is not supported; this app reads format_version $SUPPORTED_FORMAT_VERSION. Update the app or re-export.")
            }
            val task = root["task"].string()
            if (task != TEXT_GENERATION) throw ManifestException("\$.task is '$task', not '$TEXT_GENERATION'")
            val reader = ManifestReader()
            val signatures = root["signatures"].list().associate { s ->
                val name = s["name"].string()
                val inputs = s["inputs"].list().map { reader.readTensor(it) }
                val tokens = inputs.firstOrNull { it.name == "tokens" }
                    ?: throw ManifestException("${s.path}.inputs: no 'tokens' input; re-export with edgellm export --task text-generation")
                name to SignatureSpec(name, tokens.shape.last(), inputs, s["outputs"].list().map { reader.readTensor(it) })
            }
            val llm = root["llm"]
            val cache = llm["kv_cache"]
            fun kv(n: Node) = KvSpec(n["inputs"].string(), n["outputs"].string(), n["shape"].list().map { it.int() }, n["sequence_axis"].int())
            val prefill = llm["prefill_lengths"].list().map { it.int() }
            val windows = if (llm.has("decode_windows")) llm["decode_windows"].list().map { it.int() } else emptyList()
            // exported before speculative decoding, or with --verify-lengths none: no key, or []
            val verify = if (llm.has("verify_lengths")) llm["verify_lengths"].list().map { it.int() }.sorted() else emptyList()
            val needed = prefill.map { "prefill_$it" } + windows.map { "decode_$it" } + verify.map { "verify_$it" } + "decode"
            val missing = needed.filter { it !in signatures }
            if (missing.isNotEmpty()) throw ManifestException("\$.signatures lacks ${missing.joinToString()}, which \$.llm names; re-export the folder")
            val format = if (llm.has("chat_format")) llm["chat_format"] else null
            val chat = format?.takeIf { it.has("identical") && it["identical"].bool() }?.let {
                ChatFormat(it["begin"].string(), it["user_to_assistant"].string(), it["assistant_to_user"].string(), it["generation_prompt"].string())
            }
            val note = when {
                chat != null -> null
                format != null && format.has("reason") -> format["reason"].string()
                llm.has("chat_template") && llm["chat_template"].bool() -> "exported before chat_format existed; run edgellm.convert.decoder.export.add_chat_format(folder) on the workstation, or re-export"
                else -> "the model's tokenizer has no chat template"
            }
            val validation = if (root.has("validation")) root["validation"] else null
            val files = if (root.has("tokenizer") && root["tokenizer"].has("files")) root["tokenizer"]["files"].list().map { it.string() } else emptyList()
            if ("tokenizer.json" !in files) throw ManifestException("\$.tokenizer.files has no tokenizer.json; re-export the model folder with its tokenizer")
            return LlmManifest(
                modelType = if (root.has("model_type")) root["model_type"].string() else "unknown",
                modelFile = root["model_file"].string().also { reader.checkFileName(it, "\$.model_file") },
                signatures = signatures,
                cacheLength = llm["cache_length"].int(),
                prefillLengths = prefill,
                decodeWindows = windows,
                verifyLengths = verify,
                vocabSize = llm["vocab_size"].int(),
                numLayers = cache["num_layers"].int(),
                k = kv(cache["k"]),
                v = kv(cache["v"]),
                eosTokenIds = llm["eos_token_ids"].list().map { it.int() }.toSet(),
                chatFormat = chat,
                chatFormatNote = note,
                tokenizerFile = "tokenizer.json",
                quantizationRecipe = reader.readRecipe(root),
                sizeBytes = if (root.has("size_bytes")) root["size_bytes"].long() else null,
                validationPassed = validation?.takeIf { it.has("passed") }?.get("passed")?.bool(),
                validationMetrics = validation?.takeIf { it.has("metrics") }?.get("metrics")?.entries()
                    ?.filter { it.second.value is Long || it.second.value is Double }?.associate { it.first to it.second.double() } ?: emptyMap(),
                versions = if (root.has("versions")) {
                    root["versions"].entries().filter { it.second.value is String }.associate { it.first to it.second.string() }
                } else {
                    emptyMap()
                },
            )
        }
    }

    /** Summary lines for the screen, as [summarize] gives for encoders. */
    fun summary(): List<String> = listOf(
        "task: $TEXT_GENERATION ($modelType, $numLayers layers, vocabulary $vocabSize)",
        "recipe: ${quantizationRecipe ?: "fp32"}" + (sizeBytes?.let { fmt(", %.1f MB", it / 1e6) } ?: ""),
        "KV cache: $cacheLength positions; prefill ${prefillLengths.joinToString(", ")}; decode windows ${decodeWindows.joinToString(", ").ifEmpty { "none" }}; verify ${verifyLengths.joinToString(", ").ifEmpty { "none" }}",
        "chat: " + (if (chatFormat != null) "yes" else "no ($chatFormatNote)"),
        "validation: " + when (validationPassed) {
            null -> "not run"
            true -> "passed"
            false -> "FAILED"
        } + validationMetrics.filterKeys { it in SHOWN_METRICS }.entries.joinToString("") { fmt(", %s %.4f", it.key, it.value) },
    )
}

private val SHOWN_METRICS = setOf("top1", "perplexity_ratio", "greedy_match_mean")

/** An LLM export folder: edgellm.json (task text-generation), the .tflite it names, tokenizer.json. */
class LlmFolder private constructor(val dir: File, val manifest: LlmManifest, val integrity: IntegrityReport) {
    val modelFile: File get() = File(dir, manifest.modelFile)

    /** The export's LiteRT-LM bundle, checked against edgellm.json like the model (when the chat screen picks it). */
    fun litertlmFile(): File {
        val file = File(dir, LITERTLM_FILE)
        if (!file.isFile) throw ModelFileException("$LITERTLM_FILE is missing from $dir; export with edgellm export --task text-generation (it writes one) and copy the whole folder")
        Integrity.checkFolder(dir, listOf(LITERTLM_FILE))
        return file
    }

    fun loadTokenizer(): BpeTokenizer = BpeTokenizer.load(File(dir, manifest.tokenizerFile))

    companion object {
        fun open(dir: File): LlmFolder {
            val manifestFile = File(dir, Manifest.FILE_NAME)
            if (!manifestFile.isFile) throw ManifestException("no ${Manifest.FILE_NAME} in $dir; is this a folder written by edgellm export?")
            val text = try {
                manifestFile.readText(Charsets.UTF_8)
            } catch (e: IOException) {
                throw ManifestException("cannot read $manifestFile: ${e.message}", e)
            }
            val manifest = LlmManifest.parse(text, source = manifestFile.path)
            for (name in listOf(manifest.modelFile, manifest.tokenizerFile)) {
                val f = File(dir, name)
                if (!f.isFile || f.length() == 0L) throw ModelFileException("'$name' named in $manifestFile is missing or empty; copy the whole export folder")
            }
            val integrity = Integrity.check(dir, Integrity.records(text, manifestFile.path), listOf(manifest.modelFile, manifest.tokenizerFile))
            return LlmFolder(dir, manifest, integrity)
        }

        /** True when [dir]'s edgellm.json says task text-generation (false when it is missing or unreadable). */
        fun isLlmExport(dir: File): Boolean = try {
            val root = Json.parse(File(dir, Manifest.FILE_NAME).readText(Charsets.UTF_8))
            (root as? Map<*, *>)?.get("task") == TEXT_GENERATION
        } catch (e: IOException) {
            false
        } catch (e: JsonException) {
            false
        }
    }
}
