/* tests/gpu/test_gpu_ops.c: the "gpu" backend against the CPU reference: every op of core/ops.def,
 * forward and each VJP, in f32, bf16 and f64, compared with bs_ops[op].fwd/.vjp in double on the
 * same (rounded) inputs; then transfers, fill, accumulate, value errors, optimizer steps and a
 * small MLP trained on both sides. Prints a per-op table; exits 77 when there is no CUDA device. */
#include "backstep.h"
#include "ew_math.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef BS_NO_GPU

int main(void)
{
    printf("SKIP: built without the CUDA backend (no nvcc)\n");
    return 77;
}

#else

#include "bsgpu.h"

/* ==== Random inputs ==== */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static double urand(void) /* [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static double uniform(double lo, double hi) { return lo + (hi - lo) * urand(); }
static double rsign(void) { return urand() < 0.5 ? -1.0 : 1.0; }

typedef enum {
    D_ANY,       /* uniform(-2, 2) */
    D_AWAY0,     /* |x| in [0.1, 2]: relu, abs, leaky_relu stay off their kink */
    D_POS,       /* [0.5, 2]: log, sqrt, pow's base */
    D_PROB,      /* [0.05, 0.95]: bce's p */
    D_UNIT,      /* [0, 1]: targets */
    D_NONZERO,   /* |x| in [0.5, 2]: divisors */
    D_CLASS,     /* class indices in [0, C) */
    D_CLASS_IGN, /* class indices, a quarter of them -100 (ignored) */
    D_SMALLINT,  /* integers in [-3, 3] */
    D_INDEX,     /* indices into a dim of size nclass, in [-nclass, nclass): negatives, repeats */
    D_MASK       /* a mask: 0, 1 or -3 */
} dom;

static double gen1(dom d, int64_t nclass)
{
    switch (d) {
    case D_ANY: return uniform(-2, 2);
    case D_AWAY0: return rsign() * uniform(0.1, 2);
    case D_POS: return uniform(0.5, 2);
    case D_PROB: return uniform(0.05, 0.95);
    case D_UNIT: return urand();
    case D_NONZERO: return rsign() * uniform(0.5, 2);
    case D_CLASS: return floor(urand() * (double)nclass);
    case D_CLASS_IGN: return urand() < 0.25 ? -100.0 : floor(urand() * (double)nclass);
    case D_SMALLINT: return floor(uniform(-3, 4));
    case D_INDEX: return floor(urand() * (double)(2 * nclass)) - (double)nclass;
    case D_MASK: return urand() < 0.4 ? 0.0 : urand() < 0.7 ? 1.0 : -3.0;
    }
    return 0;
}

/* n values of domain d, rounded to what dtype t holds */
static double *gen(int64_t n, dom d, int64_t nclass, bs_dtype t)
{
    double *x = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        x[i] = bs_dtype_round(t, gen1(d, nclass));
    return x;
}

/* ==== Comparing ==== */

/* max |got - want| / max |want| (NaN where the other is not: infinity) */
static double rel_err(const double *got, const double *want, int64_t n)
{
    double md = 0, mw = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(got[i]) || isnan(want[i])) {
            if (isnan(got[i]) != isnan(want[i]))
                return INFINITY;
            continue;
        }
        if (isinf(want[i]) || isinf(got[i])) {
            if (got[i] != want[i])
                return INFINITY;
            continue;
        }
        double d = fabs(got[i] - want[i]);
        md = d > md ? d : md;
        mw = fabs(want[i]) > mw ? fabs(want[i]) : mw;
    }
    return md / (mw > 1e-30 ? mw : 1e-30);
}

static double tol_of(bs_dtype t)
{
    switch (t) {
    case BS_F64: return 1e-9;
    case BS_F32: return 1e-4;
    default: return 2e-2;
    }
}

static size_t dev_size(bs_dtype t) { return t == BS_I64 ? 4 : bs_dtype_size(t); }

/* ==== Cases ==== */

typedef struct {
    int nin;
    bs_shape sh[BS_MAX_INPUTS];
    bool ints[BS_MAX_INPUTS]; /* an integer input (BS_I64), else the float dtype under test */
    dom dm[BS_MAX_INPUTS];
    bs_attr attr;
} gcase;

static bs_shape S(int nd, ...)
{
    bs_shape s;
    va_list ap;
    memset(&s, 0, sizeof s);
    s.ndim = nd;
    va_start(ap, nd);
    for (int k = 0; k < nd; k++)
        s.d[k] = va_arg(ap, int);
    va_end(ap);
    return s;
}

static gcase mk(bs_op op, int nin, bs_shape a, dom da, bs_shape b, dom db)
{
    gcase c;
    memset(&c, 0, sizeof c);
    c.nin = nin;
    c.sh[0] = a;
    c.sh[1] = b;
    c.dm[0] = da;
    c.dm[1] = db;
    c.attr = bs_attr_default(op);
    switch (op) { /* the unary ops at ew_math.h's test attributes */
#define EW1_ATTR(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                         \
    case BS_OP_##ID: c.attr.k = TK; c.attr.k2 = TK2; break;
        BS_EW1_OPS(EW1_ATTR)
#undef EW1_ATTR
    default: break;
    }
    c.ints[1] = db == D_CLASS || db == D_CLASS_IGN || db == D_SMALLINT || db == D_INDEX;
    return c;
}

/* a three-input case (where, masked_fill) */
static gcase mk3(bs_op op, bs_shape a, dom da, bs_shape b, dom db, bs_shape c3, dom dc)
{
    gcase c = mk(op, 2, a, da, b, db);
    c.nin = 3;
    c.sh[2] = c3;
    c.dm[2] = dc;
    return c;
}

/* select, slice, index_select along dim with select's index / slice's start:stop:step */
static gcase mk_ix(bs_op op, bs_shape a, bs_shape idx, int dim, int64_t start, int64_t stop, int64_t step)
{
    gcase c = op == BS_OP_INDEX_SELECT ? mk(op, 2, a, D_ANY, idx, D_INDEX) : mk(op, 1, a, D_ANY, S(0), D_ANY);
    c.attr.dim = dim;
    c.attr.start = start;
    c.attr.stop = stop;
    c.attr.step = step;
    return c;
}

static gcase mk_dim(bs_op op, bs_shape a, dom da, int dim, bool keep)
{
    gcase c = mk(op, 1, a, da, S(0), D_ANY);
    c.attr.dim = dim;
    c.attr.keepdim = keep;
    return c;
}

#define MAXC 24

#define EW1_FLAGS(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS) [BS_OP_##ID] = (FLAGS),
static const int ew1_flags[BS_OP_COUNT] = {BS_EW1_OPS(EW1_FLAGS)};
#undef EW1_FLAGS
#define EW2_FLAGS(ID, fn, FWD, VJP_A, VJP_B, FL, SAVED, CHECK, FLAGS) [BS_OP_##ID] = (FLAGS),
static const int ew2_flags[BS_OP_COUNT] = {BS_EW2_OPS(EW2_FLAGS)};
#undef EW2_FLAGS

/* the cases of one op; 0 means the test has none for it (a failure) */
static int cases_for(bs_op op, gcase *c)
{
    int n = 0;
    switch (op) {
#define EW2_CASE(ID, fn, FWD, VJP_A, VJP_B, FL, SAVED, CHECK, FLAGS) case BS_OP_##ID:
        BS_EW2_OPS(EW2_CASE) /* every binary op of ew_math.h, its domains from its flags */
#undef EW2_CASE
    {
        int fl = ew2_flags[op];
        dom da = fl & BS_EW_POS ? D_POS : D_ANY, db = fl & BS_EW_B_NONZERO ? D_NONZERO : D_ANY;
        c[n++] = mk(op, 2, S(2, 3, 4), da, S(2, 3, 4), db);
        c[n++] = mk(op, 2, S(3, 2, 3, 4), da, S(1, 4), db);
        c[n++] = mk(op, 2, S(3, 2, 1, 4), da, S(2, 3, 1), db);
        c[n++] = mk(op, 2, S(1, 5), da, S(0), db);
        c[n++] = mk(op, 2, S(0), da, S(2, 4, 5), db);
        c[n++] = mk(op, 2, S(4, 2, 3, 1, 4), da, S(4, 1, 3, 5, 1), db);
        c[n++] = mk(op, 2, S(2, 3000, 70), da, S(1, 70), db);
        c[n++] = mk(op, 2, S(2, 70, 1), da, S(2, 1, 900), db);
        if (op == BS_OP_ADD || op == BS_OP_MUL) /* an integer operand, read as numbers */
            c[n++] = mk(op, 2, S(2, 3, 4), da, S(1, 4), D_SMALLINT);
        break;
    }
#define EW1_CASE(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS) case BS_OP_##ID:
        BS_EW1_OPS(EW1_CASE) /* every unary op of ew_math.h, its domain from its flags */
#undef EW1_CASE
    {
        int fl = ew1_flags[op];
        dom d = fl & BS_EW_POS ? D_POS : fl & BS_EW_KINK ? D_AWAY0 : D_ANY;
        c[n++] = mk(op, 1, S(2, 3, 4), d, S(0), D_ANY);
        c[n++] = mk(op, 1, S(4, 2, 3, 4, 5), d, S(0), D_ANY);
        c[n++] = mk(op, 1, S(0), d, S(0), D_ANY);
        c[n++] = mk(op, 1, S(1, 5000), d, S(0), D_ANY);
        c[n] = mk(op, 1, S(2, 3, 4), d, S(0), D_ANY); /* and at the default attributes */
        c[n++].attr = bs_attr_default(op);
        break;
    }
    case BS_OP_SELECT:
    case BS_OP_SLICE:
    case BS_OP_INDEX_SELECT:
        c[n++] = mk_ix(op, S(3, 3, 5, 4), S(1, 7), 0, -1, BS_SLICE_NO_STOP, 1);
        c[n++] = mk_ix(op, S(3, 3, 5, 4), S(1, 7), 1, 2, 5, 2);
        c[n++] = mk_ix(op, S(3, 3, 5, 4), S(1, 7), -1, 0, -1, 3);
        c[n++] = mk_ix(op, S(4, 2, 3, 4, 5), S(0), 2, -4, BS_SLICE_NO_STOP, 1);
        c[n++] = mk_ix(op, S(2, 3000, 70), S(1, 500), 1, 7, 2990, 4);
        c[n++] = mk_ix(op, S(1, 6), S(1, 6), 0, -6, 100, 1);
        break;
    case BS_OP_CAT: /* along each dim, negative ones too, and long rows */
        c[n] = mk(op, 2, S(3, 2, 3, 4), D_ANY, S(3, 2, 5, 4), D_ANY);
        c[n++].attr.dim = 1;
        c[n] = mk(op, 2, S(2, 3, 4), D_ANY, S(2, 2, 4), D_ANY);
        c[n++].attr.dim = 0;
        c[n] = mk(op, 2, S(2, 2, 3), D_ANY, S(2, 2, 7), D_ANY);
        c[n++].attr.dim = -1;
        c[n] = mk(op, 2, S(1, 5), D_ANY, S(1, 1), D_ANY);
        c[n++].attr.dim = 0;
        c[n] = mk(op, 2, S(3, 2, 300, 70), D_ANY, S(3, 2, 300, 30), D_ANY);
        c[n++].attr.dim = 2;
        c[n] = mk(op, 2, S(2, 3000, 70), D_ANY, S(2, 500, 70), D_ANY);
        c[n++].attr.dim = -2;
        break;
    case BS_OP_WHERE:
        c[n++] = mk3(op, S(2, 3, 4), D_MASK, S(2, 3, 4), D_ANY, S(2, 3, 4), D_ANY);
        c[n++] = mk3(op, S(1, 4), D_MASK, S(3, 2, 3, 4), D_ANY, S(0), D_ANY);
        c[n++] = mk3(op, S(3, 2, 1, 4), D_MASK, S(2, 3, 1), D_ANY, S(1, 4), D_ANY);
        c[n++] = mk3(op, S(2, 3000, 1), D_MASK, S(1, 70), D_ANY, S(2, 3000, 70), D_ANY);
        c[n] = mk3(op, S(2, 3, 4), D_MASK, S(1, 4), D_ANY, S(2, 3, 1), D_ANY);
        c[n++].ints[0] = true; /* an integer mask, converted to numbers */
        break;
    case BS_OP_MASKED_FILL:
        c[n++] = mk3(op, S(2, 3, 4), D_ANY, S(2, 3, 4), D_MASK, S(0), D_ANY);
        c[n++] = mk3(op, S(3, 2, 3, 4), D_ANY, S(1, 4), D_MASK, S(0), D_ANY);
        c[n++] = mk3(op, S(1, 4), D_ANY, S(2, 3, 4), D_MASK, S(0), D_ANY);
        c[n++] = mk3(op, S(2, 500, 70), D_ANY, S(2, 500, 1), D_MASK, S(0), D_ANY);
        break;
    case BS_OP_MATMUL:
        c[n++] = mk(op, 2, S(2, 3, 4), D_ANY, S(2, 4, 5), D_ANY);
        c[n++] = mk(op, 2, S(1, 4), D_ANY, S(2, 4, 5), D_ANY);
        c[n++] = mk(op, 2, S(2, 3, 4), D_ANY, S(1, 4), D_ANY);
        c[n++] = mk(op, 2, S(1, 4), D_ANY, S(1, 4), D_ANY);
        c[n++] = mk(op, 2, S(2, 37, 65), D_ANY, S(2, 65, 19), D_ANY);
        c[n++] = mk(op, 2, S(3, 2, 3, 4), D_ANY, S(2, 4, 5), D_ANY);       /* b folds */
        c[n++] = mk(op, 2, S(3, 2, 3, 4), D_ANY, S(3, 2, 4, 5), D_ANY);    /* strided batch */
        c[n++] = mk(op, 2, S(1, 4), D_ANY, S(3, 2, 4, 5), D_ANY);          /* a shared */
        c[n++] = mk(op, 2, S(2, 3, 4), D_ANY, S(3, 2, 4, 5), D_ANY);       /* a shared, 2-D */
        c[n++] = mk(op, 2, S(4, 2, 1, 3, 4), D_ANY, S(3, 3, 4, 5), D_ANY); /* batch broadcast */
        c[n++] = mk(op, 2, S(3, 2, 3, 4), D_ANY, S(1, 4), D_ANY);
        break;
    case BS_OP_PERMUTE: /* the head split of attention, k.transpose(-2, -1), a 0-d one, long rows */
        c[n] = mk(op, 1, S(4, 2, 3, 4, 5), D_ANY, S(0), D_ANY);
        c[n++].attr.shape = S(4, 0, 2, 1, 3);
        c[n] = mk(op, 1, S(4, 2, 3, 4, 5), D_ANY, S(0), D_ANY);
        c[n++].attr.shape = S(4, 0, 1, -1, -2);
        c[n] = mk(op, 1, S(3, 2, 3, 4), D_ANY, S(0), D_ANY);
        c[n++].attr.shape = S(3, 2, 0, 1);
        c[n] = mk(op, 1, S(0), D_ANY, S(0), D_ANY);
        c[n++].attr.shape = S(0);
        c[n] = mk(op, 1, S(4, 2, 300, 3, 70), D_ANY, S(0), D_ANY);
        c[n++].attr.shape = S(4, 0, 2, 1, 3);
        c[n] = mk(op, 1, S(2, 300, 70), D_ANY, S(0), D_ANY);
        c[n++].attr.shape = S(2, 1, 0);
        break;
    case BS_OP_TRIL:
    case BS_OP_TRIU: /* the diagonal (attr.start) on, above and below the main one; batches */
        c[n] = mk(op, 1, S(2, 5, 5), D_ANY, S(0), D_ANY);
        c[n++].attr.start = 0;
        c[n] = mk(op, 1, S(3, 2, 4, 6), D_ANY, S(0), D_ANY);
        c[n++].attr.start = 1;
        c[n] = mk(op, 1, S(4, 2, 3, 6, 4), D_ANY, S(0), D_ANY);
        c[n++].attr.start = -2;
        c[n] = mk(op, 1, S(3, 4, 300, 300), D_ANY, S(0), D_ANY);
        c[n++].attr.start = 0;
        break;
    case BS_OP_TRANSPOSE:
        c[n++] = mk(op, 1, S(2, 3, 4), D_ANY, S(0), D_ANY);
        c[n++] = mk(op, 1, S(3, 2, 3, 4), D_ANY, S(0), D_ANY);
        c[n++] = mk(op, 1, S(4, 2, 3, 4, 5), D_ANY, S(0), D_ANY);
        c[n++] = mk(op, 1, S(1, 5), D_ANY, S(0), D_ANY);
        c[n++] = mk(op, 1, S(0), D_ANY, S(0), D_ANY);
        c[n++] = mk(op, 1, S(2, 300, 70), D_ANY, S(0), D_ANY);
        break;
    case BS_OP_RESHAPE:
        c[n] = mk(op, 1, S(2, 3, 4), D_ANY, S(0), D_ANY);
        c[n++].attr.shape = S(2, 2, 6);
        c[n] = mk(op, 1, S(3, 2, 3, 4), D_ANY, S(0), D_ANY);
        c[n++].attr.shape = S(2, 4, 6);
        c[n] = mk(op, 1, S(1, 5), D_ANY, S(0), D_ANY);
        c[n++].attr.shape = S(3, 1, 5, 1);
        break;
    case BS_OP_SUM:
    case BS_OP_MEAN:
    case BS_OP_MAX:
        c[n++] = mk_dim(op, S(2, 3, 4), D_ANY, BS_DIM_ALL, false);
        c[n++] = mk_dim(op, S(2, 3, 4), D_ANY, 0, false);
        c[n++] = mk_dim(op, S(2, 3, 4), D_ANY, 1, true);
        c[n++] = mk_dim(op, S(3, 2, 3, 4), D_ANY, 1, false);
        c[n++] = mk_dim(op, S(4, 2, 3, 4, 5), D_ANY, -1, false);
        c[n++] = mk_dim(op, S(4, 2, 3, 4, 5), D_ANY, -3, true);
        c[n++] = mk_dim(op, S(2, 5000, 40), D_ANY, 0, false);
        c[n++] = mk_dim(op, S(2, 40, 5000), D_ANY, -1, false);
        c[n++] = mk_dim(op, S(1, 300000), D_ANY, BS_DIM_ALL, false);
        c[n++] = mk_dim(op, S(1, 7), D_ANY, 0, false);
        c[n++] = mk_dim(op, S(0), D_ANY, BS_DIM_ALL, false);
        c[n++] = mk_dim(op, S(3, 3, 30000, 2), D_ANY, 1, false);
        break;
    case BS_OP_SOFTMAX:
    case BS_OP_LOG_SOFTMAX:
        c[n++] = mk_dim(op, S(2, 3, 5), D_ANY, -1, false);
        c[n++] = mk_dim(op, S(2, 3, 5), D_ANY, 0, false);
        c[n++] = mk_dim(op, S(3, 2, 3, 4), D_ANY, 1, false);
        c[n++] = mk_dim(op, S(1, 7), D_ANY, 0, false);
        c[n++] = mk_dim(op, S(2, 100, 300), D_ANY, -1, false);
        c[n++] = mk_dim(op, S(2, 4, 100), D_ANY, BS_DIM_ALL, false);
        break;
    case BS_OP_LAYERNORM:
        c[n++] = mk(op, 1, S(2, 3, 5), D_ANY, S(0), D_ANY);
        c[n++] = mk(op, 1, S(3, 2, 3, 8), D_ANY, S(0), D_ANY);
        c[n++] = mk(op, 1, S(2, 64, 100), D_ANY, S(0), D_ANY);
        c[n++] = mk(op, 1, S(1, 7), D_ANY, S(0), D_ANY);
        break;
    case BS_OP_MSE:
        c[n++] = mk(op, 2, S(2, 3, 4), D_ANY, S(2, 3, 4), D_ANY);
        c[n++] = mk(op, 2, S(1, 10), D_ANY, S(1, 10), D_ANY);
        c[n++] = mk(op, 2, S(3, 2, 3, 4), D_ANY, S(2, 3, 4), D_ANY);
        c[n++] = mk(op, 2, S(0), D_ANY, S(0), D_ANY);
        c[n++] = mk(op, 2, S(2, 500, 40), D_ANY, S(2, 500, 40), D_ANY);
        break;
    case BS_OP_BCE:
    case BS_OP_BCE_LOGITS: {
        dom da = op == BS_OP_BCE ? D_PROB : D_ANY;
        c[n++] = mk(op, 2, S(2, 3, 4), da, S(2, 3, 4), D_UNIT);
        c[n++] = mk(op, 2, S(1, 10), da, S(1, 10), D_UNIT);
        c[n++] = mk(op, 2, S(2, 500, 40), da, S(2, 500, 40), D_UNIT);
        break;
    }
    case BS_OP_CROSS_ENTROPY:
        c[n++] = mk(op, 2, S(2, 4, 5), D_ANY, S(1, 4), D_CLASS);
        c[n++] = mk(op, 2, S(1, 5), D_ANY, S(0), D_CLASS);
        c[n++] = mk(op, 2, S(3, 2, 5, 3), D_ANY, S(2, 2, 3), D_CLASS);
        c[n++] = mk(op, 2, S(2, 256, 10), D_ANY, S(1, 256), D_CLASS_IGN);
        c[n++] = mk(op, 2, S(2, 64, 1000), D_ANY, S(1, 64), D_CLASS);
        c[n++] = mk(op, 2, S(2, 4, 5), D_ANY, S(2, 4, 5), D_UNIT); /* class probabilities */
        break;
    case BS_OP_COUNT:
    case BS_OP_LEAF:
        break;
    }
    return n;
}

/* ==== One case on both engines ==== */

typedef struct {
    double fwd, vjp; /* worst errors seen */
    int cases;
    bool fail;
    char why[240];
} cell;

static void cell_fail(cell *cl, const char *fmt, ...)
{
    va_list ap;
    if (cl->fail)
        return;
    cl->fail = true;
    va_start(ap, fmt);
    vsnprintf(cl->why, sizeof cl->why, fmt, ap);
    va_end(ap);
}

static const char *case_str(const gcase *c, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < c->nin && k < len; i++) {
        char a[64];
        k += (size_t)snprintf(buf + k, len - k, "%s%s%s", i ? ", " : "", bs_shape_str(&c->sh[i], a, sizeof a),
                              c->ints[i] ? " int" : "");
    }
    return buf;
}

static void *dev_upload(bs_backend *gb, const double *x, int64_t n, bs_dtype t, bs_status *st)
{
    void *p = gb->alloc(gb, (size_t)(n > 0 ? n : 1) * dev_size(t));
    if (!p) {
        *st = BS_ERR_NOMEM;
        return NULL;
    }
    *st = gb->upload(gb, p, x, n, t);
    return p;
}

static void run_case(bs_backend *gb, bs_op op, const gcase *gc, bs_dtype t, cell *cl)
{
    const bs_op_info *info = &bs_ops[op];
    bs_tensor in[BS_MAX_INPUTS];
    bs_dtype dts[BS_MAX_INPUTS];
    bs_shape shp[BS_MAX_INPUTS];
    void *din_dev[BS_MAX_INPUTS] = {NULL};
    char err[256], cs[160];
    bs_status st = BS_OK;
    int64_t nclass = gc->sh[0].ndim == 0 ? 1 : (gc->sh[0].ndim == 1 ? gc->sh[0].d[0] : gc->sh[0].d[1]);
    if (op == BS_OP_INDEX_SELECT) { /* the size of the dim indexed */
        int d = gc->attr.dim < 0 ? gc->attr.dim + gc->sh[0].ndim : gc->attr.dim;
        nclass = gc->sh[0].ndim ? gc->sh[0].d[d] : 1;
    }
    memset(in, 0, sizeof in);
    case_str(gc, cs, sizeof cs);
    for (int i = 0; i < gc->nin; i++) {
        dts[i] = gc->ints[i] ? BS_I64 : t;
        shp[i] = gc->sh[i];
        in[i].dtype = dts[i];
        in[i].shape = gc->sh[i];
        in[i].data = gen(bs_shape_numel(&gc->sh[i]), gc->dm[i], nclass, gc->ints[i] ? BS_F64 : t);
    }
    bs_shape os;
    bs_tensor out = {t, {0, {0}}, NULL}, g = {t, {0, {0}}, NULL}, ref = {t, {0, {0}}, NULL};
    double *got = NULL;
    void *out_dev = NULL, *g_dev = NULL, *d_dev = NULL;
    err[0] = 0;
    if (info->shape(shp, dts, &gc->attr, &os, err, sizeof err) != BS_OK) {
        cell_fail(cl, "%s: the CPU rejects the case: %s", cs, err);
        goto done;
    }
    int64_t no = bs_shape_numel(&os);
    out.shape = g.shape = os;
    out.data = calloc((size_t)(no > 0 ? no : 1), sizeof(double));
    got = calloc((size_t)(no > 0 ? no : 1), sizeof(double));
    if (info->fwd(in, &gc->attr, &out, err, sizeof err) != BS_OK) {
        cell_fail(cl, "%s: CPU forward failed: %s", cs, err);
        goto done;
    }

    /* forward */
    bs_exec e;
    memset(&e, 0, sizeof e);
    e.op = op;
    e.attr = gc->attr;
    e.nin = gc->nin;
    e.dtype = t;
    e.out_shape = os;
    for (int i = 0; i < gc->nin; i++) {
        e.in[i] = din_dev[i] = dev_upload(gb, in[i].data, bs_shape_numel(&shp[i]), dts[i], &st);
        e.in_shape[i] = shp[i];
        e.in_dtype[i] = dts[i];
        if (st != BS_OK) {
            cell_fail(cl, "%s: upload: %s", cs, bs_gpu_errmsg(gb));
            goto done;
        }
    }
    e.out = out_dev = gb->alloc(gb, (size_t)(no > 0 ? no : 1) * dev_size(t));
    if (!out_dev || (st = gb->forward(gb, &e)) != BS_OK || (st = gb->download(gb, got, out_dev, no, t)) != BS_OK) {
        cell_fail(cl, "%s: forward: status %d: %s", cs, (int)st, bs_gpu_errmsg(gb));
        goto done;
    }
    double ef = rel_err(got, out.data, no);
    cl->fwd = ef > cl->fwd ? ef : cl->fwd;
    if (!(ef <= tol_of(t)))
        cell_fail(cl, "%s: forward error %.3g", cs, ef);
    for (int64_t k = 0; k < no; k++) /* what the engine keeps: the output in the dtype */
        out.data[k] = bs_dtype_round(t, out.data[k]);

    /* every VJP, into zeros (the contribution alone) and into random values (accumulation) */
    g.data = gen(no, D_ANY, 1, t);
    g_dev = dev_upload(gb, g.data, no, t, &st);
    if (st != BS_OK) {
        cell_fail(cl, "%s: upload g: %s", cs, bs_gpu_errmsg(gb));
        goto done;
    }
    for (int i = 0; i < gc->nin; i++) {
        if (!info->deriv[i] || dts[i] == BS_I64)
            continue;
        int64_t ni = bs_shape_numel(&shp[i]);
        for (int pass = 0; pass < 2; pass++) {
            ref.shape = shp[i];
            ref.data = pass ? gen(ni, D_ANY, 1, t) : calloc((size_t)(ni > 0 ? ni : 1), sizeof(double));
            double *gi = calloc((size_t)(ni > 0 ? ni : 1), sizeof(double));
            d_dev = dev_upload(gb, ref.data, ni, t, &st);
            info->vjp(in, &out, &gc->attr, &g, i, &ref);
            if (st == BS_OK)
                st = gb->vjp(gb, &e, i, g_dev, d_dev);
            if (st == BS_OK)
                st = gb->download(gb, gi, d_dev, ni, t);
            if (st != BS_OK) {
                cell_fail(cl, "%s: vjp %d: status %d: %s", cs, i, (int)st, bs_gpu_errmsg(gb));
            } else {
                double ev = rel_err(gi, ref.data, ni);
                cl->vjp = ev > cl->vjp ? ev : cl->vjp;
                if (!(ev <= tol_of(t)))
                    cell_fail(cl, "%s: vjp %d (%s) error %.3g", cs, i, pass ? "accumulating" : "from zero", ev);
            }
            gb->free(gb, d_dev);
            d_dev = NULL;
            free(gi);
            free(ref.data);
            ref.data = NULL;
        }
    }
    cl->cases++;
done:
    for (int i = 0; i < gc->nin; i++) {
        free(in[i].data);
        gb->free(gb, din_dev[i]);
    }
    gb->free(gb, out_dev);
    gb->free(gb, g_dev);
    free(out.data);
    free(g.data);
    free(got);
}

/* ==== Every op ==== */

static const bs_dtype dtypes[] = {BS_F32, BS_BF16, BS_F64};
#define NDT 3

static int test_ops(bs_backend *gb)
{
    int failed = 0;
    printf("%-16s %5s | %-21s | %-21s | %-21s | %s\n", "op", "cases", "f32 fwd / vjp", "bf16 fwd / vjp",
           "f64 fwd / vjp", "result");
    for (int op = 0; op < BS_OP_COUNT; op++) {
        gcase cs[MAXC];
        int nc = cases_for((bs_op)op, cs);
        cell cl[NDT];
        memset(cl, 0, sizeof cl);
        for (int d = 0; d < NDT; d++) {
            if (!gb->supports(gb, (bs_op)op, dtypes[d])) {
                cell_fail(&cl[d], "the backend does not support it in %s", bs_dtype_name(dtypes[d]));
                continue;
            }
            if (nc == 0)
                cell_fail(&cl[d], "this test has no case for it");
            for (int k = 0; k < nc; k++)
                run_case(gb, (bs_op)op, &cs[k], dtypes[d], &cl[d]);
        }
        bool ok = !cl[0].fail && !cl[1].fail && !cl[2].fail;
        printf("%-16s %5d |", bs_ops[op].name, nc);
        for (int d = 0; d < NDT; d++)
            printf(" %9.2e / %9.2e |", cl[d].fwd, cl[d].vjp);
        printf(" %s\n", ok ? "ok" : "FAIL");
        for (int d = 0; d < NDT; d++)
            if (cl[d].fail)
                printf("    %s: %s\n", bs_dtype_name(dtypes[d]), cl[d].why);
        failed += !ok;
    }
    return failed;
}

/* ==== Transfers, fill, accumulate ==== */

static int test_buffers(bs_backend *gb)
{
    int failed = 0;
    const int64_t n = 1000;
    bs_dtype all[] = {BS_F32, BS_BF16, BS_F64, BS_I64};
    for (int d = 0; d < 4; d++) {
        bs_dtype t = all[d];
        bs_status st;
        double *x = gen(n, t == BS_I64 ? D_SMALLINT : D_ANY, 1, BS_F64), *y = malloc(sizeof(double) * n);
        void *p = dev_upload(gb, x, n, t, &st);
        bool ok = st == BS_OK && gb->download(gb, y, p, n, t) == BS_OK;
        for (int64_t i = 0; ok && i < n; i++)
            ok = y[i] == bs_dtype_round(t, x[i]);
        ok = ok && gb->fill(gb, p, 3.0, n, t) == BS_OK && gb->download(gb, y, p, n, t) == BS_OK;
        for (int64_t i = 0; ok && i < n; i++)
            ok = y[i] == 3.0;
        if (t != BS_I64) { /* p = 0.3; p += x */
            void *q = dev_upload(gb, x, n, t, &st);
            ok = ok && st == BS_OK && gb->fill(gb, p, 0.3, n, t) == BS_OK && gb->accumulate(gb, p, q, n, t) == BS_OK &&
                 gb->download(gb, y, p, n, t) == BS_OK;
            double *want = malloc(sizeof(double) * n);
            for (int64_t i = 0; i < n; i++)
                want[i] = bs_dtype_round(t, x[i]) + bs_dtype_round(t, 0.3);
            ok = ok && rel_err(y, want, n) <= tol_of(t);
            free(want);
            gb->free(gb, q);
        } else { /* an index that is not an int32 */
            double bad = 2.5;
            ok = ok && gb->upload(gb, p, &bad, 1, t) == BS_ERR_VALUE;
        }
        printf("buffers %-5s upload/download/fill/accumulate: %s\n", bs_dtype_name(t), ok ? "ok" : "FAIL");
        failed += !ok;
        gb->free(gb, p);
        free(x);
        free(y);
    }
    return failed;
}

/* ==== Value errors ==== */

static int test_errors(bs_backend *gb)
{
    int failed = 0;
    bs_status st;
    double logits[6] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, cls[2] = {1, 3}, p[2] = {0.5, 1.5}, t[2] = {0, 1};
    bs_exec e;
    memset(&e, 0, sizeof e);
    e.op = BS_OP_CROSS_ENTROPY;
    e.attr = bs_attr_default(e.op);
    e.nin = 2;
    e.dtype = BS_F32;
    e.in_shape[0] = S(2, 2, 3);
    e.in_shape[1] = S(1, 2);
    e.in_dtype[0] = BS_F32;
    e.in_dtype[1] = BS_I64;
    e.in[0] = dev_upload(gb, logits, 6, BS_F32, &st);
    e.in[1] = dev_upload(gb, cls, 2, BS_I64, &st);
    e.out = gb->alloc(gb, 4);
    st = gb->forward(gb, &e);
    bool ok = st == BS_ERR_VALUE && strstr(bs_gpu_errmsg(gb), "Target 3 is out of bounds");
    printf("cross_entropy with class 3 of 3: %s (%s)\n", ok ? "ok" : "FAIL", bs_gpu_errmsg(gb));
    failed += !ok;
    ok = gb->vjp(gb, &e, 1, e.out, (void *)e.in[1]) == BS_ERR_ARG;
    printf("cross_entropy VJP for the classes refused: %s\n", ok ? "ok" : "FAIL");
    failed += !ok;
    cls[1] = 2; /* the flag was cleared: a good call works again */
    ok = gb->upload(gb, (void *)e.in[1], cls, 2, BS_I64) == BS_OK && gb->forward(gb, &e) == BS_OK;
    printf("cross_entropy after the error: %s\n", ok ? "ok" : "FAIL");
    failed += !ok;
    gb->free(gb, (void *)e.in[0]);
    gb->free(gb, (void *)e.in[1]);

    e.op = BS_OP_BCE;
    e.in_shape[0] = e.in_shape[1] = S(1, 2);
    e.in_dtype[1] = BS_F32;
    e.in[0] = dev_upload(gb, p, 2, BS_F32, &st);
    e.in[1] = dev_upload(gb, t, 2, BS_F32, &st);
    ok = gb->forward(gb, &e) == BS_ERR_VALUE;
    printf("bce with p = 1.5: %s (%s)\n", ok ? "ok" : "FAIL", bs_gpu_errmsg(gb));
    failed += !ok;
    gb->free(gb, (void *)e.in[0]);
    gb->free(gb, (void *)e.in[1]);
    gb->free(gb, e.out);

    /* index_select of (2, 3) along dim 1 with index [-3, 3]: 3 is out of range */
    double ix[2] = {-3, 3};
    e.op = BS_OP_INDEX_SELECT;
    e.attr = bs_attr_default(e.op);
    e.attr.dim = 1;
    e.in_shape[0] = S(2, 2, 3);
    e.in_shape[1] = S(1, 2);
    e.out_shape = S(2, 2, 2);
    e.in_dtype[1] = BS_I64;
    e.in[0] = dev_upload(gb, logits, 6, BS_F32, &st);
    e.in[1] = dev_upload(gb, ix, 2, BS_I64, &st);
    e.out = gb->alloc(gb, 16);
    st = gb->forward(gb, &e);
    ok = st == BS_ERR_VALUE && strstr(bs_gpu_errmsg(gb), "index 3 is out of bounds for dimension 1 with size 3");
    printf("index_select with index 3 of 3: %s (%s)\n", ok ? "ok" : "FAIL", bs_gpu_errmsg(gb));
    failed += !ok;
    ix[1] = 2; /* the flag was cleared: a good call works, and -3 is the first column */
    double got[4];
    ok = gb->upload(gb, (void *)e.in[1], ix, 2, BS_I64) == BS_OK && gb->forward(gb, &e) == BS_OK &&
         gb->download(gb, got, e.out, 4, BS_F32) == BS_OK && got[0] == (double)(float)logits[0] &&
         got[1] == (double)(float)logits[2] && got[3] == (double)(float)logits[5];
    printf("index_select after the error: %s\n", ok ? "ok" : "FAIL");
    failed += !ok;
    gb->free(gb, (void *)e.in[0]);
    gb->free(gb, (void *)e.in[1]);
    gb->free(gb, e.out);
    return failed;
}

/* ==== Optimizer steps ==== */

/* torch.optim's single-tensor update in double, state and parameter rounded to t after each step */
static void opt_ref(const bs_opt_conf *cf, int64_t step, double *p, const double *g, double *m, double *v,
                    int64_t n, bs_dtype t)
{
    for (int64_t i = 0; i < n; i++) {
        double d = g[i] + (cf->weight_decay != 0 ? cf->weight_decay * p[i] : 0.0);
        if (cf->kind == BS_OPT_SGD) {
            if (cf->momentum != 0) {
                m[i] = bs_dtype_round(t, step == 1 ? d : cf->momentum * m[i] + (1 - cf->dampening) * d);
                d = cf->nesterov ? d + cf->momentum * m[i] : m[i];
            }
            p[i] = bs_dtype_round(t, p[i] - cf->lr * d);
        } else {
            m[i] = bs_dtype_round(t, cf->beta1 * m[i] + (1 - cf->beta1) * d);
            v[i] = bs_dtype_round(t, cf->beta2 * v[i] + (1 - cf->beta2) * d * d);
            double bc1 = 1 - pow(cf->beta1, (double)step), bc2 = 1 - pow(cf->beta2, (double)step);
            p[i] = bs_dtype_round(t, p[i] - cf->lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + cf->eps));
        }
    }
}

static int test_opt(bs_backend *gb)
{
    int failed = 0;
    bs_opt_conf confs[5];
    const char *names[5] = {"sgd", "sgd momentum dampening wd", "sgd nesterov", "adam", "adam wd"};
    confs[0] = bs_opt_defaults(BS_OPT_SGD);
    confs[0].lr = 0.1;
    confs[1] = confs[0];
    confs[1].momentum = 0.9;
    confs[1].dampening = 0.1;
    confs[1].weight_decay = 0.01;
    confs[2] = confs[0];
    confs[2].momentum = 0.9;
    confs[2].nesterov = true;
    confs[3] = bs_opt_defaults(BS_OPT_ADAM);
    confs[3].lr = 1e-2;
    confs[4] = confs[3];
    confs[4].weight_decay = 0.1;
    const int64_t n = 1000;
    for (int d = 0; d < NDT; d++) {
        bs_dtype t = dtypes[d];
        for (int k = 0; k < 5; k++) {
            bs_status st;
            double *p = gen(n, D_ANY, 1, t), *m = calloc(n, sizeof(double)), *v = calloc(n, sizeof(double));
            double *got = malloc(sizeof(double) * n);
            void *pd = dev_upload(gb, p, n, t, &st), *md = gb->alloc(gb, n * dev_size(t)), *vd = gb->alloc(gb, n * dev_size(t));
            bool ok = st == BS_OK && md && vd && gb->fill(gb, md, 0, n, t) == BS_OK && gb->fill(gb, vd, 0, n, t) == BS_OK;
            for (int64_t s = 1; ok && s <= 4; s++) {
                double *g = gen(n, D_ANY, 1, t);
                void *gd = dev_upload(gb, g, n, t, &st);
                ok = st == BS_OK && gb->opt_step(gb, &confs[k], s, pd, gd, md, vd, n, t) == BS_OK;
                opt_ref(&confs[k], s, p, g, m, v, n, t);
                gb->free(gb, gd);
                free(g);
            }
            ok = ok && gb->download(gb, got, pd, n, t) == BS_OK;
            double er = ok ? rel_err(got, p, n) : INFINITY;
            ok = ok && er <= tol_of(t);
            printf("opt_step %-5s %-26s error %9.2e: %s\n", bs_dtype_name(t), names[k], er, ok ? "ok" : "FAIL");
            failed += !ok;
            gb->free(gb, pd);
            gb->free(gb, md);
            gb->free(gb, vd);
            free(p);
            free(m);
            free(v);
            free(got);
        }
    }
    return failed;
}

/* ==== An MLP trained on both engines ====
 * X (64, 20) -> relu(X @ W1 + b1) -> @ W2 + b2 -> cross_entropy with classes y, SGD with momentum,
 * on the GPU (buffers, forward, vjp, accumulate, opt_step) and on the CPU reference (bs_ops). */

typedef struct {
    bs_shape s;
    bs_dtype t;
    double *h;  /* CPU value */
    double *gh; /* CPU grad */
    void *d;    /* GPU value */
    void *gd;   /* GPU grad */
} mval;

static bs_backend *mg;
static bs_status mst;

static void mval_init(mval *v, bs_shape s, bs_dtype t, const double *x)
{
    int64_t n = bs_shape_numel(&s);
    v->s = s;
    v->t = t;
    v->h = calloc((size_t)n, sizeof(double));
    v->gh = calloc((size_t)n, sizeof(double));
    if (x)
        memcpy(v->h, x, sizeof(double) * (size_t)n);
    v->d = dev_upload(mg, v->h, n, t, &mst);
    v->gd = mg->alloc(mg, (size_t)n * dev_size(t));
}

static void mval_free(mval *v)
{
    free(v->h);
    free(v->gh);
    mg->free(mg, v->d);
    mg->free(mg, v->gd);
}

static bs_exec mexec(bs_op op, mval *a, mval *b, mval *out)
{
    bs_exec e;
    memset(&e, 0, sizeof e);
    e.op = op;
    e.attr = bs_attr_default(op);
    e.nin = b ? 2 : 1;
    mval *in[2] = {a, b};
    for (int i = 0; i < e.nin; i++) {
        e.in[i] = in[i]->d;
        e.in_shape[i] = in[i]->s;
        e.in_dtype[i] = in[i]->t;
    }
    e.out = out->d;
    e.out_shape = out->s;
    e.dtype = BS_F32;
    return e;
}

static void mfwd(bs_op op, mval *a, mval *b, mval *out)
{
    bs_exec e = mexec(op, a, b, out);
    bs_tensor in[2] = {{a->t, a->s, a->h}, {b ? b->t : BS_F32, b ? b->s : a->s, b ? b->h : NULL}};
    bs_tensor o = {out->t, out->s, out->h};
    char err[200];
    bs_attr at = e.attr;
    bs_ops[op].fwd(in, &at, &o, err, sizeof err);
    for (int64_t k = 0; k < bs_shape_numel(&out->s); k++)
        out->h[k] = bs_dtype_round(BS_F32, out->h[k]);
    if (mst == BS_OK)
        mst = mg->forward(mg, &e);
}

/* grads of a (and b) += VJP given out's grad (grads zeroed before the pass) */
static void mvjp(bs_op op, mval *a, mval *b, mval *out)
{
    bs_exec e = mexec(op, a, b, out);
    bs_tensor in[2] = {{a->t, a->s, a->h}, {b ? b->t : BS_F32, b ? b->s : a->s, b ? b->h : NULL}};
    bs_tensor o = {out->t, out->s, out->h}, g = {out->t, out->s, out->gh};
    bs_attr at = e.attr;
    mval *v[2] = {a, b};
    for (int i = 0; i < e.nin; i++) {
        if (v[i]->t == BS_I64)
            continue;
        bs_tensor d = {v[i]->t, v[i]->s, v[i]->gh};
        bs_ops[op].vjp(in, &o, &at, &g, i, &d);
        for (int64_t k = 0; k < bs_shape_numel(&v[i]->s); k++)
            v[i]->gh[k] = bs_dtype_round(BS_F32, v[i]->gh[k]);
        if (mst == BS_OK)
            mst = mg->vjp(mg, &e, i, out->gd, v[i]->gd);
    }
}

static void mzero(mval *v)
{
    int64_t n = bs_shape_numel(&v->s);
    memset(v->gh, 0, sizeof(double) * (size_t)n);
    if (mst == BS_OK)
        mst = mg->fill(mg, v->gd, 0.0, n, v->t);
}

static int test_mlp(bs_backend *gb)
{
    enum { N = 64, D = 20, H = 32, C = 5, STEPS = 10 };
    mg = gb;
    mst = BS_OK;
    double *x = gen(N * D, D_ANY, 1, BS_F32), *y = gen(N, D_CLASS, C, BS_F64);
    double *w1 = gen(D * H, D_ANY, 1, BS_F32), *w2 = gen(H * C, D_ANY, 1, BS_F32);
    double *b1 = gen(H, D_ANY, 1, BS_F32), *b2 = gen(C, D_ANY, 1, BS_F32);
    for (int k = 0; k < D * H; k++)
        w1[k] = bs_dtype_round(BS_F32, w1[k] * 0.3);
    for (int k = 0; k < H * C; k++)
        w2[k] = bs_dtype_round(BS_F32, w2[k] * 0.3);
    mval X, Y, W1, B1, W2, B2, Hm, A, R, Z, Z2, L;
    mval_init(&X, S(2, N, D), BS_F32, x);
    mval_init(&Y, S(1, N), BS_I64, y);
    mval_init(&W1, S(2, D, H), BS_F32, w1);
    mval_init(&B1, S(1, H), BS_F32, b1);
    mval_init(&W2, S(2, H, C), BS_F32, w2);
    mval_init(&B2, S(1, C), BS_F32, b2);
    mval_init(&Hm, S(2, N, H), BS_F32, NULL);
    mval_init(&A, S(2, N, H), BS_F32, NULL);
    mval_init(&R, S(2, N, H), BS_F32, NULL);
    mval_init(&Z, S(2, N, C), BS_F32, NULL);
    mval_init(&Z2, S(2, N, C), BS_F32, NULL);
    mval_init(&L, S(0), BS_F32, NULL);
    mval *params[4] = {&W1, &B1, &W2, &B2}, *all[] = {&W1, &B1, &W2, &B2, &Hm, &A, &R, &Z, &Z2, &L};
    bs_opt_conf cf = bs_opt_defaults(BS_OPT_SGD);
    cf.lr = 0.1;
    cf.momentum = 0.9;
    void *mom[4];
    double *momh[4];
    for (int k = 0; k < 4; k++) {
        int64_t n = bs_shape_numel(&params[k]->s);
        mom[k] = gb->alloc(gb, (size_t)n * 4);
        momh[k] = calloc((size_t)n, sizeof(double));
        if (mst == BS_OK)
            mst = gb->fill(gb, mom[k], 0.0, n, BS_F32);
    }
    double worst = 0, first = 0, last = 0;
    for (int s = 1; s <= STEPS && mst == BS_OK; s++) {
        mfwd(BS_OP_MATMUL, &X, &W1, &Hm);
        mfwd(BS_OP_ADD, &Hm, &B1, &A);
        mfwd(BS_OP_RELU, &A, NULL, &R);
        mfwd(BS_OP_MATMUL, &R, &W2, &Z);
        mfwd(BS_OP_ADD, &Z, &B2, &Z2);
        mfwd(BS_OP_CROSS_ENTROPY, &Z2, &Y, &L);
        double lg = 0;
        if (mst == BS_OK)
            mst = gb->download(gb, &lg, L.d, 1, BS_F32);
        double e = fabs(lg - L.h[0]) / fabs(L.h[0]);
        worst = e > worst ? e : worst;
        if (s == 1)
            first = L.h[0];
        last = L.h[0];
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
            mzero(all[k]);
        double one = 1.0;
        L.gh[0] = 1.0;
        if (mst == BS_OK)
            mst = gb->upload(gb, L.gd, &one, 1, BS_F32);
        mvjp(BS_OP_CROSS_ENTROPY, &Z2, &Y, &L);
        mvjp(BS_OP_ADD, &Z, &B2, &Z2);
        mvjp(BS_OP_MATMUL, &R, &W2, &Z);
        mvjp(BS_OP_RELU, &A, NULL, &R);
        mvjp(BS_OP_ADD, &Hm, &B1, &A);
        mvjp(BS_OP_MATMUL, &X, &W1, &Hm);
        for (int k = 0; k < 4 && mst == BS_OK; k++) {
            int64_t n = bs_shape_numel(&params[k]->s);
            mst = gb->opt_step(gb, &cf, s, params[k]->d, params[k]->gd, mom[k], NULL, n, BS_F32);
            opt_ref(&cf, s, params[k]->h, params[k]->gh, momh[k], NULL, n, BS_F32);
        }
    }
    if (mst == BS_OK) { /* accumulate: W1.grad + W1.grad == 2 W1.grad */
        int64_t n = bs_shape_numel(&W1.s);
        double *a = malloc(sizeof(double) * n), *b = malloc(sizeof(double) * n);
        mst = gb->download(gb, a, W1.gd, n, BS_F32);
        if (mst == BS_OK)
            mst = gb->accumulate(gb, W1.gd, W1.gd, n, BS_F32);
        if (mst == BS_OK)
            mst = gb->download(gb, b, W1.gd, n, BS_F32);
        for (int64_t k = 0; k < n; k++)
            a[k] *= 2;
        if (mst == BS_OK && rel_err(b, a, n) > 1e-6)
            worst = INFINITY;
        free(a);
        free(b);
    }
    double pw = 0;
    for (int k = 0; k < 4 && mst == BS_OK; k++) {
        int64_t n = bs_shape_numel(&params[k]->s);
        double *got = malloc(sizeof(double) * n);
        mst = gb->download(gb, got, params[k]->d, n, BS_F32);
        double e = rel_err(got, params[k]->h, n);
        pw = e > pw ? e : pw;
        free(got);
    }
    bool ok = mst == BS_OK && worst <= 1e-3 && pw <= 1e-3 && last < first;
    printf("mlp f32 %d sgd steps: loss %.4f -> %.4f, loss error %9.2e, param error %9.2e: %s%s%s\n", STEPS, first,
           last, worst, pw, ok ? "ok" : "FAIL", mst != BS_OK ? " " : "", mst != BS_OK ? bs_gpu_errmsg(gb) : "");
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        mval_free(all[k]);
    mval_free(&X);
    mval_free(&Y);
    for (int k = 0; k < 4; k++) {
        gb->free(gb, mom[k]);
        free(momh[k]);
    }
    free(x);
    free(y);
    free(w1);
    free(w2);
    free(b1);
    free(b2);
    return !ok;
}

/* the plan feature "transposed operands" (supports_matmul_t): a replay plan on the GPU folds the
 * transposes its matmuls read (x @ W.T, W.T @ Y, A.T @ B.T) as the CPU backend does, and its values
 * and grads in f64 are the eager engine's */
static int test_plan_folds(bs_backend *gb)
{
    enum { N = 5, D = 4, H = 3 };
    bs_ctx *c = bs_ctx_new();
    double xd[N * D], wd[H * D], yd[N * H], ad[D * N], bd[H * D];
    for (int k = 0; k < N * D; k++) xd[k] = sin(0.7 * k + 0.3);
    for (int k = 0; k < H * D; k++) wd[k] = cos(0.4 * k) * 0.5, bd[k] = sin(1.3 * k);
    for (int k = 0; k < N * H; k++) yd[k] = cos(0.9 * k + 0.2);
    for (int k = 0; k < D * N; k++) ad[k] = sin(0.2 * k - 1);
    bs_shape sx = {2, {N, D}}, sw = {2, {H, D}}, sy = {2, {N, H}}, sa = {2, {D, N}};
    bs_id x = bs_leaf(c, xd, &sx, BS_F64, true), w = bs_leaf(c, wd, &sw, BS_F64, true);
    bs_id y = bs_leaf(c, yd, &sy, BS_F64, true), a = bs_leaf(c, ad, &sa, BS_F64, true);
    bs_id b = bs_leaf(c, bd, &sw, BS_F64, true);
    double vd[H * N];
    for (int k = 0; k < H * N; k++) vd[k] = cos(0.3 * k - 0.5);
    bs_shape sv = {2, {H, N}};
    bs_id v = bs_leaf(c, vd, &sv, BS_F64, true);
    bs_id z1 = bs_apply2(c, BS_OP_MATMUL, x, bs_apply1(c, BS_OP_TRANSPOSE, w));  /* x @ W.T: (N, H) */
    bs_id z2 = bs_apply2(c, BS_OP_MATMUL, bs_apply1(c, BS_OP_TRANSPOSE, b), v);  /* B.T @ V: (D, N) */
    bs_id z3 = bs_apply2(c, BS_OP_MATMUL, bs_apply1(c, BS_OP_TRANSPOSE, a),
                         bs_apply1(c, BS_OP_TRANSPOSE, b));                       /* A.T @ B.T: (N, H) */
    bs_id L = bs_apply2(c, BS_OP_ADD,
                        bs_apply1(c, BS_OP_SUM, bs_apply2(c, BS_OP_MUL, bs_apply2(c, BS_OP_ADD, z1, z3), y)),
                        bs_apply1(c, BS_OP_SUM, bs_apply2(c, BS_OP_MUL, z2, z2)));
    int failed = 0;
    if (L < 0) {
        printf("plan folds: building the graph: %s: FAIL\n", bs_errmsg(c));
        bs_ctx_free(c);
        return 1;
    }
    bs_backward(c, L, NULL, true);
    bs_plan_opts o = bs_plan_defaults();
    o.dtype = BS_F64;
    o.update = false;
    char err[256];
    bs_plan *p = bs_plan_new(c, L, gb, &o, err, sizeof err);
    int folded = 0;
    double worst = INFINITY;
    if (p && bs_plan_forward(p, NULL) == BS_OK && bs_plan_backward(p) == BS_OK) {
        for (int i = 0; i < bs_plan_node_count(p); i++) {
            bs_plan_node pn;
            bs_plan_node_get(p, i, &pn);
            folded += pn.folded;
        }
        worst = 0;
        bs_id ids[6] = {x, w, y, a, b, v};
        for (int k = 0; k < 6; k++) {
            const bs_node *nd = bs_node_get(c, ids[k]);
            int64_t m = bs_shape_numel(&nd->value.shape);
            double got[64];
            if (bs_plan_read(p, ids[k], true, got) != BS_OK) {
                worst = INFINITY;
                break;
            }
            double e = rel_err(got, nd->grad.data, m);
            worst = e > worst ? e : worst;
        }
    } else {
        printf("plan folds: %s\n", p ? bs_plan_errmsg(p) : err);
    }
    bool ok = folded >= 4 && worst <= 1e-12;
    printf("plan folds on %s: %d transposes read in place, grads differ from the eager engine by %9.2e: %s\n",
           gb->name, folded, worst, ok ? "ok" : "FAIL");
    failed += !ok;
    bs_plan_free(p);
    bs_ctx_free(c);
    return failed;
}

/* the plan feature "fused bias + activation" (supports_bias_act): for every activation ew_math.h
 * flags BS_EW_ACT, a plan of act(x @ W + b) on the GPU runs the pair as one kernel forward and
 * backward, and its grads in f64 are the eager engine's */
static int test_plan_fusions(bs_backend *gb)
{
    enum { N = 6, D = 4, H = 5 };
    static const bs_op acts[] = {
#define ACT_ID(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS) BS_OP_##ID,
        BS_EW1_OPS(ACT_ID)
#undef ACT_ID
    };
    static const int act_flags[] = {
#define ACT_FL(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS) (FLAGS),
        BS_EW1_OPS(ACT_FL)
#undef ACT_FL
    };
    int failed = 0, tried = 0;
    double worst = 0;
    for (size_t q = 0; q < sizeof acts / sizeof acts[0]; q++) {
        if (!(act_flags[q] & BS_EW_ACT))
            continue;
        tried++;
        bs_ctx *c = bs_ctx_new();
        double xd[N * D], wd[D * H], bd[H];
        for (int k = 0; k < N * D; k++) xd[k] = sin(0.7 * k + 0.3) * 2;
        for (int k = 0; k < D * H; k++) wd[k] = cos(0.4 * k) * 0.6;
        for (int k = 0; k < H; k++) bd[k] = sin(1.3 * k) * 0.5;
        bs_shape sx = {2, {N, D}}, sw = {2, {D, H}}, sb = {1, {H}};
        bs_id x = bs_leaf(c, xd, &sx, BS_F64, false), w = bs_leaf(c, wd, &sw, BS_F64, true);
        bs_id b = bs_leaf(c, bd, &sb, BS_F64, true);
        bs_id h = bs_apply1(c, acts[q], bs_apply2(c, BS_OP_ADD, bs_apply2(c, BS_OP_MATMUL, x, w), b));
        bs_id L = bs_apply1(c, BS_OP_SUM, bs_apply2(c, BS_OP_MUL, h, h));
        bool ok = L >= 0 && bs_backward(c, L, NULL, true) == BS_OK;
        bs_plan_opts o = bs_plan_defaults();
        o.dtype = BS_F64;
        o.update = false;
        char err[256] = "";
        bs_plan *p = ok ? bs_plan_new(c, L, gb, &o, err, sizeof err) : NULL;
        bool fwd = false, bwd = false;
        double e = INFINITY;
        if (p && bs_plan_forward(p, NULL) == BS_OK && bs_plan_backward(p) == BS_OK) {
            for (int i = 0; i < bs_plan_node_count(p); i++) {
                bs_plan_node pn;
                bs_plan_node_get(p, i, &pn);
                fwd |= pn.fused_fwd;
                bwd |= pn.fused_bwd;
            }
            e = 0;
            bs_id ids[2] = {w, b};
            for (int k = 0; k < 2; k++) {
                const bs_node *nd = bs_node_get(c, ids[k]);
                double got[64];
                int64_t m = bs_shape_numel(&nd->value.shape);
                if (bs_plan_read(p, ids[k], true, got) != BS_OK) {
                    e = INFINITY;
                    break;
                }
                double r = rel_err(got, nd->grad.data, m);
                e = r > e ? r : e;
            }
        }
        if (!(fwd && bwd && e <= 1e-12)) {
            printf("plan fusions on %s: %s: fused forward %d, backward %d, grads differ by %9.2e%s%s: FAIL\n",
                   gb->name, bs_ops[acts[q]].name, fwd, bwd, e, *err ? ": " : "", err);
            failed++;
        }
        worst = e > worst ? e : worst;
        bs_plan_free(p);
        bs_ctx_free(c);
    }
    printf("plan fusions on %s: %d activations fused after a bias add, grads differ from the eager engine by "
           "%9.2e: %s\n", gb->name, tried, worst, failed || tried < 7 ? "FAIL" : "ok");
    return failed + (tried < 7);
}

int main(void)
{
    bs_backend *gb = bs_gpu_backend();
    char err[256] = "";
    bs_status st = gb->open(gb, err, sizeof err);
    if (st != BS_OK) {
        printf("SKIP: %s\n", err);
        return st == BS_ERR_UNSUPPORTED ? 77 : 1;
    }
    printf("device: %s\n", gb->device);
    int failed = test_ops(gb);
    failed += test_buffers(gb);
    failed += test_errors(gb);
    failed += test_opt(gb);
    failed += test_mlp(gb);
    failed += test_plan_folds(gb);
    failed += test_plan_fusions(gb);
    if (gb->sync(gb) != BS_OK) {
        printf("sync: %s\n", bs_gpu_errmsg(gb));
        failed++;
    }
    gb->close(gb);
    printf("%s: %d failed\n", failed ? "FAIL" : "PASS", failed);
    return failed ? 1 : 0;
}

#endif
