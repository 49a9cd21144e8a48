/* tests/gpu/emu_ops_ew.cpp: gpu/ops_ew.cu built as plain C++ with GPU_EMU (kernels run as host loops). */
#include "ops_ew.cu"
