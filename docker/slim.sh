#!/bin/sh
# Remove what a torch-free runtime image never uses from a site-packages folder, strip what is left and turn
# its modules into bytecode (run in a build stage, with python3.11 and rootfs.py beside this script).
#   STRIP=strip slim.sh SITE_PACKAGES IMAGE_PATH
# IMAGE_PATH: where the folder will be in the image (tracebacks name it). STRIP: the binutils strip for the
# target's ELF files (aarch64-linux-gnu-strip when cross-building); empty: nothing is stripped.
# Each removal was checked against what predict (images and video), bench, select, report and compare import
# and load in the image (sys.modules and /proc/self/maps of every process); the slow tests in
# tests/test_docker.py run them all in the built images and check that the removed packages are gone.
set -eu
sp=$1
image_path=$2
here=$(dirname "$0")

# OpenVINO: edgeyolo's artifacts are IR (model.xml + model.bin) run on the CPU. The other model readers (ONNX,
# TensorFlow, TF Lite, PaddlePaddle, PyTorch, JAX, GGUF), the Intel GPU/NPU plugins with the GPU kernel cache,
# the C API library (the Python module links libopenvino itself), the C/C++ headers and CMake files, and the
# export-time tools (ovc, benchmark_app, the torch integration) go. AUTO/HETERO/BATCH stay (device strings).
ov=$sp/openvino
if [ -d "$ov" ]; then
  for fe in onnx tensorflow tensorflow_lite paddle pytorch jax gguf; do
    rm -f "$ov"/libs/libopenvino_${fe}_frontend.so*
    rm -rf "$ov"/frontend/$fe
  done
  rm -f "$ov"/libs/libopenvino_intel_gpu_plugin.so "$ov"/libs/libopenvino_intel_npu_plugin.so "$ov"/libs/cache.json \
    "$ov"/libs/libopenvino_c.so* "$ov"/libs/*.pc
  rm -rf "$ov"/include "$ov"/cmake "$ov"/tools "$ov"/torch
fi
# ONNX Runtime: the Python module (onnxruntime_pybind11_state) holds the whole runtime and never loads
# libonnxruntime.so, the C/C++ API library the wheel also ships (35 MB on x86-64). The offline tools
# (quantization, transformers optimizers) serve export only.
rm -f "$sp"/onnxruntime/capi/libonnxruntime.so*
rm -rf "$sp"/onnxruntime/transformers "$sp"/onnxruntime/tools "$sp"/onnxruntime/quantization
# Distributions installed as dependencies that edgeyolo's runtime paths never import: rich's Markdown and
# Syntax renderers (markdown-it-py, mdurl, Pygments; edgeyolo prints tables and progress bars only), ncnn's
# model-zoo downloader (requests and its stack, tqdm, portalocker), ONNX Runtime's offline tools (protobuf,
# flatbuffers). Every file listed in the distribution's RECORD goes (a venv's console scripts too), then
# its metadata.
for dist in pygments markdown_it_py mdurl requests urllib3 idna charset_normalizer certifi tqdm portalocker \
  protobuf flatbuffers; do
  for info in "$sp"/"$dist"-*.dist-info; do
    [ -f "$info/RECORD" ] || continue
    cut -d, -f1 "$info/RECORD" | while IFS= read -r f; do
      case $f in ../../../bin/* | [!/.]*) rm -f "$sp/$f" ;; esac
    done
    rm -rf "$info"
  done
done
# NumPy's build tools (they need a compiler), C headers and test modules; matplotlib's GUI backends (no
# display in an image; the report draws SVG through the Agg and SVG backends), their toolbar images, its
# sample data and test helpers.
rm -rf "$sp"/numpy/f2py "$sp"/numpy/distutils "$sp"/numpy/_core/include "$sp"/numpy/random/_examples \
  "$sp"/numpy/_core/lib/pkgconfig "$sp"/matplotlib/mpl-data/sample_data "$sp"/matplotlib/mpl-data/images \
  "$sp"/matplotlib/backends/qt_editor "$sp"/matplotlib/backends/web_backend "$sp"/matplotlib/testing
# fontTools serves matplotlib's PDF and PS writers (font subsetting: fontTools.subset, fontTools.ttLib); the
# Agg and SVG writers, all edgeyolo draws with, import only fontTools.agl (glyph names, from
# matplotlib.dviread) and what it imports. Those five modules stay; the rest of fontTools (6 MB) goes, and with
# it the PDF, PS and PGF backends, which import it when loaded (savefig to .pdf/.ps then fails on import).
ft=$sp/fontTools
if [ -d "$ft" ]; then
  find "$ft" -mindepth 1 ! -type d ! -path "$ft/__init__.py" ! -path "$ft/agl.py" \
    ! -path "$ft/misc/__init__.py" ! -path "$ft/misc/loggingTools.py" ! -path "$ft/misc/textTools.py" -delete
fi
rm -f "$sp"/matplotlib/backends/backend_pdf.py "$sp"/matplotlib/backends/backend_ps.py \
  "$sp"/matplotlib/backends/backend_pgf.py "$sp"/matplotlib/backends/_backend_pdf_ps.py
rm -f "$sp"/numpy/_core/_simd.* "$sp"/numpy/_core/_multiarray_tests.* "$sp"/numpy/_core/_umath_tests.* \
  "$sp"/numpy/_core/_rational_tests.* "$sp"/numpy/_core/_struct_ufunc_tests.* \
  "$sp"/numpy/_core/_operand_flag_tests.* \
  "$sp"/matplotlib/backends/_tkagg.* "$sp"/matplotlib/backends/backend_qt*.py \
  "$sp"/matplotlib/backends/backend_gtk*.py "$sp"/matplotlib/backends/_backend_gtk.py \
  "$sp"/matplotlib/backends/backend_tk*.py "$sp"/matplotlib/backends/_backend_tk.py \
  "$sp"/matplotlib/backends/backend_wx*.py "$sp"/matplotlib/backends/backend_macosx.py \
  "$sp"/matplotlib/backends/backend_webagg*.py "$sp"/matplotlib/backends/backend_nbagg.py \
  "$sp"/matplotlib/backends/qt_compat.py
# matplotlib's fonts: DejaVu Sans (the report's family) with STIX and Computer Modern (mathtext) stay; DejaVu
# Serif and Mono, and the AFM metrics of the PostScript core fonts (used only with ps.useafm or
# pdf.use14corefonts) go.
rm -rf "$sp"/matplotlib/mpl-data/fonts/afm "$sp"/matplotlib/mpl-data/fonts/pdfcorefonts
rm -f "$sp"/matplotlib/mpl-data/fonts/ttf/DejaVuSerif* "$sp"/matplotlib/mpl-data/fonts/ttf/DejaVuSansMono*
# Pillow serves matplotlib (PNG) and reading image headers: its optional codecs and font/colour engines
# (AVIF, WebP, FreeType text, LittleCMS) go with the libraries only they load (prune-libs below).
rm -f "$sp"/PIL/_avif.* "$sp"/PIL/_webp.* "$sp"/PIL/_imagingft.* "$sp"/PIL/_imagingcms.*
# Test suites, C/Cython sources and type stubs shipped inside packages: nothing uses them at run time.
find "$sp" -depth -type d -name tests \( -path '*/numpy/*' -o -path '*/matplotlib/*' -o -path '*/fontTools/*' \
  -o -path '*/contourpy/*' -o -path '*/kiwisolver/*' -o -path '*/PIL/*' -o -path '*/onnxruntime/*' \) \
  -exec rm -rf {} +
find "$sp" -type f \( -name '*.pyi' -o -name '*.c' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \
  -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' \) -delete
python3 "$here/rootfs.py" prune-libs "$sp"
# Symbol tables and debug information of the extension modules and bundled libraries that still have them.
if [ -n "${STRIP:-}" ]; then
  python3 "$here/rootfs.py" strip "$STRIP" "$sp"
fi
# Bytecode only (sourceless .pyc), compiled here once: nothing compiles at run time. edgeyolo keeps its source
# (`edgeyolo device` ships it to remote devices; its tracebacks show their lines), and cv2 its config*.py
# (OpenCV's loader executes those files by name).
python3 "$here/rootfs.py" bytecode "$sp" "$image_path" edgeyolo cv2
find "$sp" -depth -type d -empty -delete
