/* core/ew_scalar.h: the f64 scalar VJP of every elementwise op as one inline switch, for the
 * scalar pass (backward.c). Each case is ew_math.h's entry for the op expanded in double: the
 * same expressions bs_ops[op].s_vjp (op_<fn>_svjp in core/ops_ew.c) is made of, without a call
 * through the table per input. An op outside ew_math.h's lists goes through the table. */
#ifndef BS_EW_SCALAR_H
#define BS_EW_SCALAR_H

#include "backstep.h"
#include "ew_math.h"

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
