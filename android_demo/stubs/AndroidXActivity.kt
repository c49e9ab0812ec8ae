// Minimal declarations of androidx.activity (activity-ktx 1.10.1) the app calls. Type-checking only.
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.activity

import androidx.lifecycle.Lifecycle
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ViewModel

open class ComponentActivity : android.app.Activity(), LifecycleOwner { override val lifecycle: Lifecycle get() = throw NotImplementedError() } // activity 1.10.1 ComponentActivity (via core ComponentActivity, a LifecycleOwner)
fun ComponentActivity.enableEdgeToEdge(): Unit = throw NotImplementedError() // activity 1.10.1 enableEdgeToEdge(statusBarStyle = auto, navigationBarStyle = auto)
inline fun <reified VM : ViewModel> ComponentActivity.viewModels(): Lazy<VM> = throw NotImplementedError() // activity-ktx 1.10.1 viewModels(extrasProducer = null, factoryProducer = null)
