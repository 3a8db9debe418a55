package dev.edgellm.demo.core

import org.junit.internal.TextListener
import org.junit.runner.JUnitCore
import kotlin.system.exitProcess

/**
 * Entry point of run_jvm_tests.sh: JUnitCore over the test classes named on the command line, JUnit's own
 * text report, then one closing line "jvm-tests: N passed, N failed, N skipped". Exits 1 when a test fails
 * or when no test ran (a broken class list must not look green).
 */
fun main(args: Array<String>) {
    val classes = args.map { Class.forName(it) }
    val core = JUnitCore()
    core.addListener(TextListener(System.out))
    val result = core.run(*classes.toTypedArray())
    val failed = result.failureCount
    val skipped = result.ignoreCount + result.assumptionFailureCount
    val passed = result.runCount - failed - result.assumptionFailureCount
    println("jvm-tests: $passed passed, $failed failed, $skipped skipped")
    exitProcess(if (failed == 0 && result.runCount > 0) 0 else 1)
}
