// com.google.ai.edge.litert:litert 2.1.5, org.tensorflow.lite.Tensor (the members the app calls). Type-checking only.
package org.tensorflow.lite;
public interface Tensor {
    DataType dataType(); // Tensor.dataType()
    int[] shape(); // Tensor.shape()
    int numElements(); // Tensor.numElements()
    QuantizationParams quantizationParams(); // Tensor.quantizationParams()
    class QuantizationParams { public float getScale() { return 0f; } public int getZeroPoint() { return 0; } } // Tensor.QuantizationParams
}
