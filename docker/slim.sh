#!/bin/sh
# Remove what a torch-free runtime image never uses from a site-packages folder (run in a build stage).
#   slim.sh SITE_PACKAGES
# edgeyolo's OpenVINO artifacts are IR (model.xml + model.bin) run on the CPU: the other model readers
# (ONNX, TensorFlow, TF Lite, PaddlePaddle, PyTorch, JAX, GGUF), the Intel GPU/NPU plugins with the GPU
# kernel cache, and the C/C++ headers go; so do test suites and ONNX Runtime's offline tools (quantization,
# transformers optimizers), which only export-time code uses.
set -eu
sp=$1
ov=$sp/openvino
if [ -d "$ov" ]; then
  for fe in onnx tensorflow tensorflow_lite paddle pytorch jax gguf; do
    rm -f "$ov"/libs/libopenvino_${fe}_frontend.so*
    rm -rf "$ov"/frontend/$fe
  done
  rm -f "$ov"/libs/libopenvino_intel_gpu_plugin.so "$ov"/libs/libopenvino_intel_npu_plugin.so "$ov"/libs/cache.json
  rm -rf "$ov"/include
fi
# Test suites shipped inside packages; nothing imports them at run time.
find "$sp" -depth -type d -name tests \( -path '*/numpy/*' -o -path '*/matplotlib/*' -o -path '*/fontTools/*' \
  -o -path '*/contourpy/*' -o -path '*/kiwisolver/*' -o -path '*/PIL/*' -o -path '*/onnxruntime/*' \) -exec rm -rf {} +
rm -rf "$sp"/onnxruntime/transformers "$sp"/onnxruntime/tools "$sp"/onnxruntime/quantization
# matplotlib's sample data serve its examples only. (fontTools stays: matplotlib.text imports it.)
rm -rf "$sp"/matplotlib/mpl-data/sample_data
