package org.fetaledge.demo.core

import org.fetaledge.iqa.IqaException
import org.fetaledge.iqa.Json

/**
 * The opening every golden-file parser of the app shares: an error names the file and says to rebuild the bundle,
 * and the document must be a JSON object.
 *
 * ```
 * val g = GoldenJson("goldens/frames.json")
 * val o = g.root(text)
 * val frames = (o["frames"] as? Json.Arr)?.items ?: g.bad("frames: must be an array")
 * ```
 */
class GoldenJson(private val source: String) {
    /** Throw the file's error for [what]. */
    fun bad(what: String): Nothing = throw IqaException("$source: $what", "rebuild the bundle (fetaledge build)")

    /** Parse [text]; the top level must be an object. */
    fun root(text: String): Json.Obj {
        val doc = try {
            Json.parse(text)
        } catch (e: IqaException) {
            bad(e.problem)
        }
        return doc as? Json.Obj ?: bad("the top level must be an object")
    }
}
