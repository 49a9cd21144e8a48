/* tests/gpu/emu_ops_index.cpp: gpu/ops_index.cu built as plain C++ with GPU_EMU (kernels run as host loops). */
#include "ops_index.cu"
