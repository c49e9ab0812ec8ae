// iqa-core: pure Kotlin/JVM (no Android dependency), so it runs in plain JVM unit tests and inside the app.
// The Kotlin version matches the npm `kotlin-compiler` that run_jvm_tests.sh uses on the CI machine, and
// JUnit matches Debian's junit5 package (5.9.2) that runs the same tests there.
plugins {
    kotlin("jvm") version "2.4.20"
    `java-library`
}

group = "org.fetaledge"
version = "0.1.0"

kotlin {
    jvmToolchain(17)
    compilerOptions {
        allWarningsAsErrors.set(true)
    }
}

dependencies {
    testImplementation(platform("org.junit:junit-bom:5.9.2"))
    testImplementation("org.junit.jupiter:junit-jupiter")
    testRuntimeOnly("org.junit.platform:junit-platform-launcher")
}

// The goldens are the repository's tests/goldens (decision/ and spec/), shared with pytest.
val goldens = rootProject.projectDir.resolve("../tests/goldens").canonicalFile

tasks.test {
    useJUnitPlatform()
    systemProperty("fetaledge.goldens", goldens.path)
    inputs.dir(goldens).withPropertyName("goldens")
    testLogging {
        events("failed")
        exceptionFormat = org.gradle.api.tasks.testing.logging.TestExceptionFormat.FULL
    }
}
