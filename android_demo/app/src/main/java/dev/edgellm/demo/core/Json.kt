package dev.edgellm.demo.core

/**
 * A small strict JSON parser (RFC 8259), because the app has no JSON library on the JVM side and
 * `org.json` exists only on Android.
 *
 * Values map onto plain Kotlin types:
 *   object -> LinkedHashMap<String, Any?> (key order kept; a repeated key keeps the last value)
 *   array  -> ArrayList<Any?>
 *   string -> String
 *   number -> Long when written without fraction or exponent and it fits, else Double
 *   true/false -> Boolean, null -> null
 *
 * Example: `Json.parse("""{"a": [1, 2.5, "x"]}""")` == mapOf("a" to listOf(1L, 2.5, "x")).
 * Errors are [JsonException] with a 1-based line and column.
 */
object Json {
    /** Deeper nesting than this is rejected instead of overflowing the stack. */
    const val MAX_DEPTH = 256

    fun parse(text: String): Any? {
        val parser = Parser(text)
        parser.skipWhitespace()
        val value = parser.readValue(depth = 0)
        parser.skipWhitespace()
        if (!parser.atEnd()) parser.fail("unexpected '${parser.peekChar()}' after the JSON value")
        return value
    }

    private class Parser(private val s: String) {
        private var i = 0

        fun atEnd() = i >= s.length

        fun peekChar(): Char = s[i]

        fun fail(reason: String): Nothing {
            var line = 1
            var lineStart = 0
            for (k in 0 until minOf(i, s.length)) {
                if (s[k] == '\n') {
                    line++
                    lineStart = k + 1
                }
            }
            throw JsonException(reason, line, i - lineStart + 1)
        }

        fun skipWhitespace() {
            while (i < s.length) {
                when (s[i]) {
                    ' ', '\t', '\n', '\r' -> i++
                    else -> return
                }
            }
        }

        fun readValue(depth: Int): Any? {
            if (atEnd()) fail("unexpected end of input, expected a value")
            return when (val c = s[i]) {
                '{' -> readObject(depth + 1)
                '[' -> readArray(depth + 1)
                '"' -> readString()
                't' -> readLiteral("true", true)
                'f' -> readLiteral("false", false)
                'n' -> readLiteral("null", null)
                else -> if (c == '-' || c in '0'..'9') readNumber() else fail("unexpected '$c', expected a value")
            }
        }

        private fun readLiteral(word: String, value: Any?): Any? {
            if (!s.startsWith(word, i)) fail("invalid literal, expected '$word'")
            i += word.length
            return value
        }

        private fun readObject(depth: Int): Map<String, Any?> {
            if (depth > MAX_DEPTH) fail("nesting deeper than $MAX_DEPTH levels")
            i++ // '{'
            val out = LinkedHashMap<String, Any?>()
            skipWhitespace()
            if (!atEnd() && s[i] == '}') {
                i++
                return out
            }
            while (true) {
                skipWhitespace()
                if (atEnd() || s[i] != '"') fail("expected a string key")
                val key = readString()
                skipWhitespace()
                if (atEnd() || s[i] != ':') fail("expected ':' after key \"$key\"")
                i++
                skipWhitespace()
                out[key] = readValue(depth)
                skipWhitespace()
                if (atEnd()) fail("unexpected end of input, expected ',' or '}'")
                when (s[i]) {
                    ',' -> i++
                    '}' -> {
                        i++
                        return out
                    }
                    else -> fail("expected ',' or '}'")
                }
            }
        }

        private fun readArray(depth: Int): List<Any?> {
            if (depth > MAX_DEPTH) fail("nesting deeper than $MAX_DEPTH levels")
            i++ // '['
            val out = ArrayList<Any?>()
            skipWhitespace()
            if (!atEnd() && s[i] == ']') {
                i++
                return out
            }
            while (true) {
                skipWhitespace()
                out.add(readValue(depth))
                skipWhitespace()
                if (atEnd()) fail("unexpected end of input, expected ',' or ']'")
                when (s[i]) {
                    ',' -> i++
                    ']' -> {
                        i++
                        return out
                    }
                    else -> fail("expected ',' or ']'")
                }
            }
        }

        private fun readString(): String {
            i++ // opening quote
            val sb = StringBuilder()
            while (true) {
                if (atEnd()) fail("unterminated string")
                val c = s[i]
                when {
                    c == '"' -> {
                        i++
                        return sb.toString()
                    }
                    c == '\\' -> {
                        if (i + 1 >= s.length) fail("unterminated escape")
                        when (val e = s[i + 1]) {
                            '"' -> sb.append('"')
                            '\\' -> sb.append('\\')
                            '/' -> sb.append('/')
                            'b' -> sb.append('\b')
                            'f' -> sb.append('\u000C')
                            'n' -> sb.append('\n')
                            'r' -> sb.append('\r')
                            't' -> sb.append('\t')
                            'u' -> {
                                if (i + 6 > s.length) fail("truncated \\u escape")
                                val hex = s.substring(i + 2, i + 6)
                                val code = hex.toIntOrNull(16)
                                if (code == null || hex.any { it == '+' || it == '-' }) fail("invalid \\u escape '$hex'")
                                // Surrogate pairs arrive as two escapes; appending both UTF-16 units rebuilds the code point.
                                sb.append(code.toChar())
                                i += 4
                            }
                            else -> fail("invalid escape '\\$e'")
                        }
                        i += 2
                    }
                    c < ' ' -> fail(fmt("control character U+%04X in string", c.code))
                    else -> {
                        sb.append(c)
                        i++
                    }
                }
            }
        }

        private fun readNumber(): Any {
            val start = i
            if (s[i] == '-') i++
            if (atEnd()) fail("invalid number")
            if (s[i] == '0') {
                i++
            } else if (s[i] in '1'..'9') {
                while (i < s.length && s[i] in '0'..'9') i++
            } else {
                fail("invalid number")
            }
            var integral = true
            if (i < s.length && s[i] == '.') {
                integral = false
                i++
                if (atEnd() || s[i] !in '0'..'9') fail("expected a digit after '.'")
                while (i < s.length && s[i] in '0'..'9') i++
            }
            if (i < s.length && (s[i] == 'e' || s[i] == 'E')) {
                integral = false
                i++
                if (i < s.length && (s[i] == '+' || s[i] == '-')) i++
                if (atEnd() || s[i] !in '0'..'9') fail("expected a digit in the exponent")
                while (i < s.length && s[i] in '0'..'9') i++
            }
            val text = s.substring(start, i)
            if (integral) text.toLongOrNull()?.let { return it }
            return text.toDouble()
        }
    }
}
