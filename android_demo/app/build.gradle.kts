plugins {
    id("com.android.application")
}

android {
    namespace = "dev.edgellm.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "dev.edgellm.demo"
        minSdk = 24 // LiteRT 2.x AARs declare 23-24
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
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

    // An export folder bundled under src/main/assets/edgellm/ is copied out at first start; an uncompressed
    // .tflite copies faster.
    androidResources {
        noCompress += "tflite"
    }
}

dependencies {
    // LiteRT (formerly TensorFlow Lite): org.tensorflow.lite.Interpreter on the CPU with XNNPACK.
    implementation("com.google.ai.edge.litert:litert:2.2.0")

    // The same tests run_jvm_tests.sh runs, here through `gradle :app:testDebugUnitTest`.
    testImplementation("junit:junit:4.13.2")
}
