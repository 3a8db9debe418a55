package dev.edgellm.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

class WordPieceTest {
    private val tok = testTokenizer()

    private fun pieces(text: String, t: BertTokenizer = tok) = t.tokenize(text)

    @Test
    fun helloWorldMatchesBert() {
        val enc = tok.encode(pieces("Hello, world!"), 8)
        assertEquals(listOf("[CLS]", "hello", ",", "world", "!", "[SEP]"), enc.tokens)
        assertArrayEquals(intArrayOf(2, 5, 7, 6, 8, 3, 0, 0), enc.inputIds)
        assertArrayEquals(intArrayOf(1, 1, 1, 1, 1, 1, 0, 0), enc.attentionMask)
        assertArrayEquals(IntArray(8), enc.tokenTypeIds)
        assertFalse(enc.truncated)
    }

    @Test
    fun unaffableSplitsGreedilyLongestFirst() {
        assertEquals(listOf("un", "##aff", "##able"), pieces("unaffable"))
        assertEquals(listOf("cat", "##s", "play", "##ing"), pieces("cats playing"))
    }

    @Test
    fun wordThatCannotBeCoveredIsOneUnk() {
        // "un ##aff ##able" covers the start, but "x" has no "##x": the whole word becomes [UNK], not a partial split.
        assertEquals(listOf("[UNK]"), pieces("unaffablex"))
        assertEquals(listOf("the", "[UNK]", "sat"), pieces("the dog sat"))
    }

    @Test
    fun wordsLongerThan100CharactersAreUnk() {
        val wp = WordpieceTokenizer(Vocab(listOf("[UNK]", "a", "##a")), "[UNK]")
        assertEquals(listOf("a") + List(99) { "##a" }, wp.tokenize("a".repeat(100)))
        assertEquals(listOf("[UNK]"), wp.tokenize("a".repeat(101)))
        // Counted in code points: 100 astral characters are 200 UTF-16 units but still 100 characters.
        val wpAstral = WordpieceTokenizer(Vocab(listOf("[UNK]", "\uD83D\uDE00", "##\uD83D\uDE00")), "[UNK]")
        assertEquals(100, wpAstral.tokenize("\uD83D\uDE00".repeat(100)).size)
    }

    @Test
    fun lowercasesAndStripsAccentsWhenUncased() {
        assertEquals(listOf("cafe", "naive"), pieces("Café NAÏVE"))
        // Decomposed input (e + combining acute) gives the same result.
        assertEquals(listOf("cafe"), pieces("Cafe\u0301"))
    }

    @Test
    fun casedModelKeepsCaseAndAccents() {
        val cased = testTokenizer(doLowerCase = false)
        assertEquals(listOf("Hello", ",", "world", "!"), pieces("Hello, world!", cased))
        assertEquals(listOf("[UNK]"), pieces("Café", cased))
        // strip_accents=true on a cased model strips without lowercasing.
        assertEquals(listOf("[UNK]", "naive"), pieces("Cafe naïve", testTokenizer(doLowerCase = false, stripAccents = true)))
        // strip_accents=false on an uncased model lowercases only.
        assertEquals(listOf("[UNK]"), pieces("Café", testTokenizer(doLowerCase = true, stripAccents = false)))
    }

    @Test
    fun lowercasingIsPerCharacterWithoutNormalizingFirst() {
        // As Hugging Face's tokenizers: no Greek final-sigma rule, full mappings such as U+0130 -> "i" + U+0307.
        assertEquals(listOf("οδοσ"), BasicTokenizer().tokenize("ΟΔΟΣ"))
        assertEquals(listOf("i\u0307stanbul"), BasicTokenizer(stripAccents = false).tokenize("İstanbul"))
        assertEquals(listOf("istanbul"), BasicTokenizer().tokenize("İstanbul"))
        // A cased model keeps decomposed text as it is (no NFC), so "e" + U+0301 stays two characters.
        assertEquals(listOf("Cafe\u0301"), BasicTokenizer(doLowerCase = false).tokenize("Cafe\u0301"))
    }

    @Test
    fun cjkCharactersBecomeSeparateWords() {
        assertEquals(listOf("你", "好"), pieces("你好"))
        assertEquals(listOf("你", "好", "world"), pieces("你好world"))
    }

    @Test
    fun punctuationIsSplitOffIncludingAsciiSymbols() {
        assertEquals(listOf("cat", "'", "[UNK]"), pieces("cat's"))
        assertEquals(listOf("hello", "[UNK]", "world"), pieces("hello\$world")) // '$' is punctuation to BERT
        assertEquals(listOf("hello", ".", ".", "."), pieces("hello..."))
    }

    @Test
    fun whitespaceAndControlCharactersAreCleaned() {
        assertEquals(listOf("hello", "world", "!"), pieces("  hello\tworld\u00A0!\n"))
        assertEquals(listOf("hello"), pieces("he\u0000ll\u200Bo")) // NUL and a zero-width space (Cf) are dropped
        assertEquals(listOf("hello", "world"), pieces("hello\u2028world")) // LINE SEPARATOR is White_Space
        assertEquals(emptyList<String>(), pieces(" \t\n "))
        // Unassigned code points (U+0378) stay inside the word, as in Hugging Face's tokenizers.
        assertEquals(listOf("a\u0378b"), BasicTokenizer().tokenize("a\u0378b"))
    }

    @Test
    fun specialTokensInTheTextAreKeptWhole() {
        assertEquals(listOf("the", "[MASK]", "sat", "."), pieces("The [MASK] sat."))
        assertEquals(listOf("the", "[MASK]", "[MASK]"), pieces("the[MASK][MASK]"))
        // Only the exact spelling is special; lowercase is ordinary text split on punctuation.
        assertEquals(listOf("[UNK]", "[UNK]", "[UNK]"), pieces("[mask]")) // "[", "mask", "]" are not in the vocabulary
    }

    @Test
    fun emptyTextEncodesToClsSep() {
        val enc = tok.encode(pieces(""), 4)
        assertEquals(listOf("[CLS]", "[SEP]"), enc.tokens)
        assertArrayEquals(intArrayOf(2, 3, 0, 0), enc.inputIds)
    }

    @Test
    fun truncatesToTheSequenceLengthKeepingSep() {
        val words = pieces("the cat sat on the mat the cat sat on the mat")
        assertEquals(12, words.size)
        val enc = tok.encode(words, 8)
        assertTrue(enc.truncated)
        assertEquals(listOf("[CLS]", "the", "cat", "sat", "on", "the", "mat", "[SEP]"), enc.tokens)
        assertArrayEquals(IntArray(8) { 1 }, enc.attentionMask)
        assertEquals(14, tok.neededLength(words))
    }

    @Test
    fun pairGetsTokenTypeIdsAndSeparators() {
        val q = pieces("where is paris?")
        val c = pieces("paris is in france.")
        val enc = tok.encode(q, 16, c)
        assertEquals(
            listOf("[CLS]", "where", "is", "paris", "?", "[SEP]", "paris", "is", "in", "france", ".", "[SEP]"),
            enc.tokens,
        )
        assertArrayEquals(intArrayOf(0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0), enc.tokenTypeIds)
        assertArrayEquals(intArrayOf(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0), enc.attentionMask)
        assertEquals(6..10, enc.secondSegment())
        assertEquals(12, tok.neededLength(q, c))
    }

    @Test
    fun pairTruncationIsLongestFirstSecondOnTies() {
        val a = pieces("the cat sat") // 3
        val b = pieces("a cat sat on the mat") // 6
        val enc = tok.encode(a, 8, b) // room for 5 pieces: (3,6) -> (3,5) -> (3,4) -> (3,3) -> tie -> (3,2)
        assertTrue(enc.truncated)
        assertEquals(listOf("[CLS]", "the", "cat", "sat", "[SEP]", "a", "cat", "[SEP]"), enc.tokens)
    }

    @Test
    fun detokenizeJoinsContinuationPieces() {
        assertEquals("unaffable cats", tok.detokenize(listOf("un", "##aff", "##able", "cat", "##s")))
    }

    @Test
    fun tokenizerRefusesAVocabularyWithoutItsSpecialTokens() {
        assertThrowsWith<TokenizerException>("cls_token '[CLS]'", "not in the vocabulary") {
            BertTokenizer(Vocab(listOf("[PAD]", "[UNK]", "[SEP]")), tokenizerSpec())
        }
        assertThrowsWith<TokenizerException>("pad_token '[PAD]'") {
            BertTokenizer(Vocab(listOf("[UNK]", "[CLS]", "[SEP]")), tokenizerSpec().copy(padTokenId = null))
        }
    }

    @Test
    fun vocabTxtAndTokenizerJsonGiveTheSameIds() {
        val fromTxt = Vocab.fromVocabTxt("[PAD]\r\n[UNK]\nhello\n##s\n")
        val fromJson = Vocab.fromTokenizerJson(
            """{"version": "1.0", "model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"hello": 2, "[PAD]": 0, "##s": 3, "[UNK]": 1}}}""",
        )
        for (v in listOf(fromTxt, fromJson)) {
            assertEquals(4, v.size)
            assertEquals(2, v.id("hello"))
            assertEquals("##s", v.token(3))
        }
        assertThrowsWith<TokenizerException>("BPE", "WordPiece only") {
            Vocab.fromTokenizerJson("""{"model": {"type": "BPE", "vocab": {}}}""")
        }
        assertThrowsWith<TokenizerException>("without gaps") {
            Vocab.fromTokenizerJson("""{"model": {"type": "WordPiece", "vocab": {"a": 0, "b": 2}}}""")
        }
    }

    @Test
    fun tokenizerLoadsFromAFolderAndRefusesOtherKinds() {
        val dir = tempDir()
        assertThrowsWith<ModelFileException>("neither vocab.txt nor tokenizer.json") { loadBertTokenizer(dir, tokenizerSpec()) }
        java.io.File(dir, "vocab.txt").writeText(TEST_VOCAB_TOKENS.joinToString("\n", postfix = "\n"))
        assertEquals(listOf("hello", "world"), loadBertTokenizer(dir, tokenizerSpec()).tokenize("HELLO world"))
        assertThrowsWith<TokenizerException>("kind 'bpe'", "supported: wordpiece") {
            loadBertTokenizer(dir, tokenizerSpec().copy(kind = "bpe"))
        }
        java.io.File(dir, "tokenizer.json").writeText("{\"model\": ")
        assertThrowsWith<TokenizerException>("tokenizer.json is not valid JSON") { loadBertTokenizer(dir, tokenizerSpec()) }
    }

    @Test
    fun tokenizerJsonNormalizerCompletesTheManifest() {
        val dir = tempDir()
        val vocab = TEST_VOCAB_TOKENS.withIndex().joinToString(", ") { (i, t) -> "\"$t\": $i" }
        java.io.File(dir, "tokenizer.json").writeText(
            """{"normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": false,
                "strip_accents": false, "lowercase": true},
                "model": {"type": "WordPiece", "vocab": {$vocab}}}""",
        )
        // strip_accents false: "café" keeps its accent and is not in the vocabulary; no CJK splitting: one word.
        val tok = loadBertTokenizer(dir, tokenizerSpec())
        assertEquals(listOf("[UNK]", "cafe"), tok.tokenize("Café cafe"))
        assertEquals(listOf("[UNK]"), tok.tokenize("你好"))
        // What the manifest states wins over tokenizer.json.
        assertEquals(listOf("cafe"), loadBertTokenizer(dir, tokenizerSpec(stripAccents = true)).tokenize("Café"))
        // Another normalizer type leaves the manifest's settings alone.
        val other = mapOf("normalizer" to mapOf("type" to "NFC"))
        assertEquals(tokenizerSpec(), withNormalizerOf(other, tokenizerSpec()))
    }
}
