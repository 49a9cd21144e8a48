/* tests/gpu/emu_backend_gpu.cpp: gpu/backend_gpu.cu built as plain C++ with GPU_EMU (kernels run as host loops). */
#include "backend_gpu.cu"
