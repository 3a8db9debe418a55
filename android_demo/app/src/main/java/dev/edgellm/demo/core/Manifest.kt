package dev.edgellm.demo.core

/** The manifest versions this app reads; a bundle written with another one is refused with a one-line error. */
const val SUPPORTED_FORMAT_VERSION = 1L

/** What the exported model computes; the wire names are the manifest's "task" values. */
enum class Task(val wireName: String) {
    SENTENCE_EMBEDDING("sentence-embedding"),
    FEATURE_EXTRACTION("feature-extraction"),
    TEXT_CLASSIFICATION("text-classification"),
    TOKEN_CLASSIFICATION("token-classification"),
    QUESTION_ANSWERING("question-answering"),
    FILL_MASK("fill-mask");

    companion object {
        fun fromWire(name: String, path: String): Task =
            entries.firstOrNull { it.wireName == name }
                ?: throw ManifestException(
                    "$path '$name' is not supported by this app; supported: " +
                        entries.joinToString(", ") { it.wireName } + ". Update the app or export another task.",
                )
    }
}

/** Tensor element types a manifest may name, with their size in bytes. */
enum class DType(val wireName: String, val byteSize: Int) {
    FLOAT32("float32", 4),
    FLOAT16("float16", 2),
    INT8("int8", 1),
    UINT8("uint8", 1),
    INT16("int16", 2),
    INT32("int32", 4),
    INT64("int64", 8),
    BOOL("bool", 1);

    companion object {
        fun fromWire(name: String, path: String): DType =
            entries.firstOrNull { it.wireName == name }
                ?: throw ManifestException(
                    "$path '$name' is not supported; supported: ${entries.joinToString(", ") { it.wireName }}",
                )
    }
}

/** Affine quantization of one tensor: real = scale * (q - zeroPoint). Per-tensor only. */
data class Quantization(val scale: Double, val zeroPoint: Long)

data class TensorSpec(
    val name: String,
    val dtype: DType,
    val shape: List<Int>, // e.g. [1, 128] for input_ids, [1, 384] for a sentence embedding
    val quantization: Quantization?, // null: the tensor holds real values
) {
    /** Number of elements; a dynamic (-1) dimension makes the size unknown, so it is refused. */
    fun elementCount(): Int {
        if (shape.any { it < 0 }) throw TensorException("tensor '$name' has a dynamic shape $shape; re-export with fixed shapes")
        return shape.fold(1) { acc, d -> acc * d }
    }

    fun byteCount(): Int = elementCount() * dtype.byteSize
}

/** One exported length bucket: a signature of the .tflite model that takes inputs of [sequenceLength] tokens. */
data class SignatureSpec(
    val name: String, // "serving_default" or e.g. "seq_16"
    val sequenceLength: Int,
    val inputs: List<TensorSpec>,
    val outputs: List<TensorSpec>,
)

data class TokenizerSpec(
    val files: List<String>,
    val kind: String, // "wordpiece" is the only kind this app encodes
    val doLowerCase: Boolean,
    val stripAccents: Boolean?, // null: follow doLowerCase, as Hugging Face's BertTokenizer does
    val clsToken: String,
    val sepToken: String,
    val padToken: String,
    val unkToken: String,
    val maskToken: String,
    val padTokenId: Int?, // null: look the pad token up in the vocabulary
    val tokenizeChineseChars: Boolean = true, // BertNormalizer's handle_chinese_chars, from tokenizer.json
)

data class ValidationSummary(
    val passed: Boolean?,
    val tolerance: Map<String, Double>, // e.g. min_cosine -> 0.99
    val metrics: Map<String, Map<String, Double>>, // output name -> metric -> value
)

data class Manifest(
    val formatVersion: Long,
    val task: Task,
    val modelType: String,
    val modelFile: String,
    val sequenceLength: Int, // the largest exported length
    val signatures: List<SignatureSpec>, // one per length bucket
    val tokenizer: TokenizerSpec,
    val labels: Map<Int, String>, // empty when the manifest has none
    val quantizationRecipe: String?, // e.g. "int8-dynamic"; null for a float model
    val sizeBytes: Long?,
    val validation: ValidationSummary?, // null: the export was not validated
    val versions: Map<String, String>,
) {
    /** The label of class [index], falling back to Hugging Face's default name. */
    fun labelOf(index: Int): String = labels[index] ?: "LABEL_$index"

    companion object {
        const val FILE_NAME = "edgellm.json"

        /**
         * Parses the text of an edgellm.json. Unknown keys are ignored (the format grows by adding keys);
         * a missing or mistyped required key is a [ManifestException] naming its JSON path.
         */
        fun parse(text: String, source: String = FILE_NAME): Manifest {
            val root = try {
                Json.parse(text)
            } catch (e: JsonException) {
                throw ManifestException("$source is not valid JSON: ${e.message}; re-export the model folder", e)
            }
            try {
                return ManifestReader().read(Node(root, "\$", present = true))
            } catch (e: ManifestException) {
                throw ManifestException("$source: ${e.message}", e)
            }
        }
    }
}

/** A JSON value plus its path ("$.signatures[0].inputs[1].dtype"), so errors can say where they are. */
internal class Node(val value: Any?, val path: String, private val present: Boolean) {
    fun isNull() = value == null

    fun has(key: String): Boolean = (value as? Map<*, *>)?.let { it.containsKey(key) && it[key] != null } ?: false

    operator fun get(key: String): Node {
        val map = value as? Map<*, *> ?: throw typeError("an object")
        return Node(map[key], "$path.$key", map.containsKey(key))
    }

    fun list(): List<Node> {
        val list = value as? List<*> ?: throw typeError("an array")
        return list.mapIndexed { i, v -> Node(v, "$path[$i]", present = true) }
    }

    fun entries(): List<Pair<String, Node>> {
        val map = value as? Map<*, *> ?: throw typeError("an object")
        return map.entries.map { (k, v) -> k as String to Node(v, "$path.$k", present = true) }
    }

    fun string(): String = value as? String ?: throw typeError("a string")

    fun bool(): Boolean = value as? Boolean ?: throw typeError("true or false")

    fun long(): Long = when (val v = value) {
        is Long -> v
        is Double -> if (v == Math.floor(v) && !v.isInfinite() && Math.abs(v) < 9.0e15) v.toLong() else throw typeError("an integer")
        else -> throw typeError("an integer")
    }

    fun int(): Int {
        val v = long()
        if (v < Int.MIN_VALUE || v > Int.MAX_VALUE) throw ManifestException("$path: $v does not fit in 32 bits")
        return v.toInt()
    }

    fun double(): Double = when (val v = value) {
        is Long -> v.toDouble()
        is Double -> v
        else -> throw typeError("a number")
    }

    fun typeError(expected: String): ManifestException {
        if (!present) return ManifestException("$path is missing; expected $expected")
        val seen = when (val v = value) {
            null -> "null"
            is String -> "string \"${v.take(40)}\""
            is Boolean -> "$v"
            is Long, is Double -> "number $v"
            is Map<*, *> -> "an object"
            is List<*> -> "an array"
            else -> v.toString()
        }
        return ManifestException("$path: expected $expected, got $seen")
    }
}

internal class ManifestReader {
    fun read(root: Node): Manifest {
        if (root.value !is Map<*, *>) throw root.typeError("a JSON object at the top level")
        val version = root["format_version"].long()
        if (version != SUPPORTED_FORMAT_VERSION) {
            throw ManifestException(
                "format_version $version is not supported; this app reads format_version $SUPPORTED_FORMAT_VERSION. " +
                    "Update the app or re-export with a matching edgellm.",
            )
        }
        val task = Task.fromWire(root["task"].string(), "\$.task")
        val signatures = readSignatures(root)
        val sequenceLength = if (root.has("sequence_length")) root["sequence_length"].int() else signatures.maxOf { it.sequenceLength }
        return Manifest(
            formatVersion = version,
            task = task,
            modelType = if (root.has("model_type")) root["model_type"].string() else "unknown",
            modelFile = root["model_file"].string().also { checkFileName(it, "\$.model_file") },
            sequenceLength = sequenceLength,
            signatures = signatures,
            tokenizer = readTokenizer(root["tokenizer"]),
            labels = if (root.has("labels")) readLabels(root["labels"]) else emptyMap(),
            quantizationRecipe = readRecipe(root),
            sizeBytes = if (root.has("size_bytes")) root["size_bytes"].long() else null,
            validation = if (root.has("validation")) readValidation(root["validation"]) else null,
            versions = if (root.has("versions")) {
                root["versions"].entries().filter { it.second.value is String }.associate { it.first to it.second.string() }
            } else {
                emptyMap()
            },
        )
    }

    fun checkFileName(name: String, path: String) {
        if (name.isEmpty() || name.contains('/') || name.contains('\\') || name == "." || name == "..") {
            throw ManifestException("$path: '$name' must be a plain file name inside the export folder")
        }
    }

    private fun readSignatures(root: Node): List<SignatureSpec> {
        val signatures = if (root.has("signatures")) {
            root["signatures"].list().map { readSignature(it) }
        } else {
            // A manifest with only top-level inputs/outputs describes one signature.
            val inputs = root["inputs"].list().map { readTensor(it) }
            listOf(
                SignatureSpec(
                    name = "serving_default",
                    sequenceLength = if (root.has("sequence_length")) root["sequence_length"].int() else lengthFromInputs(inputs, "\$.inputs"),
                    inputs = inputs,
                    outputs = root["outputs"].list().map { readTensor(it) },
                ),
            )
        }
        if (signatures.isEmpty()) throw ManifestException("\$.signatures: expected at least one signature, got an empty array")
        val names = signatures.groupBy { it.name }.filter { it.value.size > 1 }.keys
        if (names.isNotEmpty()) throw ManifestException("\$.signatures: signature names must be unique, repeated: ${names.joinToString()}")
        return signatures
    }

    private fun readSignature(node: Node): SignatureSpec {
        val inputs = node["inputs"].list().map { readTensor(it) }
        if (inputs.isEmpty()) throw ManifestException("${node.path}.inputs: expected at least one input")
        val outputs = node["outputs"].list().map { readTensor(it) }
        if (outputs.isEmpty()) throw ManifestException("${node.path}.outputs: expected at least one output")
        val length = if (node.has("sequence_length")) node["sequence_length"].int() else lengthFromInputs(inputs, "${node.path}.inputs")
        if (length < 2) throw ManifestException("${node.path}.sequence_length: $length leaves no room for [CLS] and [SEP]; expected >= 2")
        return SignatureSpec(name = node["name"].string(), sequenceLength = length, inputs = inputs, outputs = outputs)
    }

    private fun lengthFromInputs(inputs: List<TensorSpec>, path: String): Int {
        val ids = inputs.firstOrNull { it.name == "input_ids" } ?: inputs.first()
        return ids.shape.getOrNull(1)?.takeIf { it > 0 }
            ?: throw ManifestException("$path: no sequence_length and '${ids.name}' has shape ${ids.shape}, expected [1, length]")
    }

    fun readTensor(node: Node): TensorSpec {
        val shape = node["shape"].list().map { it.int() }
        val q = node["quantization"]
        return TensorSpec(
            name = node["name"].string(),
            dtype = DType.fromWire(node["dtype"].string(), "${node.path}.dtype"),
            shape = shape,
            quantization = if (q.isNull()) null else readQuantization(q),
        )
    }

    private fun readQuantization(node: Node): Quantization {
        // Scale and zero point may be written as numbers or as one-element lists (per-tensor).
        fun single(n: Node): Node {
            if (n.value !is List<*>) return n
            val items = n.list()
            if (items.size != 1) {
                throw ManifestException("${n.path}: ${items.size} values (per-channel quantization) are not supported for model inputs/outputs; expected one")
            }
            return items[0]
        }
        val scale = single(node["scale"]).double()
        if (!(scale > 0.0) || scale.isInfinite()) throw ManifestException("${node.path}.scale: expected a positive finite number, got $scale")
        val zeroPoint = if (node.has("zero_point")) single(node["zero_point"]).long() else 0L
        return Quantization(scale, zeroPoint)
    }

    private fun readTokenizer(node: Node): TokenizerSpec {
        fun str(key: String, default: String) = if (node.has(key)) node[key].string() else default
        val files = if (node.has("files")) node["files"].list().map { it.string() } else emptyList()
        files.forEachIndexed { i, f -> checkFileName(f, "${node.path}.files[$i]") }
        return TokenizerSpec(
            files = files,
            kind = str("kind", "wordpiece"),
            doLowerCase = if (node.has("do_lower_case")) node["do_lower_case"].bool() else true,
            stripAccents = if (node.has("strip_accents")) node["strip_accents"].bool() else null,
            clsToken = str("cls_token", "[CLS]"),
            sepToken = str("sep_token", "[SEP]"),
            padToken = str("pad_token", "[PAD]"),
            unkToken = str("unk_token", "[UNK]"),
            maskToken = str("mask_token", "[MASK]"),
            padTokenId = if (node.has("pad_token_id")) node["pad_token_id"].int() else null,
        )
    }

    private fun readLabels(node: Node): Map<Int, String> {
        // JSON keys are strings: {"0": "NEGATIVE", "1": "POSITIVE"}. A list ["NEGATIVE", "POSITIVE"] is accepted too.
        if (node.value is List<*>) return node.list().mapIndexed { i, n -> i to n.string() }.toMap()
        return node.entries().associate { (key, value) ->
            val index = key.toIntOrNull() ?: throw ManifestException("${value.path}: label keys must be class indices like \"0\", got \"$key\"")
            index to value.string()
        }
    }

    fun readRecipe(root: Node): String? {
        if (!root.has("quantization")) return null
        val q = root["quantization"]
        return when {
            q.value is String -> q.string()
            q.has("recipe") -> q["recipe"].string()
            else -> null
        }
    }

    private fun readValidation(node: Node): ValidationSummary {
        fun numbers(n: Node): Map<String, Double> =
            n.entries().filter { it.second.value is Long || it.second.value is Double }.associate { it.first to it.second.double() }
        return ValidationSummary(
            passed = if (node.has("passed")) node["passed"].bool() else null,
            tolerance = if (node.has("tolerance") && node["tolerance"].value is Map<*, *>) numbers(node["tolerance"]) else emptyMap(),
            metrics = if (node.has("metrics") && node["metrics"].value is Map<*, *>) {
                node["metrics"].entries().filter { it.second.value is Map<*, *> }.associate { it.first to numbers(it.second) }
            } else {
                emptyMap()
            },
        )
    }
}
