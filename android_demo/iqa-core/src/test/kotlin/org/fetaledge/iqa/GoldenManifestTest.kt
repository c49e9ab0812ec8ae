package org.fetaledge.iqa

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File
import java.nio.file.Files

/**
 * tests/goldens/manifest.json (written by `python -m fetaledge.golden_cases --regenerate`) lists EVERY golden file
 * below tests/goldens with its sha256. This suite fails when a listed golden is missing or changed, or when a file
 * is there that the manifest does not list, so deleting any golden (decision, spec, geometry, selfcheck, or one
 * another module adds) fails the Kotlin suite, not only a count.
 */
class GoldenManifestTest {
    /** Every problem of the files under [root] against its manifest.json (empty: all good). */
    private fun problems(root: File): List<String> {
        val manifest = File(root, "manifest.json")
        if (!manifest.isFile) return listOf("manifest.json is missing in $root")
        val doc = Goldens.read(manifest)
        assertEquals(1, doc["format"].int(), "manifest format")
        val listed = doc["files"].arr().associate { it["path"].str() to it["sha256"].str() }
        val out = ArrayList<String>()
        for ((rel, digest) in listed) {
            val f = File(root, rel)
            if (!f.isFile) out.add("$rel: listed in manifest.json but missing")
            else if (f.inputStream().use { sha256Hex(it) } != digest) out.add("$rel: sha256 differs from manifest.json")
        }
        root.walkTopDown().filter { it.isFile }.map { it.relativeTo(root).invariantSeparatorsPath }
            .filter { it != "manifest.json" && it !in listed }
            .forEach { out.add("$it: not listed in manifest.json (regenerate: python -m fetaledge.golden_cases --regenerate)") }
        return out
    }

    @Test
    fun everyGoldenFileIsPresentUnchangedAndListed() {
        val p = problems(Goldens.root)
        assertTrue(p.isEmpty(), p.joinToString("\n"))
        val listed = Goldens.read(File(Goldens.root, "manifest.json"))["files"].arr().map { it["path"].str() }
        // Every decision golden this suite replays is one the manifest pins.
        for (f in Goldens.decisionFiles()) assertTrue("decision/${f.name}" in listed, f.name)
        assertTrue(listed.any { it.startsWith("spec/") } && listed.any { it.startsWith("geometry/") } && listed.any { it.startsWith("selfcheck/") })
    }

    @Test
    fun deletingChangingOrAddingAGoldenIsCaught() {
        val copy = Files.createTempDirectory("goldens").toFile()
        try {
            Goldens.root.copyRecursively(copy)
            assertTrue(problems(copy).isEmpty())
            val listed = Goldens.read(File(copy, "manifest.json"))["files"].arr().map { it["path"].str() }
            // Every single deletion is caught (not only a count: the suite once passed with a decision golden deleted).
            for (rel in listed) {
                val f = File(copy, rel)
                val bytes = f.readBytes()
                f.delete()
                assertEquals(listOf("$rel: listed in manifest.json but missing"), problems(copy), rel)
                f.writeBytes(bytes)
            }
            val g = File(copy, listed.first())
            g.appendText(" ")
            assertEquals(listOf("${listed.first()}: sha256 differs from manifest.json"), problems(copy))
            File(copy, "measure").mkdirs()
            File(copy, "measure/new.json").writeText("{}")
            assertTrue(problems(copy).any { it.startsWith("measure/new.json: not listed") })
        } finally {
            copy.deleteRecursively()
        }
    }
}
