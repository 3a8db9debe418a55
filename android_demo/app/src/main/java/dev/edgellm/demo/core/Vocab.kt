package dev.edgellm.demo.core

import java.io.File

/** A WordPiece vocabulary: token <-> id. */
class Vocab(tokens: List<String>) {
    private val idOf: Map<String, Int>
    private val tokenOf: Array<String> = tokens.toTypedArray()

    init {
        val map = HashMap<String, Int>(tokens.size * 2)
        // vocab.txt semantics: the line number is the id; a repeated token keeps its first id.
        tokens.forEachIndexed { i, t -> map.putIfAbsent(t, i) }
        idOf = map
    }

    val size: Int get() = tokenOf.size

    operator fun contains(token: String): Boolean = token in idOf

    fun id(token: String): Int? = idOf[token]

    fun token(id: Int): String = tokenOf.getOrNull(id) ?: throw TokenizerException("token id $id is outside the vocabulary of $size tokens")

    companion object {
        /** vocab.txt: one token per line, the 0-based line number is its id (BERT's format). */
        fun fromVocabTxt(text: String): Vocab {
            val lines = text.split('\n').map { it.removeSuffix("\r") }
            // A trailing newline ends the last line; it does not add an empty token.
            val tokens = if (lines.isNotEmpty() && lines.last().isEmpty()) lines.dropLast(1) else lines
            if (tokens.isEmpty()) throw TokenizerException("vocab.txt is empty")
            return Vocab(tokens)
        }

        /** tokenizer.json of a WordPiece model: {"model": {"type": "WordPiece", "vocab": {"[PAD]": 0, ...}}}. */
        fun fromTokenizerJson(text: String): Vocab = fromTokenizerJson(parseTokenizerJson(text))

        fun fromTokenizerJson(root: Any?): Vocab {
            val model = (root as? Map<*, *>)?.get("model") as? Map<*, *>
                ?: throw TokenizerException("tokenizer.json has no \"model\" object")
            val type = model["type"] as? String
            if (type != null && type != "WordPiece") {
                throw TokenizerException("tokenizer.json holds a $type model; this app encodes WordPiece only")
            }
            val vocab = model["vocab"] as? Map<*, *> ?: throw TokenizerException("tokenizer.json has no model.vocab object")
            val tokens = arrayOfNulls<String>(vocab.size)
            for ((token, id) in vocab) {
                val index = (id as? Long)?.toInt() ?: throw TokenizerException("tokenizer.json: model.vocab[\"$token\"] is not an integer id")
                if (index < 0 || index >= tokens.size || tokens[index] != null) {
                    throw TokenizerException("tokenizer.json: model.vocab ids must be 0..${tokens.size - 1} without gaps or repeats; see id $index")
                }
                tokens[index] = token as String
            }
            return Vocab(tokens.map { it!! })
        }

        internal fun parseTokenizerJson(text: String): Any? = try {
            Json.parse(text)
        } catch (e: JsonException) {
            throw TokenizerException("tokenizer.json is not valid JSON: ${e.message}", e)
        }
    }
}

/**
 * The tokenizer of an export folder. The vocabulary comes from vocab.txt when present, else tokenizer.json;
 * tokenizer.json's BertNormalizer settings (strip_accents, handle_chinese_chars) complete the manifest's
 * "tokenizer" section, which wins where it says something.
 */
fun loadBertTokenizer(dir: File, spec: TokenizerSpec): BertTokenizer {
    if (spec.kind != "wordpiece") {
        throw TokenizerException("tokenizer kind '${spec.kind}' is not supported by this app; supported: wordpiece (BERT-style models)")
    }
    val vocabTxt = File(dir, "vocab.txt")
    val tokenizerJson = File(dir, "tokenizer.json")
    val root = if (tokenizerJson.isFile) Vocab.parseTokenizerJson(tokenizerJson.readText(Charsets.UTF_8)) else null
    val vocab = when {
        vocabTxt.isFile -> Vocab.fromVocabTxt(vocabTxt.readText(Charsets.UTF_8))
        root != null -> Vocab.fromTokenizerJson(root)
        else -> throw ModelFileException("neither vocab.txt nor tokenizer.json is in $dir; re-export the folder with its tokenizer files")
    }
    return BertTokenizer(vocab, withNormalizerOf(root, spec))
}

/** [spec] completed by tokenizer.json's normalizer when it is a BertNormalizer. */
internal fun withNormalizerOf(tokenizerJson: Any?, spec: TokenizerSpec): TokenizerSpec {
    val normalizer = (tokenizerJson as? Map<*, *>)?.get("normalizer") as? Map<*, *> ?: return spec
    if (normalizer["type"] != "BertNormalizer") return spec
    return spec.copy(
        stripAccents = spec.stripAccents ?: normalizer["strip_accents"] as? Boolean,
        tokenizeChineseChars = normalizer["handle_chinese_chars"] as? Boolean ?: spec.tokenizeChineseChars,
    )
}
