package dev.edgellm.demo.core

import java.text.Normalizer
import java.util.Locale

/*
 * BERT's tokenizer as Hugging Face's `tokenizers` runs it (BertNormalizer + BertPreTokenizer + WordPiece, what
 * BertTokenizer uses in transformers 5 and BertTokenizerFast before; the same steps as Google's original code):
 *   1. special tokens written in the text ("[MASK]") are split off first and kept whole;
 *   2. BasicTokenizer: drop control characters, map whitespace to ' ', put spaces around CJK ideographs,
 *      strip accents (NFD, drop Mn marks; by default only when lowercasing), lowercase character by character,
 *      then split on whitespace and make every punctuation character a token of its own;
 *   3. WordpieceTokenizer: greedy longest-match-first against the vocabulary, continuation pieces
 *      prefixed with "##"; a word longer than 100 characters, or one that cannot be covered, is [UNK].
 * Worked example with BERT's vocabulary: "Hello, world!" -> [CLS] hello , world ! [SEP];
 * "unaffable" -> un ##aff ##able.
 * Differences from the older pure-Python BertTokenizer, all on rare input: no NFC normalization first,
 * no final-sigma rule when lowercasing ("ΟΔΟΣ" -> "οδοσ"), and the CJK block Ext-E starts at U+2B920.
 */

/** Character classes as the `tokenizers` crate defines them (categories via java.lang.Character). */
internal object CharClass {
    /** Unicode White_Space: \t..\r, U+0085 and categories Zs, Zl, Zp (Rust's char::is_whitespace). */
    fun isWhitespace(cp: Int): Boolean =
        cp in 0x09..0x0D || cp == 0x85 || Character.getType(cp).let {
            it == Character.SPACE_SEPARATOR.toInt() || it == Character.LINE_SEPARATOR.toInt() || it == Character.PARAGRAPH_SEPARATOR.toInt()
        }

    /**
     * Categories Cc, Cf, Co, Cs except \t \n \r, which count as whitespace. Unassigned code points (Cn) are kept,
     * as `tokenizers` keeps them (the older Python tokenizer dropped them).
     */
    fun isControl(cp: Int): Boolean {
        if (cp == '\t'.code || cp == '\n'.code || cp == '\r'.code) return false
        return when (Character.getType(cp)) {
            Character.CONTROL.toInt(), Character.FORMAT.toInt(), Character.PRIVATE_USE.toInt(), Character.SURROGATE.toInt(),
            -> true
            else -> false
        }
    }

    /** ASCII non-letters/digits (so "$", "^", "`" count, as in BERT) or any Unicode category P*. */
    fun isPunctuation(cp: Int): Boolean {
        if (cp in 33..47 || cp in 58..64 || cp in 91..96 || cp in 123..126) return true
        return when (Character.getType(cp)) {
            Character.CONNECTOR_PUNCTUATION.toInt(), Character.DASH_PUNCTUATION.toInt(),
            Character.START_PUNCTUATION.toInt(), Character.END_PUNCTUATION.toInt(),
            Character.INITIAL_QUOTE_PUNCTUATION.toInt(), Character.FINAL_QUOTE_PUNCTUATION.toInt(),
            Character.OTHER_PUNCTUATION.toInt(),
            -> true
            else -> false
        }
    }

    /** The CJK Unified Ideographs blocks BERT splits per character (not Hangul, Hiragana or Katakana). */
    fun isCjk(cp: Int): Boolean =
        cp in 0x4E00..0x9FFF || cp in 0x3400..0x4DBF || cp in 0x20000..0x2A6DF || cp in 0x2A700..0x2B73F ||
            cp in 0x2B740..0x2B81F || cp in 0x2B920..0x2CEAF || cp in 0xF900..0xFAFF || cp in 0x2F800..0x2FA1F
}

/** Step 2 of the file comment: text -> words and punctuation, before WordPiece. */
class BasicTokenizer(
    private val doLowerCase: Boolean = true,
    private val stripAccents: Boolean? = null, // null: strip exactly when lowercasing (BERT uncased)
    private val tokenizeChineseChars: Boolean = true,
) {
    fun tokenize(text: String): List<String> {
        var normalized: CharSequence = clean(text)
        if (stripAccents ?: doLowerCase) normalized = stripAccents(normalized)
        if (doLowerCase) normalized = lowercase(normalized)
        val out = ArrayList<String>()
        val current = StringBuilder()
        fun flush() {
            if (current.isNotEmpty()) out.add(current.toString())
            current.setLength(0)
        }
        normalized.codePoints().forEach { cp ->
            when {
                CharClass.isWhitespace(cp) -> flush()
                CharClass.isPunctuation(cp) -> {
                    flush()
                    out.add(String(Character.toChars(cp)))
                }
                else -> current.appendCodePoint(cp)
            }
        }
        flush()
        return out
    }

    private fun clean(text: String): StringBuilder {
        val out = StringBuilder(text.length + 8)
        text.codePoints().forEach { cp ->
            when {
                cp == 0 || cp == 0xFFFD || CharClass.isControl(cp) -> Unit
                cp == '\t'.code || cp == '\n'.code || cp == '\r'.code || CharClass.isWhitespace(cp) -> out.append(' ')
                tokenizeChineseChars && CharClass.isCjk(cp) -> out.append(' ').appendCodePoint(cp).append(' ')
                else -> out.appendCodePoint(cp)
            }
        }
        return out
    }

    private fun stripAccents(text: CharSequence): StringBuilder {
        val decomposed = Normalizer.normalize(text, Normalizer.Form.NFD)
        val out = StringBuilder(decomposed.length)
        decomposed.codePoints().forEach { cp ->
            if (Character.getType(cp) != Character.NON_SPACING_MARK.toInt()) out.appendCodePoint(cp)
        }
        return out
    }

    /** Each character on its own (full mapping, "İ" -> "i̇"), so no context rule such as Greek final sigma applies. */
    private fun lowercase(text: CharSequence): StringBuilder {
        val out = StringBuilder(text.length)
        text.codePoints().forEach { cp ->
            when {
                cp < 0x80 -> out.append(if (cp in 'A'.code..'Z'.code) (cp + 32).toChar() else cp.toChar())
                else -> out.append(String(Character.toChars(cp)).lowercase(Locale.ROOT))
            }
        }
        return out
    }
}

/** Step 3 of the file comment: one word -> wordpieces. */
class WordpieceTokenizer(
    private val vocab: Vocab,
    private val unkToken: String = "[UNK]",
    private val maxInputCharsPerWord: Int = 100, // counted in code points, as Python's len() does
) {
    fun tokenize(word: String): List<String> {
        val cps = word.codePoints().toArray()
        if (cps.size > maxInputCharsPerWord) return listOf(unkToken)
        val pieces = ArrayList<String>()
        var start = 0
        while (start < cps.size) {
            var end = cps.size
            var found: String? = null
            while (start < end) {
                val sub = String(cps, start, end - start)
                val candidate = if (start > 0) "##$sub" else sub
                if (candidate in vocab) {
                    found = candidate
                    break
                }
                end--
            }
            if (found == null) return listOf(unkToken) // the whole word, not just the uncovered rest
            pieces.add(found)
            start = end
        }
        return pieces
    }
}

/**
 * Model inputs for one text (or a text pair) at one sequence length.
 * Layout for a pair: [CLS] a... [SEP] b... [SEP] [PAD]...; tokenTypeIds 0 for the first segment
 * (with its [CLS] and [SEP]), 1 for the second; attentionMask 1 on real tokens, 0 on padding.
 */
class Encoding(
    val tokens: List<String>, // real tokens only, with [CLS]/[SEP], no padding
    val inputIds: IntArray, // [sequenceLength]
    val attentionMask: IntArray, // [sequenceLength]
    val tokenTypeIds: IntArray, // [sequenceLength]
    val truncated: Boolean, // some wordpieces did not fit
) {
    val sequenceLength: Int get() = inputIds.size

    /** Number of real (non-padding) positions. */
    val length: Int get() = tokens.size

    /** Positions of the second segment (the context of a question), empty for a single text. */
    fun secondSegment(): IntRange {
        val first = tokenTypeIds.indexOfFirst { it == 1 }
        if (first < 0) return IntRange.EMPTY
        return first until length - 1 // the final [SEP] is not context
    }
}

/** WordPiece tokenizer configured from a manifest's "tokenizer" section. */
class BertTokenizer(private val vocab: Vocab, spec: TokenizerSpec) {
    val clsToken = spec.clsToken
    val sepToken = spec.sepToken
    val unkToken = spec.unkToken
    val maskToken = spec.maskToken
    private val basic = BasicTokenizer(spec.doLowerCase, spec.stripAccents, spec.tokenizeChineseChars)
    private val wordpiece = WordpieceTokenizer(vocab, spec.unkToken)
    private val padId: Int
    private val specialTokens: List<String> // longest first, so "[MASK]" wins over a shorter prefix

    init {
        for ((role, token) in listOf("cls" to clsToken, "sep" to sepToken, "unk" to unkToken)) {
            if (token !in vocab) throw TokenizerException("${role}_token '$token' is not in the vocabulary; the tokenizer files do not match the manifest")
        }
        padId = spec.padTokenId ?: vocab.id(spec.padToken)
            ?: throw TokenizerException("pad_token '${spec.padToken}' is not in the vocabulary and the manifest has no pad_token_id")
        specialTokens = listOf(clsToken, sepToken, spec.padToken, unkToken, maskToken)
            .filter { it in vocab }.distinct().sortedByDescending { it.length }
    }

    /** Text -> wordpieces, without [CLS]/[SEP]. Special tokens typed in the text are kept whole. */
    fun tokenize(text: String): List<String> {
        val out = ArrayList<String>()
        var rest = 0
        var i = 0
        while (i < text.length) {
            val special = specialTokens.firstOrNull { text.startsWith(it, i) }
            if (special == null) {
                i++
                continue
            }
            tokenizePlain(text.substring(rest, i), out)
            out.add(special)
            i += special.length
            rest = i
        }
        tokenizePlain(text.substring(rest), out)
        return out
    }

    private fun tokenizePlain(text: String, out: MutableList<String>) {
        for (word in basic.tokenize(text)) out.addAll(wordpiece.tokenize(word))
    }

    /** Positions an encoding of these wordpieces needs before padding: pieces plus [CLS]/[SEP] (and a second [SEP] for a pair). */
    fun neededLength(first: List<String>, second: List<String>? = null): Int =
        first.size + 2 + (second?.let { it.size + 1 } ?: 0)

    /**
     * Builds padded inputs of exactly [sequenceLength] positions. When the pieces do not fit, a single text
     * keeps its first pieces; a pair drops pieces one at a time from the longer segment (the second on ties),
     * Hugging Face's "longest_first" truncation.
     */
    fun encode(first: List<String>, sequenceLength: Int, second: List<String>? = null): Encoding {
        val specials = if (second == null) 2 else 3
        if (sequenceLength < specials) throw TokenizerException("sequence length $sequenceLength cannot hold the $specials special tokens")
        var a = first
        var b = second ?: emptyList()
        val budget = sequenceLength - specials
        val truncated = a.size + b.size > budget
        if (second == null) {
            if (truncated) a = a.subList(0, budget)
        } else {
            var keepA = a.size
            var keepB = b.size
            while (keepA + keepB > budget) {
                if (keepA > keepB) keepA-- else keepB--
            }
            a = a.subList(0, keepA)
            b = b.subList(0, keepB)
        }
        val tokens = ArrayList<String>(sequenceLength)
        tokens.add(clsToken)
        tokens.addAll(a)
        tokens.add(sepToken)
        val secondStart = tokens.size
        if (second != null) {
            tokens.addAll(b)
            tokens.add(sepToken)
        }
        val ids = IntArray(sequenceLength) { padId }
        val mask = IntArray(sequenceLength)
        val types = IntArray(sequenceLength)
        val unkId = vocab.id(unkToken)!!
        tokens.forEachIndexed { pos, token ->
            ids[pos] = vocab.id(token) ?: unkId
            mask[pos] = 1
            if (second != null && pos >= secondStart) types[pos] = 1
        }
        return Encoding(tokens, ids, mask, types, truncated)
    }

    /** Turns wordpieces back into text: "##" pieces join the previous one, others are separated by a space. */
    fun detokenize(pieces: List<String>): String {
        val sb = StringBuilder()
        for (p in pieces) {
            if (p.startsWith("##")) {
                sb.append(p, 2, p.length)
            } else {
                if (sb.isNotEmpty()) sb.append(' ')
                sb.append(p)
            }
        }
        return sb.toString()
    }

    fun tokenOf(id: Int): String = vocab.token(id)
}
