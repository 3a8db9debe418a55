package dev.edgellm.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test

class JsonTest {
    @Test
    fun parsesAllValueKinds() {
        val v = Json.parse("""{"a": [1, -2.5, 3e2, "x", true, false, null], "b": {}, "c": [], "big": 12345678901234567890}""")
        assertEquals(
            mapOf(
                "a" to listOf(1L, -2.5, 300.0, "x", true, false, null),
                "b" to emptyMap<String, Any?>(),
                "c" to emptyList<Any?>(),
                "big" to 1.2345678901234567e19, // beyond Long: kept as a double
            ),
            v,
        )
    }

    @Test
    fun decodesEscapesAndSurrogatePairs() {
        assertEquals("q\"b\\s/\b\u000C\n\r\t", Json.parse(""""q\"b\\s\/\b\f\n\r\t""""))
        assertEquals("é\uD83D\uDE00", Json.parse("\"\\u00e9\\ud83d\\ude00\""))
        assertEquals("日本", Json.parse("\"日本\""))
    }

    @Test
    fun keepsKeyOrderAndLastDuplicate() {
        val m = Json.parse("""{"z": 1, "a": 2, "z": 3}""") as Map<*, *>
        assertEquals(listOf("z", "a"), m.keys.toList())
        assertEquals(3L, m["z"])
    }

    @Test
    fun topLevelScalarsAndWhitespace() {
        assertNull(Json.parse(" null "))
        assertEquals(0L, Json.parse("\n0\t"))
        assertEquals(-0.0, Json.parse("-0.0"))
    }

    @Test
    fun reportsLineAndColumnOfErrors() {
        val e = assertThrowsWith<JsonException>("line 3, column 10", "expected ',' or '}'") {
            Json.parse("{\n  \"a\": 1,\n  \"b\": 2 \"c\": 3}")
        }
        assertEquals(3, e.line)
        assertEquals(10, e.column) // the '"' of "c", where a ',' or '}' should be
    }

    @Test
    fun rejectsWhatIsNotJson() {
        val bad = mapOf(
            "{\"a\": 1,}" to "expected a string key",
            "[1, 2" to "unexpected end of input",
            "{'a': 1}" to "expected a string key",
            "01" to "after the JSON value",
            "1." to "expected a digit after '.'",
            "+1" to "unexpected '+'",
            "NaN" to "unexpected 'N'",
            "\"a\nb\"" to "control character",
            "\"\\x\"" to "invalid escape",
            "\"\\u12g4\"" to "invalid \\u escape",
            "\"abc" to "unterminated string",
            "tru" to "expected 'true'",
            "{} {}" to "after the JSON value",
            "" to "expected a value",
            "// comment\n{}" to "unexpected '/'",
        )
        for ((text, fragment) in bad) {
            assertThrowsWith<JsonException>(fragment) { Json.parse(text) }
        }
    }

    @Test
    fun limitsNestingDepth() {
        Json.parse("[".repeat(Json.MAX_DEPTH) + "]".repeat(Json.MAX_DEPTH))
        assertThrowsWith<JsonException>("nesting deeper than") {
            Json.parse("[".repeat(Json.MAX_DEPTH + 1) + "]".repeat(Json.MAX_DEPTH + 1))
        }
    }
}
