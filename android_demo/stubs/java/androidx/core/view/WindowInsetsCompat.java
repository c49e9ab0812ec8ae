// androidx.core:core 1.16.0 WindowInsetsCompat: CONSUMED, getInsets(int), Type.systemBars(), Type.displayCutout(). Type-checking only.
package androidx.core.view;
public class WindowInsetsCompat {
    public static final WindowInsetsCompat CONSUMED = null; // WindowInsetsCompat.CONSUMED
    public androidx.core.graphics.Insets getInsets(int typeMask) { throw new RuntimeException(); } // getInsets(int)
    public static final class Type { public static int systemBars() { return 0; } public static int displayCutout() { return 0; } } // WindowInsetsCompat.Type
}
