package org.fetaledge.demo.core

/** Where the start-up self-check stands, as far as the controls care. */
enum class CheckStatus { WAITING, RUNNING, PASSED, BLOCKED }

/** Which buttons the screen enables. */
data class Controls(val replay: Boolean, val stop: Boolean, val live: Boolean, val liveEnds: Boolean, val export: Boolean)

/**
 * The screen's controls from the session's state. The rule that protects the patient: nothing that scores a frame
 * (replay, live sweep) and nothing that hands a result on (export) is enabled unless the self-check PASSED; while it
 * waits or runs, and for good once it has BLOCKED use, only nothing is enabled.
 */
fun controlsFor(check: CheckStatus, replayAvailable: Boolean, running: Boolean, live: Boolean, usableVerdict: Boolean): Controls {
    if (check != CheckStatus.PASSED) return Controls(replay = false, stop = false, live = false, liveEnds = false, export = false)
    return Controls(
        replay = replayAvailable && !running,
        stop = running,
        live = replayAvailable && (!running || live),
        liveEnds = running && live,
        export = !running && usableVerdict,
    )
}
