/* core/tmath.c: float exp, log, tanh, ... as PyTorch's CPU kernels compute them.
 *
 * torch runs an elementwise op on float tensors through its Vectorized<float> kernels, compiled
 * once per CPU capability; on any x86-64 CPU with AVX2 and FMA (the capability torch picks there,
 * unless ATEN_CPU_CAPABILITY says otherwise) their transcendental functions are SLEEF's 1-ulp
 * ones (Sleef_expf8_u10, ...). Those give the same bits as SLEEF's one-lane FMA build
 * (Sleef_finz_*f1_u10purecfma, checked over 200,000 arguments per function against python3-torch
 * 1.13), which is what this file calls. glibc's expf, tanhf, ... differ from them in the last bit
 * for 0.3% (log) to 10% (expm1) of arguments, and a training loop carries such a bit on.
 * bf16 goes through the same float kernels; f16 in torch 1.13 has no Vectorized type and calls
 * the C library per element, and so does a CPU without AVX2 and FMA (capability "default"): those
 * get libm. Without SLEEF at build time (meson's sleef option), or where its module cannot be
 * loaded, everything is libm. */
#include "ops_int.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#ifdef BS_HAVE_SLEEF
/* SLEEF is a module, libbssleef.so (core/tmath_mod.c), loaded by tm_init where it is used (the
   first float exp, log, ... on a CPU with AVX2 and FMA), so that a start does not map it */
#include "module.h"
#include "tmath_mod.h"

static const bs_sleef_api *tm_fn;
#endif

static bool tm_sleef;
static pthread_once_t tm_once = PTHREAD_ONCE_INIT;

static void tm_init(void)
{
#if defined(BS_HAVE_SLEEF) && (defined(__x86_64__) || defined(__i386__))
    const char *cap = getenv("ATEN_CPU_CAPABILITY");
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        !(cap && strcmp(cap, "default") == 0)) {
        static const bs_module_spec spec = {"libbssleef.so", "core", "BACKSTEP_SLEEF_MODULE",
                                            "bs_sleef_module", BS_SLEEF_ABI, sizeof(bs_sleef_api),
                                            "SLEEF (libbssleef.so)"};
        tm_fn = bs_module_load(&spec, NULL, 0); /* without it: libm, and --version says so */
        tm_sleef = tm_fn != NULL;
    }
#endif
}

static inline bool tm_vec(bs_dtype dt)
{
    pthread_once(&tm_once, tm_init);
    return tm_sleef && dt != BS_F16;
}

const char *bs_float_math(void)
{
    pthread_once(&tm_once, tm_init);
    return tm_sleef ? "sleef" : "libm";
}

#ifdef BS_HAVE_SLEEF
#define TM_FN(name, libm)                                                                        \
    float ops_t_##name(bs_dtype dt, int tv, float x)                                             \
    {                                                                                            \
        return tv && tm_vec(dt) ? tm_fn->name(x) : libm(x);                                      \
    }
#else
#define TM_FN(name, libm)                                                                        \
    float ops_t_##name(bs_dtype dt, int tv, float x) { return libm(x); }
#endif
TM_FN(exp, expf)
TM_FN(log, logf)
TM_FN(log1p, log1pf)
TM_FN(expm1, expm1f)
TM_FN(tanh, tanhf)
TM_FN(sin, sinf)
TM_FN(cos, cosf)
TM_FN(erf, erff)
#undef TM_FN

float ops_t_pow(bs_dtype dt, int tv, float x, float y)
{
#ifdef BS_HAVE_SLEEF
    if (tv && tm_vec(dt)) return tm_fn->pow(x, y);
#endif
    return powf(x, y);
}

int64_t ops_t_vecpart(bs_dtype dt, int64_t n)
{
    int64_t w = dt == BS_BF16 ? 32 : 16;
    return n - n % w;
}
