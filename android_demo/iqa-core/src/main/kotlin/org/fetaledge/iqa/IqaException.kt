package org.fetaledge.iqa

/**
 * The one error type of iqa-core, the Kotlin twin of Python's `FetaledgeError(message, hint)`:
 * what is wrong, and (optionally) how to fix it.
 *
 * ```
 * throw IqaException("models[0].sha256: must be 64 lowercase hex characters", "rebuild the bundle")
 * ```
 */
class IqaException(val problem: String, val hint: String? = null) :
    RuntimeException(if (hint != null) "$problem (fix: $hint)" else problem)
