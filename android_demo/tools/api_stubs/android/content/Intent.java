package android.content; public class Intent { public String getStringExtra(String n) { return null; } }
