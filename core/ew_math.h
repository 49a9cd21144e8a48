/* core/ew_math.h: the arithmetic of every elementwise op, written once, for C and CUDA alike.
 *
 * Two X-macro lists. Each consumer defines X and expands the list where it needs the ops:
 *   core/ops_ew.c      the eager f64 scalar functions and tensor drivers (forward, VJP, JVP)
 *   core/backend_cpu.c the f32/f64 replay loops, and the fused bias + activation (BS_EW_ACT)
 *   core/tape.c        each op's attribute defaults (bs_attr_default)
 *   gpu/ops_ew.cu      the CUDA functors (and, through tests/gpu, their host emulation)
 *   tests/ops, tests/gpu  the cases every op is checked on (domain flags, test attributes)
 *   tests/run/test_plan.c the fused activations (BS_EW_ACT); tests/repl/test_formulas.py reads
 *                      the positive-only ops (BS_EW_POS)
 * ops.def keeps what is not arithmetic: name, symbol, grad_fn, the formula template a learner
 * reads, and :help.
 *
 * The expressions are type-generic: `A` is the scalar type they are evaluated in (double in the
 * eager engine, the element type T on the CPU backend, float or double on the device), constants
 * are written A(1), and math goes through m_exp, m_log, m_log1p, m_sqrt, m_tanh, m_sin, m_cos,
 * m_pow, m_abs, m_erf, m_fma (x * y + z rounded once): in C type-generic by _Generic (a float argument calls expf, as
 * <tgmath.h> did for the CPU backend's f32 loops), on the device float and double overloads in
 * gpu/gpu_int.h. Each consumer defines A(x) as its cast.
 *
 * ==== Unary: BS_EW1_OPS(X), one X(...) per op ====
 *   X(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FLOPS, SAVED, FLAGS)
 *   ID, fn   as in ops.def (BS_OP_<ID>, op_<fn>_*)
 *   FWD      o = f(a), an expression in a and the attributes k, k2
 *   VJP      g * do/da, in g, a, o (the output) and k, k2, written in the order PyTorch's
 *            derivatives.yaml (or its kernel) writes it so the f64 numbers agree to the bit. The
 *            JVP's local derivative is this with g = 1 (exact: 1 * x == x).
 *   KDEF     the defaults of bs_attr.k and .k2 (leaky_relu's slope; clamp's min and max, where
 *   K2DEF    None is -inf / +inf)
 *   TK, TK2  the attributes the tests use besides the defaults
 *   FLOPS    forward FLOPs per element (ops_int.h's convention; OPS_FLOP_TR per transcendental)
 *   SAVED    what PyTorch's grad_fn keeps (core/ops_ew.c: SAVE_NONE, SAVE_IN, SAVE_OUT)
 *   FLAGS    BS_EW_ACT: an activation the CPU backend fuses after a bias add;
 *            BS_EW_POS: defined for positive inputs only (tests draw from (0.3, 2.5));
 *            BS_EW_KINK: not differentiable at 0 (tests keep away from it);
 *            BS_EW_TAIL: the float path's last elements take the C library's functions
 *            (see the enum)
 *
 * ==== Binary: BS_EW2_OPS(X), with NumPy broadcasting ====
 *   X(ID, fn, FWD, VJP_A, VJP_B, FLOPS, SAVED, CHECK, FLAGS)
 *   FWD      o = f(a, b); VJP_A, VJP_B the contributions g * do/da and g * do/db at one output
 *            element (in g, a, b, o), before the sum over broadcast dims
 *   SAVED    core/ops_ew.c's function giving what PyTorch keeps per requires-grad pattern
 *   CHECK    core/ops_ew.c's check of the operands before the forward (PyTorch's value errors)
 *   FLAGS    test domains: BS_EW_POS (a positive), BS_EW_B_NONZERO (b away from 0)
 *
 * Tokens a consumer does not use (SAVED, CHECK, FLOPS on the device) are dropped unexpanded. */
#ifndef BS_EW_MATH_H
#define BS_EW_MATH_H

enum {
    BS_EW_ACT = 1 << 0,  /* fused after a bias add on the CPU backend */
    BS_EW_POS = 1 << 1,  /* test domain: positive inputs */
    BS_EW_KINK = 1 << 2, /* test domain: away from 0 */
    BS_EW_B_NONZERO = 1 << 3, /* binary: test domain of b away from 0 */
    BS_EW_TAIL = 1 << 4  /* torch's kernel is cpu_kernel_vec: past the last whole block of vector
                            lanes its scalar lambda runs, with the C library's exp, ... (the eager
                            float path, ops_t_vecpart); binary: the forward and the first
                            operand's VJP */
};

#ifndef __cplusplus
/* C: type-generic as <tgmath.h> is (float arguments call expf, anything else exp) */
#include <math.h>
#define BS_EW_GEN1(x, ff, fd) _Generic((x), float: ff, default: fd)(x)
#define m_exp(x) BS_EW_GEN1(x, expf, exp)
#define m_log(x) BS_EW_GEN1(x, logf, log)
#define m_log1p(x) BS_EW_GEN1(x, log1pf, log1p)
#define m_sqrt(x) BS_EW_GEN1(x, sqrtf, sqrt)
#define m_tanh(x) BS_EW_GEN1(x, tanhf, tanh)
#define m_sin(x) BS_EW_GEN1(x, sinf, sin)
#define m_cos(x) BS_EW_GEN1(x, cosf, cos)
#define m_abs(x) BS_EW_GEN1(x, fabsf, fabs)
#define m_erf(x) BS_EW_GEN1(x, erff, erf)
#define m_pow(x, y) _Generic((x) + (y), float: powf, default: pow)(x, y)
#define m_fma(x, y, z) _Generic((x) + (y) + (z), float: fmaf, default: fma)(x, y, z)
#endif

/* Two markers that only the eager float path (core/ops_ew.c) gives a meaning; every other consumer
 * (the double path, the CPU backend, CUDA) gets the plain expression:
 *   m_rnd(x)        a tensor PyTorch materialises inside a VJP formula of derivatives.yaml
 *                   (div's -grad * ((self / other) / other) is three tensor ops): in f16/bf16 it
 *                   is rounded to the dtype there, as torch rounds each op's result
 *   m_cfma(x, y, z) x * y + z that GCC fuses into one fma in torch's compiled CPU kernel (its
 *                   AVX2 kernels build with -mfma and GCC's default -ffp-contract=fast): one
 *                   rounding in float, two in double as written (double keeps its numbers) */
#ifndef m_rnd
#define m_rnd(x) (x)
#endif
#ifndef m_cfma
#define m_cfma(x, y, z) ((x) * (y) + (z))
#endif

/* the sign of a as PyTorch's sgn: 0 at 0, NaN for NaN */
#define BS_EW_SGN(a) ((a) > A(0) ? A(1) : (a) < A(0) ? A(-1) : (a) != (a) ? (a) : A(0))
/* 1 / (1 + exp(-a)) */
#define BS_EW_SIGMOID(a) (A(1) / (A(1) + m_exp(-(a))))
/* min(max(a, lo), hi) as std::min(std::max(a, lo), hi), NaN kept (PyTorch's clamp kernel) */
#define BS_EW_MAXLO(a, lo) ((a) < (lo) ? (lo) : (a))
#define BS_EW_CLAMP(a, lo, hi)                                                                   \
    ((a) != (a) ? (a) : (hi) < BS_EW_MAXLO(a, lo) ? (hi) : BS_EW_MAXLO(a, lo))

/* gelu's tanh form (approximate='tanh'): t = tanh(kBeta * (a + kKappa * a^3)), kBeta = sqrt(2/pi)
 * = M_SQRT2 * M_2_SQRTPI * 0.5, kKappa = 0.044715; o = 0.5 * a * (1 + t);
 * g * (0.5 * (1 + t) + 0.5 * a * (1 - t^2) * kBeta * (1 + 3 * kKappa * a^2)), PyTorch's GeluKernel
 * and GeluBackwardKernel in its order. GCC builds PyTorch's AVX2 kernels with -ffp-contract=fast,
 * which fuses three of these sums into one rounding: written as m_fma here, the f64 and f32
 * numbers equal Debian's torch 1.13 to the bit (its scalar loop; its vector loop calls SLEEF's
 * tanh, which can differ in the last bit). */
#define BS_EW_GELU_T(a) m_tanh(A(0.7978845608028654) * m_fma(A(0.044715), (a) * (a) * (a), (a)))
#define BS_EW_GELU_TANH(a) (A(0.5) * (a) * (A(1) + BS_EW_GELU_T(a)))
#define BS_EW_GELU_TANH_VJP(g, a)                                                                \
    ((g) * (A(0.5) * (A(1) + BS_EW_GELU_T(a)) +                                                  \
            A(0.5) * (a) * m_fma(-BS_EW_GELU_T(a), BS_EW_GELU_T(a), A(1)) *                      \
                (A(0.7978845608028654) * m_fma(A(3) * A(0.044715), (a) * (a), A(1)))))

/* ==== Unary ==== */
#define BS_EW1_OPS(X)                                                                            \
    /* -a;  d/da = -1 */                                                                         \
    X(NEG, neg, -a, -g, 0, 0, 0, 0, 1.0, SAVE_NONE, 0)                                           \
    /* max(a, 0), NaN kept;  g * [o > 0] (0 at a = 0: threshold_backward(g, result, 0)) */       \
    X(RELU, relu, a > A(0) ? a : (a != a ? a : A(0)), o <= A(0) ? A(0) : g, 0, 0, 0, 0, 1.0,     \
      SAVE_OUT, BS_EW_ACT | BS_EW_KINK)                                                          \
    /* a if a > 0 else k*a (k = slope);  g if a > 0 else g * k */                                \
    X(LEAKY_RELU, leaky_relu, a > A(0) ? a : a * k, a > A(0) ? g : g * k, 0.01, 0, 0.2, 0, 2.0,  \
      SAVE_IN, BS_EW_ACT | BS_EW_KINK)                                                           \
    /* 1/(1+exp(-a));  g * (1 - o) * o (sigmoid_backward) */                                     \
    X(SIGMOID, sigmoid, BS_EW_SIGMOID(a), g * (A(1) - o) * o, 0, 0, 0, 0, OPS_FLOP_TR + 3.0,     \
      SAVE_OUT, BS_EW_ACT | BS_EW_TAIL)                                                                       \
    /* tanh(a);  g * (1 - o^2) (tanh_backward) */                                                \
    X(TANH, tanh, m_tanh(a), g * m_cfma(-o, o, A(1)), 0, 0, 0, 0, OPS_FLOP_TR, SAVE_OUT,        \
      BS_EW_ACT)                                                                                 \
    /* exp(a);  g * o */                                                                         \
    X(EXP, exp, m_exp(a), g * o, 0, 0, 0, 0, OPS_FLOP_TR, SAVE_OUT, 0)                           \
    /* log(a);  g / a */                                                                         \
    X(LOG, log, m_log(a), g / a, 0, 0, 0, 0, OPS_FLOP_TR, SAVE_IN, BS_EW_POS)                    \
    /* sqrt(a);  g / (2 o) */                                                                    \
    X(SQRT, sqrt, m_sqrt(a), g / (A(2) * o), 0, 0, 0, 0, OPS_FLOP_TR, SAVE_OUT, BS_EW_POS)       \
    /* |a|;  g * sgn(a) */                                                                       \
    X(ABS, abs, m_abs(a), g * BS_EW_SGN(a), 0, 0, 0, 0, 1.0, SAVE_IN, BS_EW_KINK)                \
    /* sin(a);  g * cos(a) */                                                                    \
    X(SIN, sin, m_sin(a), g * m_rnd(m_cos(a)), 0, 0, 0, 0, OPS_FLOP_TR, SAVE_IN, 0)              \
    /* cos(a);  g * -sin(a) */                                                                   \
    X(COS, cos, m_cos(a), g * m_rnd(-m_sin(a)), 0, 0, 0, 0, OPS_FLOP_TR, SAVE_IN, 0)             \
    /* erf(a);  2/sqrt(pi) * exp(-a^2) * g */                                                    \
    X(ERF, erf, m_erf(a), m_rnd(A(1.1283791670955126) * m_rnd(m_exp(-m_rnd(a * a)))) * g, 0, 0,  \
      0, 0, OPS_FLOP_TR,                                                                         \
      SAVE_IN, 0)                                                                                \
    /* gelu, k = approximate: 0 ('none', the default) the exact a * 0.5 * (1 + erf(a / sqrt 2));  \
     * g * (cdf + a * pdf), cdf = 0.5 * (1 + erf(a / sqrt 2)), pdf = exp(-a^2 / 2) / sqrt(2 pi)  \
     * (PyTorch's GeluBackward kernel: kAlpha = M_SQRT1_2, kBeta = M_2_SQRTPI * M_SQRT1_2 / 2);   \
     * BS_GELU_TANH ('tanh'): BS_EW_GELU_TANH above */                                           \
    X(GELU, gelu,                                                                                \
      k != A(0) ? BS_EW_GELU_TANH(a) : a * A(0.5) * (A(1) + m_erf(a * A(0.7071067811865476))),   \
      k != A(0) ? BS_EW_GELU_TANH_VJP(g, a)                                                      \
                : g * (A(0.5) * (A(1) + m_erf(a * A(0.7071067811865476))) +                      \
                       a * (A(0.3989422804014327) * m_exp(a * a * A(-0.5)))),                    \
      0, 0, BS_GELU_TANH, 0, OPS_FLOP_TR + 4.0, SAVE_IN, BS_EW_ACT | BS_EW_TAIL)                 \
    /* silu: a / (1 + exp(-a));  g * s * (1 + a * (1 - s)), s = sigmoid(a) (silu_backward) */    \
    X(SILU, silu, a / (A(1) + m_exp(-a)),                                                        \
      g * BS_EW_SIGMOID(a) * m_cfma(a, A(1) - BS_EW_SIGMOID(a), A(1)), 0, 0, 0, 0,               \
      OPS_FLOP_TR + 2.0, SAVE_IN, BS_EW_ACT | BS_EW_TAIL)                                        \
    /* softplus, beta 1, threshold 20: a if a > 20 else log1p(exp(a));                           \
     * g if a > 20 else g * z / (z + 1), z = exp(a) (softplus_backward) */                       \
    X(SOFTPLUS, softplus, a > A(20) ? a : m_log1p(m_exp(a)),                                     \
      a > A(20) ? g : g * m_exp(a) / (m_exp(a) + A(1)), 0, 0, 0, 0, 2.0 * OPS_FLOP_TR + 1.0,     \
      SAVE_IN, BS_EW_ACT | BS_EW_TAIL)                                                                        \
    /* clamp(a, min = k, max = k2), None as -inf / +inf: min(max(a, k), k2);                     \
     * g where k <= a <= k2, else 0 (clamp_backward) */                                          \
    X(CLAMP, clamp, BS_EW_CLAMP(a, k, k2), (a >= k && a <= k2) ? g : A(0), -INFINITY, INFINITY,  \
      -0.5, 0.5, 2.0, SAVE_IN, 0)

/* ==== Binary ==== */
#define BS_EW2_OPS(X)                                                                            \
    /* a + b;  g, g */                                                                           \
    X(ADD, add, a + b, g, g, 1.0, save_none2, ew2_no_check, 0)                                   \
    /* a - b;  g, -g */                                                                          \
    X(SUB, sub, a - b, g, -g, 1.0, save_none2, ew2_no_check, 0)                                  \
    /* a * b;  g * b, g * a */                                                                   \
    X(MUL, mul, a * b, g * b, g * a, 1.0, save_mul, ew2_no_check, 0)                             \
    /* a / b;  g / b, -g * ((a / b) / b) (div_tensor_other_backward) */                          \
    X(DIV, div, a / b, g / b, -g * m_rnd(m_rnd(a / b) / b), 1.0, save_div, ew2_no_check,         \
      BS_EW_B_NONZERO)                                                                           \
    /* a ** b;  g * (b * a^(b-1)), 0 where b == 0 (pow_backward_self);                           \
     *          g * (o * log(a)), 0 where a == 0 and b >= 0 (pow_backward_exponent) */           \
    X(POW, pow, m_pow(a, b), b == A(0) ? A(0) : g * m_rnd(b * m_rnd(m_pow(a, b - A(1)))),        \
      (a == A(0) && b >= A(0)) ? A(0) : g * m_rnd(o * m_rnd(m_log(a))), OPS_FLOP_TR, save_pow,   \
      pow_check,                                                                                 \
      BS_EW_POS | BS_EW_TAIL)

#endif
