/* core/ew_scalar.h: the f64 scalar forward and VJP of every elementwise op as inline switches,
 * for bs_apply1 / bs_apply2's 0-d f64 nodes (tape.c) and the scalar pass (backward.c). Each case
 * is ew_math.h's entry for the op expanded in double: the same expressions bs_ops[op].s_fwd and
 * .s_vjp (op_<fn>_sfwd, op_<fn>_svjp in core/ops_ew.c) are made of, without a call through the
 * table. An op outside ew_math.h's lists goes through the table. */
#ifndef BS_EW_SCALAR_H
#define BS_EW_SCALAR_H

#include "backstep.h"
#include "ew_math.h"

/* y = f(a, b; k, k2): bs_ops[op].s_fwd (op_<fn>_sfwd) without the call through the table */
static inline double bs__ew_fwd(bs_op op, double a, double b, double k, double k2)
{
#define A(x) ((double)(x))
    switch (op) {
#define BS__EW1_FWD(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                    \
    case BS_OP_##ID: return (FWD);
        BS_EW1_OPS(BS__EW1_FWD)
#undef BS__EW1_FWD
#define BS__EW2_FWD(ID, fn, FWD, VJP_A, VJP_B, FL, SAVED, CHECK, FLAGS)                          \
    case BS_OP_##ID: return (FWD);
        BS_EW2_OPS(BS__EW2_FWD)
#undef BS__EW2_FWD
    default: return bs_ops[op].s_fwd(a, b, k, k2);
    }
#undef A
}

/* g * dy/d(input i), a and b the inputs, o the output */
static inline double bs__ew_vjp(bs_op op, double g, double a, double b, double o, double k,
                                double k2, int i)
{
#define A(x) ((double)(x))
    switch (op) {
#define BS__EW1_VJP(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                    \
    case BS_OP_##ID: return (VJP);
        BS_EW1_OPS(BS__EW1_VJP)
#undef BS__EW1_VJP
#define BS__EW2_VJP(ID, fn, FWD, VJP_A, VJP_B, FL, SAVED, CHECK, FLAGS)                          \
    case BS_OP_##ID: return i == 0 ? (VJP_A) : (VJP_B);
        BS_EW2_OPS(BS__EW2_VJP)
#undef BS__EW2_VJP
    default: return bs_ops[op].s_vjp(g, a, b, o, k, k2, i);
    }
#undef A
}

#endif
