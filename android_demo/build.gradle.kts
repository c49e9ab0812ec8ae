// Root build of the Android demo: the plugin versions for every module, applied in the modules themselves.
//
//  - com.android.application (AGP 9.2): the `app` module. AGP 9 compiles Kotlin itself ("built-in Kotlin"), so
//    the app does NOT apply org.jetbrains.kotlin.android (AGP 9 rejects it: "no longer required for Kotlin
//    support since AGP 9.0").
//  - org.jetbrains.kotlin.jvm 2.4.20: `iqa-core` (pure JVM). Declaring it here also pins the Kotlin Gradle plugin
//    on the build classpath to 2.4.20, which AGP's built-in Kotlin then uses for the app too (AGP 9 only
//    requires >= 2.2.10), so both modules compile with the Kotlin version of the npm compiler that the offline
//    CI machine uses (run_jvm_tests.sh, run_app_jvm_tests.sh). iqa-core/build.gradle.kts requests the same
//    version, which Gradle accepts for a plugin already on the classpath with a matching version.
//
// AGP 9.2 needs Gradle >= 9.4.1 and JDK 17; see README.md.
plugins {
    id("com.android.application") version "9.2.1" apply false
    kotlin("jvm") version "2.4.20" apply false
}
