/* core/backend_cpu.c: the CPU backend behind core's backend interface: every op of the table,
 * forward and VJP, on f32 and f64 host buffers (i64 tensors stored as int32), OpenBLAS for matrix
 * products, clear loops everywhere else; torch.optim's SGD and Adam updates. f16 and bf16 buffers
 * run the f32 kernels on float copies, each result rounded (PyTorch's CPU rule; see "16-bit
 * buffers").
 *
 * The file is read twice more by itself: the part under "Kernels for one element type" is compiled
 * once with CPU_T = float and once with CPU_T = double, so each kernel is written once. */
#ifndef CPU_T

#if defined(__GNUC__) && !defined(__clang__)
/* the clear loops below are written to vectorize; -O2 alone keeps most of them scalar */
#pragma GCC optimize("O3", "no-math-errno", "no-trapping-math")
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "blas.h"
#include "core_int.h"
#include "ops_int.h"
#include "ew_math.h"
#include "index_math.h"

/* tanh for the replay loops: libm's own (the f32 bits match torch's, tests/run checks gelu's),
 * called through const wrappers so that an expression that names tanh(t) three times (gelu's
 * tanh form and its VJP) computes it once */
__attribute__((const, noinline)) static float cpu_tanhf(float x) { return tanhf(x); }
__attribute__((const, noinline)) static double cpu_tanh(double x) { return tanh(x); }
#undef m_tanh
#define m_tanh(x) BS_EW_GEN1(x, cpu_tanhf, cpu_tanh)

/* the plan features (transposed operands, fused bias + activation) are defined after the table */
static bool cpu_supports_matmul_t(const bs_backend *b, bs_dtype t);
static bs_status cpu_matmul_t_fwd(bs_backend *be, const bs_exec *mm, bool ta, bool tb, const void *a,
                                  const void *b);
static bs_status cpu_matmul_t_vjp(bs_backend *be, const bs_exec *mm, bool ta, bool tb, const void *a,
                                  const void *b, int which, const void *g, void *d);
static bool cpu_supports_bias_act(const bs_backend *b, const bs_exec *add, const bs_exec *act);
static bs_status cpu_bias_act_fwd(bs_backend *b, const bs_exec *add, const bs_exec *act);
static bs_status cpu_bias_act_vjp(bs_backend *b, const bs_exec *add, const bs_exec *act, const void *g,
                                  void *da, void *db);

#define CPU_CAT2(a, b) a##_##b
#define CPU_CAT(a, b) CPU_CAT2(a, b)

/* kernel families: the ops of one family share a kernel that switches on the op */
typedef enum { CPU_EW1 = 1, CPU_EW2, CPU_MAT, CPU_SHAPE, CPU_RED, CPU_ROW, CPU_LOSS, CPU_INDEX } cpu_family;

/* ==== Shapes shared by both element types ==== */

/* The shape with its leading 1s removed (a (1, 1, 4) bias behaves as (4,)). */
static bs_shape strip_ones(const bs_shape *s)
{
    bs_shape r = {0, {0}};
    int k = 0;
    while (k < s->ndim && s->d[k] == 1) k++;
    for (int j = k; j < s->ndim; j++) r.d[r.ndim++] = s->d[j];
    return r;
}

/* How input x of an elementwise op lines up with the output o:
 *   CPU_BC_SAME   the same elements (no broadcasting)
 *   CPU_BC_ONE    a single element used everywhere
 *   CPU_BC_ROW    x repeats along o's leading dims: x[j % inner] (a bias row)
 *   CPU_BC_ANY    anything else (walked with ops_iter) */
typedef enum { CPU_BC_SAME, CPU_BC_ONE, CPU_BC_ROW, CPU_BC_ANY } cpu_bcast;

static cpu_bcast bcast_kind(const bs_shape *x, const bs_shape *o, int64_t *inner)
{
    int64_t nx = bs_shape_numel(x), no = bs_shape_numel(o);
    *inner = nx;
    if (nx == no) return CPU_BC_SAME;
    if (nx == 1) return CPU_BC_ONE;
    bs_shape s = strip_ones(x);
    if (s.ndim > o->ndim) return CPU_BC_ANY;
    for (int k = 0; k < s.ndim; k++)
        if (s.d[k] != o->d[o->ndim - s.ndim + k]) return CPU_BC_ANY;
    return CPU_BC_ROW;
}

/* The batch part of a matmul: torch.matmul's rules. A 1-D a is a row (1, K) and a 1-D b a
 * column (K, 1); dims before the last two are batch dims, broadcast against each other. */
typedef struct {
    int64_t M, K, N;
    bs_shape ba, bb, bo;      /* batch shapes of a, b and the output */
    int64_t nbatch;           /* numel(bo) */
} cpu_mm;

static void mm_dims(const bs_exec *e, cpu_mm *m)
{
    const bs_shape *a = &e->in_shape[0], *b = &e->in_shape[1];
    memset(m, 0, sizeof *m);
    if (a->ndim == 1) {
        m->M = 1;
        m->K = a->d[0];
    } else {
        m->M = a->d[a->ndim - 2];
        m->K = a->d[a->ndim - 1];
        m->ba.ndim = a->ndim - 2;
        for (int k = 0; k < a->ndim - 2; k++) m->ba.d[k] = a->d[k];
    }
    if (b->ndim == 1) {
        m->N = 1;
    } else {
        m->N = b->d[b->ndim - 1];
        m->bb.ndim = b->ndim - 2;
        for (int k = 0; k < b->ndim - 2; k++) m->bb.d[k] = b->d[k];
    }
    bs_shape_broadcast(&m->ba, &m->bb, &m->bo);
    m->nbatch = bs_shape_numel(&m->bo);
}

/* normalised reduction dim of the exec's first input (BS_DIM_ALL stays) */
static int red_dim(const bs_exec *e)
{
    if (e->attr.dim == BS_DIM_ALL) return BS_DIM_ALL;
    int d = 0;
    if (ops_dim_norm(e->attr.dim, e->in_shape[0].ndim, &d, NULL, 0)) return 0;
    return d;
}

/* outer x len x inner around dim (all elements: 1 x numel x 1); returns dim */
static int red_split(const bs_shape *s, int dim, int64_t *outer, int64_t *len, int64_t *inner)
{
    if (dim == BS_DIM_ALL) {
        *outer = 1;
        *len = bs_shape_numel(s);
        *inner = 1;
    } else {
        ops_dim_split(s, dim, outer, len, inner);
    }
    return dim;
}

/* the dim of softmax and log_softmax: attr.dim, BS_DIM_ALL taken as -1 (as the engine does) */
static int row_dim(const bs_exec *e) { return e->attr.dim == BS_DIM_ALL ? -1 : e->attr.dim; }

#define CPU_XENT_IGNORE (-100) /* torch's ignore_index */

/* The classes of a cross_entropy: logits (C,), (N, C) or (N, C, d1, ...) with the class dim 1;
 * rows are (outer, inner) pairs and the mean divides by their count. */
static void ce_dims(const bs_shape *x, int64_t *outer, int64_t *C, int64_t *inner)
{
    if (x->ndim <= 1) {
        *outer = 1;
        *C = x->ndim ? x->d[0] : 1;
        *inner = 1;
        return;
    }
    ops_dim_split(x, 1, outer, C, inner);
}

/* transpose (dims reversed) of up to 4 dims: the input offset of each output element */
static void rev_strides(const bs_shape *in, int64_t od[BS_MAX_DIMS], int64_t st[BS_MAX_DIMS])
{
    /* output dim k is input dim nd-1-k; pad to 4 dims on the left */
    int nd = in->ndim;
    int64_t ist[BS_MAX_DIMS];
    int64_t s = 1;
    for (int k = nd - 1; k >= 0; k--) {
        ist[k] = s;
        s *= in->d[k];
    }
    for (int k = 0; k < BS_MAX_DIMS; k++) {
        int ko = k - (BS_MAX_DIMS - nd); /* output dim index */
        if (ko < 0) {
            od[k] = 1;
            st[k] = 0;
        } else {
            od[k] = in->d[nd - 1 - ko];
            st[k] = ist[nd - 1 - ko];
        }
    }
}

/* m is out's trailing dims (after m's leading 1s): m's element i % numel(m) goes with out's i */
static bool cpu_suffix_of(const bs_shape *m, const bs_shape *out)
{
    int k0 = 0;
    while (k0 < m->ndim && m->d[k0] == 1) k0++;
    int n = m->ndim - k0;
    if (n > out->ndim) return false;
    for (int k = 0; k < n; k++)
        if (m->d[k0 + k] != out->d[out->ndim - n + k]) return false;
    return true;
}

/* ==== Kernels for both element types ==== */

#define CPU_T float
#define CPU_S f32
#define CPU_GEMM bs_blas_sgemm
#include "backend_cpu.c"
#undef CPU_T
#undef CPU_S
#undef CPU_GEMM

#define CPU_T double
#define CPU_S f64
#define CPU_GEMM bs_blas_dgemm
#include "backend_cpu.c"
#undef CPU_T
#undef CPU_S
#undef CPU_GEMM

/* ==== The op table of this backend ====
 * Indexed by op (its length comes from ops.def through the bs_op enum): an op that ops.def gains
 * without a row here is unsupported, and tests/run's coverage test, which walks ops.def, fails. */
#define CPU_EW1_ROW(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS) [BS_OP_##ID] = CPU_EW1,
#define CPU_EW2_ROW(ID, fn, FWD, VJP_A, VJP_B, FL, SAVED, CHECK, FLAGS) [BS_OP_##ID] = CPU_EW2,
static const cpu_family cpu_ops[BS_OP_COUNT] = {
    BS_EW1_OPS(CPU_EW1_ROW)        BS_EW2_OPS(CPU_EW2_ROW)
    [BS_OP_MATMUL] = CPU_MAT,      [BS_OP_TRANSPOSE] = CPU_SHAPE,
    [BS_OP_RESHAPE] = CPU_SHAPE,   [BS_OP_SUM] = CPU_RED,       [BS_OP_MEAN] = CPU_RED,
    [BS_OP_MAX] = CPU_RED,         [BS_OP_SOFTMAX] = CPU_ROW,   [BS_OP_LOG_SOFTMAX] = CPU_ROW,
    [BS_OP_LAYERNORM] = CPU_ROW,   [BS_OP_MSE] = CPU_LOSS,      [BS_OP_BCE] = CPU_LOSS,
    [BS_OP_BCE_LOGITS] = CPU_LOSS, [BS_OP_CROSS_ENTROPY] = CPU_LOSS, [BS_OP_SELECT] = CPU_INDEX,
    [BS_OP_SLICE] = CPU_INDEX,     [BS_OP_INDEX_SELECT] = CPU_INDEX, [BS_OP_WHERE] = CPU_INDEX,
    [BS_OP_MASKED_FILL] = CPU_INDEX, [BS_OP_CAT] = CPU_INDEX,   [BS_OP_PERMUTE] = CPU_SHAPE,
    [BS_OP_TRIL] = CPU_INDEX,      [BS_OP_TRIU] = CPU_INDEX,
};

/* ==== 16-bit buffers (f16, bf16): PyTorch's CPU rule ====
 * An f16 buffer holds IEEE half numbers, a bf16 buffer the top 16 bits of floats, 2 bytes each.
 * An op on them runs this file's f32 kernel on float copies of its 16-bit operands and rounds
 * its result once to the dtype (bs_dtype_roundf, nearest even), as torch's CPU kernels compute
 * Half and BFloat16 in float: no op's math is written a second time. Where torch's own CPU
 * kernels round between the steps of one op, results can differ from torch's in the last place.
 * A VJP adds into the gradient in float and rounds the sum once (the GPU backend's bf16 rule);
 * so does accumulate. Optimizer state (SGD's momentum, Adam's moments) is 16-bit like the params
 * (a model.half() model trained in place): an update rounds p, m and v once each. The float copies
 * are scratch for the one call and are not counted in a plan's bytes. */
static bool cpu_lp(bs_dtype t) { return t == BS_F16 || t == BS_BF16; }

/* v, already representable in t (bs_dtype_roundf), as t's 16 bits */
static uint16_t lp_bits(bs_dtype t, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    if (v != v) return t == BS_BF16 ? (uint16_t)(sign | 0x7fc0u) : (uint16_t)(sign | 0x7e00u);
    if (t == BS_BF16) return (uint16_t)(u >> 16); /* exact: the low 16 bits are 0 */
    float a = fabsf(v);
    if (a == INFINITY) return (uint16_t)(sign | 0x7c00u);
    if (a == 0) return sign;
    if (a < 0x1p-14f) return (uint16_t)(sign | (uint16_t)(a * 0x1p24f)); /* subnormal: m * 2^-24 */
    int e = ilogbf(a);
    uint16_t m = (uint16_t)(ldexpf(a, -e) * 1024.0f - 1024.0f);
    return (uint16_t)(sign | (uint16_t)((e + 15) << 10) | m);
}

static float lp_float(bs_dtype t, uint16_t b)
{
    if (t == BS_BF16) {
        uint32_t u = (uint32_t)b << 16;
        float v;
        memcpy(&v, &u, sizeof v);
        return v;
    }
    int e = (b >> 10) & 31, m = b & 1023;
    float a = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(1024 + m), e - 25);
    return (b & 0x8000u) ? -a : a;
}

/* n 16-bit numbers as a new float array (NULL when out of memory) */
static float *lp_widen(bs_dtype t, const void *src, int64_t n)
{
    float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    const uint16_t *s = src;
    for (int64_t i = 0; d && i < n; i++) d[i] = lp_float(t, s[i]);
    return d;
}

/* each float rounded to t (once) and stored as its 16 bits */
static void lp_narrow(bs_dtype t, const float *src, void *dst, int64_t n)
{
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = lp_bits(t, bs_dtype_roundf(t, src[i]));
}

/* the forward (i < 0) or input i's VJP of an op on 16-bit buffers, through the f32 kernels */
static bs_status lp_exec(const bs_exec *e, int i, const void *g, void *din)
{
    bs_exec f = *e;
    float *tmp[BS_MAX_INPUTS + 3] = {0};
    int nt = 0;
    bs_status st = BS_ERR_NOMEM;
    int64_t no = bs_shape_numel(&e->out_shape);
    f.dtype = BS_F32;
    for (int k = 0; k < e->nin; k++) {
        if (!cpu_lp(e->in_dtype[k])) continue; /* integer inputs (int32) as they are */
        if (!(tmp[nt] = lp_widen(e->in_dtype[k], e->in[k], bs_shape_numel(&e->in_shape[k])))) goto out;
        f.in[k] = tmp[nt++];
        f.in_dtype[k] = BS_F32;
    }
    if (i < 0) {
        if (!(tmp[nt] = malloc((size_t)(no ? no : 1) * sizeof(float)))) goto out;
        f.out = tmp[nt++];
        if (!(st = fwd_f32(&f, cpu_ops[e->op]))) lp_narrow(e->dtype, f.out, e->out, no);
        goto out;
    }
    int64_t nd = bs_shape_numel(&e->in_shape[i]);
    float *gf, *df;
    if (!(tmp[nt] = lp_widen(e->dtype, e->out, no))) goto out;
    f.out = tmp[nt++];
    if (!(gf = tmp[nt++] = lp_widen(e->dtype, g, no))) goto out;
    if (!(df = tmp[nt++] = lp_widen(e->dtype, din, nd))) goto out;
    if (!(st = vjp_f32(&f, cpu_ops[e->op], i, gf, df))) lp_narrow(e->dtype, df, din, nd);
out:
    for (int k = 0; k < nt; k++) free(tmp[k]);
    return st;
}

static void lp_acc(bs_dtype t, void *dst, const void *src, int64_t n)
{
    uint16_t *d = dst;
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) d[i] = lp_bits(t, bs_dtype_roundf(t, lp_float(t, d[i]) + lp_float(t, s[i])));
}

static bs_status lp_opt(const bs_opt_conf *conf, int64_t t, void *p, const void *g, void *m, void *v, int64_t n,
                        bs_dtype dt)
{
    void *buf[4] = {p, (void *)g, m, v};
    float *f[4] = {0};
    bs_status st = BS_ERR_NOMEM;
    for (int k = 0; k < 4; k++)
        if (buf[k] && !(f[k] = lp_widen(dt, buf[k], n))) goto out;
    opt_f32(conf, t, f[0], f[1], f[2], f[3], n);
    for (int k = 0; k < 4; k++)
        if (k != 1 && buf[k]) lp_narrow(dt, f[k], buf[k], n);
    st = BS_OK;
out:
    for (int k = 0; k < 4; k++) free(f[k]);
    return st;
}

static bool cpu_supports_dtype(const bs_backend *b, bs_dtype t)
{
    (void)b;
    return t == BS_F32 || t == BS_F64 || cpu_lp(t);
}

/* f32 and f64 run the kernels directly; the plan features (transposed operands, fused bias +
 * activation) are for those only, so 16-bit plans run the plain ops */
static bool cpu_native_dtype(bs_dtype t) { return t == BS_F32 || t == BS_F64; }

static bool cpu_supports(const bs_backend *b, bs_op op, bs_dtype t)
{
    return (int)op >= 0 && op < BS_OP_COUNT && cpu_ops[op] != 0 && cpu_supports_dtype(b, t);
}

/* ==== The interface ==== */

static bs_status cpu_open(bs_backend *b, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    /* the first call loads OpenBLAS (core/blas.h), which starts its threads */
    int nt = bs_blas_threads();
    if (nt > 0)
        snprintf(b->device, sizeof b->device, "CPU, OpenBLAS %d thread%s (%s)", nt,
                 nt == 1 ? "" : "s", bs_blas_corename());
    else
        snprintf(b->device, sizeof b->device, "CPU, plain loops (%s)", bs_blas_corename());
    return BS_OK;
}

static void cpu_close(bs_backend *b) { (void)b; }

static void *cpu_alloc(bs_backend *b, size_t bytes)
{
    (void)b;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) return NULL;
    return p;
}

static void cpu_free(bs_backend *b, void *p)
{
    (void)b;
    free(p);
}

static bs_status cpu_upload(bs_backend *b, void *dst, const double *src, int64_t n, bs_dtype t)
{
    (void)b;
    switch (t) {
    case BS_F32: convert_in_f32(dst, src, n); return BS_OK;
    case BS_F64: convert_in_f64(dst, src, n); return BS_OK;
    case BS_F16:
    case BS_BF16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = lp_bits(t, (float)bs_dtype_round(t, src[i]));
        return BS_OK;
    }
    case BS_I64: {
        int32_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = (int32_t)src[i];
        return BS_OK;
    }
    default: return BS_ERR_UNSUPPORTED;
    }
}

static bs_status cpu_download(bs_backend *b, double *dst, const void *src, int64_t n, bs_dtype t)
{
    (void)b;
    switch (t) {
    case BS_F32: convert_out_f32(dst, src, n); return BS_OK;
    case BS_F64: convert_out_f64(dst, src, n); return BS_OK;
    case BS_F16:
    case BS_BF16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++) dst[i] = lp_float(t, h[i]);
        return BS_OK;
    }
    case BS_I64: {
        const int32_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = s[i];
        return BS_OK;
    }
    default: return BS_ERR_UNSUPPORTED;
    }
}

static bs_status cpu_fill(bs_backend *b, void *dst, double v, int64_t n, bs_dtype t)
{
    (void)b;
    switch (t) {
    case BS_F32: fill_f32(dst, v, n); return BS_OK;
    case BS_F64: fill_f64(dst, v, n); return BS_OK;
    case BS_F16:
    case BS_BF16: {
        uint16_t *d = dst, x = lp_bits(t, (float)bs_dtype_round(t, v));
        for (int64_t i = 0; i < n; i++) d[i] = x;
        return BS_OK;
    }
    case BS_I64: {
        int32_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = (int32_t)v;
        return BS_OK;
    }
    default: return BS_ERR_UNSUPPORTED;
    }
}

static bs_status cpu_forward(bs_backend *b, const bs_exec *e)
{
    if (!cpu_supports(b, e->op, e->dtype)) return BS_ERR_UNSUPPORTED;
    if (cpu_lp(e->dtype)) return lp_exec(e, -1, NULL, NULL);
    return e->dtype == BS_F32 ? fwd_f32(e, cpu_ops[e->op]) : fwd_f64(e, cpu_ops[e->op]);
}

static bs_status cpu_vjp(bs_backend *b, const bs_exec *e, int i, const void *g, void *din)
{
    if (!cpu_supports(b, e->op, e->dtype) || i < 0 || i >= e->nin) return BS_ERR_UNSUPPORTED;
    if (cpu_lp(e->dtype)) return lp_exec(e, i, g, din);
    return e->dtype == BS_F32 ? vjp_f32(e, cpu_ops[e->op], i, g, din)
                              : vjp_f64(e, cpu_ops[e->op], i, g, din);
}

static bs_status cpu_accumulate(bs_backend *b, void *dst, const void *src, int64_t n, bs_dtype t)
{
    (void)b;
    switch (t) {
    case BS_F32: acc_f32(dst, src, n); return BS_OK;
    case BS_F64: acc_f64(dst, src, n); return BS_OK;
    case BS_F16:
    case BS_BF16: lp_acc(t, dst, src, n); return BS_OK;
    default: return BS_ERR_UNSUPPORTED;
    }
}

static bs_status cpu_opt_step(bs_backend *b, const bs_opt_conf *conf, int64_t t, void *p,
                              const void *g, void *m, void *v, int64_t n, bs_dtype dt)
{
    (void)b;
    switch (dt) {
    case BS_F32: opt_f32(conf, t, p, g, m, v, n); return BS_OK;
    case BS_F64: opt_f64(conf, t, p, g, m, v, n); return BS_OK;
    case BS_F16:
    case BS_BF16: return lp_opt(conf, t, p, g, m, v, n, dt);
    default: return BS_ERR_UNSUPPORTED;
    }
}

static bs_status cpu_sync(bs_backend *b)
{
    (void)b;
    return BS_OK;
}

static bs_backend cpu_backend = {
    .name = "cpu",
    .impl = NULL,
    .device = "CPU (OpenBLAS)",
    .open = cpu_open,
    .close = cpu_close,
    .supports = cpu_supports,
    .supports_dtype = cpu_supports_dtype,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .fill = cpu_fill,
    .forward = cpu_forward,
    .vjp = cpu_vjp,
    .accumulate = cpu_accumulate,
    .opt_step = cpu_opt_step,
    .sync = cpu_sync,
    .supports_matmul_t = cpu_supports_matmul_t,
    .matmul_t_fwd = cpu_matmul_t_fwd,
    .matmul_t_vjp = cpu_matmul_t_vjp,
    .supports_bias_act = cpu_supports_bias_act,
    .bias_act_fwd = cpu_bias_act_fwd,
    .bias_act_vjp = cpu_bias_act_vjp,
};

bs_backend *bs_backend_cpu(void) { return &cpu_backend; }

/* ==== Matrix product with transposed operands (for the planner) ==== */

static bool cpu_supports_matmul_t(const bs_backend *be, bs_dtype t)
{
    (void)be;
    return cpu_native_dtype(t);
}

static bs_status cpu_matmul_t_fwd(bs_backend *be, const bs_exec *mm, bool ta, bool tb, const void *a,
                                  const void *b)
{
    (void)be;
    if (mm->dtype == BS_F32)
        mat_t_fwd_f32(mm, ta, tb, a, b);
    else
        mat_t_fwd_f64(mm, ta, tb, a, b);
    return BS_OK;
}

static bs_status cpu_matmul_t_vjp(bs_backend *be, const bs_exec *mm, bool ta, bool tb, const void *a,
                                  const void *b, int which, const void *g, void *d)
{
    (void)be;
    if (mm->dtype == BS_F32)
        mat_t_vjp_f32(mm, ta, tb, a, b, which, g, d);
    else
        mat_t_vjp_f64(mm, ta, tb, a, b, which, g, d);
    return BS_OK;
}

/* ==== Bias + activation, fused (for the planner) ==== */

/* ew_math.h's flags of each unary op (BS_EW_ACT: fused after a bias add) */
#define CPU_EW1_FLAGS(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS) [BS_OP_##ID] = (FLAGS),
static const int cpu_ew1_flags[BS_OP_COUNT] = {BS_EW1_OPS(CPU_EW1_FLAGS)};
#undef CPU_EW1_FLAGS

/* Can add (x + b) followed by act run as one loop here? x has add's shape and b is a row that
 * repeats over its leading dims. */
static bool cpu_supports_bias_act(const bs_backend *be, const bs_exec *add, const bs_exec *act)
{
    (void)be;
    int64_t w;
    if (add->op != BS_OP_ADD || add->dtype != act->dtype || !cpu_native_dtype(add->dtype))
        return false;
    if ((int)act->op < 0 || act->op >= BS_OP_COUNT || !(cpu_ew1_flags[act->op] & BS_EW_ACT))
        return false;
    return bs_shape_eq(&add->in_shape[0], &add->out_shape) &&
           bcast_kind(&add->in_shape[1], &add->out_shape, &w) == CPU_BC_ROW &&
           bs_shape_eq(&act->out_shape, &add->out_shape);
}

static bs_status cpu_bias_act_fwd(bs_backend *be, const bs_exec *add, const bs_exec *act)
{
    (void)be;
    if (add->dtype == BS_F32)
        bias_act_fwd_f32(add, act);
    else
        bias_act_fwd_f64(add, act);
    return BS_OK;
}

static bs_status cpu_bias_act_vjp(bs_backend *be, const bs_exec *add, const bs_exec *act, const void *g,
                                  void *da, void *db)
{
    (void)be;
    if (add->dtype == BS_F32)
        bias_act_vjp_f32(add, act, g, da, db);
    else
        bias_act_vjp_f64(add, act, g, da, db);
    return BS_OK;
}

#else /* CPU_T defined: ==== Kernels for one element type ==== */

#define T CPU_T
#define K(name) CPU_CAT(name, CPU_S)

/* ==== Conversion, fill, accumulate ==== */

static void K(convert_in)(T *restrict d, const double *restrict s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) d[i] = (T)s[i];
}

static void K(convert_out)(double *restrict d, const T *restrict s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) d[i] = (double)s[i];
}

static void K(fill)(T *restrict d, double v, int64_t n)
{
    if (v == 0) {
        memset(d, 0, (size_t)n * sizeof(T));
        return;
    }
    T x = (T)v;
    for (int64_t i = 0; i < n; i++) d[i] = x;
}

static void K(acc)(T *restrict d, const T *restrict s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) d[i] += s[i];
}

/* ==== Elementwise, one input ====
 * forward o = f(a); VJP din += g * f'(a): each op's two expressions from ew_math.h, made into
 * inline functions of this element type (A(x) is a cast to T), one loop per op. */
#define A(x) ((T)(x))
#define CPU_EW1_FN(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                     \
    static inline T K(ew1f_##fn)(T a, T k, T k2) { return FWD; }                                 \
    static inline T K(ew1v_##fn)(T g, T a, T o, T k, T k2) { return VJP; }
BS_EW1_OPS(CPU_EW1_FN)
#undef CPU_EW1_FN

static void K(ew1_fwd)(const bs_exec *e)
{
    const T *restrict a = e->in[0];
    T *restrict o = e->out;
    int64_t n = bs_shape_numel(&e->out_shape);
    T k = (T)e->attr.k, k2 = (T)e->attr.k2;
    switch (e->op) {
#define CPU_EW1_CASE(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                   \
    case BS_OP_##ID:                                                                             \
        for (int64_t i = 0; i < n; i++) o[i] = K(ew1f_##fn)(a[i], k, k2);                        \
        break;
        BS_EW1_OPS(CPU_EW1_CASE)
#undef CPU_EW1_CASE
    default: break;
    }
}

static void K(ew1_vjp)(const bs_exec *e, const T *restrict g, T *restrict d)
{
    const T *restrict a = e->in[0];
    const T *restrict o = e->out;
    int64_t n = bs_shape_numel(&e->out_shape);
    T k = (T)e->attr.k, k2 = (T)e->attr.k2;
    switch (e->op) {
#define CPU_EW1_CASE(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                   \
    case BS_OP_##ID:                                                                             \
        for (int64_t i = 0; i < n; i++) d[i] += K(ew1v_##fn)(g[i], a[i], o[i], k, k2);           \
        break;
        BS_EW1_OPS(CPU_EW1_CASE)
#undef CPU_EW1_CASE
    default: break;
    }
}

/* ==== Elementwise, two inputs (NumPy broadcasting) ====
 * forward o = f(x, y); VJP of input i: din += g * df/d(input i), summed over the dims where that
 * input was broadcast. The expressions are ew_math.h's, as inline functions of this type. */
#define CPU_EW2_FN(ID, fn, FWD, VJP_A, VJP_B, FL, SAVED, CHECK, FLAGS)                           \
    static inline T K(ew2f_##fn)(T a, T b) { return FWD; }                                       \
    static inline T K(ew2va_##fn)(T g, T a, T b, T o) { return VJP_A; }                          \
    static inline T K(ew2vb_##fn)(T g, T a, T b, T o) { return VJP_B; }
BS_EW2_OPS(CPU_EW2_FN)
#undef CPU_EW2_FN

/* one loop per broadcast layout, the op's expression inlined in each */
#define EW2_LOOPS(EXPR)                                                                          \
    do {                                                                                         \
        if (ka == CPU_BC_SAME && kb == CPU_BC_SAME) {                                            \
            for (int64_t i = 0; i < n; i++) {                                                    \
                T x = a[i], y = b[i];                                                            \
                o[i] = (EXPR);                                                                   \
            }                                                                                    \
        } else if (ka == CPU_BC_SAME && kb == CPU_BC_ONE) {                                      \
            T y = b[0];                                                                          \
            for (int64_t i = 0; i < n; i++) {                                                    \
                T x = a[i];                                                                      \
                o[i] = (EXPR);                                                                   \
            }                                                                                    \
        } else if (ka == CPU_BC_ONE && kb == CPU_BC_SAME) {                                      \
            T x = a[0];                                                                          \
            for (int64_t i = 0; i < n; i++) {                                                    \
                T y = b[i];                                                                      \
                o[i] = (EXPR);                                                                   \
            }                                                                                    \
        } else if (ka == CPU_BC_SAME && kb == CPU_BC_ROW) {                                      \
            for (int64_t r = 0; r < n; r += ib) {                                                \
                const T *restrict ar = a + r;                                                    \
                T *restrict orow = o + r;                                                        \
                for (int64_t j = 0; j < ib; j++) {                                               \
                    T x = ar[j], y = b[j];                                                       \
                    orow[j] = (EXPR);                                                            \
                }                                                                                \
            }                                                                                    \
        } else if (ka == CPU_BC_ROW && kb == CPU_BC_SAME) {                                      \
            for (int64_t r = 0; r < n; r += ia) {                                                \
                const T *restrict br = b + r;                                                    \
                T *restrict orow = o + r;                                                        \
                for (int64_t j = 0; j < ia; j++) {                                               \
                    T x = a[j], y = br[j];                                                       \
                    orow[j] = (EXPR);                                                            \
                }                                                                                \
            }                                                                                    \
        } else {                                                                                 \
            ops_iter it;                                                                         \
            ops_iter_init(&it, &e->out_shape, &e->in_shape[0], &e->in_shape[1]);                 \
            for (int64_t i = 0; i < n; i++, ops_iter_next(&it)) {                                \
                T x = a[it.off[0]], y = b[it.off[1]];                                            \
                o[i] = (EXPR);                                                                   \
            }                                                                                    \
        }                                                                                        \
    } while (0)

static void K(ew2_fwd)(const bs_exec *e)
{
    const T *restrict a = e->in[0];
    const T *restrict b = e->in[1];
    T *restrict o = e->out;
    int64_t n = bs_shape_numel(&e->out_shape), ia, ib;
    cpu_bcast ka = bcast_kind(&e->in_shape[0], &e->out_shape, &ia);
    cpu_bcast kb = bcast_kind(&e->in_shape[1], &e->out_shape, &ib);
    if (n == 0) return;
    switch (e->op) {
#define EW2_CASE(ID, fn, FWD, VJP_A, VJP_B, FL, SAVED, CHECK, FLAGS)                             \
    case BS_OP_##ID: EW2_LOOPS(K(ew2f_##fn)(x, y)); break;
        BS_EW2_OPS(EW2_CASE)
#undef EW2_CASE
    default: break;
    }
}


/* din (input `which`'s shape) += DERIV over the output; the other input is read as needed */
#define EW2_VJP_LOOPS(DERIV)                                                                     \
    do {                                                                                         \
        cpu_bcast kd = which == 0 ? ka : kb;                                                     \
        int64_t id = which == 0 ? ia : ib;                                                       \
        if (ka != CPU_BC_ANY && kb != CPU_BC_ANY && kd == CPU_BC_SAME) {                         \
            for (int64_t i = 0; i < n; i++) {                                                    \
                T x = a[ka == CPU_BC_SAME ? i : ka == CPU_BC_ONE ? 0 : i % ia];                  \
                T y = b[kb == CPU_BC_SAME ? i : kb == CPU_BC_ONE ? 0 : i % ib];                  \
                T gv = g[i], ov = o[i];                                                          \
                (void)x; (void)y; (void)ov;                                                      \
                d[i] += (DERIV);                                                                 \
            }                                                                                    \
        } else if (kd == CPU_BC_ONE) {                                                           \
            double s = 0;                                                                        \
            ops_iter it;                                                                         \
            ops_iter_init(&it, &e->out_shape, &e->in_shape[0], &e->in_shape[1]);                 \
            for (int64_t i = 0; i < n; i++, ops_iter_next(&it)) {                                \
                T x = a[it.off[0]], y = b[it.off[1]], gv = g[i], ov = o[i];                      \
                (void)x; (void)y; (void)ov;                                                      \
                s += (double)(DERIV);                                                            \
            }                                                                                    \
            d[0] += (T)s;                                                                        \
        } else if (kd == CPU_BC_ROW && (which == 0 ? kb : ka) == CPU_BC_SAME) {                  \
            for (int64_t r = 0; r < n; r += id) {                                                \
                for (int64_t j = 0; j < id; j++) {                                               \
                    T x = which == 0 ? a[j] : a[r + j];                                          \
                    T y = which == 0 ? b[r + j] : b[j];                                          \
                    T gv = g[r + j], ov = o[r + j];                                              \
                    (void)x; (void)y; (void)ov;                                                  \
                    d[j] += (DERIV);                                                             \
                }                                                                                \
            }                                                                                    \
        } else {                                                                                 \
            ops_iter it;                                                                         \
            ops_iter_init(&it, &e->out_shape, &e->in_shape[0], &e->in_shape[1]);                 \
            for (int64_t i = 0; i < n; i++, ops_iter_next(&it)) {                                \
                T x = a[it.off[0]], y = b[it.off[1]], gv = g[i], ov = o[i];                      \
                (void)x; (void)y; (void)ov;                                                      \
                d[it.off[which]] += (DERIV);                                                     \
            }                                                                                    \
        }                                                                                        \
    } while (0)

static void K(ew2_vjp)(const bs_exec *e, int which, const T *restrict g, T *restrict d)
{
    const T *restrict a = e->in[0];
    const T *restrict b = e->in[1];
    const T *restrict o = e->out;
    int64_t n = bs_shape_numel(&e->out_shape), ia, ib;
    cpu_bcast ka = bcast_kind(&e->in_shape[0], &e->out_shape, &ia);
    cpu_bcast kb = bcast_kind(&e->in_shape[1], &e->out_shape, &ib);
    if (n == 0) return;
    /* the common cases first: plain loops that vectorize */
    if (ka == CPU_BC_SAME && kb == CPU_BC_SAME && (e->op == BS_OP_ADD || e->op == BS_OP_SUB)) {
        if (e->op == BS_OP_SUB && which == 1)
            for (int64_t i = 0; i < n; i++) d[i] -= g[i];
        else
            for (int64_t i = 0; i < n; i++) d[i] += g[i];
        return;
    }
    if (e->op == BS_OP_ADD && (which == 0 ? ka : kb) == CPU_BC_ROW) {
        /* a bias: column sums of g */
        int64_t id = which == 0 ? ia : ib;
        for (int64_t r = 0; r < n; r += id) {
            const T *restrict gr = g + r;
            for (int64_t j = 0; j < id; j++) d[j] += gr[j];
        }
        return;
    }
    switch (e->op) {
#define EW2_VJP_CASE(ID, fn, FWD, VJP_A, VJP_B, FL, SAVED, CHECK, FLAGS)                         \
    case BS_OP_##ID:                                                                             \
        if (which == 0)                                                                          \
            EW2_VJP_LOOPS(K(ew2va_##fn)(gv, x, y, ov));                                          \
        else                                                                                     \
            EW2_VJP_LOOPS(K(ew2vb_##fn)(gv, x, y, ov));                                          \
        break;
        BS_EW2_OPS(EW2_VJP_CASE)
#undef EW2_VJP_CASE
    default: break;
    }
}

/* ==== Matrix product (OpenBLAS) ====
 * forward O = A @ B per batch; VJP dA += G @ B^T, dB += A^T @ G (row-major, beta 1 so that
 * broadcast batches and other paths add up). */
static void K(mat_fwd)(const bs_exec *e)
{
    cpu_mm m;
    mm_dims(e, &m);
    const T *a = e->in[0], *b = e->in[1];
    T *o = e->out;
    int64_t sa = m.M * m.K, sb = m.K * m.N, so = m.M * m.N;
    if (m.K == 0 || so == 0) {
        memset(o, 0, (size_t)(so * m.nbatch) * sizeof(T));
        return;
    }
    ops_iter it;
    ops_iter_init(&it, &m.bo, &m.ba, &m.bb);
    for (int64_t t = 0; t < m.nbatch; t++, ops_iter_next(&it))
        CPU_GEMM(false, false, (int)m.M, (int)m.N, (int)m.K, 1, a + it.off[0] * sa, (int)m.K,
                 b + it.off[1] * sb, (int)m.N, 0, o + t * so, (int)m.N);
}

static void K(mat_vjp)(const bs_exec *e, int which, const T *g, T *d)
{
    cpu_mm m;
    mm_dims(e, &m);
    const T *a = e->in[0], *b = e->in[1];
    int64_t sa = m.M * m.K, sb = m.K * m.N, so = m.M * m.N;
    if (m.K == 0 || so == 0) return;
    ops_iter it;
    ops_iter_init(&it, &m.bo, &m.ba, &m.bb);
    for (int64_t t = 0; t < m.nbatch; t++, ops_iter_next(&it)) {
        const T *gt = g + t * so;
        if (which == 0) /* dA (M, K) += G (M, N) @ B^T (N, K) */
            CPU_GEMM(false, true, (int)m.M, (int)m.K, (int)m.N, 1, gt, (int)m.N,
                     b + it.off[1] * sb, (int)m.N, 1, d + it.off[0] * sa, (int)m.K);
        else /* dB (K, N) += A^T (K, M) @ G (M, N) */
            CPU_GEMM(true, false, (int)m.K, (int)m.N, (int)m.M, 1, a + it.off[0] * sa, (int)m.K,
                     gt, (int)m.N, 1, d + it.off[1] * sb, (int)m.N);
    }
}

/* ==== Matrix product with transposed operands (for the planner) ====
 * C (M, N) = op(A) @ op(B) for 2-D operands, where op(X) is X or, when its flag is set, the
 * transpose of the stored matrix: the planner passes W for W.T instead of copying it. VJP into the
 * stored matrices: dA += G op(B)^T (dA^T for a transposed A: op(B) G^T), dB += op(A)^T G
 * (transposed B: G^T op(A)). */
/* a (..., M, K) with more than two dims is one (numel / K, K) matrix here (never transposed) */
static void K(mat_t_dims)(const bs_exec *e, int *M, int *K, int *N)
{
    const bs_shape *a = &e->in_shape[0];
    int64_t rows = 1;
    for (int k = 0; k + 1 < a->ndim; k++) rows *= a->d[k];
    *M = (int)rows;
    *K = (int)a->d[a->ndim - 1];
    *N = (int)e->in_shape[1].d[1];
}

static void K(mat_t_fwd)(const bs_exec *e, bool ta, bool tb, const T *a, const T *b)
{
    int M, K, N;
    K(mat_t_dims)(e, &M, &K, &N);
    T *o = e->out;
    if (K == 0) {
        memset(o, 0, (size_t)M * (size_t)N * sizeof(T));
        return;
    }
    if (M == 0 || N == 0) return;
    CPU_GEMM(ta, tb, M, N, K, 1, a, ta ? M : K, b, tb ? K : N, 0, o, N);
}

static void K(mat_t_vjp)(const bs_exec *e, bool ta, bool tb, const T *a, const T *b, int which,
                         const T *g, T *d)
{
    int M, K, N;
    K(mat_t_dims)(e, &M, &K, &N);
    if (M == 0 || N == 0 || K == 0) return;
    int lda = ta ? M : K, ldb = tb ? K : N;
    if (which == 0 && !ta) /* dA (M, K) += G (M, N) op(B)^T (N, K) */
        CPU_GEMM(false, !tb, M, K, N, 1, g, N, b, ldb, 1, d, K);
    else if (which == 0) /* dA^T (K, M) += op(B) (K, N) G^T (N, M) */
        CPU_GEMM(tb, true, K, M, N, 1, b, ldb, g, N, 1, d, M);
    else if (!tb) /* dB (K, N) += op(A)^T (K, M) G (M, N) */
        CPU_GEMM(!ta, false, K, N, M, 1, a, lda, g, N, 1, d, N);
    else /* dB^T (N, K) += G^T (N, M) op(A) (M, K) */
        CPU_GEMM(true, ta, N, K, M, 1, g, N, a, lda, 1, d, K);
}

/* ==== Moving data: reshape, transpose ====
 * reshape: the same elements (VJP dA += G); transpose reverses the dims (VJP dA += G.T). */
/* permute (core/index_math.h's map), padded to 4 dims on the left: output (p, q, r, t) reads
 * input offset p*st[0] + q*st[1] + r*st[2] + t*st[3]; when the last dim stays last (the head
 * split of attention, (N, S, H, hd) -> (N, H, S, hd)) each run of it is one copy. add: the VJP,
 * x's element at that offset += src[o]. */
static void K(permute_walk)(const bs_exec *e, const T *restrict src, T *restrict dst, bool add)
{
    const bs_shape *s = &e->in_shape[0];
    int nd = s->ndim, perm[BS_MAX_DIMS];
    if (!bs_ix_perm(&e->attr, nd, perm)) return;
    int64_t od0[BS_MAX_DIMS], st0[BS_MAX_DIMS], od[BS_MAX_DIMS], st[BS_MAX_DIMS];
    if (nd == 0) {
        dst[0] = add ? dst[0] + src[0] : src[0];
        return;
    }
    bs_ix_perm_map(s, perm, od0, st0);
    for (int k = 0; k < BS_MAX_DIMS; k++) {
        int j = k - (BS_MAX_DIMS - nd);
        od[k] = j >= 0 ? od0[j] : 1;
        st[k] = j >= 0 ? st0[j] : 0;
    }
    int64_t run = st[3] == 1 ? od[3] : 1, i = 0;
    for (int64_t p = 0; p < od[0]; p++)
        for (int64_t q = 0; q < od[1]; q++)
            for (int64_t r = 0; r < od[2]; r++) {
                int64_t base = p * st[0] + q * st[1] + r * st[2];
                if (run > 1) {
                    if (add)
                        for (int64_t t = 0; t < run; t++) dst[base + t] += src[i + t];
                    else
                        memcpy(dst + i, src + base, (size_t)run * sizeof(T));
                    i += run;
                } else if (add) {
                    for (int64_t t = 0; t < od[3]; t++) dst[base + t * st[3]] += src[i++];
                } else {
                    for (int64_t t = 0; t < od[3]; t++) dst[i++] = src[base + t * st[3]];
                }
            }
}

static void K(shape_fwd)(const bs_exec *e)
{
    const T *a = e->in[0];
    T *o = e->out;
    int64_t n = bs_shape_numel(&e->out_shape);
    const bs_shape *s = &e->in_shape[0];
    if (e->op == BS_OP_PERMUTE) {
        if (n) K(permute_walk)(e, a, o, false);
        return;
    }
    if (e->op == BS_OP_RESHAPE || s->ndim <= 1) {
        memcpy(o, a, (size_t)n * sizeof(T));
        return;
    }
    if (s->ndim == 2) { /* (R, C) -> (C, R) in 32x32 tiles */
        int64_t R = s->d[0], C = s->d[1];
        for (int64_t i0 = 0; i0 < R; i0 += 32)
            for (int64_t j0 = 0; j0 < C; j0 += 32)
                for (int64_t j = j0; j < j0 + 32 && j < C; j++)
                    for (int64_t i = i0; i < i0 + 32 && i < R; i++) o[j * R + i] = a[i * C + j];
        return;
    }
    int64_t od[BS_MAX_DIMS], st[BS_MAX_DIMS];
    rev_strides(s, od, st);
    int64_t i = 0;
    for (int64_t p = 0; p < od[0]; p++)
        for (int64_t q = 0; q < od[1]; q++)
            for (int64_t r = 0; r < od[2]; r++)
                for (int64_t t = 0; t < od[3]; t++)
                    o[i++] = a[p * st[0] + q * st[1] + r * st[2] + t * st[3]];
}

static void K(shape_vjp)(const bs_exec *e, const T *restrict g, T *restrict d)
{
    int64_t n = bs_shape_numel(&e->out_shape);
    const bs_shape *s = &e->in_shape[0];
    if (e->op == BS_OP_PERMUTE) {
        if (n) K(permute_walk)(e, g, d, true);
        return;
    }
    if (e->op == BS_OP_RESHAPE || s->ndim <= 1) {
        for (int64_t i = 0; i < n; i++) d[i] += g[i];
        return;
    }
    if (s->ndim == 2) {
        int64_t R = s->d[0], C = s->d[1];
        for (int64_t i0 = 0; i0 < R; i0 += 32)
            for (int64_t j0 = 0; j0 < C; j0 += 32)
                for (int64_t i = i0; i < i0 + 32 && i < R; i++)
                    for (int64_t j = j0; j < j0 + 32 && j < C; j++) d[i * C + j] += g[j * R + i];
        return;
    }
    int64_t od[BS_MAX_DIMS], st[BS_MAX_DIMS];
    rev_strides(s, od, st);
    int64_t i = 0;
    for (int64_t p = 0; p < od[0]; p++)
        for (int64_t q = 0; q < od[1]; q++)
            for (int64_t r = 0; r < od[2]; r++)
                for (int64_t t = 0; t < od[3]; t++)
                    d[p * st[0] + q * st[1] + r * st[2] + t * st[3]] += g[i++];
}

/* ==== Reductions: sum, mean, max ====
 * Over dim d split as (outer, len, inner); all elements when dim is BS_DIM_ALL.
 * VJP: sum dA += G broadcast back; mean dA += G/len; max: G goes to the first maximum along dim,
 * and for max over all elements it is shared evenly by every element equal to the maximum (as
 * torch's max() does). */
static void K(red_fwd)(const bs_exec *e)
{
    const T *a = e->in[0];
    T *o = e->out;
    const bs_shape *s = &e->in_shape[0];
    int64_t outer, len, inner;
    red_split(s, red_dim(e), &outer, &len, &inner);
    if (e->op == BS_OP_MAX) {
        for (int64_t p = 0; p < outer; p++) {
            T *orow = o + p * inner;
            const T *ap = a + p * len * inner;
            for (int64_t i = 0; i < inner; i++) orow[i] = len ? ap[i] : (T)-INFINITY;
            for (int64_t l = 1; l < len; l++) {
                const T *al = ap + l * inner;
                for (int64_t i = 0; i < inner; i++)
                    if (al[i] > orow[i] || al[i] != al[i]) orow[i] = orow[i] != orow[i] ? orow[i] : al[i];
            }
        }
        return;
    }
    double scale = e->op == BS_OP_MEAN ? 1.0 / (double)len : 1.0;
    if (inner == 1) {
        for (int64_t p = 0; p < outer; p++) {
            const T *ap = a + p * len;
            double acc = 0;
            for (int64_t l = 0; l < len; l++) acc += ap[l];
            o[p] = (T)(acc * scale);
        }
        return;
    }
    for (int64_t p = 0; p < outer; p++) {
        T *restrict orow = o + p * inner;
        const T *ap = a + p * len * inner;
        for (int64_t i = 0; i < inner; i++) orow[i] = 0;
        for (int64_t l = 0; l < len; l++) {
            const T *restrict al = ap + l * inner;
            for (int64_t i = 0; i < inner; i++) orow[i] += al[i];
        }
        if (scale != 1.0)
            for (int64_t i = 0; i < inner; i++) orow[i] = (T)(orow[i] * scale);
    }
}

static void K(red_vjp)(const bs_exec *e, const T *restrict g, T *restrict d)
{
    const T *a = e->in[0];
    const T *o = e->out;
    const bs_shape *s = &e->in_shape[0];
    int64_t outer, len, inner;
    int dim = red_split(s, red_dim(e), &outer, &len, &inner);
    if (e->op == BS_OP_MAX) {
        if (dim == BS_DIM_ALL) {
            int64_t ties = 0;
            for (int64_t l = 0; l < len; l++) ties += a[l] == o[0];
            T share = ties ? g[0] / (T)ties : (T)0;
            for (int64_t l = 0; l < len; l++)
                if (a[l] == o[0]) d[l] += share;
            return;
        }
        for (int64_t p = 0; p < outer; p++)
            for (int64_t i = 0; i < inner; i++) {
                T m = o[p * inner + i];
                for (int64_t l = 0; l < len; l++) {
                    int64_t at = (p * len + l) * inner + i;
                    if (a[at] == m || (m != m && a[at] != a[at])) {
                        d[at] += g[p * inner + i];
                        break;
                    }
                }
            }
        return;
    }
    T scale = e->op == BS_OP_MEAN ? (T)(1.0 / (double)len) : (T)1;
    for (int64_t p = 0; p < outer; p++) {
        const T *restrict gr = g + p * inner;
        for (int64_t l = 0; l < len; l++) {
            T *restrict dl = d + (p * len + l) * inner;
            for (int64_t i = 0; i < inner; i++) dl[i] += gr[i] * scale;
        }
    }
}

/* ==== Row ops: softmax, log_softmax, layernorm ====
 * softmax   y = exp(x - max) / sum exp(x - max)        dA += y*(G - sum(G*y))
 * log_softmax y = x - max - log(sum exp(x - max))      dA += G - exp(y)*sum(G)
 * layernorm (last dim) y = (x - mean)/sqrt(var + eps)  dA += (G - mean(G) - y*mean(G*y))/std
 * Rows are strided by `inner` when dim is not the last. */
static void K(row_fwd)(const bs_exec *e)
{
    const T *a = e->in[0];
    T *o = e->out;
    const bs_shape *s = &e->in_shape[0];
    int d = 0;
    if (e->op == BS_OP_LAYERNORM)
        d = s->ndim ? s->ndim - 1 : 0;
    else if (ops_dim_norm(row_dim(e), s->ndim, &d, NULL, 0))
        return;
    int64_t outer, len, inner;
    ops_dim_split(s, d, &outer, &len, &inner);
    for (int64_t p = 0; p < outer; p++)
        for (int64_t i = 0; i < inner; i++) {
            const T *x = a + p * len * inner + i;
            T *y = o + p * len * inner + i;
            if (e->op == BS_OP_LAYERNORM) {
                double mean = 0, var = 0;
                for (int64_t l = 0; l < len; l++) mean += x[l * inner];
                mean /= (double)len;
                for (int64_t l = 0; l < len; l++) {
                    double c = x[l * inner] - mean;
                    var += c * c;
                }
                var /= (double)len;
                double rstd = 1.0 / sqrt(var + e->attr.k);
                for (int64_t l = 0; l < len; l++) y[l * inner] = (T)((x[l * inner] - mean) * rstd);
                continue;
            }
            T m = -INFINITY;
            for (int64_t l = 0; l < len; l++) m = x[l * inner] > m ? x[l * inner] : m;
            if (m == -INFINITY) m = 0;
            double sum = 0;
            if (e->op == BS_OP_SOFTMAX) { /* exp once, in T (expf for f32), kept in y, then scaled */
                for (int64_t l = 0; l < len; l++) {
                    T z = m_exp(x[l * inner] - m);
                    y[l * inner] = z;
                    sum += z;
                }
                T inv = (T)(1.0 / sum);
                for (int64_t l = 0; l < len; l++) y[l * inner] *= inv;
            } else {
                for (int64_t l = 0; l < len; l++) sum += exp(x[l * inner] - m);
                T lse = m + (T)log(sum);
                for (int64_t l = 0; l < len; l++) y[l * inner] = x[l * inner] - lse;
            }
        }
}

static void K(row_vjp)(const bs_exec *e, const T *g, T *d)
{
    const T *a = e->in[0];
    const T *o = e->out;
    const bs_shape *s = &e->in_shape[0];
    int dd = 0;
    if (e->op == BS_OP_LAYERNORM)
        dd = s->ndim ? s->ndim - 1 : 0;
    else if (ops_dim_norm(row_dim(e), s->ndim, &dd, NULL, 0))
        return;
    int64_t outer, len, inner;
    ops_dim_split(s, dd, &outer, &len, &inner);
    for (int64_t p = 0; p < outer; p++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = p * len * inner + i;
            const T *y = o + base, *gr = g + base, *x = a + base;
            T *dr = d + base;
            if (e->op == BS_OP_SOFTMAX) {
                double sgy = 0;
                for (int64_t l = 0; l < len; l++) sgy += (double)gr[l * inner] * y[l * inner];
                for (int64_t l = 0; l < len; l++)
                    dr[l * inner] += y[l * inner] * (gr[l * inner] - (T)sgy);
            } else if (e->op == BS_OP_LOG_SOFTMAX) {
                double sg = 0;
                for (int64_t l = 0; l < len; l++) sg += gr[l * inner];
                for (int64_t l = 0; l < len; l++)
                    dr[l * inner] += gr[l * inner] - exp(y[l * inner]) * (T)sg;
            } else {
                double mean = 0, var = 0, mg = 0, mgy = 0;
                for (int64_t l = 0; l < len; l++) mean += x[l * inner];
                mean /= (double)len;
                for (int64_t l = 0; l < len; l++) {
                    double c = x[l * inner] - mean;
                    var += c * c;
                }
                var /= (double)len;
                double rstd = 1.0 / sqrt(var + e->attr.k);
                for (int64_t l = 0; l < len; l++) {
                    double xh = (x[l * inner] - mean) * rstd;
                    mg += gr[l * inner];
                    mgy += gr[l * inner] * xh;
                }
                mg /= (double)len;
                mgy /= (double)len;
                for (int64_t l = 0; l < len; l++) {
                    double xh = (x[l * inner] - mean) * rstd;
                    dr[l * inner] += (T)((gr[l * inner] - mg - xh * mgy) * rstd);
                }
            }
        }
}

/* ==== Losses (mean over elements or rows) ====
 * mse   mean((a-b)^2)                          da += G*2(a-b)/n      db += -G*2(a-b)/n
 * bce   mean(-(t log p + (1-t) log(1-p))), logs clamped at -100 (as torch)
 *       dp += G*(p-t)/max(p(1-p), 1e-12)/n     dt += G*(log(1-p) - log p)/n
 * bce_with_logits mean((1-t) z + log(1 + exp(-z))), computed stably
 *       dz += G*(sigmoid(z) - t)/n             dt += -G*z/n
 * cross_entropy over rows along the class dim (1; 0 for 1-D logits), W rows counted:
 *       index targets: mean of logsumexp(x) - x[t], rows with t == -100 ignored
 *                      dx += G*(softmax(x) - onehot(t))/W
 *       probability targets (float, x's shape): -sum(t*log_softmax(x))/W
 *                      dx += G*(softmax(x)*sum(t) - t)/W */
static bs_status K(loss_fwd)(const bs_exec *e)
{
    const T *a = e->in[0];
    T *o = e->out;
    if (e->op == BS_OP_CROSS_ENTROPY) {
        int64_t outer, C, inner;
        ce_dims(&e->in_shape[0], &outer, &C, &inner);
        bool probs = e->in_dtype[1] != BS_I64;
        const int32_t *t = e->in[1];
        const T *tp = e->in[1];
        double acc = 0, w = 0;
        for (int64_t p = 0; p < outer; p++)
            for (int64_t i = 0; i < inner; i++) {
                const T *x = a + p * C * inner + i;
                int32_t c = probs ? 0 : t[p * inner + i];
                if (!probs && c == CPU_XENT_IGNORE) continue;
                if (c < 0 || c >= C) return BS_ERR_VALUE;
                double m = -INFINITY, s = 0;
                for (int64_t l = 0; l < C; l++) m = x[l * inner] > m ? x[l * inner] : m;
                for (int64_t l = 0; l < C; l++) s += exp((double)x[l * inner] - m);
                double lse = m + log(s);
                if (probs) {
                    const T *y = tp + p * C * inner + i;
                    for (int64_t l = 0; l < C; l++) acc -= y[l * inner] * (x[l * inner] - lse);
                } else {
                    acc += lse - x[c * inner];
                }
                w += 1;
            }
        o[0] = (T)(acc / w);
        return BS_OK;
    }
    const T *b = e->in[1];
    bs_shape bo;
    if (!bs_shape_broadcast(&e->in_shape[0], &e->in_shape[1], &bo)) return BS_ERR_SHAPE;
    int64_t n = bs_shape_numel(&bo);
    ops_iter it;
    ops_iter_init(&it, &bo, &e->in_shape[0], &e->in_shape[1]);
    double acc = 0;
    for (int64_t i = 0; i < n; i++, ops_iter_next(&it)) {
        double x = a[it.off[0]], y = b[it.off[1]];
        switch (e->op) {
        case BS_OP_MSE: acc += (x - y) * (x - y); break;
        case BS_OP_BCE: {
            double lp = x > 0 ? log(x) : -100, lq = x < 1 ? log(1 - x) : -100;
            if (lp < -100) lp = -100;
            if (lq < -100) lq = -100;
            acc -= y * lp + (1 - y) * lq;
            break;
        }
        case BS_OP_BCE_LOGITS: {
            double mx = x < 0 ? -x : 0;
            acc += (1 - y) * x + mx + log(exp(-mx) + exp(-x - mx));
            break;
        }
        default: break;
        }
    }
    o[0] = (T)(n ? acc / (double)n : NAN);
    return BS_OK;
}

static void K(loss_vjp)(const bs_exec *e, int which, const T *g, T *d)
{
    const T *a = e->in[0];
    double gv = g[0];
    if (e->op == BS_OP_CROSS_ENTROPY) {
        if (which != 0) return;
        int64_t outer, C, inner;
        ce_dims(&e->in_shape[0], &outer, &C, &inner);
        bool probs = e->in_dtype[1] != BS_I64;
        const int32_t *t = e->in[1];
        const T *tp = e->in[1];
        double w = 0;
        if (probs)
            w = (double)(outer * inner);
        else
            for (int64_t r = 0; r < outer * inner; r++) w += t[r] != CPU_XENT_IGNORE;
        double scale = gv / w;
        for (int64_t p = 0; p < outer; p++)
            for (int64_t i = 0; i < inner; i++) {
                const T *x = a + p * C * inner + i;
                T *dx = d + p * C * inner + i;
                int32_t c = probs ? -1 : t[p * inner + i];
                if (!probs && (c < 0 || c >= C)) continue;
                const T *y = probs ? tp + p * C * inner + i : NULL;
                double m = -INFINITY, s = 0, S = 1;
                for (int64_t l = 0; l < C; l++) m = x[l * inner] > m ? x[l * inner] : m;
                for (int64_t l = 0; l < C; l++) s += exp((double)x[l * inner] - m);
                if (probs) {
                    S = 0;
                    for (int64_t l = 0; l < C; l++) S += y[l * inner];
                }
                double inv = 1.0 / s;
                for (int64_t l = 0; l < C; l++) {
                    double yl = probs ? (double)y[l * inner] : (double)(l == c);
                    dx[l * inner] += (T)((exp((double)x[l * inner] - m) * inv * S - yl) * scale);
                }
            }
        return;
    }
    const T *b = e->in[1];
    bs_shape bo;
    if (!bs_shape_broadcast(&e->in_shape[0], &e->in_shape[1], &bo)) return;
    int64_t n = bs_shape_numel(&bo);
    double scale = gv / (double)n;
    ops_iter it;
    ops_iter_init(&it, &bo, &e->in_shape[0], &e->in_shape[1]);
    for (int64_t i = 0; i < n; i++, ops_iter_next(&it)) {
        double x = a[it.off[0]], y = b[it.off[1]], v = 0;
        switch (e->op) {
        case BS_OP_MSE: v = which == 0 ? 2 * (x - y) : -2 * (x - y); break;
        case BS_OP_BCE:
            if (which == 0) {
                double den = x * (1 - x);
                v = (x - y) / (den > 1e-12 ? den : 1e-12);
            } else {
                double lp = log(x), lq = log(1 - x);
                v = (lq < -100 ? -100 : lq) - (lp < -100 ? -100 : lp);
            }
            break;
        case BS_OP_BCE_LOGITS: v = which == 0 ? 1 / (1 + exp(-x)) - y : -x; break;
        default: break;
        }
        d[it.off[which]] += (T)(v * scale);
    }
}

/* ==== Bias + activation, fused ====
 * a = x + b (b a row repeated over x's leading dims), y = act(a) in one pass over x; backward
 * da = g * act'(a) (written, not added: a's only consumer is y) and db += the rows of da summed,
 * also in one pass. act is any op ew_math.h flags BS_EW_ACT, with its expressions there. */
#define BIAS_ACT_FWD(EXPR)                                                                       \
    for (int64_t r = 0; r < n; r += w) {                                                         \
        const T *restrict xr = x + r;                                                            \
        T *restrict ar = a + r, *restrict yr = y + r;                                            \
        for (int64_t j = 0; j < w; j++) {                                                        \
            T v = xr[j] + b[j];                                                                  \
            ar[j] = v;                                                                           \
            yr[j] = (EXPR);                                                                      \
        }                                                                                        \
    }

static void K(bias_act_fwd)(const bs_exec *ad, const bs_exec *ac)
{
    const T *x = ad->in[0], *b = ad->in[1];
    T *a = ad->out, *y = ac->out;
    int64_t n = bs_shape_numel(&ad->out_shape), w = bs_shape_numel(&ad->in_shape[1]);
    T k = (T)ac->attr.k, k2 = (T)ac->attr.k2;
    if (w <= 0) return;
    switch (ac->op) {
#define BIAS_ACT_CASE(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                  \
    case BS_OP_##ID:                                                                             \
        if ((FLAGS) & BS_EW_ACT) BIAS_ACT_FWD(K(ew1f_##fn)(v, k, k2));                           \
        break;
        BS_EW1_OPS(BIAS_ACT_CASE)
#undef BIAS_ACT_CASE
    default: break;
    }
}

#define BIAS_ACT_VJP(EXPR)                                                                       \
    for (int64_t r = 0; r < n; r += w) {                                                         \
        const T *restrict ar = a + r, *restrict yr = y + r, *restrict gr = g + r;                \
        T *restrict dr = da + r;                                                                 \
        for (int64_t j = 0; j < w; j++) {                                                        \
            T av = ar[j], yv = yr[j], gv = gr[j];                                                \
            (void)av;                                                                            \
            (void)yv;                                                                            \
            dr[j] = (EXPR);                                                                      \
        }                                                                                        \
        if (db)                                                                                  \
            for (int64_t j = 0; j < w; j++) db[j] += dr[j];                                      \
    }

static void K(bias_act_vjp)(const bs_exec *ad, const bs_exec *ac, const T *g, T *da, T *db)
{
    const T *a = ad->out, *y = ac->out;
    int64_t n = bs_shape_numel(&ad->out_shape), w = bs_shape_numel(&ad->in_shape[1]);
    T k = (T)ac->attr.k, k2 = (T)ac->attr.k2;
    if (w <= 0) return;
    switch (ac->op) {
#define BIAS_ACT_CASE(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                  \
    case BS_OP_##ID:                                                                             \
        if ((FLAGS) & BS_EW_ACT) BIAS_ACT_VJP(K(ew1v_##fn)(gv, av, yv, k, k2));                  \
        break;
        BS_EW1_OPS(BIAS_ACT_CASE)
#undef BIAS_ACT_CASE
    default: break;
    }
}

/* ==== Indexing ====
 * core/index_math.h's gather (select, slice, index_select: output row j is input row r(j), whole
 * rows of `inner` elements at a time) and choice (where, masked_fill: a where c, else b, each
 * broadcast; c is int32 when the mask is an integer tensor). index_select's index is int32. */

/* the gather of e and its index (NULL but for index_select); BS_ERR_VALUE for an index out of range */
static bs_status K(gather_of)(const bs_exec *e, bs_ix_gather *g, const int32_t **idx)
{
    int64_t nidx = 0;
    *idx = NULL;
    if (e->op == BS_OP_INDEX_SELECT) {
        if (e->in_dtype[1] != BS_I64) return BS_ERR_TYPE;
        *idx = e->in[1];
        nidx = bs_shape_numel(&e->in_shape[1]);
    }
    *g = bs_ix_gather_of(e->op, &e->in_shape[0], &e->attr, nidx);
    for (int64_t j = 0; j < nidx; j++)
        if (!bs_ix_row_ok((*idx)[j], g->n)) return BS_ERR_VALUE;
    return BS_OK;
}

static double K(mask_at)(const bs_exec *e, int k, int64_t i)
{
    return e->in_dtype[k] == BS_I64 ? (double)((const int32_t *)e->in[k])[i]
                                    : (double)((const T *)e->in[k])[i];
}

/* tril, triu: each row i of each matrix keeps cols [0, i + diagonal] (tril) or
 * [i + diagonal, cols) (triu) of src, and zeros (or, add, nothing) elsewhere */
static void K(tri_walk)(const bs_exec *e, const T *restrict src, T *restrict dst, bool add)
{
    const bs_shape *s = &e->out_shape;
    int64_t n = bs_shape_numel(s), rows = s->d[s->ndim - 2], cols = s->d[s->ndim - 1];
    if (n == 0) return;
    for (int64_t r0 = 0; r0 < n; r0 += cols) {
        int64_t i = (r0 / cols) % rows, edge = i + e->attr.start; /* the diagonal's column */
        int64_t lo = e->op == BS_OP_TRIL ? 0 : edge < 0 ? 0 : edge > cols ? cols : edge;
        int64_t hi = e->op == BS_OP_TRIL ? (edge + 1 < 0 ? 0 : edge + 1 > cols ? cols : edge + 1) : cols;
        const T *restrict x = src + r0;
        T *restrict y = dst + r0;
        if (add) {
            for (int64_t j = lo; j < hi; j++) y[j] += x[j];
            continue;
        }
        for (int64_t j = 0; j < lo; j++) y[j] = 0;
        for (int64_t j = lo; j < hi; j++) y[j] = x[j];
        for (int64_t j = hi; j < cols; j++) y[j] = 0;
    }
}

static bs_status K(index_fwd)(const bs_exec *e)
{
    int64_t n = bs_shape_numel(&e->out_shape);
    T *restrict o = e->out;
    if (e->op == BS_OP_TRIL || e->op == BS_OP_TRIU) {
        K(tri_walk)(e, e->in[0], o, false);
        return BS_OK;
    }
    if (e->op == BS_OP_CAT) { /* whole rows of a, then of b, for each outer index */
        bs_ix_cat c = bs_ix_cat_of(&e->in_shape[0], &e->in_shape[1], e->attr.dim);
        const T *A_ = e->in[0], *B_ = e->in[1];
        size_t ra = (size_t)(c.na * c.inner) * sizeof(T), rb = (size_t)(c.nb * c.inner) * sizeof(T);
        for (int64_t p = 0; p < c.outer; p++) {
            T *dst = o + p * (c.na + c.nb) * c.inner;
            memcpy(dst, A_ + p * c.na * c.inner, ra);
            memcpy(dst + c.na * c.inner, B_ + p * c.nb * c.inner, rb);
        }
        return BS_OK;
    }
    if (e->op == BS_OP_WHERE || e->op == BS_OP_MASKED_FILL) {
        int rc, ra, rb;
        bs_ix_choice_roles(e->op, &rc, &ra, &rb);
        const T *A_ = e->in[ra], *B_ = e->in[rb];
        int64_t mn = bs_shape_numel(&e->in_shape[rc]);
        if (bs_shape_eq(&e->in_shape[rb], &e->out_shape) && bs_shape_numel(&e->in_shape[ra]) == 1 && mn > 0 &&
            cpu_suffix_of(&e->in_shape[rc], &e->out_shape)) { /* attention's mask: x.masked_fill(m, v) */
            T av = A_[0];
            for (int64_t i0 = 0; i0 < n; i0 += mn)
                for (int64_t j = 0; j < mn && i0 + j < n; j++)
                    o[i0 + j] = BS_IX_CHOOSE(K(mask_at)(e, rc, j), av, B_[i0 + j]);
            return BS_OK;
        }
        ops_iter ica, ib;
        ops_iter_init(&ica, &e->out_shape, &e->in_shape[rc], &e->in_shape[ra]);
        ops_iter_init(&ib, &e->out_shape, &e->in_shape[rb], NULL);
        for (int64_t i = 0; i < n; i++, ops_iter_next(&ica), ops_iter_next(&ib))
            o[i] = BS_IX_CHOOSE(K(mask_at)(e, rc, ica.off[0]), A_[ica.off[1]], B_[ib.off[0]]);
        return BS_OK;
    }
    bs_ix_gather g;
    const int32_t *idx;
    bs_status st = K(gather_of)(e, &g, &idx);
    if (st) return st;
    const T *x = e->in[0];
    if (!idx && (g.step == 1 || g.len <= 1)) { /* consecutive rows: one run per outer index */
        size_t run = (size_t)(g.len * g.inner) * sizeof(T);
        for (int64_t p = 0; p < g.outer; p++)
            memcpy(o + p * g.len * g.inner, x + (p * g.n + g.first) * g.inner, run);
        return BS_OK;
    }
    for (int64_t p = 0; p < g.outer; p++)
        for (int64_t j = 0; j < g.len; j++)
            memcpy(o + (p * g.len + j) * g.inner, x + (p * g.n + bs_ix_src_row(&g, j, NULL, idx)) * g.inner,
                   (size_t)g.inner * sizeof(T));
    return BS_OK;
}

static bs_status K(index_vjp)(const bs_exec *e, int which, const T *restrict g, T *restrict d)
{
    if (e->op == BS_OP_TRIL || e->op == BS_OP_TRIU) {
        if (which != 0) return BS_ERR_ARG;
        K(tri_walk)(e, g, d, true);
        return BS_OK;
    }
    if (e->op == BS_OP_CAT) { /* input `which` gets its rows of g */
        if (which != 0 && which != 1) return BS_ERR_ARG;
        bs_ix_cat c = bs_ix_cat_of(&e->in_shape[0], &e->in_shape[1], e->attr.dim);
        int64_t rows = (which ? c.nb : c.na) * c.inner, skip = which ? c.na * c.inner : 0;
        for (int64_t p = 0; p < c.outer; p++) {
            const T *restrict src = g + p * (c.na + c.nb) * c.inner + skip;
            T *restrict dst = d + p * rows;
            for (int64_t i = 0; i < rows; i++) dst[i] += src[i];
        }
        return BS_OK;
    }
    if (e->op == BS_OP_WHERE || e->op == BS_OP_MASKED_FILL) {
        int rc, ra, rb;
        bs_ix_choice_roles(e->op, &rc, &ra, &rb);
        if (which != ra && which != rb) return BS_ERR_ARG;
        int64_t n = bs_shape_numel(&e->out_shape), mn = bs_shape_numel(&e->in_shape[rc]);
        if (which == rb && bs_shape_eq(&e->in_shape[rb], &e->out_shape) && mn > 0 &&
            cpu_suffix_of(&e->in_shape[rc], &e->out_shape)) {
            for (int64_t i0 = 0; i0 < n; i0 += mn)
                for (int64_t j = 0; j < mn && i0 + j < n; j++)
                    d[i0 + j] += BS_IX_CHOICE_VJP(K(mask_at)(e, rc, j), g[i0 + j], 2, (T)0);
            return BS_OK;
        }
        ops_iter it;
        ops_iter_init(&it, &e->out_shape, &e->in_shape[rc], &e->in_shape[which]);
        for (int64_t i = 0; i < n; i++, ops_iter_next(&it))
            d[it.off[1]] += BS_IX_CHOICE_VJP(K(mask_at)(e, rc, it.off[0]), g[i], which == ra ? 1 : 2, (T)0);
        return BS_OK;
    }
    if (which != 0) return BS_ERR_ARG;
    bs_ix_gather gg;
    const int32_t *idx;
    bs_status st = K(gather_of)(e, &gg, &idx);
    if (st) return st;
    if (!idx && (gg.step == 1 || gg.len <= 1)) { /* consecutive rows: one run per outer index */
        int64_t run = gg.len * gg.inner;
        for (int64_t p = 0; p < gg.outer; p++) {
            const T *restrict src = g + p * run;
            T *restrict dst = d + (p * gg.n + gg.first) * gg.inner;
            for (int64_t i = 0; i < run; i++) dst[i] += src[i];
        }
        return BS_OK;
    }
    for (int64_t p = 0; p < gg.outer; p++)
        for (int64_t j = 0; j < gg.len; j++) {
            const T *restrict src = g + (p * gg.len + j) * gg.inner;
            T *restrict dst = d + (p * gg.n + bs_ix_src_row(&gg, j, NULL, idx)) * gg.inner;
            for (int64_t i = 0; i < gg.inner; i++) dst[i] += src[i];
        }
    return BS_OK;
}

/* ==== Dispatch ==== */

static bs_status K(fwd)(const bs_exec *e, cpu_family f)
{
    switch (f) {
    case CPU_EW1: K(ew1_fwd)(e); return BS_OK;
    case CPU_EW2: K(ew2_fwd)(e); return BS_OK;
    case CPU_MAT: K(mat_fwd)(e); return BS_OK;
    case CPU_SHAPE: K(shape_fwd)(e); return BS_OK;
    case CPU_RED: K(red_fwd)(e); return BS_OK;
    case CPU_ROW: K(row_fwd)(e); return BS_OK;
    case CPU_LOSS: return K(loss_fwd)(e);
    case CPU_INDEX: return K(index_fwd)(e);
    default: return BS_ERR_UNSUPPORTED;
    }
}

static bs_status K(vjp)(const bs_exec *e, cpu_family f, int i, const T *g, T *d)
{
    switch (f) {
    case CPU_EW1: K(ew1_vjp)(e, g, d); return BS_OK;
    case CPU_EW2: K(ew2_vjp)(e, i, g, d); return BS_OK;
    case CPU_MAT: K(mat_vjp)(e, i, g, d); return BS_OK;
    case CPU_SHAPE: K(shape_vjp)(e, g, d); return BS_OK;
    case CPU_RED: K(red_vjp)(e, g, d); return BS_OK;
    case CPU_ROW: K(row_vjp)(e, g, d); return BS_OK;
    case CPU_LOSS: K(loss_vjp)(e, i, g, d); return BS_OK;
    case CPU_INDEX: return K(index_vjp)(e, i, g, d);
    default: return BS_ERR_UNSUPPORTED;
    }
}

/* ==== Optimizer updates (torch.optim) ====
 * SGD:  d = g + wd*p;  buf = d (t == 1) or momentum*buf + (1-dampening)*d;
 *       d = nesterov ? d + momentum*buf : buf;  p -= lr*d
 * Adam: g' = g + wd*p;  m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2;
 *       p -= (lr/(1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps) */
static void K(opt)(const bs_opt_conf *c, int64_t t, T *restrict p, const T *restrict g,
                   T *restrict m, T *restrict v, int64_t n)
{
    T wd = (T)c->weight_decay, lr = (T)c->lr;
    if (c->kind == BS_OPT_SGD) {
        T mom = (T)c->momentum, damp = (T)(1 - c->dampening);
        if (c->momentum == 0) {
            for (int64_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
            return;
        }
        for (int64_t i = 0; i < n; i++) {
            T dv = g[i] + wd * p[i];
            m[i] = t <= 1 ? dv : mom * m[i] + damp * dv;
            dv = c->nesterov ? dv + mom * m[i] : m[i];
            p[i] -= lr * dv;
        }
        return;
    }
    double bc1 = 1 - pow(c->beta1, (double)t), bc2 = 1 - pow(c->beta2, (double)t);
    T b1 = (T)c->beta1, b2 = (T)c->beta2, step = (T)(c->lr / bc1), sbc2 = (T)sqrt(bc2);
    T eps = (T)c->eps;
    for (int64_t i = 0; i < n; i++) {
        T dv = g[i] + wd * p[i];
        m[i] = b1 * m[i] + ((T)1 - b1) * dv;
        v[i] = b2 * v[i] + ((T)1 - b2) * dv * dv;
        p[i] -= step * (m[i] / (sqrt(v[i]) / sbc2 + eps));
    }
}

#undef A
#undef T
#undef K
#endif
