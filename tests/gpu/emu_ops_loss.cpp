/* tests/gpu/emu_ops_loss.cpp: gpu/ops_loss.cu built as plain C++ with GPU_EMU (kernels run as host loops). */
#include "ops_loss.cu"
