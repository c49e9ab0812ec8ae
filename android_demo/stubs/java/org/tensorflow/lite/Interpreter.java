// com.google.ai.edge.litert:litert 2.1.5, org.tensorflow.lite.Interpreter (the members the app calls). Type-checking only.
package org.tensorflow.lite;
public final class Interpreter implements AutoCloseable {
    public Interpreter(java.nio.ByteBuffer byteBuffer, Options options) { } // Interpreter(ByteBuffer, Interpreter.Options)
    public static class Options { public Options setNumThreads(int numThreads) { return this; } public Options setUseXNNPACK(boolean useXNNPACK) { return this; } } // Interpreter.Options
    public int getInputTensorCount() { return 0; } // InterpreterApi.getInputTensorCount()
    public int getOutputTensorCount() { return 0; } // InterpreterApi.getOutputTensorCount()
    public Tensor getInputTensor(int inputIndex) { return null; } // InterpreterApi.getInputTensor(int)
    public Tensor getOutputTensor(int outputIndex) { return null; } // InterpreterApi.getOutputTensor(int)
    public void resizeInput(int idx, int[] dims) { } // InterpreterApi.resizeInput(int, int[])
    public void allocateTensors() { } // InterpreterApi.allocateTensors()
    public void run(Object input, Object output) { } // InterpreterApi.run(Object, Object)
    @Override public void close() { } // InterpreterApi.close()
}
