/* tests/ops/test_ops.c: every op in ops.def checked against central differences in f64 (VJP of
 * <g, f(x)>, JVP along a random tangent, the adjoint identity <g, J v> = <J^T g, v>), against
 * PyTorch 1.13's numbers and error text, plus dtype rounding and the table's bookkeeping.
 * A plain C main: exit status 0 when every check passes. */
#include "backstep.h"
#include "ew_math.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Reporting ==== */
static int failures, checks;

#define CHECK(cond, ...)                                                                         \
    do {                                                                                         \
        checks++;                                                                                \
        if (!(cond)) {                                                                           \
            failures++;                                                                          \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                 \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
        }                                                                                        \
    } while (0)

/* ==== Random numbers (xorshift64*, fixed seed) ==== */
static uint64_t rng = 0x2545F4914F6CDD1Dull;

static double urand(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

static double urange(double lo, double hi) { return lo + (hi - lo) * urand(); }

/* ==== Shapes and attributes for the tables ==== */
#define SH0 {0, {0}}
#define SH1(a) {1, {a}}
#define SH2(a, b) {2, {a, b}}
#define SH3(a, b, c) {3, {a, b, c}}
#define SH4(a, b, c, d) {4, {a, b, c, d}}

#define A_ALL {.dim = BS_DIM_ALL}
#define A_ALLK {.dim = BS_DIM_ALL, .keepdim = true}
#define A_DIM(d) {.dim = (d)}
#define A_DIMK(d) {.dim = (d), .keepdim = true}
#define A_K(kv) {.dim = -1, .k = (kv)}

/* ==== Cases ==== */
/* where an input's values come from: chosen so every case is inside the op's domain and away
 * from points where it is not differentiable */
enum {
    D_ANY,      /* uniform (-2, 2) */
    D_POS,      /* uniform (0.3, 2.5) */
    D_AWAY0,    /* |x| in (0.2, 2), random sign */
    D_UNIT,     /* (0.05, 0.95): probabilities */
    D_T01,      /* [0, 1]: targets */
    D_DISTINCT, /* distinct values at least 0.1 apart (no ties for max) */
    D_CLASS,    /* class indices for cross_entropy: integers in [0, C) */
    D_PROBROW,  /* probability rows along dim 1 (soft cross_entropy targets) */
    D_INDEX,    /* indices into input 0 along attr.dim, in [-n, n) (repeats likely) */
    D_MASK,     /* a mask: 0 or a nonzero value (1, -2, 0.5) */
    D_FIXED     /* the case's fixed data */
};

typedef struct {
    int nin;
    bs_shape sh[BS_MAX_INPUTS];
    int dom[BS_MAX_INPUTS];
    bs_attr attr;
    bs_dtype dt1;                      /* dtype of input 1 (input 0 is f64) */
    const double *fixed[BS_MAX_INPUTS];
    bool no_fd;                        /* at a kink (ties): skip finite differences */
} op_case;

#define U(shape_, dom_, ...) {.nin = 1, .sh = {shape_}, .dom = {dom_}, .attr = __VA_ARGS__}
#define B(sa_, da_, sb_, db_) {.nin = 2, .sh = {sa_, sb_}, .dom = {da_, db_}, .attr = {.dim = -1}}

/* ---- elementwise ---- */
/* every unary op of ew_math.h: its domain from its flags, at its default attributes and at the
 * test ones (TK, TK2) */
#define EW1_DOM(FLAGS) ((FLAGS) & BS_EW_POS ? D_POS : (FLAGS) & BS_EW_KINK ? D_AWAY0 : D_ANY)
#define EW1_CASES(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                      \
    static const op_case c_ew_##fn[] = {                                                         \
        U(SH0, EW1_DOM(FLAGS), {.dim = -1, .k = KDEF, .k2 = K2DEF}),                             \
        U(SH1(7), EW1_DOM(FLAGS), {.dim = -1, .k = KDEF, .k2 = K2DEF}),                          \
        U(SH2(3, 4), EW1_DOM(FLAGS), {.dim = -1, .k = TK, .k2 = TK2}),                           \
        U(SH4(2, 1, 3, 2), EW1_DOM(FLAGS), {.dim = -1, .k = TK, .k2 = TK2}),                     \
    };
BS_EW1_OPS(EW1_CASES)
#undef EW1_CASES

#define BINARY_CASES(name, da, db)                                                               \
    static const op_case name[] = {                                                              \
        B(SH2(2, 3), da, SH2(2, 3), db),       B(SH2(2, 3), da, SH1(3), db),                     \
        B(SH2(2, 1), da, SH2(1, 3), db),       B(SH0, da, SH2(2, 3), db),                        \
        B(SH1(3), da, SH0, db),                B(SH3(2, 1, 3), da, SH2(4, 1), db),               \
        B(SH4(2, 1, 3, 1), da, SH2(3, 2), db), B(SH0, da, SH0, db),                              \
    }
/* every binary op of ew_math.h, its operands' domains from its flags */
#define EW2_CASES(ID, fn, FWD, VJP_A, VJP_B, FL, SAVED, CHECK, FLAGS)                            \
    BINARY_CASES(c_ew_##fn, (FLAGS) & BS_EW_POS ? D_POS : D_ANY,                                 \
                 (FLAGS) & BS_EW_B_NONZERO ? D_AWAY0 : D_ANY);
BS_EW2_OPS(EW2_CASES)
#undef EW2_CASES

/* ---- matmul, transpose, reshape ---- */
static const op_case c_matmul[] = {
    B(SH2(2, 3), D_ANY, SH2(3, 4), D_ANY),       B(SH1(3), D_ANY, SH1(3), D_ANY),
    B(SH2(2, 3), D_ANY, SH1(3), D_ANY),          B(SH1(3), D_ANY, SH2(3, 4), D_ANY),
    B(SH3(2, 2, 3), D_ANY, SH2(3, 4), D_ANY),    B(SH1(3), D_ANY, SH3(2, 3, 4), D_ANY),
    B(SH4(2, 1, 2, 3), D_ANY, SH3(3, 3, 2), D_ANY), B(SH3(2, 3, 4), D_ANY, SH1(4), D_ANY),
    B(SH2(1, 3), D_ANY, SH2(3, 1), D_ANY),       B(SH2(2, 3), D_ANY, SH4(2, 2, 3, 2), D_ANY),
};

static const op_case c_transpose[] = {
    U(SH0, D_ANY, {.dim = -1}),          U(SH1(3), D_ANY, {.dim = -1}),
    U(SH2(2, 3), D_ANY, {.dim = -1}),    U(SH3(2, 3, 4), D_ANY, {.dim = -1}),
    U(SH4(2, 1, 3, 2), D_ANY, {.dim = -1}),
};

/* permute: attr.shape holds the dims (negatives from the end); transpose(d0, d1) is a swap */
static const op_case c_permute[] = {
    U(SH0, D_ANY, {.shape = SH0}),                   U(SH1(3), D_ANY, {.shape = SH1(-1)}),
    U(SH2(2, 3), D_ANY, {.shape = SH2(1, 0)}),       U(SH3(2, 3, 4), D_ANY, {.shape = SH3(2, 0, 1)}),
    U(SH4(2, 3, 4, 5), D_ANY, {.shape = SH4(0, 2, 1, 3)}), /* attention's head split */
    U(SH4(2, 3, 4, 5), D_ANY, {.shape = SH4(0, 1, -1, -2)}), /* k.transpose(-2, -1) */
    U(SH4(2, 1, 3, 2), D_ANY, {.shape = SH4(3, 1, 0, 2)}),
};

/* tril, triu: the diagonal is attr.start */
static const op_case c_tri[] = {
    U(SH2(3, 3), D_ANY, {.start = 0}),       U(SH2(3, 4), D_ANY, {.start = 1}),
    U(SH2(4, 3), D_ANY, {.start = -1}),      U(SH3(2, 3, 3), D_ANY, {.start = 0}),
    U(SH4(2, 1, 4, 4), D_ANY, {.start = 2}), U(SH2(3, 3), D_ANY, {.start = -5}),
    U(SH2(2, 5), D_ANY, {.start = 7}),
};

static const op_case c_reshape[] = {
    U(SH2(2, 3), D_ANY, {.shape = SH2(3, 2)}),    U(SH1(6), D_ANY, {.shape = SH2(2, -1)}),
    U(SH3(2, 3, 2), D_ANY, {.shape = SH1(12)}),   U(SH0, D_ANY, {.shape = SH2(1, 1)}),
    U(SH2(2, 3), D_ANY, {.shape = SH1(-1)}),      U(SH1(1), D_ANY, {.shape = SH0}),
    U(SH2(4, 6), D_ANY, {.shape = SH4(2, -1, 3, 2)}),
};

/* ---- reductions ---- */
#define RED_CASES(name, dom)                                                                     \
    static const op_case name[] = {                                                              \
        U(SH2(2, 3), dom, A_ALL),        U(SH2(2, 3), dom, A_DIM(0)),                            \
        U(SH2(2, 3), dom, A_DIM(1)),     U(SH2(2, 3), dom, A_DIMK(-1)),                          \
        U(SH3(2, 3, 4), dom, A_DIM(1)),  U(SH3(2, 3, 4), dom, A_DIMK(-3)),                       \
        U(SH0, dom, A_DIM(0)),           U(SH0, dom, A_ALL),                                     \
        U(SH1(4), dom, A_DIMK(0)),       U(SH2(3, 2), dom, A_ALLK),                              \
        U(SH4(2, 1, 3, 2), dom, A_DIM(2)),                                                       \
    }
RED_CASES(c_red, D_ANY);

static const double ties5[] = {1, 3, 3, 0, 3};
static const double ties8[] = {1, 3, 3, 0, 2, 2, 1, 2};
static const op_case c_max[] = {
    U(SH2(2, 3), D_DISTINCT, A_ALL),       U(SH2(2, 3), D_DISTINCT, A_DIM(0)),
    U(SH2(2, 3), D_DISTINCT, A_DIM(1)),    U(SH2(2, 3), D_DISTINCT, A_DIMK(-1)),
    U(SH3(2, 3, 4), D_DISTINCT, A_DIM(1)), U(SH0, D_DISTINCT, A_DIM(0)),
    U(SH0, D_DISTINCT, A_ALL),             U(SH4(2, 1, 3, 2), D_DISTINCT, A_DIMK(2)),
    /* ties: no finite differences there (max is not differentiable), adjoint identity only;
       the values themselves are checked against PyTorch below */
    {.nin = 1, .sh = {SH1(5)}, .dom = {D_FIXED}, .attr = A_ALL, .fixed = {ties5}, .no_fd = true},
    {.nin = 1, .sh = {SH2(2, 4)}, .dom = {D_FIXED}, .attr = A_DIM(1), .fixed = {ties8},
     .no_fd = true},
};

/* ---- row ops ---- */
#define ROW_CASES(name)                                                                          \
    static const op_case name[] = {                                                              \
        U(SH2(2, 3), D_ANY, A_DIM(-1)),    U(SH2(2, 3), D_ANY, A_DIM(0)),                        \
        U(SH3(2, 3, 4), D_ANY, A_DIM(1)),  U(SH1(5), D_ANY, A_DIM(0)),                           \
        U(SH0, D_ANY, A_DIM(0)),           U(SH4(2, 2, 3, 2), D_ANY, A_DIM(-2)),                 \
        U(SH2(3, 4), D_ANY, A_ALL),                                                              \
    }
ROW_CASES(c_softmax);

static const op_case c_layernorm[] = {
    U(SH1(5), D_ANY, A_K(1e-5)),        U(SH2(2, 3), D_ANY, A_K(1e-5)),
    U(SH3(2, 3, 4), D_ANY, A_K(1e-5)),  U(SH2(3, 4), D_ANY, A_K(0.1)),
    U(SH4(2, 1, 2, 3), D_ANY, A_K(1e-5)),
};

/* ---- losses ---- */
static const op_case c_mse[] = {
    B(SH0, D_ANY, SH0, D_ANY),             B(SH1(4), D_ANY, SH1(4), D_ANY),
    B(SH2(2, 3), D_ANY, SH1(3), D_ANY),    B(SH2(2, 1), D_ANY, SH2(1, 3), D_ANY),
    B(SH3(2, 3, 2), D_ANY, SH3(2, 3, 2), D_ANY),
};

static const op_case c_bce[] = {
    B(SH0, D_UNIT, SH0, D_T01),            B(SH1(4), D_UNIT, SH1(4), D_T01),
    B(SH2(2, 3), D_UNIT, SH2(2, 3), D_T01),
};

static const op_case c_bce_logits[] = {
    B(SH0, D_ANY, SH0, D_T01),             B(SH1(4), D_ANY, SH1(4), D_T01),
    B(SH2(2, 3), D_ANY, SH2(2, 3), D_T01), B(SH3(2, 2, 2), D_ANY, SH3(2, 2, 2), D_T01),
};

static const double xent_ign[] = {-100, 1, 2};
static const op_case c_xent[] = {
    {.nin = 2, .sh = {SH2(4, 3), SH1(4)}, .dom = {D_ANY, D_CLASS}, .dt1 = BS_I64},
    {.nin = 2, .sh = {SH1(5), SH0}, .dom = {D_ANY, D_CLASS}, .dt1 = BS_I64},
    {.nin = 2, .sh = {SH3(2, 3, 2), SH2(2, 2)}, .dom = {D_ANY, D_CLASS}, .dt1 = BS_I64},
    {.nin = 2, .sh = {SH2(3, 4), SH1(3)}, .dom = {D_ANY, D_FIXED}, .dt1 = BS_I64,
     .fixed = {NULL, xent_ign}},
    {.nin = 2, .sh = {SH2(2, 3), SH2(2, 3)}, .dom = {D_ANY, D_PROBROW}, .dt1 = BS_F64},
    {.nin = 2, .sh = {SH1(4), SH1(4)}, .dom = {D_ANY, D_T01}, .dt1 = BS_F64},
};

/* ---- indexing ---- */
#define A_SEL(d, i) {.dim = (d), .start = (i)}
#define A_SL(d, a, b, s) {.dim = (d), .start = (a), .stop = (b), .step = (s)}
static const op_case c_select[] = {
    U(SH2(3, 4), D_ANY, A_SEL(0, 1)),        U(SH2(3, 4), D_ANY, A_SEL(1, -1)),
    U(SH3(2, 3, 4), D_ANY, A_SEL(-2, 2)),    U(SH1(5), D_ANY, A_SEL(0, -5)),
    U(SH4(2, 1, 3, 2), D_ANY, A_SEL(3, 0)),
};
static const op_case c_slice[] = {
    U(SH2(3, 4), D_ANY, A_SL(1, 1, 3, 1)),
    U(SH2(5, 2), D_ANY, A_SL(0, BS_SLICE_NO_START, BS_SLICE_NO_STOP, 2)),
    U(SH3(2, 5, 3), D_ANY, A_SL(-2, -4, 100, 2)),
    U(SH1(6), D_ANY, A_SL(0, -100, -2, 1)),
    U(SH2(3, 4), D_ANY, A_SL(1, 3, 1, 1)), /* empty */
    U(SH4(2, 3, 2, 2), D_ANY, A_SL(1, 1, BS_SLICE_NO_STOP, 5)),
};
#define IX(sa_, sb_, d_) {.nin = 2, .sh = {sa_, sb_}, .dom = {D_ANY, D_INDEX}, .attr = {.dim = (d_)}, .dt1 = BS_I64}
static const double ix_rep[] = {2, 0, 2, -1}; /* row 2 three times: their gradients add */
static const op_case c_index_select[] = {
    IX(SH2(3, 4), SH1(5), 0),     IX(SH2(3, 4), SH1(6), 1),    IX(SH3(2, 3, 4), SH0, -2),
    IX(SH4(2, 3, 1, 2), SH1(4), 1), IX(SH0, SH1(1), 0),        IX(SH2(3, 4), SH1(0), 1),
    {.nin = 2, .sh = {SH2(3, 4), SH1(4)}, .dom = {D_ANY, D_FIXED}, .attr = {.dim = 0},
     .dt1 = BS_I64, .fixed = {NULL, ix_rep}},
};
#define W3(sc, sa, sb) {.nin = 3, .sh = {sc, sa, sb}, .dom = {D_MASK, D_ANY, D_ANY}, .attr = {.dim = -1}}
static const op_case c_where[] = {
    W3(SH2(3, 4), SH2(3, 4), SH2(3, 4)), W3(SH1(4), SH2(3, 4), SH0),
    W3(SH2(3, 1), SH1(4), SH2(1, 4)),    W3(SH0, SH2(2, 3), SH2(2, 3)),
    W3(SH3(2, 1, 3), SH2(4, 1), SH1(3)), W3(SH0, SH0, SH0),
};
#define MF(sx, sm) {.nin = 3, .sh = {sx, sm, SH0}, .dom = {D_ANY, D_MASK, D_ANY}, .attr = {.dim = -1}}
static const op_case c_masked_fill[] = {
    MF(SH2(3, 4), SH2(3, 4)), MF(SH2(3, 4), SH1(4)), MF(SH1(4), SH2(3, 4)), MF(SH0, SH0),
    MF(SH3(2, 1, 3), SH2(4, 1)),
};

#define CAT2(sa_, sb_, d_) {.nin = 2, .sh = {sa_, sb_}, .dom = {D_ANY, D_ANY}, .attr = {.dim = (d_)}}
static const op_case c_cat[] = {
    CAT2(SH2(2, 3), SH2(4, 3), 0),       CAT2(SH2(2, 3), SH2(2, 1), 1),
    CAT2(SH3(2, 3, 4), SH3(2, 2, 4), -2), CAT2(SH1(3), SH1(5), -1),
    CAT2(SH4(2, 1, 3, 2), SH4(2, 1, 3, 3), 3), CAT2(SH2(3, 4), SH2(0, 4), 0),
};

/* ---- the per-op table: an op without an entry fails the test ---- */
typedef struct {
    const op_case *cases;
    int n;
} op_examples;
#define EX(arr) {arr, (int)(sizeof arr / sizeof arr[0])}

static const op_examples examples[BS_OP_COUNT] = {
#define EW2_ROW(ID, fn, FWD, VJP_A, VJP_B, FL, SAVED, CHECK, FLAGS) [BS_OP_##ID] = EX(c_ew_##fn),
    BS_EW2_OPS(EW2_ROW)
#undef EW2_ROW
#define EW1_ROW(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS) [BS_OP_##ID] = EX(c_ew_##fn),
    BS_EW1_OPS(EW1_ROW)
#undef EW1_ROW
    [BS_OP_MATMUL] = EX(c_matmul),    [BS_OP_TRANSPOSE] = EX(c_transpose),
    [BS_OP_RESHAPE] = EX(c_reshape),  [BS_OP_SUM] = EX(c_red),
    [BS_OP_MEAN] = EX(c_red),         [BS_OP_MAX] = EX(c_max),
    [BS_OP_SOFTMAX] = EX(c_softmax),  [BS_OP_LOG_SOFTMAX] = EX(c_softmax),
    [BS_OP_LAYERNORM] = EX(c_layernorm), [BS_OP_MSE] = EX(c_mse),
    [BS_OP_BCE] = EX(c_bce),          [BS_OP_BCE_LOGITS] = EX(c_bce_logits),
    [BS_OP_CROSS_ENTROPY] = EX(c_xent), [BS_OP_SELECT] = EX(c_select),
    [BS_OP_SLICE] = EX(c_slice),      [BS_OP_INDEX_SELECT] = EX(c_index_select),
    [BS_OP_WHERE] = EX(c_where),      [BS_OP_MASKED_FILL] = EX(c_masked_fill),
    [BS_OP_CAT] = EX(c_cat),          [BS_OP_PERMUTE] = EX(c_permute),
    [BS_OP_TRIL] = EX(c_tri),         [BS_OP_TRIU] = EX(c_tri),
};

/* ==== Running one op ==== */
typedef struct {
    const bs_op_info *op;
    bs_attr attr;
    int nin;
    bs_tensor in[BS_MAX_INPUTS];
    bs_tensor out;
    bs_tensor tmp;              /* scratch output for perturbed evaluations */
} run_t;

static void run_free(run_t *r)
{
    for (int i = 0; i < r->nin; i++)
        free(r->in[i].data);
    free(r->out.data);
    free(r->tmp.data);
}

static double *alloc_n(int64_t n)
{
    double *p = calloc((size_t)(n ? n : 1), sizeof(double));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* values of input i of a case */
static void fill_input(const op_case *c, int i, double *x, int64_t n)
{
    switch (c->dom[i]) {
    case D_ANY:
        for (int64_t j = 0; j < n; j++) x[j] = urange(-2, 2);
        break;
    case D_POS:
        for (int64_t j = 0; j < n; j++) x[j] = urange(0.3, 2.5);
        break;
    case D_AWAY0:
        for (int64_t j = 0; j < n; j++) x[j] = (urand() < 0.5 ? -1 : 1) * urange(0.2, 2);
        break;
    case D_UNIT:
        for (int64_t j = 0; j < n; j++) x[j] = urange(0.05, 0.95);
        break;
    case D_T01:
        for (int64_t j = 0; j < n; j++) x[j] = urand();
        break;
    case D_DISTINCT: /* a shuffled ladder 0.3 apart, jittered by < 0.1 */
        for (int64_t j = 0; j < n; j++) x[j] = (double)j;
        for (int64_t j = n - 1; j > 0; j--) {
            int64_t k = (int64_t)(urand() * (double)(j + 1));
            double t = x[j];
            x[j] = x[k];
            x[k] = t;
        }
        for (int64_t j = 0; j < n; j++) x[j] = 0.3 * x[j] - 0.15 * (double)n + urange(0, 0.1);
        break;
    case D_CLASS: {
        const bs_shape *z = &c->sh[0];
        int64_t C = z->d[z->ndim == 1 ? 0 : 1];
        for (int64_t j = 0; j < n; j++) x[j] = (double)(int64_t)(urand() * (double)C);
        break;
    }
    case D_PROBROW: { /* rows along dim 1 of a 2-D target summing to 1 */
        const bs_shape *t = &c->sh[i];
        int64_t R = t->d[0], C = t->d[1];
        for (int64_t r = 0; r < R; r++) {
            double s = 0;
            for (int64_t k = 0; k < C; k++) s += (x[r * C + k] = urange(0.1, 1));
            for (int64_t k = 0; k < C; k++) x[r * C + k] /= s;
        }
        break;
    }
    case D_INDEX: {
        const bs_shape *z = &c->sh[0];
        int dd = c->attr.dim < 0 ? c->attr.dim + z->ndim : c->attr.dim;
        int64_t m = z->ndim ? z->d[dd] : 1;
        for (int64_t j = 0; j < n; j++) x[j] = (double)(int64_t)(urand() * (double)(2 * m)) - (double)m;
        break;
    }
    case D_MASK: {
        static const double nz[] = {1, 1, -2, 0.5};
        for (int64_t j = 0; j < n; j++) x[j] = urand() < 0.4 ? 0.0 : nz[(int)(urand() * 4) & 3];
        break;
    }
    case D_FIXED:
        memcpy(x, c->fixed[i], sizeof(double) * (size_t)n);
        break;
    }
}

static bs_status run_setup(run_t *r, bs_op id, const op_case *c, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->op = &bs_ops[id];
    r->attr = c->attr;
    r->nin = c->nin;
    bs_dtype dt[BS_MAX_INPUTS] = {BS_F64, c->dt1, BS_F64};
    bs_shape out;
    bs_status st = r->op->shape(c->sh, dt, &r->attr, &out, err, errlen);
    if (st != BS_OK)
        return st;
    for (int i = 0; i < c->nin; i++) {
        int64_t n = bs_shape_numel(&c->sh[i]);
        r->in[i] = (bs_tensor){dt[i], c->sh[i], alloc_n(n)};
        fill_input(c, i, r->in[i].data, n);
    }
    r->out = (bs_tensor){BS_F64, out, alloc_n(bs_shape_numel(&out))};
    r->tmp = (bs_tensor){BS_F64, out, alloc_n(bs_shape_numel(&out))};
    return r->op->fwd(r->in, &r->attr, &r->out, err, errlen);
}

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

/* <g, f(x)> at the current inputs, through r->tmp */
static double eval_dot(run_t *r, const double *g)
{
    char err[256];
    bs_status st = r->op->fwd(r->in, &r->attr, &r->tmp, err, sizeof err);
    if (st != BS_OK) {
        CHECK(0, "%s: forward failed at a perturbed point: %s", r->op->name, err);
        return NAN;
    }
    return dot(g, r->tmp.data, bs_tensor_numel(&r->tmp));
}

static bool close_fd(double a, double n)
{
    return fabs(a - n) <= 1e-6 * fmax(fabs(a), fabs(n)) + 1e-7;
}

static bool close_tight(double a, double b, double rel)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b))
        return a == b;
    return fabs(a - b) <= rel * fmax(1.0, fmax(fabs(a), fabs(b)));
}

/* ==== The finite-difference checks for one case ==== */
static void check_case(bs_op id, int ci, const op_case *c)
{
    const double eps = 1e-6;
    char err[512] = "";
    run_t r;
    bs_status st = run_setup(&r, id, c, err, sizeof err);
    const char *name = bs_ops[id].name;
    CHECK(st == BS_OK, "%s case %d: setup failed (%d): %s", name, ci, (int)st, err);
    if (st != BS_OK) {
        run_free(&r);
        return;
    }
    int64_t nout = bs_tensor_numel(&r.out);
    double *g = alloc_n(nout);
    for (int64_t j = 0; j < nout; j++) g[j] = urange(-1, 1);
    bs_tensor gt = {BS_F64, r.out.shape, g};

    bool diff[BS_MAX_INPUTS] = {false};
    double *vjp[BS_MAX_INPUTS] = {NULL}, *v[BS_MAX_INPUTS] = {NULL};
    for (int i = 0; i < c->nin; i++) {
        diff[i] = r.op->deriv[i] != NULL && r.in[i].dtype != BS_I64;
        if (!diff[i])
            continue;
        int64_t n = bs_tensor_numel(&r.in[i]);
        /* (1) VJP: din starts at a random prior, so "+=" is checked too */
        double *prior = alloc_n(n);
        vjp[i] = alloc_n(n);
        for (int64_t j = 0; j < n; j++) vjp[i][j] = prior[j] = urange(-1, 1);
        bs_tensor din = {BS_F64, r.in[i].shape, vjp[i]};
        r.op->vjp(r.in, &r.out, &r.attr, &gt, i, &din);
        for (int64_t j = 0; j < n; j++) vjp[i][j] -= prior[j];
        free(prior);
        if (!c->no_fd) {
            for (int64_t j = 0; j < n; j++) {
                double x0 = r.in[i].data[j];
                r.in[i].data[j] = x0 + eps;
                double fp = eval_dot(&r, g);
                r.in[i].data[j] = x0 - eps;
                double fm = eval_dot(&r, g);
                r.in[i].data[j] = x0;
                double num = (fp - fm) / (2 * eps);
                CHECK(close_fd(vjp[i][j], num), "%s case %d: VJP input %d [%lld] = %.12g, central "
                      "difference %.12g", name, ci, i, (long long)j, vjp[i][j], num);
            }
        }
        v[i] = alloc_n(n);
        for (int64_t j = 0; j < n; j++) v[i][j] = urange(-1, 1);
    }

    /* (2) JVP along v (all differentiable inputs at once), written over garbage */
    bs_tensor din[BS_MAX_INPUTS];
    for (int i = 0; i < BS_MAX_INPUTS; i++)
        din[i] = (bs_tensor){BS_F64, i < c->nin ? r.in[i].shape : (bs_shape)SH0,
                             diff[i] ? v[i] : NULL};
    double *jv = alloc_n(nout);
    for (int64_t j = 0; j < nout; j++) jv[j] = NAN;
    bs_tensor jvt = {BS_F64, r.out.shape, jv};
    r.op->jvp(r.in, &r.out, &r.attr, din, &jvt);
    if (!c->no_fd) {
        double *fp = alloc_n(nout);
        for (int s = 1; s >= -1; s -= 2) {
            for (int i = 0; i < c->nin; i++)
                if (diff[i])
                    for (int64_t j = 0; j < bs_tensor_numel(&r.in[i]); j++)
                        r.in[i].data[j] += s * eps * v[i][j];
            r.op->fwd(r.in, &r.attr, &r.tmp, err, sizeof err);
            for (int64_t j = 0; j < nout; j++)
                fp[j] += s * r.tmp.data[j] / (2 * eps);
            for (int i = 0; i < c->nin; i++)
                if (diff[i])
                    for (int64_t j = 0; j < bs_tensor_numel(&r.in[i]); j++)
                        r.in[i].data[j] -= s * eps * v[i][j];
        }
        for (int64_t j = 0; j < nout; j++)
            CHECK(close_fd(jv[j], fp[j]), "%s case %d: JVP [%lld] = %.12g, central difference "
                  "%.12g", name, ci, (long long)j, jv[j], fp[j]);
        free(fp);
    }
    /* JVP is linear in the tangents: one input at a time (others NULL) adds up to the joint */
    int ndiff = 0;
    for (int i = 0; i < c->nin; i++) ndiff += diff[i];
    if (ndiff >= 2) {
        double *part = alloc_n(nout), *sum = alloc_n(nout);
        for (int i = 0; i < c->nin; i++) {
            if (!diff[i])
                continue;
            bs_tensor d1[BS_MAX_INPUTS];
            for (int k = 0; k < BS_MAX_INPUTS; k++) {
                d1[k] = din[k];
                if (k != i) d1[k].data = NULL;
            }
            bs_tensor pt = {BS_F64, r.out.shape, part};
            r.op->jvp(r.in, &r.out, &r.attr, d1, &pt);
            for (int64_t j = 0; j < nout; j++) sum[j] += part[j];
        }
        for (int64_t j = 0; j < nout; j++)
            CHECK(close_tight(sum[j], jv[j], 1e-12), "%s case %d: JVP not additive over inputs",
                  name, ci);
        free(part);
        free(sum);
    }
    /* no tangent at all: a zero output */
    {
        bs_tensor d0[BS_MAX_INPUTS];
        for (int k = 0; k < BS_MAX_INPUTS; k++) {
            d0[k] = din[k];
            d0[k].data = NULL;
        }
        double *z = alloc_n(nout);
        for (int64_t j = 0; j < nout; j++) z[j] = NAN;
        bs_tensor zt = {BS_F64, r.out.shape, z};
        r.op->jvp(r.in, &r.out, &r.attr, d0, &zt);
        for (int64_t j = 0; j < nout; j++)
            CHECK(z[j] == 0.0, "%s case %d: JVP with no tangent is not 0", name, ci);
        free(z);
    }

    /* (3) adjoint identity <g, J v> = sum_i <J_i^T g, v_i> */
    double lhs = dot(g, jv, nout), rhs = 0;
    for (int i = 0; i < c->nin; i++)
        if (diff[i])
            rhs += dot(vjp[i], v[i], bs_tensor_numel(&r.in[i]));
    CHECK(fabs(lhs - rhs) <= 1e-10 * (1 + fabs(lhs) + fabs(rhs)),
          "%s case %d: <g, Jv> = %.15g but <J^T g, v> = %.15g", name, ci, lhs, rhs);

    /* bookkeeping functions answer sensibly for every case */
    bs_shape ins[BS_MAX_INPUTS];
    for (int i = 0; i < BS_MAX_INPUTS; i++) ins[i] = i < c->nin ? r.in[i].shape : (bs_shape)SH0;
    double fl = r.op->flops(ins, &r.out.shape, &r.attr);
    CHECK(isfinite(fl) && fl >= 0, "%s case %d: flops %g", name, ci, fl);
    for (int need = 1; need < 1 << c->nin; need++) { /* every requires-grad pattern of the inputs */
        bs_saved_in sin[BS_MAX_INPUTS];
        for (int i = 0; i < BS_MAX_INPUTS; i++)
            sin[i] = (bs_saved_in){ins[i], BS_F64, i < c->nin && (need >> i & 1), false};
        bs_saved sv[BS_MAX_SAVED];
        int k = r.op->saved(sin, &r.out.shape, BS_F64, &r.attr, sv);
        CHECK(k >= 0 && k <= BS_MAX_SAVED, "%s case %d: saved %d tensors", name, ci, k);
        for (int j = 0; j < k && j < BS_MAX_SAVED; j++)
            CHECK(sv[j].role && (sv[j].kind != BS_SAVE_INPUT || (sv[j].input >= 0 && sv[j].input < c->nin)),
                  "%s case %d: saved entry %d names no input", name, ci, j);
    }

    for (int i = 0; i < BS_MAX_INPUTS; i++) {
        free(vjp[i]);
        free(v[i]);
    }
    free(jv);
    free(g);
    run_free(&r);
}

static void test_every_op(void)
{
    for (int id = 0; id < BS_OP_COUNT; id++) {
        CHECK(bs_ops[id].id == (bs_op)id, "bs_ops[%d].id is %d", id, (int)bs_ops[id].id);
        CHECK(examples[id].n > 0, "op %d (%s) has no example case in tests/ops/test_ops.c", id,
              bs_ops[id].name ? bs_ops[id].name : "?");
        for (int ci = 0; ci < examples[id].n; ci++) {
            CHECK(examples[id].cases[ci].nin == bs_ops[id].arity, "%s case %d: arity",
                  bs_ops[id].name, ci);
            if (examples[id].cases[ci].nin == bs_ops[id].arity)
                check_case((bs_op)id, ci, &examples[id].cases[ci]);
        }
    }
}

/* ==== PyTorch numbers ====
 * Generated with /usr/bin/python3 (torch 1.13, float64), e.g.
 *   x = torch.tensor([[1.,2.,3.],[-1.,0.,5.]], requires_grad=True)
 *   y = torch.softmax(x, -1); y.backward(torch.tensor([[1.,-2.,.5],[.3,2.,-1.]]))
 *   print(y.flatten().tolist(), x.grad.flatten().tolist())
 * and likewise for each fixture below (F = torch.nn.functional, losses with reduction='mean'). */
static const double fx_g23[] = {1., -2., 0.5, 0.3, 2., -1.};
static const double fx_x23[] = {1., 2., 3., -1., 0., 5.};
static const double fx_softmax_last[] = {0.09003057317038045, 0.2447284710547976, 0.6652409557748218, 0.0024561149044509535, 0.006676412513376451, 0.9908674725821726};
static const double fx_softmax_last_dx[] = {0.09604514583293235, -0.47310763853503385, 0.3770624927021015, 0.0031359130163881132, 0.019874196640815966, -0.023010109657204087};
static const double fx_softmax_0[] = {0.8807970779778823, 0.8807970779778823, 0.11920292202211755, 0.11920292202211755, 0.11920292202211755, 0.8807970779778823};
static const double fx_softmax_0_dx[] = {0.07349550978245464, -0.41997434161402625, 0.15749037810525976, -0.07349550978245455, 0.419974341614026, -0.15749037810525987};
static const double fx_logsoftmax_last[] = {-2.4076059644443806, -1.4076059644443804, -0.4076059644443804, -6.0091744845917345, -5.0091744845917345, -0.009174484591734727};
static const double fx_logsoftmax_last_dx[] = {1.0450152865851903, -1.8776357644726012, 0.8326204778874109, 0.29680705062421375, 1.9913206637326106, -2.288127714356824};
/* F.layer_norm(x, (3,)) of [[1,2,4],[0,-1,3]] */
static const double fx_ln_x[] = {1., 2., 4., 0., -1., 3.};
static const double fx_layernorm[] = {-1.069041531450298, -0.2672603828625746, 1.3363019143128718, -0.3922315914145858, -0.9805789785364645, 1.37281056995105};
static const double fx_layernorm_dx[] = {0.9735911492720329, -1.4603871534309036, 0.4867960041588706, -0.3439560149376866, 0.2579699981873528, 0.08598601675033402};
/* F.binary_cross_entropy(p=[.2,.7,.9], t=[0,1,.5]) */
static const double fx_bce_p[] = {0.2, 0.7, 0.9}, fx_bce_t[] = {0., 1., 0.5};
static const double fx_bce[] = {0.594597099859626};
static const double fx_bce_dp[] = {0.4166666666666666, -0.4761904761904762, 1.4814814814814818};
static const double fx_bce_dt[] = {0.46209812037329684, -0.28243262012906784, -0.7324081924454066};
/* F.binary_cross_entropy_with_logits(z=[-1.5,.3,2], t=[0,1,.5]) */
static const double fx_bcel_z[] = {-1.5, 0.3, 2.};
static const double fx_bcel[] = {0.6275655111647507};
static const double fx_bcel_dz[] = {0.060808507935452116, -0.14185249439611367, 0.12693235932596078};
static const double fx_bcel_dt[] = {0.5, -0.09999999999999999, -0.6666666666666666};
/* F.cross_entropy(z=[[1,2,.5],[.1,-1,3]], t) for t = [2,0], [-100,1], probabilities
   [[.2,.3,.5],[1,0,0]]; and z=[.3,-.2,1.1,0] with t=2 */
static const double fx_xent_z[] = {1., 2., 0.5, 0.1, -1., 3.};
static const double fx_xent_t[] = {2, 0}, fx_xent_tign[] = {-100, 1};
static const double fx_xent_tp[] = {0.2, 0.3, 0.5, 1., 0., 0.};
static const double fx_xent[] = {2.467571501534218};
static const double fx_xent_dz[] = {0.11561194881107452, 0.3142658596058812, -0.4298778084169558, -0.4743681971458282, 0.008532085993203705, 0.46583611115262447};
static const double fx_xent_ign[] = {4.070774218960492};
static const double fx_xent_ign_dz[] = {0.0, 0.0, 0.0, 0.05126360570834368, -0.9829358280135926, 0.9316722223052489};
static const double fx_xent_prob[] = {2.1925715015342178};
static const double fx_xent_prob_dz[] = {0.015611948811074514, 0.16426585960588122, -0.17987780841695578, -0.4743681971458282, 0.008532085993203705, 0.46583611115262447};
static const double fx_xent1_z[] = {0.3, -0.2, 1.1, 0.}, fx_xent1_t[] = {2};
static const double fx_xent_1d[] = {0.7201453483626038};
static const double fx_xent_1d_dz[] = {0.218680099847722, 0.13263618522666337, -0.5133184875420752, 0.16200220246768984};
/* F.mse_loss(a=[[1,2,3],[4,5,6.5]], b=[.5,-1,2]) (broadcast) */
static const double fx_mse_a[] = {1., 2., 3., 4., 5., 6.5}, fx_mse_b[] = {0.5, -1., 2.};
static const double fx_mse[] = {13.125};
static const double fx_mse_da[] = {0.16666666666666666, 1.0, 0.3333333333333333, 1.1666666666666665, 2.0, 1.5};
static const double fx_mse_db[] = {-1.3333333333333333, -3.0, -1.8333333333333333};
/* x.max() of [1,3,3,0,3]; x.max(dim=1) of [[1,3,3,0],[2,2,1,2]] with g=[1.5,-2]; x.max(dim=0,
   keepdim=True) with g=[[1,2,3,4]] */
static const double fx_max_ties_dx[] = {0.0, 0.3333333333333333, 0.3333333333333333, 0.0, 0.3333333333333333};
static const double fx_maxdim_g[] = {1.5, -2.}, fx_maxdim0_g[] = {1., 2., 3., 4.};
static const double fx_maxdim_v[] = {3.0, 2.0};
static const double fx_maxdim_dx[] = {0.0, 1.5, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0};
static const double fx_maxdim0_v[] = {2.0, 3.0, 3.0, 2.0};
static const double fx_maxdim0_dx[] = {0.0, 2.0, 3.0, 0.0, 1.0, 0.0, 0.0, 4.0};
/* a ** b for a=[0,0,0,2,-1.5], b=[2,0,-1,0,2], g = ones */
static const double fx_pow_a[] = {0., 0., 0., 2., -1.5}, fx_pow_b[] = {2., 0., -1., 0., 2.};
static const double fx_pow[] = {0.0, 1.0, INFINITY, 1.0, 2.25};
static const double fx_pow_da[] = {0.0, 0.0, -INFINITY, 0.0, -3.0};
static const double fx_pow_db[] = {0.0, 0.0, -INFINITY, 0.6931471805599453, NAN};
/* relu, abs, leaky_relu(slope .2) at [0,-2,1.5]; sigmoid, tanh at [-.7,0,2.5] with g=[1,2,3] */
static const double fx_kink_x[] = {0., -2., 1.5}, fx_ones[] = {1., 1., 1., 1., 1., 1.};
static const double fx_relu_dx[] = {0.0, 0.0, 1.0};
static const double fx_abs_dx[] = {0.0, -1.0, 1.0};
static const double fx_lrelu[] = {0.0, -0.4, 1.5};
static const double fx_lrelu_dx[] = {0.2, 0.2, 1.0};
static const double fx_act_x[] = {-0.7, 0., 2.5}, fx_act_g[] = {1., 2., 3.};
static const double fx_sigmoid[] = {0.3318122278318339, 0.5, 0.9241418199787566};
static const double fx_sigmoid_dx[] = {0.22171287329310907, 0.5, 0.2103111496353242};
static const double fx_tanh[] = {-0.6043677771171635, 0.0, 0.9866142981514303};
static const double fx_tanh_dx[] = {0.6347395899824586, 2.0, 0.07977668004948171};
/* the ops added through core/ew_math.h: tests/ops/gen_ew_fixtures.py's output */
static const double fx_ew_x[] = {-2.5, -0.7, 0.0, 0.5, 2.5, 21.0};
static const double fx_ew_g[] = {1.0, 2.0, 3.0, -1.0, 0.5, 1.5};
static const double fx_erf[] = {-0.999593047982555, -0.6778011938374184, 0.0, 0.5204998778130465, 0.999593047982555, 1.0};
static const double fx_erf_dx[] = {0.00217828423035271, 1.3825497208210773, 3.385137501286538, -0.8787825789354448, 0.001089142115176355, 5.066170468806891e-192};
static const double fx_gelu[] = {-0.015524163314440398, -0.1693745565561511, 0.0, 0.34573123063700656, 2.4844758366855597, 21.0};
static const double fx_gelu_dx[] = {-0.03761108590814519, 0.04677179773268031, 1.5, -0.8674951246561629, 0.5188055429540726, 1.5};
static const double fx_gelu_tanh[] = {-0.015084266089998577, -0.16942986529488321, 0.0, 0.34571400982514394, 2.484915733910001, 21.0};
static const double fx_gelu_tanh_dx[] = {-0.03795157621266618, 0.047285562687792104, 1.5, -0.8673699035346424, 0.518975788106333, 1.5};
static const double fx_silu[] = {-0.18964545005310887, -0.2322685594822837, 0.0, 0.3112296656009273, 2.3103545499468914, 20.99999998407662};
static const double fx_silu_dx[] = {-0.09940111134152683, 0.3532264330533151, 1.5, -0.7399611873026519, 0.5497005556707634, 1.5000000227476837};
static const double fx_softplus[] = {0.07888973429254963, 0.4031860488854579, 0.6931471805599453, 0.9740769841801067, 2.5788897342925496, 21.0};
static const double fx_softplus_dx[] = {0.07585818002124356, 0.6636244556636679, 1.5, -0.6224593312018546, 0.4620709099893782, 1.5};
static const double fx_clamp[] = {-0.5, -0.5, 0.0, 0.5, 0.5, 0.5};
static const double fx_clamp_dx[] = {0.0, 0.0, 3.0, -1.0, 0.0, 0.0};
static const double fx_clamp_min[] = {-0.5, -0.5, 0.0, 0.5, 2.5, 21.0};
static const double fx_clamp_min_dx[] = {0.0, 0.0, 3.0, -1.0, 0.5, 1.5};
static const double fx_clamp_max[] = {-2.5, -0.7, 0.0, 0.5, 0.5, 0.5};
static const double fx_clamp_max_dx[] = {1.0, 2.0, 3.0, -1.0, 0.0, 0.0};
static const double fx_clamp_crossed[] = {-1.0, -1.0, -1.0, -1.0, -1.0, -1.0};
static const double fx_clamp_crossed_dx[] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
/* gelu(approximate='tanh') at 48 points, each its own one-element tensor (gen_ew_fixtures.py) */
static const double fx_gelu48_x[] = {0.19880261899349827, 0.14097466573177225, 5.509615890088204, 4.103071195610334, 3.36407599163525, 5.579241588010128, 1.803687008341571, 2.213488726230425, -2.420344630910389, -2.3950425097398638, 2.303321714548079, 1.5520665503534912, 5.892741892375421, 1.3444169546941735, 1.7410912709210598, -3.1476438364793893, 0.38631619697842934, -0.8731244128781674, 1.3740508607610897, 5.07982492922207, 4.372364813798178, 5.796644580030879, -4.325441978256877, 2.183281043615093, -0.30004724172363345, -7.28775572010705, -0.456394870481011, -8.072751318531559, 5.226315093486191, -1.5718830621371582, -0.8516369706584375, 1.3577265063030886, -3.8074343244549613, 3.853930358482989, -1.6747094665332913, -1.010086923227027, 0.33596721080349706, 0.4788985064957453, 1.7256243049183335, -1.6998912285155785, 2.021473941704508, -2.8115185959903854, 2.184177132806769, 0.133970133745937, 1.9188985996153014, 0.9516451727904953, -4.587139266749186, 2.195873395290265};
static const double fx_gelu48_g[] = {1.2349828412037434, 0.9760049770226039, 0.1343319820950475, -0.08164691771217654, 0.2085945464949805, -1.7196224128603383, 0.5389467248159018, -2.219386425548944, -0.37321646696733984, -1.5441264247453323, -0.16284188039102038, -0.9692689983614968, -0.6541102621535176, -1.378913736646689, -1.4245652245923288, -0.4275695310980957, -0.3225976433994464, 0.2546306881185898, -0.25429147515013184, 1.0885145540738355, -0.5353489725617118, -0.8100385030760908, -0.8180754920535276, -0.05970588749567211, 1.380471285391596, 1.1961309178087804, 0.7343127212250506, -0.20718236993031286, 1.096496342929667, -0.3373714686427381, 0.41816242131728704, 1.200821341924654, 1.1967129956999676, 0.16350058685014293, -1.2235604456898856, -1.027332272758184, -0.010523485762374246, -1.3956527997608248, -0.7829668726294312, -1.1591256085444752, 2.106576662628057, 1.5845706732027236, 1.1333131092468562, 3.1579516553647218, 0.12756956489428473, 1.3834762724297625, 0.5600871543204671, 1.3030785716126612};
static const double fx_gelu48_y[] = {0.11506475129833574, 0.0783895426340803, 5.509615884594229, 4.103028641493658, 3.363039601921967, 5.579241584861627, 1.7393400738205091, 2.1840336998250693, -0.018357405712687364, -0.019506244559986886, 2.2791771546142705, 1.4582384904615258, 5.892741892153898, 1.2239835999722104, 1.669888900802108, -0.0022378801581838304, 0.2512413814732892, -0.1671347270151417, 1.2574173687718098, 5.07982479641275, 4.3723543381945085, 5.796644579517937, -1.350567516569485e-05, 2.1518599320267184, -0.11464172246900399, -0.0, -0.1479084610824841, -0.0, 5.226315046454099, -0.09134711368033571, -0.16805025838408882, 1.2389969648574912, -0.000170413628552842, 3.8537919619633954, -0.07885141470082921, -0.15795896147740277, 0.21217695834925648, 0.32754927244584603, 1.6526729738618373, -0.07590671314120757, 1.977895648310908, -0.0064678937396377085, 2.152815684381792, 0.07412381587457449, 1.86616007126212, 0.7891222509806329, -3.1001489949876445e-06, 2.1652831607919327};
static const double fx_gelu48_dx[] = {0.8108161011319099, 0.5970574501142304, 0.1343319879345155, -0.08166413624604252, 0.20939872136300597, -1.7196224566068916, 0.5963756810811176, -2.3604343918253883, 0.016545818152672663, 0.07178119454788776, -0.17176165600558635, -1.0910879911155775, -0.6541102634372357, -1.555153427481786, -1.5846797988675199, 0.0032497541083244233, -0.25592968842962704, -0.011786143656972269, -0.28698719571174325, 1.0885155548623366, -0.5353795896630277, -0.8100385066560816, 5.932677456490854e-05, -0.06368395510061106, 0.3695109558582663, 0.0, 0.11755349084111771, -0.0, 1.0964967168914697, 0.042067413095586356, -0.016253582435651004, 1.3547718204977792, -0.0009046838508605684, 0.16360276486806452, 0.14429704792925457, 0.08770333833342062, -0.007978744950787297, -1.19221667518861, -0.8720314759065853, 0.1343699719194548, 2.283070154576398, -0.029974023255917248, 1.208718922508032, 1.9145166122055426, 0.13966175081118537, 1.4808764527693996, -1.0213363157503706e-05, 1.388220647893558};
/* [[1,2,3],[4,5,6]] / [.5,-1,2] */
static const double fx_div_a[] = {1., 2., 3., 4., 5., 6.};
static const double fx_div[] = {2.0, -2.0, 1.5, 8.0, -5.0, 3.0};
static const double fx_div_da[] = {2.0, -1.0, 0.5, 2.0, -1.0, 0.5};
static const double fx_div_db[] = {-20.0, -7.0, -2.25};
/* (2,2,3) @ (3,2) and (3,) @ (3,2) */
static const double fx_bmm_a[] = {1., 2., 3., 4., 5., 6., 0., -1., 2., 1., 1., 1.};
static const double fx_bmm_b[] = {1., 0., 2., 1., -1., 3.};
static const double fx_bmm_g[] = {1., 2., 3., 4., -1., 0.5, 2., 1.};
static const double fx_bmm[] = {2.0, 11.0, 8.0, 23.0, -4.0, 5.0, 2.0, 4.0};
static const double fx_bmm_da[] = {1.0, 4.0, 5.0, 3.0, 10.0, 9.0, -1.0, -1.5, 2.5, 2.0, 5.0, 1.0};
static const double fx_bmm_db[] = {15.0, 19.0, 20.0, 24.5, 21.0, 32.0};
static const double fx_vm_a[] = {1., 2., 3.}, fx_vm_g[] = {2., -1.};
static const double fx_vm[] = {2.0, 11.0};
static const double fx_vm_da[] = {2.0, 3.0, -5.0};
static const double fx_vm_db[] = {2.0, -1.0, 4.0, -2.0, 6.0, -3.0};

/* how close a fixture must be: 1e-13 relative, or (0) the same bits */
static double fx_tol = 1e-13;

/* Run op on the given inputs; compare the output and the VJPs (g NULL: ones) to expectations
 * (NULL: not checked). Expected arrays hold as many values as the tensor they describe. */
static void fixture(const char *what, bs_op id, bs_attr attr, bs_shape s0, const double *x0,
                    bs_shape s1, const double *x1, bs_dtype dt1, const double *g,
                    const double *want_out, const double *want_d0, const double *want_d1)
{
    const bs_op_info *op = &bs_ops[id];
    bs_shape sh[BS_MAX_INPUTS] = {s0, s1};
    bs_dtype dt[BS_MAX_INPUTS] = {BS_F64, dt1};
    bs_shape out;
    char err[512] = "";
    bs_status st = op->shape(sh, dt, &attr, &out, err, sizeof err);
    CHECK(st == BS_OK, "%s: shape failed: %s", what, err);
    if (st != BS_OK)
        return;
    bs_tensor in[BS_MAX_INPUTS];
    for (int i = 0; i < op->arity; i++) {
        int64_t n = bs_shape_numel(&sh[i]);
        in[i] = (bs_tensor){dt[i], sh[i], alloc_n(n)};
        memcpy(in[i].data, i ? x1 : x0, sizeof(double) * (size_t)n);
    }
    int64_t nout = bs_shape_numel(&out);
    bs_tensor o = {BS_F64, out, alloc_n(nout)};
    st = op->fwd(in, &attr, &o, err, sizeof err);
    CHECK(st == BS_OK, "%s: forward failed: %s", what, err);
    if (want_out)
        for (int64_t j = 0; j < nout; j++)
            CHECK(fx_tol ? close_tight(o.data[j], want_out[j], fx_tol) : o.data[j] == want_out[j],
                  "%s: out[%lld] = %.17g, PyTorch %.17g",
                  what, (long long)j, o.data[j], want_out[j]);
    bs_tensor gt = {BS_F64, out, alloc_n(nout)};
    for (int64_t j = 0; j < nout; j++) gt.data[j] = g ? g[j] : 1.0;
    const double *want_d[2] = {want_d0, want_d1};
    for (int i = 0; i < op->arity; i++) {
        if (!want_d[i])
            continue;
        int64_t n = bs_shape_numel(&sh[i]);
        bs_tensor d = {BS_F64, sh[i], alloc_n(n)};
        op->vjp(in, &o, &attr, &gt, i, &d);
        for (int64_t j = 0; j < n; j++)
            CHECK(fx_tol ? close_tight(d.data[j], want_d[i][j], fx_tol) : d.data[j] == want_d[i][j],
                  "%s: d input %d [%lld] = %.17g, PyTorch %.17g", what, i, (long long)j, d.data[j],
                  want_d[i][j]);
        free(d.data);
    }
    for (int i = 0; i < op->arity; i++) free(in[i].data);
    free(o.data);
    free(gt.data);
}

static void test_pytorch_values(void)
{
    bs_shape s23 = SH2(2, 3), s3 = SH1(3), s0 = SH0, s5 = SH1(5), s24 = SH2(2, 4);
    bs_attr none = {.dim = -1}, all = A_ALL;
    fixture("softmax dim=-1", BS_OP_SOFTMAX, (bs_attr)A_DIM(-1), s23, fx_x23, s0, NULL, BS_F64,
            fx_g23, fx_softmax_last, fx_softmax_last_dx, NULL);
    fixture("softmax dim=0", BS_OP_SOFTMAX, (bs_attr)A_DIM(0), s23, fx_x23, s0, NULL, BS_F64,
            fx_g23, fx_softmax_0, fx_softmax_0_dx, NULL);
    fixture("log_softmax dim=-1", BS_OP_LOG_SOFTMAX, (bs_attr)A_DIM(-1), s23, fx_x23, s0, NULL,
            BS_F64, fx_g23, fx_logsoftmax_last, fx_logsoftmax_last_dx, NULL);
    fixture("layernorm", BS_OP_LAYERNORM, (bs_attr)A_K(1e-5), s23, fx_ln_x, s0, NULL, BS_F64,
            fx_g23, fx_layernorm, fx_layernorm_dx, NULL);
    fixture("bce", BS_OP_BCE, none, s3, fx_bce_p, s3, fx_bce_t, BS_F64, NULL, fx_bce, fx_bce_dp,
            fx_bce_dt);
    fixture("bce_with_logits", BS_OP_BCE_LOGITS, none, s3, fx_bcel_z, s3, fx_bce_t, BS_F64, NULL,
            fx_bcel, fx_bcel_dz, fx_bcel_dt);
    fixture("cross_entropy", BS_OP_CROSS_ENTROPY, none, s23, fx_xent_z, (bs_shape)SH1(2),
            fx_xent_t, BS_I64, NULL, fx_xent, fx_xent_dz, NULL);
    fixture("cross_entropy ignore_index", BS_OP_CROSS_ENTROPY, none, s23, fx_xent_z,
            (bs_shape)SH1(2), fx_xent_tign, BS_I64, NULL, fx_xent_ign, fx_xent_ign_dz, NULL);
    fixture("cross_entropy probabilities", BS_OP_CROSS_ENTROPY, none, s23, fx_xent_z, s23,
            fx_xent_tp, BS_F64, NULL, fx_xent_prob, fx_xent_prob_dz, NULL);
    fixture("cross_entropy 1-D", BS_OP_CROSS_ENTROPY, none, (bs_shape)SH1(4), fx_xent1_z, s0,
            fx_xent1_t, BS_I64, NULL, fx_xent_1d, fx_xent_1d_dz, NULL);
    fixture("mse broadcast", BS_OP_MSE, none, s23, fx_mse_a, s3, fx_mse_b, BS_F64, NULL, fx_mse,
            fx_mse_da, fx_mse_db);
    fixture("max ties", BS_OP_MAX, all, s5, ties5, s0, NULL, BS_F64, NULL, NULL, fx_max_ties_dx,
            NULL);
    fixture("max dim=1 ties", BS_OP_MAX, (bs_attr)A_DIM(1), s24, ties8, s0, NULL, BS_F64,
            fx_maxdim_g, fx_maxdim_v, fx_maxdim_dx, NULL);
    fixture("max dim=0 keepdim ties", BS_OP_MAX, (bs_attr)A_DIMK(0), s24, ties8, s0, NULL, BS_F64,
            fx_maxdim0_g, fx_maxdim0_v, fx_maxdim0_dx, NULL);
    fixture("pow at 0", BS_OP_POW, none, s5, fx_pow_a, s5, fx_pow_b, BS_F64, NULL, fx_pow,
            fx_pow_da, fx_pow_db);
    fixture("relu'(0)", BS_OP_RELU, none, s3, fx_kink_x, s0, NULL, BS_F64, fx_ones, NULL,
            fx_relu_dx, NULL);
    fixture("abs'(0)", BS_OP_ABS, none, s3, fx_kink_x, s0, NULL, BS_F64, fx_ones, NULL, fx_abs_dx,
            NULL);
    fixture("leaky_relu", BS_OP_LEAKY_RELU, (bs_attr)A_K(0.2), s3, fx_kink_x, s0, NULL, BS_F64,
            fx_ones, fx_lrelu, fx_lrelu_dx, NULL);
    fixture("sigmoid", BS_OP_SIGMOID, none, s3, fx_act_x, s0, NULL, BS_F64, fx_act_g, fx_sigmoid,
            fx_sigmoid_dx, NULL);
    fixture("tanh", BS_OP_TANH, none, s3, fx_act_x, s0, NULL, BS_F64, fx_act_g, fx_tanh,
            fx_tanh_dx, NULL);
    bs_shape s6 = SH1(6);
    bs_attr clamp_both = {.dim = -1, .k = -0.5, .k2 = 0.5};
    bs_attr clamp_min = {.dim = -1, .k = -0.5, .k2 = INFINITY};
    bs_attr clamp_max = {.dim = -1, .k = -INFINITY, .k2 = 0.5};
    bs_attr clamp_crossed = {.dim = -1, .k = 1.0, .k2 = -1.0};
    fixture("erf", BS_OP_ERF, none, s6, fx_ew_x, s0, NULL, BS_F64, fx_ew_g, fx_erf, fx_erf_dx,
            NULL);
    /* gelu, both forms, to the bit (its f64 kernels in PyTorch's order, ew_math.h) */
    fx_tol = 0;
    fixture("gelu", BS_OP_GELU, none, s6, fx_ew_x, s0, NULL, BS_F64, fx_ew_g, fx_gelu,
            fx_gelu_dx, NULL);
    bs_attr tanh_form = {.dim = -1, .k = BS_GELU_TANH};
    fixture("gelu tanh", BS_OP_GELU, tanh_form, s6, fx_ew_x, s0, NULL, BS_F64, fx_ew_g,
            fx_gelu_tanh, fx_gelu_tanh_dx, NULL);
    fixture("gelu tanh, 48 points", BS_OP_GELU, tanh_form, (bs_shape)SH1(48), fx_gelu48_x, s0,
            NULL, BS_F64, fx_gelu48_g, fx_gelu48_y, fx_gelu48_dx, NULL);
    fx_tol = 1e-13;
    fixture("silu", BS_OP_SILU, none, s6, fx_ew_x, s0, NULL, BS_F64, fx_ew_g, fx_silu,
            fx_silu_dx, NULL);
    fixture("softplus", BS_OP_SOFTPLUS, none, s6, fx_ew_x, s0, NULL, BS_F64, fx_ew_g,
            fx_softplus, fx_softplus_dx, NULL);
    fixture("clamp", BS_OP_CLAMP, clamp_both, s6, fx_ew_x, s0, NULL, BS_F64, fx_ew_g, fx_clamp,
            fx_clamp_dx, NULL);
    fixture("clamp min", BS_OP_CLAMP, clamp_min, s6, fx_ew_x, s0, NULL, BS_F64, fx_ew_g,
            fx_clamp_min, fx_clamp_min_dx, NULL);
    fixture("clamp max", BS_OP_CLAMP, clamp_max, s6, fx_ew_x, s0, NULL, BS_F64, fx_ew_g,
            fx_clamp_max, fx_clamp_max_dx, NULL);
    fixture("clamp min > max", BS_OP_CLAMP, clamp_crossed, s6, fx_ew_x, s0, NULL, BS_F64,
            fx_ew_g, fx_clamp_crossed, fx_clamp_crossed_dx, NULL);
    fixture("div broadcast", BS_OP_DIV, none, s23, fx_div_a, s3, fx_mse_b, BS_F64, NULL, fx_div,
            fx_div_da, fx_div_db);
    fixture("matmul batched", BS_OP_MATMUL, none, (bs_shape)SH3(2, 2, 3), fx_bmm_a,
            (bs_shape)SH2(3, 2), fx_bmm_b, BS_F64, fx_bmm_g, fx_bmm, fx_bmm_da, fx_bmm_db);
    fixture("matmul 1-D @ 2-D", BS_OP_MATMUL, none, s3, fx_vm_a, (bs_shape)SH2(3, 2), fx_bmm_b,
            BS_F64, fx_vm_g, fx_vm, fx_vm_da, fx_vm_db);
}

/* ==== Shape inference and value errors: PyTorch's text ==== */
typedef struct {
    bs_op op;
    bs_shape sh[BS_MAX_INPUTS];
    bs_dtype dt1;
    bs_attr attr;
    bs_status want;
    const char *msg;  /* torch 1.13's message, copied from its exception */
} err_case;

static const err_case err_cases[] = {
    {BS_OP_ADD, {SH2(2, 3), SH2(2, 2)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1"},
    {BS_OP_MUL, {SH2(4, 3), SH3(2, 1, 2)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 2"},
    {BS_OP_MSE, {SH1(3), SH1(2)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0"},
    {BS_OP_MATMUL, {SH2(2, 3), SH2(2, 3)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)"},
    {BS_OP_MATMUL, {SH1(3), SH1(2)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "inconsistent tensor size, expected tensor [3] and src [2] to have the same number of "
     "elements, but got 3 and 2 elements respectively"},
    {BS_OP_MATMUL, {SH2(2, 3), SH1(2)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "size mismatch, got 2, 2x3,2"},
    {BS_OP_MATMUL, {SH1(3), SH2(2, 3)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "mat1 and mat2 shapes cannot be multiplied (1x3 and 2x3)"},
    {BS_OP_MATMUL, {SH3(4, 2, 3), SH3(4, 2, 3)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "Expected size for first two dimensions of batch2 tensor to be: [4, 3] but got: [4, 2]."},
    {BS_OP_MATMUL, {SH3(2, 2, 3), SH3(5, 3, 2)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "The size of tensor a (2) must match the size of tensor b (5) at non-singleton dimension 0"},
    {BS_OP_MATMUL, {SH3(2, 3, 4), SH4(2, 5, 4, 3)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "The size of tensor a (2) must match the size of tensor b (5) at non-singleton dimension 1"},
    {BS_OP_MATMUL, {SH3(2, 2, 3), SH1(2)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "size mismatch, got 4, 4x3,2"},
    {BS_OP_MATMUL, {SH2(2, 3), SH3(5, 2, 2)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "mat1 and mat2 shapes cannot be multiplied (10x2 and 3x2)"},
    {BS_OP_MATMUL, {SH3(4, 2, 3), SH2(2, 3)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "mat1 and mat2 shapes cannot be multiplied (8x3 and 2x3)"},
    {BS_OP_MATMUL, {SH1(3), SH3(2, 4, 2)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "size mismatch, got 4, 4x4,3"},
    {BS_OP_MATMUL, {SH4(3, 1, 2, 3), SH3(4, 2, 3)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "Expected size for first two dimensions of batch2 tensor to be: [12, 3] but got: [12, 2]."},
    {BS_OP_RESHAPE, {SH1(6)}, BS_F64, {.shape = SH2(2, 5)}, BS_ERR_SHAPE,
     "shape '[2, 5]' is invalid for input of size 6"},
    {BS_OP_RESHAPE, {SH1(6)}, BS_F64, {.shape = SH2(-1, 4)}, BS_ERR_SHAPE,
     "shape '[-1, 4]' is invalid for input of size 6"},
    {BS_OP_RESHAPE, {SH1(6)}, BS_F64, {.shape = SH2(-1, -1)}, BS_ERR_VALUE,
     "only one dimension can be inferred"},
    {BS_OP_RESHAPE, {SH1(6)}, BS_F64, {.shape = SH2(-2, 3)}, BS_ERR_VALUE,
     "invalid shape dimension -2"},
    {BS_OP_SUM, {SH2(2, 3)}, BS_F64, A_DIM(2), BS_ERR_VALUE,
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)"},
    {BS_OP_MEAN, {SH2(2, 3)}, BS_F64, A_DIM(-3), BS_ERR_VALUE,
     "Dimension out of range (expected to be in range of [-2, 1], but got -3)"},
    {BS_OP_SUM, {SH0}, BS_F64, A_DIM(1), BS_ERR_VALUE,
     "Dimension out of range (expected to be in range of [-1, 0], but got 1)"},
    {BS_OP_MAX, {SH2(2, 3)}, BS_F64, A_DIM(3), BS_ERR_VALUE,
     "Dimension out of range (expected to be in range of [-2, 1], but got 3)"},
    {BS_OP_SOFTMAX, {SH2(2, 3)}, BS_F64, A_DIM(2), BS_ERR_VALUE,
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)"},
    {BS_OP_MAX, {SH1(0)}, BS_F64, A_ALL, BS_ERR_SHAPE,
     "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction "
     "dim with the 'dim' argument."},
    {BS_OP_MAX, {SH2(3, 0)}, BS_F64, A_DIM(1), BS_ERR_SHAPE,
     "max(): Expected reduction dim 1 to have non-zero size."},
    {BS_OP_LAYERNORM, {SH0}, BS_F64, A_K(1e-5), BS_ERR_SHAPE,
     "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
     "element, but got normalized_shape = []"},
    {BS_OP_BCE, {SH1(3), SH1(2)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "Using a target size (torch.Size([2])) that is different to the input size "
     "(torch.Size([3])) is deprecated. Please ensure they have the same size."},
    {BS_OP_BCE, {SH0, SH1(1)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "Using a target size (torch.Size([1])) that is different to the input size "
     "(torch.Size([])) is deprecated. Please ensure they have the same size."},
    {BS_OP_BCE_LOGITS, {SH1(3), SH1(2)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "Target size (torch.Size([2])) must be the same as input size (torch.Size([3]))"},
    {BS_OP_CROSS_ENTROPY, {SH2(2, 3), SH1(2)}, BS_F64, {.dim = -1}, BS_ERR_TYPE,
     "expected scalar type Long but found Double"},
    {BS_OP_CROSS_ENTROPY, {SH2(2, 3), SH2(2, 3)}, BS_I64, {.dim = -1}, BS_ERR_TYPE,
     "Expected floating point type for target with class probabilities, got Long"},
    {BS_OP_CROSS_ENTROPY, {SH2(2, 3), SH1(3)}, BS_I64, {.dim = -1}, BS_ERR_SHAPE,
     "Expected input batch_size (2) to match target batch_size (3)."},
    {BS_OP_CROSS_ENTROPY, {SH2(2, 3), SH0}, BS_I64, {.dim = -1}, BS_ERR_SHAPE,
     "Expected input batch_size (2) to match target batch_size (0)."},
    {BS_OP_CROSS_ENTROPY, {SH2(2, 3), SH2(2, 2)}, BS_I64, {.dim = -1}, BS_ERR_SHAPE,
     "0D or 1D target tensor expected, multi-target not supported"},
    {BS_OP_CROSS_ENTROPY, {SH1(3), SH1(1)}, BS_I64, {.dim = -1}, BS_ERR_SHAPE,
     "size mismatch (got input: [3], target: [1])"},
    {BS_OP_CROSS_ENTROPY, {SH3(2, 3, 4), SH2(2, 3)}, BS_I64, {.dim = -1}, BS_ERR_SHAPE,
     "Expected target size [2, 4], got [2, 3]"},
    /* indexing: torch 1.13's IndexError / RuntimeError / ValueError text */
    {BS_OP_SELECT, {SH0}, BS_F64, A_SEL(0, 0), BS_ERR_SHAPE,
     "select() cannot be applied to a 0-dim tensor."},
    {BS_OP_SELECT, {SH3(2, 3, 4)}, BS_F64, A_SEL(1, 3), BS_ERR_VALUE,
     "select(): index 3 out of range for tensor of size [2, 3, 4] at dimension 1"},
    {BS_OP_SELECT, {SH2(2, 3)}, BS_F64, A_SEL(-1, -4), BS_ERR_VALUE,
     "select(): index -4 out of range for tensor of size [2, 3] at dimension 1"},
    {BS_OP_SELECT, {SH3(2, 3, 4)}, BS_F64, A_SEL(3, 0), BS_ERR_VALUE,
     "Dimension out of range (expected to be in range of [-3, 2], but got 3)"},
    {BS_OP_SLICE, {SH0}, BS_F64, A_SL(0, 0, 1, 1), BS_ERR_SHAPE,
     "slice() cannot be applied to a 0-dim tensor."},
    {BS_OP_SLICE, {SH2(2, 3)}, BS_F64, A_SL(1, 0, 2, 0), BS_ERR_VALUE, "slice step cannot be zero"},
    {BS_OP_SLICE, {SH2(2, 3)}, BS_F64, A_SL(1, 0, 2, -1), BS_ERR_VALUE,
     "step must be greater than zero"},
    {BS_OP_INDEX_SELECT, {SH2(2, 3), SH1(2)}, BS_F64, {.dim = 1}, BS_ERR_TYPE,
     "index_select(): Expected dtype int32 or int64 for index"},
    {BS_OP_INDEX_SELECT, {SH2(2, 3), SH2(1, 2)}, BS_I64, {.dim = 1}, BS_ERR_SHAPE,
     "index_select(): Index is supposed to be a vector"},
    {BS_OP_INDEX_SELECT, {SH2(2, 3), SH1(1)}, BS_I64, {.dim = 2}, BS_ERR_VALUE,
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)"},
    {BS_OP_WHERE, {SH1(4), SH3(2, 3, 4), SH1(5)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "The size of tensor a (4) must match the size of tensor b (5) at non-singleton dimension 2"},
    {BS_OP_WHERE, {SH2(2, 1), SH1(3), SH3(2, 1, 4)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 2"},
    {BS_OP_MASKED_FILL, {SH1(3), SH1(3), SH1(1)}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with 1 dimension(s)."},
    {BS_OP_MASKED_FILL, {SH3(2, 3, 4), SH1(2), SH0}, BS_F64, {.dim = -1}, BS_ERR_SHAPE,
     "The size of tensor a (2) must match the size of tensor b (4) at non-singleton dimension 2"},
};

static void test_errors(void)
{
    for (size_t k = 0; k < sizeof err_cases / sizeof err_cases[0]; k++) {
        const err_case *e = &err_cases[k];
        bs_dtype dt[BS_MAX_INPUTS] = {BS_F64, e->dt1};
        bs_shape out;
        char err[512] = "";
        bs_status st = bs_ops[e->op].shape(e->sh, dt, &e->attr, &out, err, sizeof err);
        CHECK(st == e->want, "error case %zu (%s): status %d, want %d", k, bs_ops[e->op].name,
              (int)st, (int)e->want);
        CHECK(strcmp(err, e->msg) == 0, "error case %zu (%s):\n  got  \"%s\"\n  want \"%s\"", k,
              bs_ops[e->op].name, err, e->msg);
    }

    /* value errors found by the forward pass */
    struct {
        bs_op op;
        bs_shape s0, s1;
        bs_dtype dt1;
        double x0[3], x1[3];
        const char *msg;
    } fe[] = {
        {BS_OP_BCE, SH1(3), SH1(3), BS_F64, {0.5, 1.5, 0.2}, {1, 0, 1},
         "all elements of input should be between 0 and 1"},
        {BS_OP_BCE, SH1(1), SH1(1), BS_F64, {NAN}, {1}, "all elements of input should be between 0 and 1"},
        {BS_OP_CROSS_ENTROPY, SH2(2, 3), SH1(2), BS_I64, {0}, {0, 3}, "Target 3 is out of bounds."},
        {BS_OP_CROSS_ENTROPY, SH2(2, 3), SH1(2), BS_I64, {0}, {0, -1}, "Target -1 is out of bounds."},
        {BS_OP_CROSS_ENTROPY, SH1(3), SH0, BS_I64, {0}, {3}, "Target 3 is out of bounds."},
        /* x[idx]'s IndexError (torch.index_select says "INDICES element is out of DATA bounds,
           id=3 axis_dim=3" on the CPU); negative entries in [-3, 0) are fine, as in x[idx] */
        {BS_OP_INDEX_SELECT, SH2(2, 3), SH1(2), BS_I64, {0}, {-3, 3},
         "index 3 is out of bounds for dimension 1 with size 3"},
        {BS_OP_INDEX_SELECT, SH2(2, 3), SH1(2), BS_I64, {0}, {2, -4},
         "index -4 is out of bounds for dimension 1 with size 3"},
    };
    for (size_t k = 0; k < sizeof fe / sizeof fe[0]; k++) {
        bs_shape sh[2] = {fe[k].s0, fe[k].s1}, out;
        bs_dtype dt[2] = {BS_F64, fe[k].dt1};
        bs_attr a = {.dim = -1};
        char err[256] = "";
        bs_status st = bs_ops[fe[k].op].shape(sh, dt, &a, &out, err, sizeof err);
        CHECK(st == BS_OK, "forward error case %zu: shape failed: %s", k, err);
        double x0[6] = {0}, o = 0;
        memcpy(x0, fe[k].x0, sizeof fe[k].x0);
        bs_tensor in[2] = {{BS_F64, sh[0], x0}, {fe[k].dt1, sh[1], fe[k].x1}};
        bs_tensor ot = {BS_F64, out, &o};
        st = bs_ops[fe[k].op].fwd(in, &a, &ot, err, sizeof err);
        CHECK(st == BS_ERR_VALUE, "forward error case %zu: status %d", k, (int)st);
        CHECK(strcmp(err, fe[k].msg) == 0, "forward error case %zu: \"%s\", want \"%s\"", k, err,
              fe[k].msg);
    }
}

/* ==== dtypes ==== */
/* torch.tensor(v, dtype=float32).to(float16 / bfloat16) (inputs are float32-exact, so torch's
 * conversion rounds once); f32 is (float)(0.1*v + 1e-9) */
static const double fx_round_in[] = {1.00048828125, 1.00146484375, 65519.0, 65520.0, 2.9802322387695312e-08, 4.470348358154297e-08, 8.940696716308594e-08, 0.10000000149011612, -3.141590118408203, 1.00390625, 1.01171875, 3.0000000054977558e+38, 3.396100050425774e+38, 9.99994610111476e-41, 7.174648137343064e-43};
static const double fx_round_f16[] = {1.0, 1.001953125, 65504.0, INFINITY, 0.0, 5.960464477539063e-08, 1.1920928955078125e-07, 0.0999755859375, -3.140625, 1.00390625, 1.01171875, INFINITY, INFINITY, 0.0, 0.0};
static const double fx_round_bf16[] = {1.0, 1.0, 65536.0, 65536.0, 2.9802322387695312e-08, 4.470348358154297e-08, 8.940696716308594e-08, 0.10009765625, -3.140625, 1.0, 1.015625, 3.00405527047391e+38, 3.3895313892515355e+38, 9.183549615799121e-41, 0.0};
static const double fx_round_f32[] = {0.10004883259534836, 0.10014648735523224, 6551.89990234375, 6552.0, 3.980232143874218e-09, 5.470348174441142e-09, 9.940697154320333e-09, 0.010000000707805157, -0.31415900588035583, 0.10039062798023224, 0.10117187350988388, 3.000000106909804e+37, 3.396100101131798e+37, 9.999999717180685e-10, 9.999999717180685e-10};

/* the value of a 16-bit pattern with `mant` mantissa bits and `ebits` exponent bits */
static double decode16(unsigned bits, int mant, int ebits)
{
    int bias = (1 << (ebits - 1)) - 1;
    unsigned m = bits & ((1u << mant) - 1), e = (bits >> mant) & ((1u << ebits) - 1);
    double v = e == 0 ? ldexp((double)m, 1 - bias - mant)
                      : (e == (1u << ebits) - 1 ? (m ? NAN : INFINITY)
                                                : ldexp((double)(m | (1u << mant)), (int)e - bias - mant));
    return (bits & 0x8000) ? -v : v;
}

/* Every representable value rounds to itself; every midpoint between neighbours rounds to the
 * neighbour with an even mantissa; a hair off the midpoint rounds to the nearer one. */
static void check_format(bs_dtype t, int mant, int ebits)
{
    int bad = 0;
    for (unsigned b = 0; b < 0x7fff; b++) {
        double v = decode16(b, mant, ebits), w = decode16(b + 1, mant, ebits);
        if (!isfinite(v) || !isfinite(w))
            break; /* the overflow threshold above the largest finite value: checked apart */
        if (bs_dtype_round(t, v) != v || bs_dtype_round(t, -v) != -v)
            bad++;
        double mid = v + (w - v) / 2, even = (b & 1) ? w : v;
        if (bs_dtype_round(t, mid) != even)
            bad++;
        if (b > 0 && (bs_dtype_round(t, nextafter(mid, 0)) != v || bs_dtype_round(t, nextafter(mid, INFINITY)) != w))
            bad++;
    }
    CHECK(bad == 0, "%s: %d rounding mistakes over all 16-bit patterns", bs_dtype_name(t), bad);
    /* halfway between the largest finite value and 2^(emax+1) rounds to even: infinity */
    int emax = (1 << (ebits - 1)) - 1;
    double big = ldexp(2.0 - ldexp(1.0, -mant), emax), thr = ldexp(2.0 - ldexp(1.0, -mant - 1), emax);
    CHECK(bs_dtype_round(t, thr) == INFINITY && bs_dtype_round(t, nextafter(thr, 0)) == big &&
              bs_dtype_round(t, -thr) == -INFINITY,
          "%s: overflow threshold", bs_dtype_name(t));
}

static void test_dtypes(void)
{
    for (size_t k = 0; k < sizeof fx_round_in / sizeof fx_round_in[0]; k++) {
        double v = fx_round_in[k];
        CHECK(bs_dtype_round(BS_F16, v) == fx_round_f16[k], "f16(%.17g) = %.17g, PyTorch %.17g", v,
              bs_dtype_round(BS_F16, v), fx_round_f16[k]);
        CHECK(bs_dtype_round(BS_BF16, v) == fx_round_bf16[k], "bf16(%.17g) = %.17g, PyTorch %.17g",
              v, bs_dtype_round(BS_BF16, v), fx_round_bf16[k]);
        CHECK(bs_dtype_round(BS_F32, 0.1 * v + 1e-9) == fx_round_f32[k], "f32 rounding of %.17g",
              0.1 * v + 1e-9);
        CHECK(bs_dtype_round(BS_F64, v) == v && bs_dtype_round(BS_I64, v) == v, "f64/i64 keep");
    }
    check_format(BS_F16, 10, 5);
    check_format(BS_BF16, 7, 8);
    CHECK(isnan(bs_dtype_round(BS_F16, NAN)) && bs_dtype_round(BS_BF16, -INFINITY) == -INFINITY,
          "nan and inf pass through");
    CHECK(bs_dtype_round(BS_F16, 1e6) == INFINITY && bs_dtype_round(BS_F16, -1e6) == -INFINITY,
          "f16 overflow");

    const char *names[] = {"f64", "f32", "f16", "bf16", "i64"};
    size_t sizes[] = {8, 4, 2, 2, 8};
    for (int t = 0; t < BS_DTYPE_COUNT; t++) {
        bs_dtype p;
        CHECK(strcmp(bs_dtype_name((bs_dtype)t), names[t]) == 0, "dtype name %d", t);
        CHECK(bs_dtype_parse(names[t], &p) && p == (bs_dtype)t, "dtype parse %s", names[t]);
        CHECK(bs_dtype_size((bs_dtype)t) == sizes[t], "dtype size %s", names[t]);
    }
    bs_dtype p;
    CHECK(!bs_dtype_parse("float", &p), "unknown dtype");
}

/* ==== Shapes, lookup, FLOPs, saved bytes ==== */
/* the roles an op saves for inputs `in` with requires-grad mask `need` (bit i: input i), b a
 * Python number if `bnum`; buffers as "role:dtype"; space-separated, in a static buffer */
static const char *saved_roles(bs_op op, const bs_shape *in, int need, bool bnum,
                               const bs_shape *out, const bs_attr *a)
{
    static char buf[256];
    bs_saved_in sin[BS_MAX_INPUTS];
    for (int i = 0; i < BS_MAX_INPUTS; i++)
        sin[i] = (bs_saved_in){in[i], BS_F64, (need >> i & 1) != 0, i == 1 && bnum};
    bs_saved sv[BS_MAX_SAVED];
    int k = bs_ops[op].saved(sin, out, BS_F64, a, sv);
    size_t at = 0;
    buf[0] = 0;
    for (int j = 0; j < k; j++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%s%s%s", j ? " " : "", sv[j].role,
                               sv[j].kind == BS_SAVE_BUFFER ? ":" : "",
                               sv[j].kind == BS_SAVE_BUFFER ? bs_dtype_name(sv[j].dtype) : "");
    return buf;
}

static void test_shapes_and_table(void)
{
    char buf[64];
    bs_shape s0 = SH0, s1 = SH1(3), s2 = SH2(2, 3), s4 = SH4(2, 1, 3, 1), o;
    CHECK(strcmp(bs_shape_str(&s0, buf, sizeof buf), "()") == 0, "shape str 0-d: %s", buf);
    CHECK(strcmp(bs_shape_str(&s1, buf, sizeof buf), "(3,)") == 0, "shape str 1-d: %s", buf);
    CHECK(strcmp(bs_shape_str(&s2, buf, sizeof buf), "(2, 3)") == 0, "shape str 2-d: %s", buf);
    CHECK(bs_shape_numel(&s0) == 1 && bs_shape_numel(&s4) == 6, "numel");
    CHECK(bs_shape_broadcast(&s4, &(bs_shape)SH3(2, 1, 3), &o) && o.ndim == 4 && o.d[0] == 2 &&
              o.d[1] == 2 && o.d[2] == 3 && o.d[3] == 3, "broadcast (2,1,3,1) with (2,1,3)");
    CHECK(!bs_shape_broadcast(&s4, &s2, &o), "(2,1,3,1) with (2,3) does not broadcast");
    CHECK(!bs_shape_broadcast(&s2, &(bs_shape)SH1(2), &o), "broadcast mismatch");
    CHECK(bs_shape_eq(&s2, &(bs_shape)SH2(2, 3)) && !bs_shape_eq(&s2, &s1), "shape eq");

    for (int i = 0; i < BS_OP_COUNT; i++) {
        CHECK(bs_op_by_name(bs_ops[i].name) == &bs_ops[i], "lookup %s", bs_ops[i].name);
        CHECK(bs_ops[i].arity >= 1 && bs_ops[i].arity <= BS_MAX_INPUTS, "arity of %s", bs_ops[i].name);
        bool some_deriv = false;
        for (int k = 0; k < bs_ops[i].arity; k++) some_deriv |= bs_ops[i].deriv[k] != NULL;
        for (int k = bs_ops[i].arity; k < BS_MAX_INPUTS; k++)
            CHECK(!bs_ops[i].deriv[k], "%s: a template for input %d it does not have", bs_ops[i].name, k);
        CHECK(bs_ops[i].shape && bs_ops[i].fwd && bs_ops[i].vjp && bs_ops[i].jvp &&
                  bs_ops[i].flops && bs_ops[i].saved && bs_ops[i].grad_fn && bs_ops[i].help &&
                  some_deriv,
              "table entry %s complete", bs_ops[i].name);
        for (int k = 0; k < bs_ops[i].arity; k++) /* a mask input takes no gradient */
            CHECK(!(bs_ops[i].flags & BS_F_MASK(k)) || !bs_ops[i].deriv[k], "%s: mask %d has a template",
                  bs_ops[i].name, k);
    }
    CHECK(bs_op_by_name("bce_with_logits") == &bs_ops[BS_OP_BCE_LOGITS], "lookup by fn column");
    CHECK(bs_op_by_name("nope") == NULL && bs_op_by_name(NULL) == NULL, "unknown name");

    /* what is saved as PyTorch's grad_fn._saved_* (tests/repl/test_mem.py checks whole graphs
       against torch's bytes), FLOPs by the convention in ops_int.h */
    bs_shape mul_in[BS_MAX_INPUTS] = {SH2(2, 3), SH1(3)}, one[BS_MAX_INPUTS] = {SH2(2, 3), SH0};
    bs_shape mm_in[BS_MAX_INPUTS] = {SH2(2, 3), SH2(3, 4)}, mm_out = SH2(2, 4);
    bs_shape xe_in[BS_MAX_INPUTS] = {SH2(2, 3), SH1(2)}, red1 = SH1(2);
    bs_shape three[BS_MAX_INPUTS] = {SH2(2, 3), SH2(2, 3), SH0}, ix_in[BS_MAX_INPUTS] = {SH2(2, 3), SH1(4)};
    bs_attr none = {.dim = -1}, all = A_ALL, d1 = A_DIM(1);
    CHECK(!strcmp(saved_roles(BS_OP_MUL, mul_in, 3, false, &s2, &none), "self other"),
          "mul, both need grads: self and other");
    CHECK(!strcmp(saved_roles(BS_OP_MUL, mul_in, 1, false, &s2, &none), "other"),
          "mul, only a needs a grad: other alone");
    CHECK(!strcmp(saved_roles(BS_OP_MUL, mul_in, 2, false, &s2, &none), "self"),
          "mul, only b needs a grad: self alone");
    CHECK(!strcmp(saved_roles(BS_OP_ADD, mul_in, 3, false, &s2, &none), ""), "add saves nothing");
    CHECK(!strcmp(saved_roles(BS_OP_DIV, mul_in, 1, false, &s2, &none), "other"),
          "div, only a needs a grad: other");
    CHECK(!strcmp(saved_roles(BS_OP_POW, mul_in, 1, true, &s2, &none), "self"),
          "x ** 2 (PowBackward0): self only");
    CHECK(!strcmp(saved_roles(BS_OP_POW, mul_in, 1, false, &s2, &none), "self exponent result"),
          "x ** t (PowBackward1): self, exponent, result");
    CHECK(!strcmp(saved_roles(BS_OP_RELU, one, 1, false, &s2, &none), "result"), "relu: result");
    CHECK(!strcmp(saved_roles(BS_OP_LOG, one, 1, false, &s2, &none), "self"), "log: self");
    CHECK(!strcmp(saved_roles(BS_OP_MAX, one, 1, false, &red1, &d1), "indices:i64"),
          "max(dim) saves int64 indices");
    CHECK(!strcmp(saved_roles(BS_OP_MAX, one, 1, false, &s0, &all), "self result"),
          "max() saves input and output");
    CHECK(!strcmp(saved_roles(BS_OP_MEAN, one, 1, false, &s0, &all), ""), "mean(): sizes only");
    CHECK(!strcmp(saved_roles(BS_OP_MEAN, one, 1, false, &red1, &d1), "self"), "mean(dim): self");
    CHECK(!strcmp(saved_roles(BS_OP_LAYERNORM, one, 1, false, &s2, &none),
                  "input result1:f64 result2:f64"), "layernorm: x, mean, rstd");
    CHECK(!strcmp(saved_roles(BS_OP_CROSS_ENTROPY, xe_in, 1, false, &s0, &none),
                  "log_softmax:f64 target total_weight:f64"), "xent: log_softmax, target, total_weight");
    CHECK(!strcmp(saved_roles(BS_OP_SOFTMAX, one, 1, false, &s2, &none), "result"),
          "softmax saves its output");
    CHECK(!strcmp(saved_roles(BS_OP_MATMUL, mm_in, 3, false, &mm_out, &none), "self mat2"),
          "matmul, both need grads: both");
    CHECK(!strcmp(saved_roles(BS_OP_MATMUL, mm_in, 2, false, &mm_out, &none), "self"),
          "X @ W with X data: X (self) only");
    CHECK(bs_ops[BS_OP_MATMUL].flops(mm_in, &mm_out, &none) == 48, "matmul 2*M*N*K");
    /* the indexing ops as torch 1.13's grad_fn._saved_* (tests/core/test_index.c checks bytes) */
    bs_shape s24 = SH2(2, 4);
    bs_attr sel = A_SEL(1, 0), sl = A_SL(1, 0, 2, 1), ix = {.dim = 1};
    CHECK(!strcmp(saved_roles(BS_OP_SELECT, one, 1, false, &s1, &sel), ""),
          "SelectBackward0 keeps sizes, dim and index only");
    CHECK(!strcmp(saved_roles(BS_OP_SLICE, one, 1, false, &s2, &sl), ""),
          "SliceBackward0 keeps sizes and ints only");
    CHECK(!strcmp(saved_roles(BS_OP_INDEX_SELECT, ix_in, 1, false, &s24, &ix), "index"),
          "IndexSelectBackward0 keeps the index");
    CHECK(!strcmp(saved_roles(BS_OP_WHERE, three, 2, false, &s2, &none), "condition") &&
              !strcmp(saved_roles(BS_OP_WHERE, three, 6, false, &s2, &none), "condition"),
          "WhereBackward0 keeps the condition");
    CHECK(!strcmp(saved_roles(BS_OP_MASKED_FILL, three, 1, false, &s2, &none), "mask") &&
              !strcmp(saved_roles(BS_OP_MASKED_FILL, three, 5, false, &s2, &none), "mask"),
          "MaskedFillBackward0/1 keep the mask");
    CHECK(!strcmp(saved_roles(BS_OP_GELU, one, 1, false, &s2, &(bs_attr){.k = BS_GELU_TANH}), "self"),
          "gelu(approximate='tanh') keeps self");
    CHECK(bs_ops[BS_OP_SELECT].flops(one, &s1, &sel) == 0 && bs_ops[BS_OP_WHERE].flops(three, &s2, &none) == 6,
          "gathers move data; where compares once per element");
    CHECK(bs_ops[BS_OP_ADD].flops(mul_in, &s2, &none) == 6, "add: one per element");
}

int main(void)
{
    test_shapes_and_table();
    test_dtypes();
    test_errors();
    test_pytorch_values();
    test_every_op();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
