package org.fetaledge.iqa

/**
 * A small strict JSON (RFC 8259) reader: no library is needed on the device or in the JVM tests.
 *
 * Numbers keep their source text, so integer-vs-float is decided exactly as Python's `json` decides it
 * (a token with `.`, `e` or `E` is a float) and doubles are parsed by `java.lang.Double.parseDouble`,
 * which rounds correctly: the same text gives the same binary64 bits as Python's `float()`.
 * Objects keep their key order; a repeated key keeps the last value (as Python does).
 *
 * ```
 * val doc = Json.parse("""{"a": [1, 2.5, "x", null]}""") as Json.Obj
 * (doc["a"] as Json.Arr).items[1] // Json.Num("2.5")
 * ```
 */
sealed class Json {
    data class Obj(val fields: Map<String, Json>) : Json() {
        operator fun get(key: String): Json? = fields[key]
    }

    data class Arr(val items: List<Json>) : Json()

    data class Str(val value: String) : Json()

    data class Num(val text: String) : Json() {
        /** True for an integer token (no fraction, no exponent), as in Python's json module. */
        val isInteger: Boolean get() = text.none { it == '.' || it == 'e' || it == 'E' }

        fun toDouble(): Double = text.toDouble()

        /** The value as a Long, or null when it is a float token or out of the Long range. */
        fun toLongOrNull(): Long? = if (isInteger) text.toLongOrNull() else null
    }

    data class Bool(val value: Boolean) : Json()

    object Null : Json() {
        override fun toString(): String = "Null"
    }

    /** JSON type name used in error messages (same words as the Python side). */
    val typeName: String
        get() = when (this) {
            is Obj -> "object"
            is Arr -> "array"
            is Str -> "string"
            is Num -> "number"
            is Bool -> "boolean"
            Null -> "null"
        }

    companion object {
        /** Parse a whole JSON document; anything malformed is an [IqaException] with line and column. */
        fun parse(text: String): Json = Parser(text).document()
    }
}

private class Parser(private val s: String) {
    private var i = 0

    fun document(): Json {
        skipWs()
        val v = value()
        skipWs()
        if (i != s.length) fail("unexpected trailing content")
        return v
    }

    private fun fail(what: String): Nothing {
        var line = 1
        var col = 1
        for (k in 0 until minOf(i, s.length)) {
            if (s[k] == '\n') {
                line++
                col = 1
            } else {
                col++
            }
        }
        throw IqaException("invalid JSON at line $line column $col: $what")
    }

    private fun skipWs() {
        while (i < s.length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++
    }

    private fun value(): Json {
        if (i >= s.length) fail("unexpected end of input")
        return when (val c = s[i]) {
            '{' -> obj()
            '[' -> arr()
            '"' -> Json.Str(string())
            't' -> literal("true", Json.Bool(true))
            'f' -> literal("false", Json.Bool(false))
            'n' -> literal("null", Json.Null)
            else -> if (c == '-' || c in '0'..'9') number() else fail("unexpected character '$c'")
        }
    }

    private fun literal(word: String, v: Json): Json {
        if (!s.startsWith(word, i)) fail("expected $word")
        i += word.length
        return v
    }

    private fun obj(): Json {
        i++ // {
        val fields = LinkedHashMap<String, Json>()
        skipWs()
        if (i < s.length && s[i] == '}') {
            i++
            return Json.Obj(fields)
        }
        while (true) {
            skipWs()
            if (i >= s.length || s[i] != '"') fail("expected a string key")
            val key = string()
            skipWs()
            if (i >= s.length || s[i] != ':') fail("expected ':'")
            i++
            skipWs()
            fields[key] = value() // a repeated key: last value, first position (as Python's dict)
            skipWs()
            if (i >= s.length) fail("unexpected end of input in an object")
            when (s[i]) {
                ',' -> i++
                '}' -> {
                    i++
                    return Json.Obj(fields)
                }
                else -> fail("expected ',' or '}'")
            }
        }
    }

    private fun arr(): Json {
        i++ // [
        val items = ArrayList<Json>()
        skipWs()
        if (i < s.length && s[i] == ']') {
            i++
            return Json.Arr(items)
        }
        while (true) {
            skipWs()
            items.add(value())
            skipWs()
            if (i >= s.length) fail("unexpected end of input in an array")
            when (s[i]) {
                ',' -> i++
                ']' -> {
                    i++
                    return Json.Arr(items)
                }
                else -> fail("expected ',' or ']'")
            }
        }
    }

    private fun string(): String {
        i++ // opening quote
        val sb = StringBuilder()
        while (true) {
            if (i >= s.length) fail("unterminated string")
            val c = s[i++]
            when {
                c == '"' -> return sb.toString()
                c == '\\' -> {
                    if (i >= s.length) fail("unterminated escape")
                    when (val e = s[i++]) {
                        '"' -> sb.append('"')
                        '\\' -> sb.append('\\')
                        '/' -> sb.append('/')
                        'b' -> sb.append('\b')
                        'f' -> sb.append('\u000C')
                        'n' -> sb.append('\n')
                        'r' -> sb.append('\r')
                        't' -> sb.append('\t')
                        'u' -> {
                            if (i + 4 > s.length) fail("bad \\u escape")
                            val hex = s.substring(i, i + 4)
                            val code = hex.toIntOrNull(16) ?: fail("bad \\u escape '$hex'")
                            sb.append(code.toChar())
                            i += 4
                        }
                        else -> fail("bad escape '\\$e'")
                    }
                }
                c < ' ' -> fail("control character in a string")
                else -> sb.append(c)
            }
        }
    }

    private fun number(): Json {
        val start = i
        if (s[i] == '-') i++
        if (i >= s.length) fail("bad number")
        if (s[i] == '0') {
            i++
        } else if (s[i] in '1'..'9') {
            while (i < s.length && s[i] in '0'..'9') i++
        } else {
            fail("bad number")
        }
        if (i < s.length && s[i] == '.') {
            i++
            val d = i
            while (i < s.length && s[i] in '0'..'9') i++
            if (i == d) fail("bad number: no digit after '.'")
        }
        if (i < s.length && (s[i] == 'e' || s[i] == 'E')) {
            i++
            if (i < s.length && (s[i] == '+' || s[i] == '-')) i++
            val d = i
            while (i < s.length && s[i] in '0'..'9') i++
            if (i == d) fail("bad number: no digit in the exponent")
        }
        return Json.Num(s.substring(start, i))
    }
}
