// Gradle (Kotlin DSL) build of the Android demo, for a workstation with network access.
// On this project's offline CI machine the same iqa-core sources are compiled and tested without Gradle by
// run_jvm_tests.sh (Kotlin compiler from npm + Debian's JUnit 5); see that script.
//
//   ./gradlew :iqa-core:test      # pure JVM: spec parsing, decision logic, the shared goldens
//
// The Android `app` module is added here with include(":app") when it exists (it needs the Android Gradle
// plugin declared in a root build.gradle.kts; iqa-core does not).
pluginManagement {
    repositories {
        gradlePluginPortal()
        google()
        mavenCentral()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "fetaledge-android-demo"

include(":iqa-core")
include(":app")
