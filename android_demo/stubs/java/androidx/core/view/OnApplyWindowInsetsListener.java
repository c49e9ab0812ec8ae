// androidx.core:core 1.16.0 OnApplyWindowInsetsListener. Type-checking only.
package androidx.core.view;
public interface OnApplyWindowInsetsListener { WindowInsetsCompat onApplyWindowInsets(android.view.View v, WindowInsetsCompat insets); }
