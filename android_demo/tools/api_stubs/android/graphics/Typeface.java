package android.graphics; public class Typeface { public static final int BOLD = 1; public static final Typeface MONOSPACE = null; }
