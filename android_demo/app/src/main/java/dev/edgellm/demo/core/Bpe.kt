package dev.edgellm.demo.core

import java.io.File
import java.io.IOException
import java.text.Normalizer
import java.util.regex.Pattern

/**
 * The BPE tokenizer of a decoder LLM, read from its tokenizer.json (Hugging Face `tokenizers`), with the same
 * pipeline: added tokens split out first -> normalizer -> pre-tokenizer -> BPE merges -> post-processor; decoding
 * runs the decoder chain. What the exports of this project use is supported, and anything else is refused when
 * the file is loaded, with its JSON path:
 *
 *   normalizer      null, NFC, NFKC, NFD, Lowercase, Prepend, Replace, Sequence
 *   pre_tokenizer   null, ByteLevel (GPT-2, SmolLM2), Metaspace (Llama/SentencePiece), Split, Digits, Sequence
 *   model           BPE: merges as "a b" or ["a", "b"], byte_fallback, ignore_merges, unk_token, fuse_unk
 *   post_processor  null, TemplateProcessing (e.g. "<s> $A"), ByteLevel, Sequence
 *   decoder         ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence
 *
 * Example (SmolLM2): encode("Hello world") -> [19556, 905]; decode([19556, 905]) -> "Hello world".
 * tools/compare_llm_tokenizer.py checks it against `tokenizers` on a real vocabulary.
 */
class BpeTokenizer(root: Any?) {
    private val vocab = HashMap<String, Int>()
    private val idToToken: Array<String?>
    private val ranks = HashMap<String, Int>() // "a b" -> merge rank
    private val unkToken: String?
    private val byteFallback: Boolean
    private val ignoreMerges: Boolean
    private val fuseUnk: Boolean
    private val prefix: String // continuing_subword_prefix
    private val suffix: String // end_of_word_suffix
    private val added: List<AddedToken>
    private val specialIds = HashSet<Int>()
    private val normalizers: List<Node>
    private val preTokenizers: List<Node>
    private val decoders: List<Node>
    private val template: List<Node> // TemplateProcessing's "single"
    private val templateIds = HashMap<String, List<Int>>()
    private val cache = HashMap<String, IntArray>()

    private class AddedToken(val content: String, val id: Int, val special: Boolean, val lstrip: Boolean, val rstrip: Boolean)

    val vocabSize: Int get() = idToToken.size

    init {
        val r = Node(root, "tokenizer.json", present = true)
        if (r.value !is Map<*, *>) throw TokenizerException("tokenizer.json: expected a JSON object")
        val model = r["model"]
        val type = if (model.has("type")) model["type"].string() else "BPE"
        if (type != "BPE") throw TokenizerException("${model.path}.type '$type' is not supported by the app's LLM tokenizer; only BPE is")
        for ((token, id) in model["vocab"].entries()) vocab[token] = id.int()
        model["merges"].list().forEachIndexed { rank, m ->
            val pair = if (m.value is String) m.string() else m.list().joinToString(" ") { it.string() }
            ranks.putIfAbsent(pair, rank)
        }
        unkToken = if (model.has("unk_token")) model["unk_token"].string() else null
        byteFallback = model.has("byte_fallback") && model["byte_fallback"].bool()
        ignoreMerges = model.has("ignore_merges") && model["ignore_merges"].bool()
        fuseUnk = model.has("fuse_unk") && model["fuse_unk"].bool()
        prefix = if (model.has("continuing_subword_prefix")) model["continuing_subword_prefix"].string() else ""
        suffix = if (model.has("end_of_word_suffix")) model["end_of_word_suffix"].string() else ""
        added = if (r.has("added_tokens")) {
            r["added_tokens"].list().map {
                fun flag(key: String) = it.has(key) && it[key].bool()
                AddedToken(it["content"].string(), it["id"].int(), flag("special"), flag("lstrip"), flag("rstrip"))
            }.sortedByDescending { it.content.length } // longest match first
        } else {
            emptyList()
        }
        for (a in added) {
            vocab[a.content] = a.id
            if (a.special) specialIds.add(a.id)
        }
        idToToken = arrayOfNulls((vocab.values.maxOrNull() ?: -1) + 1)
        for ((token, id) in vocab) idToToken[id] = token
        normalizers = flatten(r["normalizer"], "normalizers", NORMALIZERS)
        preTokenizers = flatten(r["pre_tokenizer"], "pretokenizers", PRE_TOKENIZERS)
        decoders = flatten(r["decoder"], "decoders", DECODERS)
        template = flatten(r["post_processor"], "processors", PROCESSORS).filter { it["type"].string() == "TemplateProcessing" }
            .flatMap { p ->
                if (p.has("special_tokens")) {
                    for ((name, spec) in p["special_tokens"].entries()) templateIds[name] = spec["ids"].list().map { it.int() }
                }
                p["single"].list()
            }
    }

    /** Token ids of [text]; [addSpecialTokens] applies the post-processor's template (e.g. a leading BOS). */
    fun encode(text: String, addSpecialTokens: Boolean = true): IntArray {
        val ids = ArrayList<Int>()
        var first = true
        for ((segment, addedId) in splitAdded(text)) {
            if (addedId != null) {
                ids.add(addedId)
            } else {
                for (word in preTokenize(normalize(segment), isFirst = first)) for (id in bpe(word)) ids.add(id)
            }
            first = false
        }
        if (!addSpecialTokens || template.isEmpty()) return ids.toIntArray()
        val out = ArrayList<Int>()
        for (item in template) {
            when {
                item.has("Sequence") -> out.addAll(ids)
                item.has("SpecialToken") -> {
                    val name = item["SpecialToken"]["id"].string()
                    out.addAll(templateIds[name] ?: listOf(vocab[name] ?: throw TokenizerException("post-processor token '$name' is not in the vocabulary")))
                }
            }
        }
        return out.toIntArray()
    }

    /** The text of [ids]; special tokens (BOS, EOS, chat markers) are left out when [skipSpecialTokens]. */
    fun decode(ids: IntArray, skipSpecialTokens: Boolean = true): String {
        // as `tokenizers`: ids without a token (a model vocabulary padded past the tokenizer's) are left out
        var tokens = ids.filter { !(skipSpecialTokens && it in specialIds) }.mapNotNull { idToToken.getOrNull(it) }
        for (d in decoders) tokens = decodeStep(d, tokens)
        return tokens.joinToString("")
    }

    fun token(id: Int): String = idToToken.getOrNull(id) ?: throw TokenizerException("token id $id is outside the vocabulary of $vocabSize tokens")

    fun id(token: String): Int? = vocab[token]

    // ------------------------------------------------------------------ encoding steps

    /** Text cut at added tokens (longest first, leftmost): (text, null) pieces and (content, id) matches. */
    private fun splitAdded(text: String): List<Pair<String, Int?>> {
        val out = ArrayList<Pair<String, Int?>>()
        var start = 0
        var i = 0
        while (i < text.length) {
            val hit = added.firstOrNull { text.startsWith(it.content, i) }
            if (hit == null) {
                i++
                continue
            }
            var before = text.substring(start, i)
            if (hit.lstrip) before = before.trimEnd()
            if (before.isNotEmpty()) out.add(before to null)
            out.add(hit.content to hit.id)
            i += hit.content.length
            if (hit.rstrip) while (i < text.length && text[i].isWhitespace()) i++
            start = i
        }
        if (start < text.length) out.add(text.substring(start) to null)
        return out
    }

    private fun normalize(text: String): String = normalizers.fold(text) { s, n ->
        when (n["type"].string()) {
            "NFC" -> Normalizer.normalize(s, Normalizer.Form.NFC)
            "NFKC" -> Normalizer.normalize(s, Normalizer.Form.NFKC)
            "NFD" -> Normalizer.normalize(s, Normalizer.Form.NFD)
            "Lowercase" -> s.lowercase()
            "Prepend" -> if (s.isEmpty()) s else n["prepend"].string() + s
            "Replace" -> pattern(n["pattern"]).matcher(s).replaceAll(java.util.regex.Matcher.quoteReplacement(n["content"].string()))
            else -> s
        }
    }

    private fun preTokenize(text: String, isFirst: Boolean): List<String> {
        var pieces = listOf(text)
        for (p in preTokenizers) {
            pieces = when (p["type"].string()) {
                "ByteLevel" -> pieces.flatMap { piece ->
                    val s = if (p.has("add_prefix_space") && p["add_prefix_space"].bool() && !piece.startsWith(" ")) " $piece" else piece
                    val words = if (!p.has("use_regex") || p["use_regex"].bool()) findAll(GPT2_SPLIT, s) else listOf(s)
                    words.map { byteLevel(it) }
                }
                "Metaspace" -> pieces.flatMap { piece -> metaspace(p, piece, isFirst) }
                "Split" -> pieces.flatMap { split(it, pattern(p["pattern"]), p["behavior"].string(), p.has("invert") && p["invert"].bool()) }
                "Digits" -> pieces.flatMap {
                    split(it, if (p.has("individual_digits") && p["individual_digits"].bool()) DIGIT else DIGITS, "Isolated", false)
                }
                else -> pieces
            }
        }
        return pieces.filter { it.isNotEmpty() }
    }

    private fun metaspace(p: Node, piece: String, isFirst: Boolean): List<String> {
        val mark = if (p.has("replacement")) p["replacement"].string() else "▁"
        val scheme = metaspaceScheme(p)
        var s = piece.replace(" ", mark)
        if (!s.startsWith(mark) && (scheme == "always" || (scheme == "first" && isFirst))) s = mark + s
        if (p.has("split") && !p["split"].bool()) return listOf(s)
        return split(s, Pattern.compile(Pattern.quote(mark)), "MergedWithNext", false)
    }

    /** One pre-token through BPE: characters (or bytes, with byte_fallback) merged by rank; cached. */
    private fun bpe(word: String): IntArray = cache.getOrPut(word) {
        if (ignoreMerges) vocab[word]?.let { return@getOrPut intArrayOf(it) }
        val chars = word.codePoints().toArray().map { String(Character.toChars(it)) }
        val symbols = chars.mapIndexed { i, c -> (if (i > 0) prefix else "") + c + (if (i == chars.size - 1) suffix else "") }.toMutableList()
        while (symbols.size > 1) {
            var best = -1
            var bestRank = Int.MAX_VALUE
            for (i in 0 until symbols.size - 1) {
                val rank = ranks["${symbols[i]} ${symbols[i + 1]}"] ?: continue
                if (rank < bestRank) {
                    bestRank = rank
                    best = i
                }
            }
            if (best < 0) break
            val right = symbols.removeAt(best + 1)
            symbols[best] = symbols[best] + (if (prefix.isNotEmpty() && right.startsWith(prefix)) right.substring(prefix.length) else right)
        }
        val ids = ArrayList<Int>()
        var lastUnk = false
        for (s in symbols) {
            val id = vocab[s]
            if (id != null) {
                ids.add(id)
                lastUnk = false
                continue
            }
            val bytes = s.toByteArray(Charsets.UTF_8).map { vocab["<0x%02X>".format(it.toInt() and 0xFF)] }
            if (byteFallback && bytes.all { it != null }) {
                bytes.forEach { ids.add(it!!) }
                lastUnk = false
                continue
            }
            // as `tokenizers`: without an unk_token, a piece outside the vocabulary is dropped
            val unk = unkToken?.let { vocab[it] } ?: continue
            if (!(fuseUnk && lastUnk)) ids.add(unk)
            lastUnk = true
        }
        ids.toIntArray()
    }.also { if (cache.size > 50_000) cache.clear() }

    // ------------------------------------------------------------------ decoding steps

    private fun decodeStep(d: Node, tokens: List<String>): List<String> = when (d["type"].string()) {
        "ByteLevel" -> listOf(utf8(tokens.joinToString("").codePoints().toArray().flatMap { cp ->
            BYTE_DECODER[cp]?.let { listOf(it) } ?: String(Character.toChars(cp)).toByteArray(Charsets.UTF_8).toList()
        }.toByteArray()))
        "Metaspace" -> {
            val mark = if (d.has("replacement")) d["replacement"].string() else "▁"
            val strip = metaspaceScheme(d) != "never"
            tokens.mapIndexed { i, t -> t.replace(mark, " ").let { if (i == 0 && strip && it.startsWith(" ")) it.substring(1) else it } }
        }
        "Replace" -> tokens.map { pattern(d["pattern"]).matcher(it).replaceAll(java.util.regex.Matcher.quoteReplacement(d["content"].string())) }
        "ByteFallback" -> {
            val out = ArrayList<String>()
            val pending = ArrayList<Byte>()
            fun flush() {
                if (pending.isEmpty()) return
                val bytes = pending.toByteArray()
                val text = utf8(bytes)
                // as `tokenizers`: bytes that are not valid UTF-8 become one U+FFFD each
                if (text.contains('\uFFFD')) repeat(bytes.size) { out.add("\uFFFD") } else out.add(text)
                pending.clear()
            }
            for (t in tokens) {
                val m = BYTE_TOKEN.matcher(t)
                if (m.matches()) pending.add(m.group(1).toInt(16).toByte()) else {
                    flush()
                    out.add(t)
                }
            }
            flush()
            out
        }
        "Fuse" -> listOf(tokens.joinToString(""))
        "Strip" -> {
            val content = d["content"].string()
            val start = d["start"].int()
            val stop = d["stop"].int()
            tokens.map { t ->
                var s = t
                repeat(start) { if (s.startsWith(content)) s = s.substring(content.length) }
                repeat(stop) { if (s.endsWith(content)) s = s.substring(0, s.length - content.length) }
                s
            }
        }
        else -> tokens
    }

    companion object {
        private val NORMALIZERS = setOf("NFC", "NFKC", "NFD", "Lowercase", "Prepend", "Replace")
        private val PRE_TOKENIZERS = setOf("ByteLevel", "Metaspace", "Split", "Digits")
        private val DECODERS = setOf("ByteLevel", "Metaspace", "Replace", "ByteFallback", "Fuse", "Strip")
        private val PROCESSORS = setOf("TemplateProcessing", "ByteLevel")

        // GPT-2's pre-tokenizer regex, as `tokenizers` runs it (Unicode \s, \p{L}, \p{N})
        private val GPT2_SPLIT: Pattern = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS,
        )
        private val DIGIT: Pattern = Pattern.compile("\\p{N}", Pattern.UNICODE_CHARACTER_CLASS)
        private val DIGITS: Pattern = Pattern.compile("\\p{N}+", Pattern.UNICODE_CHARACTER_CLASS)
        private val BYTE_TOKEN: Pattern = Pattern.compile("<0x([0-9A-Fa-f]{2})>")

        /** GPT-2's byte -> printable character table (bytes_to_unicode) and its inverse. */
        private val BYTE_ENCODER: Array<String> = run {
            val direct = (33..126) + (161..172) + (174..255)
            var next = 256
            Array(256) { b -> String(Character.toChars(if (b in direct) b else next++)) }
        }
        private val BYTE_DECODER: Map<Int, Byte> = BYTE_ENCODER.withIndex().associate { (b, s) -> s.codePointAt(0) to b.toByte() }

        fun load(file: File): BpeTokenizer {
            val text = try {
                file.readText(Charsets.UTF_8)
            } catch (e: IOException) {
                throw ModelFileException("cannot read $file: ${e.message}; copy the whole export folder", e)
            }
            val root = try {
                Json.parse(text)
            } catch (e: JsonException) {
                throw TokenizerException("$file is not valid JSON: ${e.message}; re-export the model folder", e)
            }
            return try {
                BpeTokenizer(root)
            } catch (e: ManifestException) { // a Node type error: say which file
                throw TokenizerException("$file: ${e.message}", e)
            }
        }

        private fun byteLevel(s: String): String = s.toByteArray(Charsets.UTF_8).joinToString("") { BYTE_ENCODER[it.toInt() and 0xFF] }

        private fun utf8(bytes: ByteArray): String = Charsets.UTF_8.newDecoder()
            .onMalformedInput(java.nio.charset.CodingErrorAction.REPLACE)
            .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPLACE)
            .decode(java.nio.ByteBuffer.wrap(bytes)).toString()

        private fun metaspaceScheme(n: Node): String = when {
            n.has("prepend_scheme") -> n["prepend_scheme"].string()
            n.has("add_prefix_space") -> if (n["add_prefix_space"].bool()) "always" else "never" // tokenizers < 0.19
            else -> "always"
        }

        private fun pattern(n: Node): Pattern = when {
            n.has("String") -> Pattern.compile(Pattern.quote(n["String"].string()))
            n.has("Regex") -> Pattern.compile(n["Regex"].string(), Pattern.UNICODE_CHARACTER_CLASS)
            else -> throw TokenizerException("${n.path}: expected {\"String\": ...} or {\"Regex\": ...}")
        }

        private fun findAll(p: Pattern, s: String): List<String> {
            val m = p.matcher(s)
            val out = ArrayList<String>()
            while (m.find()) out.add(m.group())
            return out
        }

        /** `tokenizers`' Split: [behavior] says where each match goes (Isolated, Removed, MergedWith*, Contiguous). */
        private fun split(s: String, p: Pattern, behavior: String, invert: Boolean): List<String> {
            // (start, end, isMatch) spans covering s
            val spans = ArrayList<Triple<Int, Int, Boolean>>()
            val m = p.matcher(s)
            var last = 0
            while (m.find()) {
                if (m.end() == m.start()) continue
                if (m.start() > last) spans.add(Triple(last, m.start(), invert))
                spans.add(Triple(m.start(), m.end(), !invert))
                last = m.end()
            }
            if (last < s.length) spans.add(Triple(last, s.length, invert))
            val out = ArrayList<String>()
            when (behavior) {
                "Isolated" -> spans.forEach { out.add(s.substring(it.first, it.second)) }
                "Removed" -> spans.filter { !it.third }.forEach { out.add(s.substring(it.first, it.second)) }
                "MergedWithPrevious" -> {
                    var start = 0
                    for (sp in spans) if (sp.third) {
                        out.add(s.substring(start, sp.second))
                        start = sp.second
                    }
                    if (start < s.length) out.add(s.substring(start))
                }
                "MergedWithNext" -> {
                    var start = 0
                    for (sp in spans) if (sp.third && sp.first > start) {
                        out.add(s.substring(start, sp.first))
                        start = sp.first
                    }
                    if (start < s.length) out.add(s.substring(start))
                }
                "Contiguous" -> {
                    var i = 0
                    while (i < spans.size) {
                        var j = i
                        while (j + 1 < spans.size && spans[j + 1].third == spans[i].third) j++
                        out.add(s.substring(spans[i].first, spans[j].second))
                        i = j + 1
                    }
                }
                else -> throw TokenizerException("Split behavior '$behavior' is not supported; supported: Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous")
            }
            return out.filter { it.isNotEmpty() }
        }

        /** A component and, for a Sequence, its members, flattened; an unsupported type is refused by name. */
        private fun flatten(n: Node, key: String, supported: Set<String>): List<Node> {
            if (n.isNull()) return emptyList()
            val type = n["type"].string()
            if (type == "Sequence") return n[key].list().flatMap { flatten(it, key, supported) }
            if (type !in supported) {
                throw TokenizerException("${n.path}.type '$type' is not supported by the app's LLM tokenizer; supported: ${supported.joinToString(", ")}, Sequence")
            }
            return listOf(n)
        }
    }
}
