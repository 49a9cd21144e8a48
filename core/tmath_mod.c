/* core/tmath_mod.c: the SLEEF module, libbssleef.so: SLEEF's functions behind core/tmath_mod.h's
 * table. core/tmath.c loads it on the first float exp, log, ... that takes SLEEF's (a CPU with
 * AVX2 and FMA); only bs_sleef_module is exported. */
#include "tmath_mod.h"

/* sleef.h declares these only under FP_FAST_FMA (a build with -mfma); the library has them for
   any build and they run where the CPU has FMA, which tmath.c checks before loading this */
float Sleef_finz_expf1_u10purecfma(float);
float Sleef_finz_logf1_u10purecfma(float);
float Sleef_finz_log1pf1_u10purecfma(float);
float Sleef_finz_expm1f1_u10purecfma(float);
float Sleef_finz_tanhf1_u10purecfma(float);
float Sleef_finz_sinf1_u10purecfma(float);
float Sleef_finz_cosf1_u10purecfma(float);
float Sleef_finz_erff1_u10purecfma(float);
float Sleef_finz_powf1_u10purecfma(float, float);

__attribute__((visibility("default"))) const bs_sleef_api *bs_sleef_module(void);
const bs_sleef_api *bs_sleef_module(void)
{
    static const bs_sleef_api api = {
        BS_SLEEF_ABI, sizeof api, Sleef_finz_expf1_u10purecfma, Sleef_finz_logf1_u10purecfma,
        Sleef_finz_log1pf1_u10purecfma, Sleef_finz_expm1f1_u10purecfma,
        Sleef_finz_tanhf1_u10purecfma, Sleef_finz_sinf1_u10purecfma, Sleef_finz_cosf1_u10purecfma,
        Sleef_finz_erff1_u10purecfma, Sleef_finz_powf1_u10purecfma};
    return &api;
}
