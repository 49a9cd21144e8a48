# tests/dtype/gradscaler_ref.py: torch's GradScaler, runnable on the CPU, for gen.py's fixtures.
#
# torch 1.13 has no torch.amp.GradScaler, and torch.cuda.amp.GradScaler disables itself without
# CUDA ("GradScaler is enabled, but CUDA is not available. Disabling."); its two kernels,
# _amp_foreach_non_finite_check_and_unscale_ and _amp_update_scale_, are CUDA-only. install()
# makes torch.amp.GradScaler and torch.cuda.amp.GradScaler this subclass of torch's own class
# (so scale, unscale_, step, update and their checks are torch's code, unchanged), with:
#   - scale() and _MultiDeviceReplicator without their `is_cuda` asserts (the rest as torch's);
#   - the two kernels written out as their CUDA sources do it (aten/src/ATen/native/cuda/
#     AmpKernels.cu), on the CPU tensors of the same dtypes: each grad checked for inf/NaN, then
#     multiplied by inv_scale in float and stored in its dtype; the scale (a float32 tensor)
#     times backoff_factor on inf/NaN and the count of good steps back to 0, else the count + 1
#     and at growth_interval times growth_factor (kept only if finite) and the count back to 0.
import torch
from torch.cuda.amp import grad_scaler as _gs


def _non_finite_check_and_unscale_(grads, found_inf, inv_scale):
    for g in grads:
        if not bool(torch.isfinite(g).all()):
            found_inf.fill_(1.0)
        g.copy_((g.float() * inv_scale).to(g.dtype))


def _update_scale_(scale, growth_tracker, found_inf, growth_factor, backoff_factor, growth_interval):
    if float(found_inf.item()):
        scale.copy_(scale * backoff_factor)
        growth_tracker.fill_(0)
    else:
        successful = int(growth_tracker.item()) + 1
        if successful == growth_interval:
            new_scale = scale * growth_factor
            if bool(torch.isfinite(new_scale).all()):
                scale.copy_(new_scale)
            growth_tracker.fill_(0)
        else:
            growth_tracker.fill_(successful)
    return scale


class _Replicator(_gs._MultiDeviceReplicator):
    """torch's per-device copies of a tensor, without its CUDA assert"""
    def __init__(self, master_tensor):
        self.master = master_tensor
        self._per_device_tensors = {}


class GradScaler(_gs.GradScaler):
    def __init__(self, *args, **kwargs):
        avail = torch.cuda.is_available
        torch.cuda.is_available = lambda: True  # the class checks it once, here
        try:
            super().__init__(*args, **kwargs)
        finally:
            torch.cuda.is_available = avail

    def scale(self, outputs):
        if not self._enabled:
            return outputs
        if isinstance(outputs, torch.Tensor):
            if self._scale is None:
                self._lazy_init_scale_growth_tracker(outputs.device)
            return outputs * self._scale.to(device=outputs.device, non_blocking=True)
        return super().scale(outputs)


def install():
    _gs._MultiDeviceReplicator = _Replicator
    torch._amp_foreach_non_finite_check_and_unscale_ = _non_finite_check_and_unscale_
    torch._amp_update_scale_ = _update_scale_
    torch.cuda.amp.GradScaler = GradScaler
    torch.amp.GradScaler = GradScaler
