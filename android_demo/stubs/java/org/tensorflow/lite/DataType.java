// com.google.ai.edge.litert:litert 2.1.5, org.tensorflow.lite.DataType (its constants). Type-checking only.
package org.tensorflow.lite;
public enum DataType { FLOAT32, INT32, UINT8, INT64, STRING, BOOL, INT16, INT8 }
