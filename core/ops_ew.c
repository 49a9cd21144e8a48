/* core/ops_ew.c: elementwise ops (add sub mul div pow neg relu leaky_relu sigmoid tanh exp log sqrt
 * abs sin cos): forward, VJP and JVP, with NumPy broadcasting for the binary ones.
 *
 * Each op is a few scalar functions: the forward value, its VJP contribution g * d(out)/d(in)
 * written the way PyTorch's derivatives.yaml writes it (so the numbers agree to the last bit where
 * the formula allows), and the local derivative d(out)/d(in) that the JVP multiplies tangents by.
 * A generic driver (unary or broadcasting binary) runs them over tensors. */
#include "ops_int.h"

#include <math.h>

/* ==== Unary driver ==== */
typedef double (*ew1_f)(double x, double k);                 /* y = f(x) */
typedef double (*ew1_v)(double g, double x, double y, double k); /* g * dy/dx */
typedef double (*ew1_d)(double x, double y, double k);       /* dy/dx */

static bs_status ew1_shape(const bs_shape *in, bs_shape *out)
{
    *out = in[0];
    return BS_OK;
}

static void ew1_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, ew1_f f, double kdef)
{
    double k = a ? a->k : kdef;
    int64_t n = bs_tensor_numel(out);
    const double *x = in[0].data;          /* (...) */
    double *y = out->data;                 /* (...) same shape */
    for (int64_t j = 0; j < n; j++)
        y[j] = f(x[j], k);
}

static void ew1_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                    const bs_tensor *g, bs_tensor *din, ew1_v v, double kdef)
{
    double k = a ? a->k : kdef;
    int64_t n = bs_tensor_numel(out);
    const double *x = in[0].data, *y = out->data, *G = g->data;
    double *dx = din->data;
    for (int64_t j = 0; j < n; j++)
        dx[j] += v(G[j], x[j], y[j], k);
}

static void ew1_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                    const bs_tensor *din, bs_tensor *dout, ew1_d d, double kdef)
{
    double k = a ? a->k : kdef;
    int64_t n = bs_tensor_numel(out);
    const double *x = in[0].data, *y = out->data, *t = din[0].data;
    double *dy = dout->data;
    for (int64_t j = 0; j < n; j++)
        dy[j] = t ? d(x[j], y[j], k) * t[j] : 0.0;
}

/* One unary op from its scalar functions. FL: FLOPs per element; SAVED: what it keeps for
 * backward, an expression in sv giving the count (SAVE_NONE, SAVE_IN, SAVE_OUT). */
#define EW1_OP(fn, F, V, D, KDEF, FL, SAVED)                                                      \
    bs_status op_##fn##_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a,          \
                              bs_shape *out, char *err, size_t errlen)                           \
    {                                                                                            \
        return ew1_shape(in, out);                                                               \
    }                                                                                            \
    bs_status op_##fn##_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,    \
                            size_t errlen)                                                       \
    {                                                                                            \
        ew1_fwd(in, a, out, F, KDEF);                                                            \
        return BS_OK;                                                                            \
    }                                                                                            \
    void op_##fn##_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *g, int i, bs_tensor *din)                                \
    {                                                                                            \
        if (i == 0)                                                                              \
            ew1_vjp(in, out, a, g, din, V, KDEF);                                                \
    }                                                                                            \
    void op_##fn##_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *din, bs_tensor *dout)                                    \
    {                                                                                            \
        ew1_jvp(in, out, a, din, dout, D, KDEF);                                                 \
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
    double op_##fn##_sfwd(double a, double b, double k) { return F(a, k); }                      \
    double op_##fn##_svjp(double g, double a, double b, double y, double k, int i)               \
    {                                                                                            \
        return V(g, a, y, k);                                                                    \
    }

#define SAVE_NONE ((void)in, (void)sv, 0)
#define SAVE_IN ops_save_in(sv, 0, "self", 0)  /* PyTorch's _saved_self */
#define SAVE_OUT ops_save_result(sv, 0)        /* _saved_result */

/* ==== neg ==== */
/* y = -x;  dy/dx = -1 */
static double neg_f(double x, double k) { return -x; }
static double neg_v(double g, double x, double y, double k) { return -g; }
static double neg_d(double x, double y, double k) { return -1.0; }
EW1_OP(neg, neg_f, neg_v, neg_d, 0.0, 1.0, SAVE_NONE)

/* ==== relu ==== */
/* y = max(x, 0);  dy/dx = 1 if y > 0 else 0 (0 at x = 0, as PyTorch's threshold_backward) */
static double relu_f(double x, double k) { return x > 0 ? x : (isnan(x) ? x : 0.0); }
static double relu_v(double g, double x, double y, double k) { return y <= 0 ? 0.0 : g; }
static double relu_d(double x, double y, double k) { return y <= 0 ? 0.0 : 1.0; }
EW1_OP(relu, relu_f, relu_v, relu_d, 0.0, 1.0, SAVE_OUT)

/* ==== leaky_relu ==== */
/* y = x if x > 0 else k*x;  dy/dx = 1 if x > 0 else k (slope k = attr.k) */
static double lrelu_f(double x, double k) { return x > 0 ? x : x * k; }
static double lrelu_v(double g, double x, double y, double k) { return x > 0 ? g : g * k; }
static double lrelu_d(double x, double y, double k) { return x > 0 ? 1.0 : k; }
EW1_OP(leaky_relu, lrelu_f, lrelu_v, lrelu_d, 0.01, 2.0, SAVE_IN)

/* ==== sigmoid ==== */
/* y = 1/(1+exp(-x));  dy/dx = y*(1-y) */
static double sigmoid_f(double x, double k) { return 1.0 / (1.0 + exp(-x)); }
static double sigmoid_v(double g, double x, double y, double k) { return g * (1.0 - y) * y; }
static double sigmoid_d(double x, double y, double k) { return (1.0 - y) * y; }
EW1_OP(sigmoid, sigmoid_f, sigmoid_v, sigmoid_d, 0.0, OPS_FLOP_TR + 3.0, SAVE_OUT)

/* ==== tanh ==== */
/* y = tanh(x);  dy/dx = 1 - y^2 */
static double tanh_f(double x, double k) { return tanh(x); }
static double tanh_v(double g, double x, double y, double k) { return g * (1.0 - y * y); }
static double tanh_d(double x, double y, double k) { return 1.0 - y * y; }
EW1_OP(tanh, tanh_f, tanh_v, tanh_d, 0.0, OPS_FLOP_TR, SAVE_OUT)

/* ==== exp ==== */
/* y = exp(x);  dy/dx = y */
static double exp_f(double x, double k) { return exp(x); }
static double exp_v(double g, double x, double y, double k) { return g * y; }
static double exp_d(double x, double y, double k) { return y; }
EW1_OP(exp, exp_f, exp_v, exp_d, 0.0, OPS_FLOP_TR, SAVE_OUT)

/* ==== log ==== */
/* y = log(x);  dy/dx = 1/x */
static double log_f(double x, double k) { return log(x); }
static double log_v(double g, double x, double y, double k) { return g / x; }
static double log_d(double x, double y, double k) { return 1.0 / x; }
EW1_OP(log, log_f, log_v, log_d, 0.0, OPS_FLOP_TR, SAVE_IN)

/* ==== sqrt ==== */
/* y = sqrt(x);  dy/dx = 1/(2y) */
static double sqrt_f(double x, double k) { return sqrt(x); }
static double sqrt_v(double g, double x, double y, double k) { return g / (2.0 * y); }
static double sqrt_d(double x, double y, double k) { return 1.0 / (2.0 * y); }
EW1_OP(sqrt, sqrt_f, sqrt_v, sqrt_d, 0.0, OPS_FLOP_TR, SAVE_OUT)

/* ==== abs ==== */
/* y = |x|;  dy/dx = sign(x), 0 at x = 0 (PyTorch's sgn) */
static double sgn(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : (isnan(x) ? x : 0.0)); }
static double abs_f(double x, double k) { return fabs(x); }
static double abs_v(double g, double x, double y, double k) { return g * sgn(x); }
static double abs_d(double x, double y, double k) { return sgn(x); }
EW1_OP(abs, abs_f, abs_v, abs_d, 0.0, 1.0, SAVE_IN)

/* ==== sin ==== */
/* y = sin(x);  dy/dx = cos(x) */
static double sin_f(double x, double k) { return sin(x); }
static double sin_v(double g, double x, double y, double k) { return g * cos(x); }
static double sin_d(double x, double y, double k) { return cos(x); }
EW1_OP(sin, sin_f, sin_v, sin_d, 0.0, OPS_FLOP_TR, SAVE_IN)

/* ==== cos ==== */
/* y = cos(x);  dy/dx = -sin(x) */
static double cos_f(double x, double k) { return cos(x); }
static double cos_v(double g, double x, double y, double k) { return g * -sin(x); }
static double cos_d(double x, double y, double k) { return -sin(x); }
EW1_OP(cos, cos_f, cos_v, cos_d, 0.0, OPS_FLOP_TR, SAVE_IN)

/* ==== Binary driver (broadcasting) ==== */
typedef double (*ew2_f)(double a, double b);
typedef double (*ew2_v)(double g, double a, double b, double y, int i); /* g * dy/d(in i) */
typedef double (*ew2_d)(double a, double b, double y, int i);           /* dy/d(in i) */

static bs_status ew2_shape(const bs_shape *in, bs_shape *out, char *err, size_t errlen)
{
    return ops_broadcast(&in[0], &in[1], out, err, errlen);
}

static void ew2_fwd(const bs_tensor *in, bs_tensor *out, ew2_f f)
{
    ops_iter it;
    int64_t n = bs_tensor_numel(out);
    const double *A = in[0].data, *B = in[1].data; /* broadcast to out's shape */
    double *Y = out->data;
    ops_iter_init(&it, &out->shape, &in[0].shape, &in[1].shape);
    for (int64_t o = 0; o < n; o++, ops_iter_next(&it))
        Y[o] = f(A[it.off[0]], B[it.off[1]]);
}

/* din_i[j] += sum over the output elements o that element j broadcasts to of g[o] * dy_o/dx_j:
 * the sum over broadcast dims happens by accumulating at the same offset. */
static void ew2_vjp(const bs_tensor *in, const bs_tensor *out, const bs_tensor *g, int i,
                    bs_tensor *din, ew2_v v)
{
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

#define EW2_OP(fn, F, V, D, FL, SAVED) EW2_OP_CHECKED(fn, F, V, D, FL, SAVED, ew2_no_check)
#define EW2_OP_CHECKED(fn, F, V, D, FL, SAVED, CHECK)                                             \
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
        ew2_fwd(in, out, F);                                                                     \
        return BS_OK;                                                                            \
    }                                                                                            \
    void op_##fn##_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *g, int i, bs_tensor *din)                                \
    {                                                                                            \
        if (i == 0 || i == 1)                                                                    \
            ew2_vjp(in, out, g, i, din, V);                                                      \
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
    double op_##fn##_sfwd(double a, double b, double k) { return F(a, b); }                      \
    double op_##fn##_svjp(double g, double a, double b, double y, double k, int i)               \
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

/* ==== add ==== */
/* y = a + b;  dy/da = 1, dy/db = 1 */
static double add_f(double a, double b) { return a + b; }
static double add_v(double g, double a, double b, double y, int i) { return g; }
static double add_d(double a, double b, double y, int i) { return 1.0; }
EW2_OP(add, add_f, add_v, add_d, 1.0, save_none2)

/* ==== sub ==== */
/* y = a - b;  dy/da = 1, dy/db = -1 */
static double sub_f(double a, double b) { return a - b; }
static double sub_v(double g, double a, double b, double y, int i) { return i == 0 ? g : -g; }
static double sub_d(double a, double b, double y, int i) { return i == 0 ? 1.0 : -1.0; }
EW2_OP(sub, sub_f, sub_v, sub_d, 1.0, save_none2)

/* ==== mul ==== */
/* y = a * b;  dy/da = b, dy/db = a */
static double mul_f(double a, double b) { return a * b; }
static double mul_v(double g, double a, double b, double y, int i) { return i == 0 ? g * b : g * a; }
static double mul_d(double a, double b, double y, int i) { return i == 0 ? b : a; }
EW2_OP(mul, mul_f, mul_v, mul_d, 1.0, save_mul)

/* ==== div ==== */
/* y = a / b;  dy/da = 1/b, dy/db = -a/b^2 (PyTorch: -g * ((a / b) / b)) */
static double div_f(double a, double b) { return a / b; }
static double div_v(double g, double a, double b, double y, int i)
{
    return i == 0 ? g / b : -g * ((a / b) / b);
}
static double div_d(double a, double b, double y, int i) { return i == 0 ? 1.0 / b : -((a / b) / b); }
EW2_OP(div, div_f, div_v, div_d, 1.0, save_div)

/* ==== pow ==== */
/* y = a^b;
 * dy/da = b * a^(b-1), taken as 0 where b == 0 (PyTorch's pow_backward_self);
 * dy/db = a^b * log(a), taken as 0 where a == 0 and b >= 0 (PyTorch's pow_backward_exponent). */
static double pow_f(double a, double b) { return pow(a, b); }
static double pow_d(double a, double b, double y, int i)
{
    if (i == 0)
        return b == 0.0 ? 0.0 : b * pow(a, b - 1.0);
    return (a == 0.0 && b >= 0.0) ? 0.0 : y * log(a);
}
static double pow_v(double g, double a, double b, double y, int i)
{
    if (i == 0)
        return b == 0.0 ? 0.0 : g * (b * pow(a, b - 1.0));
    return (a == 0.0 && b >= 0.0) ? 0.0 : g * (y * log(a));
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
EW2_OP_CHECKED(pow, pow_f, pow_v, pow_d, OPS_FLOP_TR, save_pow, pow_check)
