package dev.edgellm.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

class BpeTest {
    // GPT-2 style: byte-level pre-tokenizer ("Ġ" is the space byte), merges by rank, special tokens added
    private val byteLevel = """
    {"added_tokens": [{"id": 0, "content": "<|endoftext|>", "special": true},
                      {"id": 1, "content": "<|im_start|>", "special": true}],
     "normalizer": null,
     "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
     "post_processor": {"type": "ByteLevel"},
     "decoder": {"type": "ByteLevel"},
     "model": {"type": "BPE", "vocab": {"<|endoftext|>": 0, "<|im_start|>": 1, "a": 2, "b": 3, "c": 4, "Ġ": 5,
               "ab": 6, "abc": 7, "Ġa": 8, "Ġab": 9, "Ã": 10, "©": 11, "Ã©": 12, "1": 13, "2": 14, "!": 15},
               "merges": ["a b", ["ab", "c"], "Ġ a", "Ġa b", "Ã ©"]}}
    """.trimIndent()

    // SentencePiece style: "▁" marks a space, BOS added by the template, unknown pieces -> <unk>
    private val metaspace = """
    {"added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true},
                      {"id": 2, "content": "</s>", "special": true}],
     "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
     "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [1]}}},
     "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
     "model": {"type": "BPE", "unk_token": "<unk>", "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "▁": 3, "h": 4, "i": 5,
               "▁h": 6, "▁hi": 7, "x": 8},
               "merges": ["▁ h", "▁h i"]}}
    """.trimIndent()

    @Test
    fun mergesFollowRankAndSpacesBecomeTheirByteCharacter() {
        val t = BpeTokenizer(Json.parse(byteLevel))
        // "Ġabc": "a b" (rank 0) merges before "Ġ a" (rank 2), so "Ġ" stays alone
        assertArrayEquals(intArrayOf(7, 5, 7), t.encode("abc abc"))
        assertArrayEquals(intArrayOf(12), t.encode("é")) // UTF-8 C3 A9 -> "Ã©"
        assertArrayEquals(intArrayOf(13, 14, 15), t.encode("12!")) // digits and punctuation are separate pieces
        assertEquals("abc abcé", t.decode(intArrayOf(7, 5, 7, 12)))
    }

    @Test
    fun specialTokensAreMatchedBeforeMergesAndSkippedWhenDecoding() {
        val t = BpeTokenizer(Json.parse(byteLevel))
        assertArrayEquals(intArrayOf(1, 6, 0), t.encode("<|im_start|>ab<|endoftext|>"))
        assertEquals("ab", t.decode(intArrayOf(1, 6, 0)))
        assertEquals("<|im_start|>ab", t.decode(intArrayOf(1, 6), skipSpecialTokens = false))
    }

    @Test
    fun anIncompleteCharacterDecodesToTheReplacementCharacterUntilItsLastByte() {
        val t = BpeTokenizer(Json.parse(byteLevel))
        val stream = TextStream(t)
        assertEquals("", stream.append(10)) // 0xC3 alone
        assertEquals("é", stream.append(11))
        assertEquals("ab", stream.append(6))
    }

    @Test
    fun metaspaceTemplateAndUnknownPieces() {
        val t = BpeTokenizer(Json.parse(metaspace))
        assertArrayEquals(intArrayOf(1, 7, 7), t.encode("hi hi"))
        assertArrayEquals(intArrayOf(7, 3, 0), t.encode("hi z", addSpecialTokens = false)) // "▁z": "▁" then <unk>
        assertArrayEquals(intArrayOf(1, 2, 7), t.encode("<s></s>hi", addSpecialTokens = false)) // "▁" prepended after added tokens
        assertEquals("hi hi", t.decode(intArrayOf(1, 7, 7)))
    }

    @Test
    fun unsupportedComponentsAreRefusedByName() {
        val bad = byteLevel.replace("\"normalizer\": null", "\"normalizer\": {\"type\": \"BertNormalizer\"}")
        assertThrowsWith<TokenizerException>("normalizer", "BertNormalizer", "not supported") { BpeTokenizer(Json.parse(bad)) }
        val wordPiece = byteLevel.replace("\"type\": \"BPE\"", "\"type\": \"WordPiece\"")
        assertThrowsWith<TokenizerException>("WordPiece", "only BPE") { BpeTokenizer(Json.parse(wordPiece)) }
    }
}
