// Minimal declarations of the AndroidX APIs the app calls (versions of app/build.gradle.kts). Type-checking only.
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.lifecycle

import android.app.Application
import kotlinx.coroutines.CoroutineScope

abstract class ViewModel { protected open fun onCleared() {} } // androidx.lifecycle:lifecycle-viewmodel 2.9.1 ViewModel
open class AndroidViewModel(application: Application) : ViewModel() { open fun <T : Application> getApplication(): T = throw NotImplementedError() } // lifecycle-viewmodel 2.9.1 AndroidViewModel
val ViewModel.viewModelScope: CoroutineScope get() = throw NotImplementedError() // lifecycle-viewmodel-ktx 2.9.1 ViewModel.viewModelScope
abstract class Lifecycle { enum class State { DESTROYED, INITIALIZED, CREATED, STARTED, RESUMED } } // lifecycle-common 2.9.1 Lifecycle, Lifecycle.State
interface LifecycleOwner { val lifecycle: Lifecycle } // lifecycle-common 2.9.1 LifecycleOwner
abstract class LifecycleCoroutineScope : CoroutineScope // lifecycle-runtime-ktx 2.9.1 LifecycleCoroutineScope
val LifecycleOwner.lifecycleScope: LifecycleCoroutineScope get() = throw NotImplementedError() // lifecycle-runtime-ktx 2.9.1 LifecycleOwner.lifecycleScope
suspend fun LifecycleOwner.repeatOnLifecycle(state: Lifecycle.State, block: suspend CoroutineScope.() -> Unit): Unit = throw NotImplementedError() // lifecycle-runtime-ktx 2.9.1 repeatOnLifecycle
