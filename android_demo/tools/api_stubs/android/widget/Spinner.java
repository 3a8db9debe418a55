package android.widget; public class Spinner extends AbsSpinner { public Spinner(android.content.Context c) { super(c); } }
