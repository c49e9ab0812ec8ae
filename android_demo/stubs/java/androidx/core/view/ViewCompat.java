// androidx.core:core 1.16.0 ViewCompat (the one static method the app calls). Type-checking only.
package androidx.core.view;
public class ViewCompat { public static void setOnApplyWindowInsetsListener(android.view.View v, OnApplyWindowInsetsListener listener) { throw new RuntimeException(); } }
