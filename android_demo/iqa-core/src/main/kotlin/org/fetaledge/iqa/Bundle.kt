package org.fetaledge.iqa

import java.io.File
import java.io.InputStream
import java.security.MessageDigest

/** Lowercase hex sha256 of a stream (read in chunks; the caller closes it). */
fun sha256Hex(input: InputStream): String {
    val md = MessageDigest.getInstance("SHA-256")
    val buf = ByteArray(1 shl 16)
    while (true) {
        val n = input.read(buf)
        if (n < 0) break
        md.update(buf, 0, n)
    }
    return md.digest().joinToString("") { "%02x".format(it) }
}

/**
 * Check every model file the spec lists: present, inside the bundle, and with the sha256 the spec records.
 * One [IqaException] lists every problem at once, each naming the model and the file.
 *
 * ```
 * val spec = IqaSpec.load(File(dir, SPEC_FILE_NAME))
 * verifyBundleFiles(dir, spec)
 * ```
 */
fun verifyBundleFiles(bundleDir: File, spec: IqaSpec) {
    if (!bundleDir.isDirectory) throw IqaException("bundle folder not found: $bundleDir", "pass the folder holding iqa_spec.json")
    val root = bundleDir.canonicalFile
    val problems = ArrayList<String>()
    for (m in spec.models) {
        val f = File(bundleDir, m.file)
        if (!f.isFile) {
            problems.add("model '${m.name}': file ${m.file} is missing")
            continue
        }
        if (!f.canonicalFile.toPath().startsWith(root.toPath())) {
            problems.add("model '${m.name}': file ${m.file} resolves outside the bundle")
            continue
        }
        val actual = f.inputStream().use { sha256Hex(it) }
        if (actual != m.sha256) {
            problems.add("model '${m.name}': file ${m.file} has sha256 $actual, but $SPEC_FILE_NAME says ${m.sha256}")
        }
    }
    if (problems.isNotEmpty()) {
        throw IqaException(
            "bundle $bundleDir failed its checks: ${problems.joinToString("; ")}",
            "the bundle was changed after it was built: rebuild it (fetaledge build) or copy it again",
        )
    }
}

/** Load `iqa_spec.json` from a bundle folder and verify every file it lists. */
fun loadBundle(bundleDir: File): IqaSpec {
    val spec = IqaSpec.load(File(bundleDir, SPEC_FILE_NAME))
    verifyBundleFiles(bundleDir, spec)
    return spec
}
