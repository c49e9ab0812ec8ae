// The tablet app: loads the bundle from its assets (src/main/assets/bundle, written by
// `fetaledge build --target android-arm64 --out bundle --android-assets android_demo/app/src/main/assets`),
// checks it, runs the primary INT8 .tflite with LiteRT (XNNPACK on the CPU, threads from iqa_spec.json) and the
// iqa-core decision logic, replays the recorded sweep or takes live frames. Kotlin is compiled by AGP 9's
// built-in Kotlin support (no kotlin-android plugin); see the root build.gradle.kts.
//
//   ./gradlew :app:assembleDebug          # the APK: app/build/outputs/apk/debug/app-debug.apk
//   ./gradlew :app:testDebugUnitTest      # JVM unit tests of the pure-Kotlin helpers (also run offline by
//                                         # ../run_app_jvm_tests.sh without Gradle)
plugins {
    id("com.android.application")
}

android {
    namespace = "org.fetaledge.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "org.fetaledge.demo"
        // 24 (Android 7.0): low-cost tablets stay on the Android they shipped with, and 7-9 is still common among
        // entry-level and Android-Go tablets; LiteRT 2.1 itself needs 23, and 24 adds the Java 8 library APIs the
        // helpers use without desugaring (e.g. Math.multiplyExact in the .npy reader).
        // Nothing in the app needs a newer API.
        minSdk = 24
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
        // arm64-v8a: the bundle's target. armeabi-v7a: entry-level tablets (the reason for minSdk 24) often run a
        // 32-bit Android, even on 64-bit CPUs; LiteRT ships armeabi-v7a libraries, and the start-up self-check
        // guards the different kernels there (the bundle's tolerances; the fp32 fallback when INT8 drifts; use
        // blocked when neither passes). x86_64: desktop emulators. Costs ~3 MB of APK for the v7a LiteRT .so.
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    androidResources {
        // Stored uncompressed in the APK so that the model and the recorded sweep are memory-mapped straight from
        // the assets (AssetManager.openFd) instead of being inflated into the Java heap.
        noCompress += listOf("tflite", "npy")
    }

    testOptions {
        unitTests.all { it.useJUnitPlatform() }
    }
}

dependencies {
    implementation(project(":iqa-core"))
    // LiteRT (formerly TensorFlow Lite): org.tensorflow.lite.Interpreter on the CPU, XNNPACK delegate by default.
    implementation("com.google.ai.edge.litert:litert:2.1.5")
    implementation("androidx.core:core-ktx:1.16.0")
    implementation("androidx.activity:activity-ktx:1.10.1")
    implementation("androidx.lifecycle:lifecycle-viewmodel-ktx:2.9.1")
    implementation("androidx.lifecycle:lifecycle-runtime-ktx:2.9.1")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")

    // The same JUnit as iqa-core and as Debian's junit5 that runs these tests offline.
    testImplementation(platform("org.junit:junit-bom:5.9.2"))
    testImplementation("org.junit.jupiter:junit-jupiter")
    testRuntimeOnly("org.junit.platform:junit-platform-launcher")
}

// Fail early, at build time, when no bundle was copied into the assets (the app would only show an error).
// Opt out with -Pfetaledge.allowMissingBundle=true (e.g. to see that error screen on purpose).
val bundleSpec = layout.projectDirectory.file("src/main/assets/bundle/iqa_spec.json").asFile
val allowMissingBundle = providers.gradleProperty("fetaledge.allowMissingBundle").map { it.toBoolean() }.orElse(false)
val checkBundle = tasks.register("checkBundle") {
    group = "verification"
    description = "Checks that src/main/assets/bundle holds a bundle written by fetaledge build --android-assets."
    val spec = bundleSpec
    val allow = allowMissingBundle
    doLast {
        if (!spec.isFile && !allow.get()) {
            throw GradleException(
                "no bundle in the app: ${spec.path} is missing. Build one into the assets first:\n" +
                    "  fetaledge build --target android-arm64 --out bundle --android-assets android_demo/app/src/main/assets\n" +
                    "(or pass -Pfetaledge.allowMissingBundle=true to build an app that shows this error on screen)",
            )
        }
    }
}
tasks.matching { it.name == "preBuild" }.configureEach { dependsOn(checkBundle) }
