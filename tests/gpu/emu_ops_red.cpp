/* tests/gpu/emu_ops_red.cpp: gpu/ops_red.cu built as plain C++ with GPU_EMU (kernels run as host loops). */
#include "ops_red.cu"
