/* tests/gpu/emu_ops_row.cpp: gpu/ops_row.cu built as plain C++ with GPU_EMU (kernels run as host loops). */
#include "ops_row.cu"
