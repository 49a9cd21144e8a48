/* core/ops_ew.c: the eager elementwise ops, forward, VJP and JVP, with NumPy broadcasting for the
 * binary ones.
 *
 * Each op's arithmetic is one entry of core/ew_math.h; here it becomes a few scalar functions (the
 * forward value, its VJP contribution g * d(out)/d(in), and the local derivative d(out)/d(in) that
 * the JVP multiplies tangents by: the VJP at g = 1) and a generic driver (unary or broadcasting
 * binary) runs them over tensors. What is eager-only stays here: what each op saves for backward
 * as PyTorch does, and value checks before a forward. */
#include "ops_int.h"

#include <stdlib.h>

/* ew_math.h's two float-path markers (the double path expands them to the plain expression):
 * m_rnd rounds a tensor torch materialises inside a VJP formula to the op's dtype `dt` (f16,
 * bf16; nothing for f32), m_cfma is the fma GCC makes of x * y + z in torch's kernels. */
#define m_rnd(x) ops_rnd_any(dt, x)
#define m_cfma(x, y, z) _Generic((x) + (y) + (z), float: fmaf, default: ops_mul_add)(x, y, z)
static inline double ops_mul_add(double x, double y, double z) { return x * y + z; }
static inline double ops_rnd_d(bs_dtype dt, double x) { return x; }
#define ops_rnd_any(dt, x) _Generic((x), float: bs_dtype_roundf, default: ops_rnd_d)(dt, x)

#include "ew_math.h"

/* torch's pow(Tensor, Scalar) in the float path (PowKernel.cpp): exponent 0 and 1 are a fill and
 * a copy for every dtype; 0.5, -0.5, -1 are sqrt, rsqrt and reciprocal for f32 and bf16; f32 also
 * writes 2, 3, -2 as products; anything else (and every f16 exponent) is std::pow */
static inline float ops_powf(bs_dtype dt, int tv, float x, float y)
{
    if (y == 0.0f) return 1.0f;
    if (y == 1.0f) return x;
    if (dt != BS_F16) {
        if (y == 0.5f) return sqrtf(x);
        if (y == -0.5f) return 1.0f / sqrtf(x);
        if (y == -1.0f) return 1.0f / x;
    }
    if (dt == BS_F32) {
        if (y == 2.0f) return x * x;
        if (y == 3.0f) return x * x * x;
        if (y == -2.0f) return 1.0f / (x * x);
    }
    return ops_t_pow(dt, tv, x, y); /* f16: std::pow (ops_t_pow's libm) */
}
static inline double ops_pow_d(bs_dtype dt, int tv, double x, double y) { return pow(x, y); }
#undef m_pow
#define m_pow(x, y) _Generic((x) + (y), float: ops_powf, default: ops_pow_d)(dt, tv, x, y)

/* the float path's transcendental functions are torch's (tmath.c), in the op's dtype dt; tv says
 * whether the element is one of the kernel's vector lanes (1) or its scalar tail (0: an op whose
 * ew_math.h entry has BS_EW_TAIL, past ops_t_vecpart) */
#define OPS_T1(name)                                                                             \
    static inline double ops_d_##name(bs_dtype dt, int tv, double x) { return name(x); }
OPS_T1(exp)
OPS_T1(log)
OPS_T1(log1p)
OPS_T1(tanh)
OPS_T1(sin)
OPS_T1(cos)
OPS_T1(erf)
#undef OPS_T1
#undef m_exp
#undef m_log
#undef m_log1p
#undef m_tanh
#undef m_sin
#undef m_cos
#undef m_erf
#define m_exp(x) _Generic((x), float: ops_t_exp, default: ops_d_exp)(dt, tv, x)
#define m_log(x) _Generic((x), float: ops_t_log, default: ops_d_log)(dt, tv, x)
#define m_log1p(x) _Generic((x), float: ops_t_log1p, default: ops_d_log1p)(dt, tv, x)
#define m_tanh(x) _Generic((x), float: ops_t_tanh, default: ops_d_tanh)(dt, tv, x)
#define m_sin(x) _Generic((x), float: ops_t_sin, default: ops_d_sin)(dt, tv, x)
#define m_cos(x) _Generic((x), float: ops_t_cos, default: ops_d_cos)(dt, tv, x)
#define m_erf(x) _Generic((x), float: ops_t_erf, default: ops_d_erf)(dt, tv, x)

#define A(x) ((double)(x)) /* ew_math.h's scalar type (the float functions below redefine it) */

/* ==== Unary driver ==== */
typedef double (*ew1_f)(double x, double k, double k2);                 /* y = f(x) */
typedef double (*ew1_v)(double g, double x, double y, double k, double k2); /* g * dy/dx */
typedef double (*ew1_d)(double x, double y, double k, double k2);       /* dy/dx */

static bs_status ew1_shape(const bs_shape *in, bs_shape *out)
{
    *out = in[0];
    return BS_OK;
}

/* the float path (f32, f16, bf16: PyTorch's CPU rules): the same entry evaluated in float, its
 * inputs cast to the op's dtype first; the tape rounds the result to f16/bf16 */
typedef float (*ew1_ff)(float x, float k, float k2, bs_dtype dt, int tv);
typedef float (*ew1_vf)(float g, float x, float y, float k, float k2, bs_dtype dt, int tv);

/* the attributes in float: clamp's bounds cast to the dtype (torch's Scalar.to<scalar_t>()), a
 * slope as a float (its BFloat16 kernel reads negval.to<float>()) */
static float ew1_attr(bs_dtype dt, double k, bool to_dtype)
{
    return to_dtype ? ops_in(dt, k) : (float)k;
}

static void ew1_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, ew1_f f, ew1_ff ff,
                    double kdef, double k2def, bool kdt, bool tail)
{
    double k = a ? a->k : kdef, k2 = a ? a->k2 : k2def;
    int64_t n = bs_tensor_numel(out);
    const double *x = in[0].data;          /* (...) */
    double *y = out->data;                 /* (...) same shape */
    bs_dtype dt = out->dtype;
    if (bs_dtype_in_float(dt)) {
        float kf = ew1_attr(dt, k, kdt), k2f = ew1_attr(dt, k2, kdt);
        int64_t vp = tail ? ops_t_vecpart(dt, n) : n;
        for (int64_t j = 0; j < n; j++)
            y[j] = ff(ops_in(dt, x[j]), kf, k2f, dt, j < vp);
        return;
    }
    for (int64_t j = 0; j < n; j++)
        y[j] = f(x[j], k, k2);
}

static void ew1_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                    const bs_tensor *g, bs_tensor *din, ew1_v v, ew1_vf vf, double kdef,
                    double k2def, bool kdt, bool tail)
{
    double k = a ? a->k : kdef, k2 = a ? a->k2 : k2def;
    int64_t n = bs_tensor_numel(out);
    const double *x = in[0].data, *y = out->data, *G = g->data;
    double *dx = din->data;
    bs_dtype dt = g->dtype;
    if (bs_dtype_in_float(dt)) {
        float kf = ew1_attr(dt, k, kdt), k2f = ew1_attr(dt, k2, kdt);
        int64_t vp = tail ? ops_t_vecpart(dt, n) : n;
        for (int64_t j = 0; j < n; j++)
            dx[j] += vf((float)G[j], ops_in(dt, x[j]), (float)y[j], kf, k2f, dt, j < vp);
        return;
    }
    for (int64_t j = 0; j < n; j++)
        dx[j] += v(G[j], x[j], y[j], k, k2);
}

static void ew1_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                    const bs_tensor *din, bs_tensor *dout, ew1_d d, double kdef, double k2def)
{
    double k = a ? a->k : kdef, k2 = a ? a->k2 : k2def;
    int64_t n = bs_tensor_numel(out);
    const double *x = in[0].data, *y = out->data, *t = din[0].data;
    double *dy = dout->data;
    for (int64_t j = 0; j < n; j++)
        dy[j] = t ? d(x[j], y[j], k, k2) * t[j] : 0.0;
}

/* One unary op from its scalar functions. FL: FLOPs per element; SAVED: what it keeps for
 * backward, an expression in sv giving the count (SAVE_NONE, SAVE_IN, SAVE_OUT). */
#define EW1_OP(fn, F, V, D, FF, VF, KDEF, K2DEF, KDT, FL, SAVED, TAIL)                                 \
    bs_status op_##fn##_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a,          \
                              bs_shape *out, char *err, size_t errlen)                           \
    {                                                                                            \
        return ew1_shape(in, out);                                                               \
    }                                                                                            \
    bs_status op_##fn##_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,    \
                            size_t errlen)                                                       \
    {                                                                                            \
        ew1_fwd(in, a, out, F, FF, KDEF, K2DEF, KDT, TAIL);                                          \
        return BS_OK;                                                                            \
    }                                                                                            \
    void op_##fn##_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *g, int i, bs_tensor *din)                                \
    {                                                                                            \
        if (i == 0)                                                                              \
                ew1_vjp(in, out, a, g, din, V, VF, KDEF, K2DEF, KDT, TAIL);                          \
    }                                                                                            \
    void op_##fn##_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *din, bs_tensor *dout)                                    \
    {                                                                                            \
        ew1_jvp(in, out, a, din, dout, D, KDEF, K2DEF);                                          \
    }                                                                                            \
    double op_##fn##_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)            \
    {                                                                                            \
        return (FL) * ops_numel_d(out);                                                          \
    }                                                                                            \
    int op_##fn##_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt,                \
                        const bs_attr *a, bs_saved *sv)                                          \
    {                                                                                            \
        return (SAVED);                                                                          \
    }                                                                                            \
    double op_##fn##_sfwd(double a, double b, double k, double k2) { return F(a, k, k2); }       \
    double op_##fn##_svjp(double g, double a, double b, double y, double k, double k2, int i)    \
    {                                                                                            \
        return V(g, a, y, k, k2);                                                                \
    }

#define SAVE_NONE ((void)in, (void)sv, 0)
#define SAVE_IN ops_save_in(sv, 0, "self", 0)  /* PyTorch's _saved_self */
#define SAVE_OUT ops_save_result(sv, 0)        /* _saved_result */

/* ==== The unary ops, from ew_math.h ==== */
#define EW1_DEF(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                        \
    static double fn##_f(double a, double k, double k2)                                          \
    {                                                                                            \
        const bs_dtype dt = BS_F64;                                                              \
        const int tv = 1;                                                                        \
        (void)dt, (void)tv;                                                                      \
        return FWD;                                                                              \
    }                                                                                            \
    static double fn##_v(double g, double a, double o, double k, double k2)                      \
    {                                                                                            \
        const bs_dtype dt = BS_F64;                                                              \
        const int tv = 1;                                                                        \
        (void)dt, (void)tv;                                                                      \
        return VJP;                                                                              \
    }                                                                                            \
    static double fn##_d(double a, double o, double k, double k2)                                \
    {                                                                                            \
        return fn##_v(1.0, a, o, k, k2);                                                         \
    }
BS_EW1_OPS(EW1_DEF)
#undef EW1_DEF
#undef A
#define A(x) ((float)(x))
#define EW1_DEF(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                        \
    static float fn##_ff(float a, float k, float k2, bs_dtype dt, int tv) { return FWD; }        \
    static float fn##_vf(float g, float a, float o, float k, float k2, bs_dtype dt, int tv)      \
    {                                                                                            \
        return VJP;                                                                              \
    }                                                                                            \
    EW1_OP(fn, fn##_f, fn##_v, fn##_d, fn##_ff, fn##_vf, KDEF, K2DEF, BS_OP_##ID == BS_OP_CLAMP,  \
           FL, SAVED, ((FLAGS) & BS_EW_TAIL) != 0)
BS_EW1_OPS(EW1_DEF)
#undef EW1_DEF
#undef A
#define A(x) ((double)(x))

/* ==== Binary driver (broadcasting) ==== */
typedef double (*ew2_f)(double a, double b);
typedef double (*ew2_v)(double g, double a, double b, double y, int i); /* g * dy/d(in i) */
typedef double (*ew2_d)(double a, double b, double y, int i);           /* dy/d(in i) */

static bs_status ew2_shape(const bs_shape *in, bs_shape *out, char *err, size_t errlen)
{
    return ops_broadcast(&in[0], &in[1], out, err, errlen);
}

typedef float (*ew2_ff)(float a, float b, bs_dtype dt, int tv);
typedef float (*ew2_vf)(float g, float a, float b, float y, int i, bs_dtype dt, int tv);

/* the length of the runs torch's kernel loops over (TensorIterator's inner loop): every element
 * when each operand is the output's size or a single number, else the last dim */
static int64_t ew2_run(const bs_tensor *in, const bs_tensor *out)
{
    int64_t n = bs_tensor_numel(out), na = bs_tensor_numel(&in[0]), nb = bs_tensor_numel(&in[1]);
    if ((na == n || na == 1) && (nb == n || nb == 1)) return n;
    return out->shape.ndim ? out->shape.d[out->shape.ndim - 1] : 1;
}

/* whether output element o is one of the vector lanes of an op with a scalar tail (tail false:
 * every element is) */
static inline int ew2_tv(bool tail, int64_t o, int64_t run, int64_t vp)
{
    return !tail || o % run < vp;
}

static void ew2_fwd(const bs_tensor *in, bs_tensor *out, ew2_f f, ew2_ff ff, bool tail)
{
    ops_iter it;
    int64_t n = bs_tensor_numel(out);
    const double *A = in[0].data, *B = in[1].data; /* broadcast to out's shape */
    double *Y = out->data;
    bs_dtype dt = out->dtype;
    ops_iter_init(&it, &out->shape, &in[0].shape, &in[1].shape);
    if (bs_dtype_in_float(dt)) {
        int64_t run = ew2_run(in, out), vp = ops_t_vecpart(dt, run);
        for (int64_t o = 0; o < n; o++, ops_iter_next(&it))
            Y[o] = ff(ops_in(dt, A[it.off[0]]), ops_in(dt, B[it.off[1]]), dt, ew2_tv(tail, o, run, vp));
        return;
    }
    for (int64_t o = 0; o < n; o++, ops_iter_next(&it))
        Y[o] = f(A[it.off[0]], B[it.off[1]]);
}

/* The float path's VJP, as torch computes it: the whole gradient at the output's shape (each
 * element rounded to the dtype), then sum_to the input's shape, a sum over the broadcast dims with
 * torch's order (ops_lp_sum). */
static void ew2_vjp_f(const bs_tensor *in, const bs_tensor *out, const bs_tensor *g, int i,
                      bs_tensor *din, ew2_vf vf, bool tail)
{
    ops_iter it;
    int64_t n = bs_tensor_numel(out), m = bs_tensor_numel(&in[i]);
    const double *A = in[0].data, *B = in[1].data, *Y = out->data, *G = g->data;
    double *D = din->data;
    bs_dtype dt = g->dtype;
    int64_t run = ew2_run(in, out), vp = ops_t_vecpart(dt, run);
    tail = tail && i == 0; /* the tail is the first operand's (pow's exponent VJP is a log op) */
    ops_iter_init(&it, &out->shape, &in[0].shape, &in[1].shape);
    if (n == m) { /* no broadcast on this side (the same elements, in the same order) */
        for (int64_t o = 0; o < n; o++, ops_iter_next(&it))
            D[o] += vf((float)G[o], ops_in(dt, A[it.off[0]]), ops_in(dt, B[it.off[1]]),
                       (float)Y[o], i, dt, ew2_tv(tail, o, run, vp));
        return;
    }
    float *full = malloc(sizeof(float) * (size_t)(n + m)), *red = full + n; /* (out), (in i) */
    if (!full) { /* out of memory: the plain loop (the sum's order differs) */
        for (int64_t o = 0; o < n; o++, ops_iter_next(&it))
            D[it.off[i]] += vf((float)G[o], ops_in(dt, A[it.off[0]]), ops_in(dt, B[it.off[1]]),
                               (float)Y[o], i, dt, ew2_tv(tail, o, run, vp));
        return;
    }
    for (int64_t o = 0; o < n; o++, ops_iter_next(&it))
        full[o] = bs_dtype_roundf(dt, vf((float)G[o], ops_in(dt, A[it.off[0]]),
                                         ops_in(dt, B[it.off[1]]), (float)Y[o], i, dt,
                                         ew2_tv(tail, o, run, vp)));
    ops_lp_sum_to(dt, full, &out->shape, &in[i].shape, red);
    for (int64_t j = 0; j < m; j++)
        D[j] += red[j];
    free(full);
}

/* din_i[j] += sum over the output elements o that element j broadcasts to of g[o] * dy_o/dx_j:
 * the sum over broadcast dims happens by accumulating at the same offset. */
static void ew2_vjp(const bs_tensor *in, const bs_tensor *out, const bs_tensor *g, int i,
                    bs_tensor *din, ew2_v v, ew2_vf vf, bool tail)
{
    if (bs_dtype_in_float(g->dtype)) {
        ew2_vjp_f(in, out, g, i, din, vf, tail);
        return;
    }
    ops_iter it;
    int64_t n = bs_tensor_numel(out);
    const double *A = in[0].data, *B = in[1].data, *Y = out->data, *G = g->data;
    double *D = din->data;
    ops_iter_init(&it, &out->shape, &in[0].shape, &in[1].shape);
    for (int64_t o = 0; o < n; o++, ops_iter_next(&it))
        D[it.off[i]] += v(G[o], A[it.off[0]], B[it.off[1]], Y[o], i);
}

/* dy[o] = dy/da * ta[o's a element] + dy/db * tb[o's b element] (missing tangents are zero) */
static void ew2_jvp(const bs_tensor *in, const bs_tensor *out, const bs_tensor *din,
                    bs_tensor *dout, ew2_d d)
{
    ops_iter it;
    int64_t n = bs_tensor_numel(out);
    const double *A = in[0].data, *B = in[1].data, *Y = out->data;
    const double *TA = din[0].data, *TB = din[1].data;
    double *DY = dout->data;
    ops_iter_init(&it, &out->shape, &in[0].shape, &in[1].shape);
    for (int64_t o = 0; o < n; o++, ops_iter_next(&it)) {
        double a = A[it.off[0]], b = B[it.off[1]], s = 0.0;
        if (TA)
            s += d(a, b, Y[o], 0) * TA[it.off[0]];
        if (TB)
            s += d(a, b, Y[o], 1) * TB[it.off[1]];
        DY[o] = s;
    }
}

/* a check of the operands' values before the forward (BS_OK, or an error in PyTorch's words) */
typedef bs_status (*ew2_check)(const bs_tensor *in, char *err, size_t errlen);
static bs_status ew2_no_check(const bs_tensor *in, char *err, size_t errlen) { return BS_OK; }

#define EW2_OP_CHECKED(fn, F, V, D, FF, VF, FL, SAVED, CHECK, TAIL)                                  \
    bs_status op_##fn##_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a,          \
                              bs_shape *out, char *err, size_t errlen)                           \
    {                                                                                            \
        return ew2_shape(in, out, err, errlen);                                                  \
    }                                                                                            \
    bs_status op_##fn##_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,    \
                            size_t errlen)                                                       \
    {                                                                                            \
        bs_status cst = CHECK(in, err, errlen);                                                  \
        if (cst != BS_OK)                                                                        \
            return cst;                                                                          \
        ew2_fwd(in, out, F, FF, TAIL);                                                           \
        return BS_OK;                                                                            \
    }                                                                                            \
    void op_##fn##_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *g, int i, bs_tensor *din)                                \
    {                                                                                            \
        if (i == 0 || i == 1)                                                                    \
            ew2_vjp(in, out, g, i, din, V, VF, TAIL);                                            \
    }                                                                                            \
    void op_##fn##_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *din, bs_tensor *dout)                                    \
    {                                                                                            \
        ew2_jvp(in, out, din, dout, D);                                                          \
    }                                                                                            \
    double op_##fn##_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)            \
    {                                                                                            \
        return (FL) * ops_numel_d(out);                                                          \
    }                                                                                            \
    int op_##fn##_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt,                \
                        const bs_attr *a, bs_saved *sv)                                          \
    {                                                                                            \
        return SAVED(in, odt, sv);                                                               \
    }                                                                                            \
    double op_##fn##_sfwd(double a, double b, double k, double k2) { return F(a, b); }           \
    double op_##fn##_svjp(double g, double a, double b, double y, double k, double k2, int i)    \
    {                                                                                            \
        return V(g, a, b, y, i);                                                                 \
    }

/* What PyTorch 1.13 keeps for the binary ops, per requires-grad pattern (derivatives.yaml saves
 * an operand only for the formulas of the inputs that need a grad). A Python number the user typed
 * (in[i].number) is a Scalar or a wrapped 0-d tensor there, which changes some of them. */
static int save_none2(const bs_saved_in *in, bs_dtype odt, bs_saved *sv) { return 0; }

/* MulBackward0: self for d/d(other), other for d/d(self); x * 3 and 3 * x both keep the wrapped
 * 3 as `other` (3 * x is x.__rmul__(3)) */
static int save_mul(const bs_saved_in *in, bs_dtype odt, bs_saved *sv)
{
    int k = 0, sw = in[0].number;
    if (in[1].requires_grad) k = ops_save_in(sv, k, sw ? "other" : "self", 0);
    if (in[0].requires_grad) k = ops_save_in(sv, k, sw ? "self" : "other", 1);
    return k;
}

/* DivBackward0: other for either grad, self for d/d(other). A number numerator, 3 / x, is
 * x.reciprocal() * 3 in PyTorch: ReciprocalBackward0 keeps 1/x, MulBackward0 the wrapped 3. */
static int save_div(const bs_saved_in *in, bs_dtype odt, bs_saved *sv)
{
    int k = 0;
    if (in[0].number) {
        k = ops_save_buffer(sv, k, "reciprocal", &in[1].shape, odt);
        return ops_save_in(sv, k, "other", 0);
    }
    if (in[1].requires_grad) k = ops_save_in(sv, k, "self", 0);
    return ops_save_in(sv, k, "other", 1);
}

/* PowBackward0 (a number exponent, x ** 2): self only. PowBackward1 (a tensor exponent): self,
 * exponent and result, whichever needs the grad; a number base, 2 ** x, is made a 0-d tensor of
 * the result's dtype for it. */
static int save_pow(const bs_saved_in *in, bs_dtype odt, bs_saved *sv)
{
    bs_shape s0 = {0, {0}};
    if (in[1].number) return ops_save_in(sv, 0, "self", 0);
    int k = in[0].number ? ops_save_buffer(sv, 0, "self", &s0, odt) : ops_save_in(sv, 0, "self", 0);
    k = ops_save_in(sv, k, "exponent", 1);
    return ops_save_result(sv, k);
}

/* PyTorch: an integer tensor to a negative integer power is an error, not a float (2 ** -1 on
 * Python numbers is 0.5; tensor([2, 3]) ** -1 is refused). */
static bs_status pow_check(const bs_tensor *in, char *err, size_t errlen)
{
    if (in[0].dtype != BS_I64 || in[1].dtype != BS_I64) return BS_OK;
    int64_t n = bs_tensor_numel(&in[1]);
    for (int64_t j = 0; j < n; j++)
        if (in[1].data[j] < 0)
            return ops_fail(BS_ERR_VALUE, err, errlen,
                            "Integers to negative integer powers are not allowed.");
    return BS_OK;
}

/* ==== The binary ops, from ew_math.h ==== */
#define EW2_DEF(ID, fn, FWD, VJP_A, VJP_B, FL, SAVED, CHECK, FLAGS)                              \
    static double fn##_f(double a, double b)                                                     \
    {                                                                                            \
        const bs_dtype dt = BS_F64;                                                              \
        const int tv = 1;                                                                        \
        (void)dt, (void)tv;                                                                      \
        return FWD;                                                                              \
    }                                                                                            \
    static double fn##_v(double g, double a, double b, double o, int i)                          \
    {                                                                                            \
        const bs_dtype dt = BS_F64;                                                              \
        const int tv = 1;                                                                        \
        (void)dt, (void)tv;                                                                      \
        return i == 0 ? (VJP_A) : (VJP_B);                                                       \
    }                                                                                            \
    static double fn##_d(double a, double b, double o, int i) { return fn##_v(1.0, a, b, o, i); }
BS_EW2_OPS(EW2_DEF)
#undef EW2_DEF
#undef A
#define A(x) ((float)(x))
#define EW2_DEF(ID, fn, FWD, VJP_A, VJP_B, FL, SAVED, CHECK, FLAGS)                              \
    static float fn##_ff(float a, float b, bs_dtype dt, int tv) { return FWD; }                  \
    static float fn##_vf(float g, float a, float b, float o, int i, bs_dtype dt, int tv)         \
    {                                                                                            \
        return i == 0 ? (VJP_A) : (VJP_B);                                                       \
    }                                                                                            \
    EW2_OP_CHECKED(fn, fn##_f, fn##_v, fn##_d, fn##_ff, fn##_vf, FL, SAVED, CHECK,                \
                   ((FLAGS) & BS_EW_TAIL) != 0)
BS_EW2_OPS(EW2_DEF)
#undef EW2_DEF
#undef A
