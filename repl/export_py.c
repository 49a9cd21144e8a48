/* repl/export_py.c: `:export model.py [name] [--check]`: the graph of a root (the loss) written as
 * one readable, self-contained PyTorch program: an nn.Module whose forward() is the recorded graph
 * (the session's names, one statement per named or shared value), the params as nn.Parameter with
 * the session's values, the data as buffers (inline when small, in .npy files beside the program
 * when large), the session's optimizer with its settings, and a training loop with --steps, --lr,
 * --device, --dtype and --ddp (torchrun, DistributedDataParallel). Every op of core/ops.def has one
 * spelling below (torch_expr); tests/run/test_export_py.py runs the programs under torch.
 *
 * --check runs the file with a local Python that has torch (BACKSTEP_PYTHON, else
 * /usr/bin/python3, else python3) for one step in float64 and compares its loss and grads with a
 * replay of the same graph from the session's current values on the CPU engine (bs_plan, f64, no
 * update): the session itself is not touched. */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "repl_int.h"

#define INLINE_MAX 4096 /* elements written into the program; larger tensors go to .npy files */

typedef struct {
    char *path;        /* dotted, "layers.0" */
    char *expr;        /* "self.layers[0]" */
    char *ctor;        /* "nn.Linear(3, 2)", "nn.Sequential()", "nn.Module()" */
    int parent;        /* index in x->mods, -1: the Model */
    bool known;        /* a torch module written with its constructor */
} exp_mod;

typedef struct {
    int32_t scope;
    bs_id in, out;
    int mod;           /* index in x->mods */
    bool ok;           /* its ops are the module's own: written as a call */
    char ctor[160];
} exp_call;

typedef struct {
    bs_session *s;
    const bs_ctx *c;
    int32_t n;            /* tape length */
    char **name;          /* per node: its Python name in forward() (or NULL: inlined) */
    int *uses;            /* per node: consumers within the graph */
    bool *in_graph;
    bool *is_param, *is_buffer;
    char *dir;            /* the data folder for large tensors ("model_data"), made on demand */
    const char *dir_base; /* its name relative to the program */
    bool *rows;           /* per node: one row per sample of the batch (a reshape keeps -1 rows) */
    bool *batched;        /* per node: a buffer of the batch, an argument of forward() */
    int64_t batch;        /* the batch's rows (0: no batch to split) */
    int batch_kind;       /* K_MEAN or K_SUM: how the loss reduces over the rows */
    char **pexpr;         /* per param in a submodule: "self.layers[0].weight" without "self." */
    exp_mod *mods;        /* the submodules */
    int nmods;
    exp_call *calls;      /* per scope */
    int32_t ncalls;
    int32_t *call_of;     /* per node: the scope whose call it is the output of (0: none) */
    bool *hidden;         /* per node: inside a call written as a call */
    bool bare;            /* the next operand is a whole argument: no () */
    bool init_mode;       /* writing a param's initializer: leaves as their constructors */
    bool init_ok;         /* ... and every leaf had one */
    bool size_arg[64];    /* per size variable: an argument of Model() */
    bool self_seq;        /* the session's model is an nn.Sequential: so is the Model */
    int64_t tried[16];
    int ntried;
    char err[256];
} exp_t;

/* ==== Text helpers ==== */

typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *t, size_t k)
{
    if (b->oom) return;
    if (b->n + k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + k + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, t, k);
    b->n += k;
    b->p[b->n] = 0;
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k < sizeof tmp) {
        sb_put(b, tmp, (size_t)k);
        return;
    }
    char *big = malloc((size_t)k + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    sb_put(b, big, (size_t)k);
    free(big);
}

static void sb_str(sbuf *b, const char *t) { sb_put(b, t, strlen(t)); }

/* a Python float literal that reads back as v exactly */
static void py_float(sbuf *b, double v)
{
    char t[40];
    if (isnan(v)) sb_str(b, "float('nan')");
    else if (isinf(v)) sb_str(b, v > 0 ? "float('inf')" : "float('-inf')");
    else sb_str(b, bs_float_repr(v, t, sizeof t));
}

static const char *torch_dtype(bs_dtype t)
{
    switch (t) {
    case BS_F32: return "torch.float32";
    case BS_F16: return "torch.float16";
    case BS_BF16: return "torch.bfloat16";
    case BS_I64: return "torch.int64";
    default: return "torch.float64";
    }
}

/* a Python identifier from a session name: "net.fc1.weight" -> "net_fc1_weight", "z1'" -> "z1_1" */
static void py_ident(const char *label, char *out, size_t len)
{
    size_t k = 0;
    if (!label || !*label || (label[0] >= '0' && label[0] <= '9')) out[k++] = 't';
    for (const char *p = label ? label : ""; *p && k + 2 < len; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '_';
        out[k++] = ok ? ch : '_';
    }
    out[k] = 0;
}

static const char *const py_keywords[] = {
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
#define NPY_KEYWORDS 35
    "self", "torch", "nn", "F", "np", "args", "model", "opt", "loss", "main",
    "os", "sys", "argparse",
};

static bool reserved(const char *id)
{
    for (size_t i = 0; i < sizeof py_keywords / sizeof py_keywords[0]; i++)
        if (!strcmp(py_keywords[i], id)) return true;
    return false;
}

/* ==== Tensors as Python ==== */

/* the nested list of t's values (row-major), as torch.tensor takes it */
static void py_nested(sbuf *b, const bs_tensor *t, int dim, int64_t *off)
{
    if (dim == t->shape.ndim) {
        double v = t->data[(*off)++];
        if (t->dtype == BS_I64) sb_printf(b, "%lld", (long long)v);
        else py_float(b, v);
        return;
    }
    sb_str(b, "[");
    for (int64_t i = 0; i < t->shape.d[dim]; i++) {
        if (i) sb_str(b, ", ");
        py_nested(b, t, dim + 1, off);
    }
    sb_str(b, "]");
}

/* a .npy file (format 1.0) of t: little-endian f8, or i8 for integers */
static bool write_npy(const char *path, const bs_tensor *t)
{
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    char hdr[256], shape[160] = "";
    size_t k = 0;
    for (int d = 0; d < t->shape.ndim; d++)
        k += (size_t)snprintf(shape + k, sizeof shape - k, "%lld,%s", (long long)t->shape.d[d],
                              d + 1 < t->shape.ndim ? " " : "");
    int h = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                     t->dtype == BS_I64 ? "<i8" : "<f8", shape);
    int total = 10 + h + 1;
    int pad = (64 - total % 64) % 64;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    int hl = h + pad + 1;
    pre[8] = (unsigned char)(hl & 0xff);
    pre[9] = (unsigned char)(hl >> 8);
    bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)h, f) == (size_t)h;
    for (int i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    int64_t n = bs_tensor_numel(t);
    for (int64_t i = 0; ok && i < n; i++) {
        unsigned char bytes[8];
        uint64_t u;
        if (t->dtype == BS_I64) {
            int64_t v = (int64_t)t->data[i];
            memcpy(&u, &v, 8);
        } else {
            memcpy(&u, &t->data[i], 8);
        }
        for (int j = 0; j < 8; j++) bytes[j] = (unsigned char)(u >> (8 * j));
        ok = fwrite(bytes, 1, 8, f) == 8;
    }
    return fclose(f) == 0 && ok;
}

/* torch.tensor(...) of a leaf's current value, inline or from its .npy file */
static bool py_tensor(exp_t *x, sbuf *b, const bs_tensor *t, const char *ident)
{
    if (bs_tensor_numel(t) <= INLINE_MAX) {
        int64_t off = 0;
        sb_str(b, "torch.tensor(");
        py_nested(b, t, 0, &off);
        sb_printf(b, ", dtype=%s)", torch_dtype(t->dtype));
        return true;
    }
    if (mkdir(x->dir, 0777) && errno != EEXIST) {
        snprintf(x->err, sizeof x->err, "cannot make %.160s: %s", x->dir, strerror(errno));
        return false;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.npy", x->dir, ident);
    if (!write_npy(path, t)) {
        snprintf(x->err, sizeof x->err, "cannot write %.200s", path);
        return false;
    }
    sb_printf(b, "load_npy(\"%s/%s.npy\", %s)", x->dir_base, ident, torch_dtype(t->dtype));
    return true;
}

/* ==== Ops as PyTorch ==== */

/* ops written with an operator between or before their operands: as an operand they need () */
static bool is_infix(int op)
{
    return op == BS_OP_ADD || op == BS_OP_SUB || op == BS_OP_MUL || op == BS_OP_DIV || op == BS_OP_POW ||
           op == BS_OP_NEG || op == BS_OP_MATMUL;
}

static void operand(exp_t *x, sbuf *b, bs_id id);
static void operand_arg(exp_t *x, sbuf *b, bs_id id);
static bool node_expr(exp_t *x, sbuf *b, bs_id id);
static void ctor_expr(exp_t *x, sbuf *b, const bs_node *n);

/* dim d of an input of ndim dims, as a non-negative number */
static int norm_dim(int d, int ndim) { return d < 0 ? d + ndim : d; }

static void slice_bound(sbuf *b, int64_t v, int64_t none)
{
    if (v != none) sb_printf(b, "%lld", (long long)v);
}


/* A size variable as Python: its name (D), or for a size derived from another (3*D, made when
   nn.Linear(D, 3 * D) is recorded) the product with its base ("3 * self.D"); dim_root is the
   variable Model() takes for it */
static int dim_root(exp_t *x, int k)
{
    int64_t mul = 1;
    int base = bs_dim_base(x->c, k, &mul);
    return base >= 0 ? base : k;
}

static void dim_expr(exp_t *x, sbuf *b, int k, const char *prefix)
{
    int64_t mul = 1;
    int base = bs_dim_base(x->c, k, &mul);
    if (base >= 0) sb_printf(b, "%lld * %s%s", (long long)mul, prefix, bs_dim_name(x->c, base));
    else sb_printf(b, "%s%s", prefix, bs_dim_name(x->c, k));
}

/* the expression that computes node n from its operands: every op of core/ops.def has one */
static bool torch_expr(exp_t *x, sbuf *b, const bs_node *n, bs_id id)
{
    const bs_attr *a = &n->attr;
    const bs_node *in0 = bs_node_get(x->c, n->in[0]);
    int nd0 = in0->value.shape.ndim;
#define A operand(x, b, n->in[0])
#define B operand(x, b, n->in[1])
#define C operand(x, b, n->in[2])
#define S(t) sb_str(b, t)
#define AARG operand_arg(x, b, n->in[0])
#define BARG operand_arg(x, b, n->in[1])
#define CARG operand_arg(x, b, n->in[2])
    /* a loss's target: torch wants a tensor of the prediction's shape and dtype, where backstep
       broadcasts a number or a smaller tensor */
    const bs_node *in1 = n->nin > 1 ? bs_node_get(x->c, n->in[1]) : NULL;
    bool widen = in1 && (in1->is_number || !bs_shape_eq(&in1->value.shape, &in0->value.shape));
#define TARGET                                                                                   \
    do {                                                                                         \
        if (in1->is_number) { S("torch.full_like("); AARG; S(", "); BARG; S(")"); }                     \
        else if (widen) { S("torch.broadcast_to("); BARG; S(", "); A; S(".shape).to("); A; S(".dtype)"); } \
        else B;                                                                                  \
    } while (0)
    switch (n->op) {
    case BS_OP_ADD: A; S(" + "); B; return true;
    case BS_OP_SUB: A; S(" - "); B; return true;
    case BS_OP_MUL: A; S(" * "); B; return true;
    case BS_OP_DIV: A; S(" / "); B; return true;
    case BS_OP_POW: A; S(" ** "); B; return true;
    case BS_OP_NEG: S("-"); A; return true;
    case BS_OP_RELU: S("torch.relu("); AARG; S(")"); return true;
    case BS_OP_LEAKY_RELU: S("F.leaky_relu("); AARG; S(", "); py_float(b, a->k); S(")"); return true;
    case BS_OP_SIGMOID: S("torch.sigmoid("); AARG; S(")"); return true;
    case BS_OP_TANH: S("torch.tanh("); AARG; S(")"); return true;
    case BS_OP_EXP: S("torch.exp("); AARG; S(")"); return true;
    case BS_OP_LOG: S("torch.log("); AARG; S(")"); return true;
    case BS_OP_SQRT: S("torch.sqrt("); AARG; S(")"); return true;
    case BS_OP_ABS: S("torch.abs("); AARG; S(")"); return true;
    case BS_OP_SIN: S("torch.sin("); AARG; S(")"); return true;
    case BS_OP_COS: S("torch.cos("); AARG; S(")"); return true;
    case BS_OP_ERF: S("torch.erf("); AARG; S(")"); return true;
    case BS_OP_GELU:
        S("F.gelu(");
        A;
        S(a->k == BS_GELU_TANH ? ", approximate='tanh')" : ")");
        return true;
    case BS_OP_SILU: S("F.silu("); AARG; S(")"); return true;
    case BS_OP_SOFTPLUS: S("F.softplus("); AARG; S(")"); return true;
    case BS_OP_CLAMP:
        S("torch.clamp(");
        A;
        if (!isinf(a->k)) { S(", min="); py_float(b, a->k); }
        if (!isinf(a->k2)) { S(", max="); py_float(b, a->k2); }
        S(")");
        return true;
    case BS_OP_MATMUL: A; S(" @ "); B; return true;
    case BS_OP_TRANSPOSE:
        A;
        if (nd0 <= 2) {
            S(".T");
        } else {
            S(".permute(");
            for (int d = nd0 - 1; d >= 0; d--) sb_printf(b, "%d%s", d, d ? ", " : ")");
        }
        return true;
    case BS_OP_RESHAPE:
        A;
        S(".reshape(");
        for (int d = 0; d < a->shape.ndim; d++) {
            if (d == 0 && x->batch && x->rows[id]) S("-1"); /* a rank's rows */
            else if (x->init_mode && a->shape_sym[d] >= 0) dim_expr(x, b, a->shape_sym[d], "");
            else if (a->shape_sym[d] >= 0 && x->size_arg[dim_root(x, a->shape_sym[d])])
                dim_expr(x, b, a->shape_sym[d], "self.");
            else sb_printf(b, "%lld", (long long)a->shape.d[d]);
            S(d + 1 < a->shape.ndim ? ", " : "");
        }
        S(a->shape.ndim == 0 ? "())" : ")");
        return true;
    case BS_OP_SUM:
    case BS_OP_MEAN:
    case BS_OP_MAX:
        sb_printf(b, "torch.%s(", n->op == BS_OP_SUM ? "sum" : n->op == BS_OP_MEAN ? "mean" : "max");
        A;
        if (a->dim != BS_DIM_ALL)
            sb_printf(b, ", dim=%d, keepdim=%s)%s", a->dim, a->keepdim ? "True" : "False",
                      n->op == BS_OP_MAX ? ".values" : "");
        else if (a->keepdim) /* every dim kept, as 1 */
            sb_printf(b, ").reshape([1] * %d)", nd0);
        else
            S(")");
        return true;
    case BS_OP_SOFTMAX: S("torch.softmax("); A; sb_printf(b, ", dim=%d)", a->dim); return true;
    case BS_OP_LOG_SOFTMAX: S("torch.log_softmax("); A; sb_printf(b, ", dim=%d)", a->dim); return true;
    case BS_OP_LAYERNORM: S("F.layer_norm("); AARG; S(", "); A; S(".shape[-1:], eps="); py_float(b, a->k); S(")"); return true;
    case BS_OP_MSE: S("F.mse_loss("); AARG; S(", "); TARGET; S(")"); return true;
    case BS_OP_BCE: S("F.binary_cross_entropy("); AARG; S(", "); TARGET; S(")"); return true;
    case BS_OP_BCE_LOGITS: S("F.binary_cross_entropy_with_logits("); AARG; S(", "); TARGET; S(")"); return true;
    case BS_OP_CROSS_ENTROPY: S("F.cross_entropy("); AARG; S(", "); BARG; S(")"); return true;
    case BS_OP_SELECT: A; sb_printf(b, ".select(%d, %lld)", norm_dim(a->dim, nd0), (long long)a->start); return true;
    case BS_OP_SLICE: {
        A;
        S("[");
        for (int d = 0; d < norm_dim(a->dim, nd0); d++) S(":, ");
        slice_bound(b, a->start, BS_SLICE_NO_START);
        S(":");
        slice_bound(b, a->stop, BS_SLICE_NO_STOP);
        if (a->step != 1) sb_printf(b, ":%lld", (long long)a->step);
        S("]");
        return true;
    }
    case BS_OP_INDEX_SELECT: {
        /* x[idx]: a 0-d index removes the dim, as backstep's op does */
        const bs_node *ix = bs_node_get(x->c, n->in[1]);
        S("torch.index_select(");
        A;
        sb_printf(b, ", %d, ", norm_dim(a->dim, nd0));
        B;
        S(ix->value.shape.ndim == 0 ? ".reshape(1))" : ")");
        if (ix->value.shape.ndim == 0) sb_printf(b, ".squeeze(%d)", norm_dim(a->dim, nd0));
        return true;
    }
    case BS_OP_CAT: S("torch.cat(["); A; S(", "); B; sb_printf(b, "], dim=%d)", a->dim); return true;
    case BS_OP_WHERE: S("torch.where("); A; S(" != 0, "); BARG; S(", "); CARG; S(")"); return true;
    case BS_OP_MASKED_FILL: A; S(".masked_fill("); B; S(" != 0, "); CARG; S(")"); return true;
    case BS_OP_PERMUTE: /* issue 16's ops: the dims as given, the diagonal */
        A;
        S(".permute(");
        for (int d = 0; d < a->shape.ndim; d++)
            sb_printf(b, "%lld%s", (long long)a->shape.d[d], d + 1 < a->shape.ndim ? ", " : "");
        S(")");
        return true;
    case BS_OP_TRIL: S("torch.tril("); A; sb_printf(b, ", diagonal=%lld)", (long long)a->start); return true;
    case BS_OP_TRIU: S("torch.triu("); A; sb_printf(b, ", diagonal=%lld)", (long long)a->start); return true;
    default: break;
    }
#undef A
#undef B
#undef C
#undef AARG
#undef BARG
#undef CARG
#undef S
#undef TARGET
    snprintf(x->err, sizeof x->err, "op %s has no PyTorch spelling in the exporter",
             n->op >= 0 && n->op < BS_OP_COUNT ? bs_ops[n->op].name : "(a leaf)");
    return false;
}

/* how node id appears as an operand: its name, a literal, or its expression inlined */
static void operand(exp_t *x, sbuf *b, bs_id id)
{
    const bs_node *n = bs_node_get(x->c, id);
    if (x->init_mode && !n->is_number) { /* a param's initializer: no names, leaves as constructors */
        if (n->op == BS_OP_LEAF || n->nin == 0 || (n->init == BS_INIT_COPY && n->init_src >= 0)) {
            ctor_expr(x, b, n);
            return;
        }
        sb_str(b, "(");
        if (!torch_expr(x, b, n, id)) x->init_ok = false;
        sb_str(b, ")");
        return;
    }
    if (x->is_param[id] && x->pexpr[id]) {
        sb_str(b, x->pexpr[id]);
        return;
    }
    if (x->name[id]) {
        if (x->is_param[id] || (x->is_buffer[id] && !x->batched[id])) sb_str(b, "self.");
        sb_str(b, x->name[id]);
        return;
    }
    if (x->call_of[id]) {
        node_expr(x, b, id);
        return;
    }
    if (n->is_number) { /* a Python number the user typed */
        if (n->value.dtype == BS_I64) sb_printf(b, "%lld", (long long)n->value.data[0]);
        else py_float(b, n->value.data[0]);
        return;
    }
    bool infix = x->bare ? false : is_infix(n->op);
    x->bare = false;
    if (infix) sb_str(b, "(");
    torch_expr(x, b, n, id);
    if (infix) sb_str(b, ")");
}

/* an operand that is a whole argument of a call: no parentheses */
static void operand_arg(exp_t *x, sbuf *b, bs_id id)
{
    x->bare = true;
    operand(x, b, id);
    x->bare = false;
}

/* node id's expression: a module's call, self.fc1(h), or its op */
static bool node_expr(exp_t *x, sbuf *b, bs_id id)
{
    int32_t sc = x->call_of[id];
    if (sc) {
        int m = x->calls[sc].mod;
        sb_printf(b, "%s(", m < 0 ? "super().forward" : x->mods[m].expr);
        operand(x, b, x->calls[sc].in);
        sb_str(b, ")");
        return true;
    }
    return torch_expr(x, b, bs_node_get(x->c, id), id);
}

/* ==== The batch, for --ddp ====
 * Under --ddp each rank takes its contiguous shard of the global batch. That is exact only when
 * the loss is a mean or a sum over the batch's rows of something each row computes alone; this
 * walks the graph to find out. A node is CONST (no data of the batch in it), BATCH (each row
 * computed from its own sample alone), MEAN or SUM (an affine function of means or sums over the
 * rows), SUMC (a sum plus a term without the batch), or BAD (rows mixed in another way). A MEAN
 * root is exact with each rank's loss weighted by world * its rows / all rows, a SUM root with a
 * weight of world; DDP's average of the grads is then the whole batch's.
 *
 * A BATCH node's dim 0 holds B * f entries, sample r's being entries r*f .. r*f + f - 1 (its
 * contiguous block of the flat data): f = 1 for the data itself, f = S where a reshape merged
 * (B, S, ...) into (B*S, ...) positions, and a reshape that splits them again (B*S -> B, S) gives
 * f = 1 back. A reshape keeps each sample's block of the flat data, so it keeps the rows whenever
 * its output's dim 0 is a multiple of B. Two batched inputs of one op line up when their dims 0
 * are equal. Ops that mix entries along other dims (softmax over positions, a causal mask, a
 * matmul batched over the rows and heads) mix within a sample and stay BATCH; any op that mixes or
 * reorders dim 0 (a reduction over it feeding a batched op, a matmul contracting over it, a
 * transpose or permute that moves it, a tril of a 2-D batch) is BAD. Means over dim 0 of B * f
 * entries are means over the rows (each has f), so a rank's weight counts rows of B. The data
 * rows are the leaves with dim 0 = B; a node made from them without grad (idx.view(-1) of the
 * tokens) whose dim 0 is B * f with f > 1 is computed in forward() from them (x->computed). */
enum { K_CONST, K_BATCH, K_MEAN, K_SUM, K_SUMC, K_BAD };

/* an input of a row-wise elementwise op: a batched one has the output's dims, a constant one
   broadcasts without a batch dim */
static bool ew_ok(const bs_node *in, int k, const bs_shape *out)
{
    if (k == K_BATCH) return in->value.shape.ndim == out->ndim && in->value.shape.d[0] == out->d[0];
    return in->is_number || in->value.shape.ndim < out->ndim || in->value.shape.d[0] == 1;
}

/* a linear op on reduced inputs (MEAN, SUM) and constants: the family of the reduced ones */
static int linear_kind(const int *k, int nin, bool const_term)
{
    int fam = K_CONST;
    bool sumc = false;
    for (int i = 0; i < nin; i++) {
        if (k[i] == K_CONST) continue;
        int f = k[i] == K_SUMC ? K_SUM : k[i];
        if (fam != K_CONST && f != fam) return K_BAD; /* a mean and a sum */
        fam = f;
        sumc = sumc || k[i] == K_SUMC;
    }
    if (fam == K_SUM && (sumc || const_term)) return K_SUMC;
    return fam;
}

/* an index target of cross_entropy: the session's values (its data) hold no ignored -100, so the
   mean is over every position */
static bool xent_all_rows(const bs_node *t)
{
    if (t->value.dtype != BS_I64) return true; /* probabilities: a mean over every row */
    int64_t m = bs_tensor_numel(&t->value);
    for (int64_t i = 0; i < m; i++)
        if (t->value.data[i] == -100) return false;
    return true;
}

/* the kind of an op's output from its inputs' kinds */
static int op_kind(exp_t *x, const bs_node *n, const int *kind, int64_t B)
{
    int k[BS_MAX_INPUTS];
    const bs_node *in[BS_MAX_INPUTS];
    bool batched = false, reduced = false, any_const = false;
    int64_t rows_in = 0; /* dim 0 of the first batched input */
    for (int i = 0; i < n->nin; i++) {
        in[i] = bs_node_get(x->c, n->in[i]);
        k[i] = kind[n->in[i]];
        if (k[i] == K_BAD) return K_BAD;
        if (k[i] == K_BATCH && !batched) rows_in = in[i]->value.shape.d[0];
        batched = batched || k[i] == K_BATCH;
        reduced = reduced || k[i] >= K_MEAN;
        any_const = any_const || k[i] == K_CONST;
    }
    if (!batched && !reduced) return K_CONST;
    if (batched && reduced) return K_BAD;
    const bs_attr *a = &n->attr;
    const bs_shape *out = &n->value.shape;
    int nd0 = in[0]->value.shape.ndim;
    int64_t rows0 = nd0 >= 1 ? in[0]->value.shape.d[0] : 0; /* dim 0 of input 0 */
    int dim0 = a->dim == BS_DIM_ALL ? BS_DIM_ALL : norm_dim(a->dim, nd0);
    if (reduced) {
        switch (n->op) {
        case BS_OP_ADD:
        case BS_OP_SUB:
        case BS_OP_CAT: return linear_kind(k, n->nin, any_const);
        case BS_OP_MUL:
        case BS_OP_MATMUL: return any_const ? linear_kind(k, n->nin, false) : K_BAD;
        case BS_OP_DIV:
        case BS_OP_INDEX_SELECT: return k[1] == K_CONST ? linear_kind(k, 1, false) : K_BAD;
        case BS_OP_NEG:
        case BS_OP_RESHAPE:
        case BS_OP_TRANSPOSE:
        case BS_OP_PERMUTE:
        case BS_OP_SUM:
        case BS_OP_MEAN:
        case BS_OP_SELECT:
        case BS_OP_SLICE: return linear_kind(k, 1, false);
        case BS_OP_WHERE: return k[0] == K_CONST ? linear_kind(k + 1, 2, any_const) : K_BAD;
        case BS_OP_MASKED_FILL:
            return k[1] == K_CONST && k[2] == K_CONST ? linear_kind(k, 1, true) : K_BAD;
        default: return K_BAD;
        }
    }
    int r = K_BAD;
    switch (n->op) {
    case BS_OP_MATMUL: {
        int nd1 = in[1]->value.shape.ndim;
        if (k[0] == K_BATCH && nd0 >= 2 && k[1] == K_CONST && nd1 <= 2) r = K_BATCH; /* x @ W */
        else if (k[0] == K_BATCH && k[1] == K_BATCH && nd0 >= 3 && nd1 == nd0 &&
                 in[1]->value.shape.d[0] == rows0)
            r = K_BATCH; /* batched over the rows (and heads): q @ k.mT, att @ v */
        else if (k[0] == K_CONST && nd0 <= 2 && k[1] == K_BATCH && nd1 >= 3)
            r = K_BATCH; /* a (T, T) weighting of each sample's positions: wei @ x */
        break; /* contracting over dim 0 mixes the rows */
    }
    case BS_OP_RESHAPE: /* each sample's block of the flat data is kept */
        if (out->ndim >= 1 && out->d[0] % B == 0 && rows0 % B == 0) r = K_BATCH;
        break;
    case BS_OP_PERMUTE:
        if (a->shape.ndim >= 1 && a->shape.d[0] == 0) r = K_BATCH; /* dim 0 stays first */
        break;
    case BS_OP_TRIL:
    case BS_OP_TRIU: /* the last two dims: a 2-D batch's mask would depend on the row's index */
        if (nd0 >= 3) r = K_BATCH;
        break;
    case BS_OP_SUM:
    case BS_OP_MEAN:
    case BS_OP_MAX: /* over dim 0's B * f entries: f of each row's */
        if (dim0 == BS_DIM_ALL || dim0 == 0)
            r = n->op == BS_OP_SUM ? K_SUM : n->op == BS_OP_MEAN ? K_MEAN : K_BAD;
        else r = K_BATCH;
        break;
    case BS_OP_SOFTMAX:
    case BS_OP_LOG_SOFTMAX:
        if (dim0 != 0) r = K_BATCH;
        break;
    case BS_OP_LAYERNORM:
        if (nd0 >= 2) r = K_BATCH;
        break;
    case BS_OP_MSE:
    case BS_OP_BCE:
    case BS_OP_BCE_LOGITS: /* means over every element */
        if (k[0] == K_BATCH && ew_ok(in[1], k[1], &in[0]->value.shape)) return K_MEAN;
        return K_BAD;
    case BS_OP_CROSS_ENTROPY: /* a mean over the positions, f of each row's */
        return k[0] == K_BATCH && k[1] == K_BATCH && nd0 == 2 && in[1]->value.shape.d[0] == rows0 &&
                       xent_all_rows(in[1])
                   ? K_MEAN
                   : K_BAD;
    case BS_OP_SELECT:
    case BS_OP_SLICE:
        if (dim0 != 0) r = K_BATCH;
        break;
    case BS_OP_INDEX_SELECT: /* rows of a table picked by a batch of indices (an embedding) */
        if (k[0] == K_CONST && dim0 == 0) r = K_BATCH;
        else if (k[0] == K_BATCH && k[1] == K_CONST && dim0 != 0) r = K_BATCH;
        break;
    case BS_OP_CAT:
        if (k[0] == K_BATCH && k[1] == K_BATCH && norm_dim(a->dim, nd0) != 0 &&
            in[1]->value.shape.d[0] == rows0)
            r = K_BATCH;
        break;
    case BS_OP_WHERE:
    case BS_OP_MASKED_FILL:
        r = K_BATCH;
        for (int i = 0; i < n->nin; i++)
            if (!ew_ok(in[i], k[i], out)) r = K_BAD;
        break;
    default:
        if (n->op >= 0 && n->op < BS_OP_COUNT && bs_ops[n->op].kind == BS_K_EW) {
            r = K_BATCH;
            for (int i = 0; i < n->nin; i++)
                if (!ew_ok(in[i], k[i], out)) r = K_BAD;
        }
        break;
    }
    /* dim 0 as its batched input's (a reshape's was checked above) */
    if (r == K_BATCH && !(out->ndim >= 1 && out->d[0] % B == 0 && (n->op == BS_OP_RESHAPE || out->d[0] == rows_in)))
        r = K_BAD;
    return r;
}

/* a leaf is data of the batch when its dim 0 is B; one made without grad from the batch's data
   (a view of the tokens) keeps its op's kind when that splits the rows into positions */
static int node_kind(exp_t *x, const bs_node *n, const int *kind, int64_t B)
{
    if (!n->is_leaf && n->op != BS_OP_LEAF) return op_kind(x, n, kind, B);
    if (n->requires_grad || n->is_number || n->value.shape.ndim < 1) return K_CONST;
    if (n->value.shape.d[0] == B) return K_BATCH;
    if (n->op != BS_OP_LEAF && n->nin > 0 && op_kind(x, n, kind, B) == K_BATCH) return K_BATCH;
    return K_CONST; /* its value, computed once: the same on every rank */
}

/* the root's kind with the buffers of dim 0 = B as the batch */
static int root_kind(exp_t *x, bs_id root, int64_t B, int *kind)
{
    for (bs_id i = 0; i <= root; i++)
        if (x->in_graph[i]) kind[i] = node_kind(x, bs_node_get(x->c, i), kind, B);
    int k = kind[root];
    if (k == K_BATCH && bs_tensor_numel(&bs_node_get(x->c, root)->value) != 1)
        k = K_SUM; /* the program sums a tensor root */
    return k;
}

static bool tried(const exp_t *x, int64_t b)
{
    for (int i = 0; i < x->ntried; i++)
        if (x->tried[i] == b) return true;
    return false;
}

/* finds the batch: the size of dim 0 shared by the data that makes the loss a mean or a sum over
   rows (the one with the most such buffers first); x->batch stays 0 where there is none */
static bool find_batch(exp_t *x, bs_id root)
{
    int *kind = calloc((size_t)root + 1, sizeof *kind);
    if (!kind) return false;
    x->batch = 0;
    x->batch_kind = K_CONST;
    for (;;) {
        int64_t best = 0;
        int bestn = 0;
        for (bs_id i = 0; i <= root; i++) { /* the most common dim 0 not tried yet */
            if (!x->in_graph[i] || !x->is_buffer[i]) continue;
            const bs_shape *sh = &bs_node_get(x->c, i)->value.shape;
            if (sh->ndim < 1 || sh->d[0] < 2 || tried(x, sh->d[0])) continue;
            int cnt = 0;
            for (bs_id j = 0; j <= root; j++) {
                const bs_shape *sj = &bs_node_get(x->c, j)->value.shape;
                cnt += x->in_graph[j] && x->is_buffer[j] && sj->ndim >= 1 && sj->d[0] == sh->d[0];
            }
            if (cnt > bestn) {
                bestn = cnt;
                best = sh->d[0];
            }
        }
        if (!best) break;
        x->tried[x->ntried++] = best;
        int k = root_kind(x, root, best, kind);
        if (k == K_MEAN || k == K_SUM) {
            x->batch = best;
            x->batch_kind = k;
            for (bs_id i = 0; i <= root; i++) {
                x->rows[i] = x->in_graph[i] && kind[i] == K_BATCH;
                if (x->rows[i] && x->is_buffer[i] && bs_node_get(x->c, i)->value.shape.d[0] != best)
                    x->is_buffer[i] = false; /* positions of the rows: computed in forward() */
                x->batched[i] = x->rows[i] && x->is_buffer[i];
            }
            break;
        }
        if (x->ntried == (int)(sizeof x->tried / sizeof x->tried[0])) break;
    }
    free(kind);
    return true;
}

/* ==== Modules as submodules ====
 * A param named by a module path ("model.layers.0.weight") lives in a submodule of the exported
 * Model at that path, less the one module every such param shares ("model."), so that the Model's
 * state_dict() keys are the session's model.named_parameters() names. A call of a torch module
 * (Linear, LayerNorm, Embedding, an activation, a Sequential of those) whose recorded ops are the
 * module's own is written as the call, self.layers(x); other calls are written op by op. */

static bool is_ident(const char *t, size_t k)
{
    if (!k || (t[0] >= '0' && t[0] <= '9')) return false;
    for (size_t i = 0; i < k; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '_'))
            return false;
    char w[64];
    if (k >= sizeof w) return false;
    memcpy(w, t, k);
    w[k] = 0;
    for (size_t i = 0; i < NPY_KEYWORDS; i++) /* Python's own words; "model" is a fine attribute */
        if (!strcmp(py_keywords[i], w)) return false;
    return true;
}

static bool is_digits(const char *t, size_t k)
{
    if (!k) return false;
    for (size_t i = 0; i < k; i++)
        if (t[i] < '0' || t[i] > '9') return false;
    return true;
}

/* a dotted path whose parts are identifiers or indices */
static bool good_path(const char *p)
{
    while (*p) {
        const char *d = strchr(p, '.');
        size_t k = d ? (size_t)(d - p) : strlen(p);
        if (!is_ident(p, k) && !is_digits(p, k)) return false;
        if (!d) return true;
        p = d + 1;
    }
    return false;
}

/* the scope's type and name: "fc1 (Linear)" -> "Linear"; NULL for a function's scope */
static const char *scope_type(const char *nm, char *who, size_t len, char *t, size_t tlen)
{
    const char *o = nm ? strstr(nm, " (") : NULL;
    if (!o) return NULL;
    snprintf(who, len, "%.*s", (int)(o - nm), nm);
    snprintf(t, tlen, "%s", o + 2);
    char *e = strchr(t, ')');
    if (e) *e = 0;
    return t;
}

/* the module path of call scope s: the module names of the scopes above it, without the
   session's model prefix */
static void call_path(const bs_ctx *c, int32_t s, const char *prefix, size_t pl, char *p, size_t len)
{
    char path[256] = "", tb[48];
    for (int32_t t = s; t > 0; t = bs_scope_parent(c, t)) {
        char w[128], tmp[256];
        if (!scope_type(bs_scope_name(c, t), w, sizeof w, tb, sizeof tb)) continue;
        snprintf(tmp, sizeof tmp, "%s%s%s", w, *path ? "." : "", path);
        snprintf(path, sizeof path, "%s", tmp);
    }
    snprintf(p, len, "%s", pl && !strncmp(path, prefix, pl) && path[pl] == '.' ? path + pl + 1 : path);
}

static bool in_scope(const bs_ctx *c, int32_t s, int32_t anc);

/* whether every param the nodes of call scope s use is named under path p */
static bool params_under(const exp_t *x, bs_id root, int32_t s, const char *p)
{
    size_t n = strlen(p);
    for (bs_id i = 0; i <= root; i++) {
        const bs_node *nd = bs_node_get(x->c, i);
        if (!x->in_graph[i] || x->is_param[i] || !in_scope(x->c, nd->scope, s)) continue;
        for (int j = 0; j < nd->nin; j++) {
            const char *pn = x->is_param[nd->in[j]] ? x->name[nd->in[j]] : NULL;
            if (pn && (strncmp(pn, p, n) || pn[n] != '.')) return false;
        }
    }
    return true;
}

static int find_mod(exp_t *x, const char *path)
{
    for (int i = 0; i < x->nmods; i++)
        if (!strcmp(x->mods[i].path, path)) return i;
    return -1;
}

/* the module at path (and its parents), made on first use */
static int add_mod(exp_t *x, const char *path)
{
    int m = find_mod(x, path);
    if (m >= 0) return m;
    const char *dot = strrchr(path, '.');
    int parent = -1;
    if (dot) {
        char *pp = strndup(path, (size_t)(dot - path));
        if (!pp) return -1;
        parent = add_mod(x, pp);
        free(pp);
        if (parent < 0) return -1;
    }
    exp_mod *q = realloc(x->mods, (size_t)(x->nmods + 1) * sizeof *q);
    if (!q) return -1;
    x->mods = q;
    exp_mod *md = &x->mods[x->nmods];
    memset(md, 0, sizeof *md);
    md->path = strdup(path);
    md->parent = parent;
    if (!md->path) return -1;
    return x->nmods++;
}

/* the call of a known module: its ops are exactly the module's (pattern by type) */
/* path: the module's path by the scopes; a module with params takes it from its weight's name
   instead (a ModuleList's `for b in self.blocks: b(h)` calls its Linears "b") */
static bool weight_path(exp_t *x, bs_id w, char *path, size_t plen)
{
    const char *nm = x->is_param[w] ? x->name[w] : NULL;
    size_t k = nm ? strlen(nm) : 0;
    if (k < 8 || strcmp(nm + k - 7, ".weight")) return false;
    snprintf(path, plen, "%.*s", (int)(k - 7), nm);
    return true;
}

static bool call_pattern(exp_t *x, const char *type, bs_id in, bs_id out, char *path, size_t plen,
                         int nnodes, char *ctor, size_t len)
{
    const bs_ctx *c = x->c;
    const bs_node *o = bs_node_get(c, out);
    char want[300];
    /* the module's param named NAME: a param labelled PATH.NAME (after the shared prefix) */
#define PARAM_IS(id, nm) (x->is_param[id] && x->name[id] && \
                          (snprintf(want, sizeof want, "%s.%s", path, nm), !strcmp(x->name[id], want)))
    if (!strcmp(type, "Linear")) {
        const bs_node *mm = o;
        bool bias = false;
        if (o->op == BS_OP_ADD && nnodes == 3) {
            mm = bs_node_get(c, o->in[0]);
            bias = true;
        } else if (nnodes != 2) {
            return false;
        }
        if (mm->op != BS_OP_MATMUL || mm->in[0] != in) return false;
        const bs_node *t = bs_node_get(c, mm->in[1]);
        if (t->op != BS_OP_TRANSPOSE || !weight_path(x, t->in[0], path, plen)) return false;
        if (bias && !PARAM_IS(o->in[1], "bias")) return false;
        const bs_shape *w = &bs_node_get(c, t->in[0])->value.shape;
        if (w->ndim != 2) return false;
        snprintf(ctor, len, "nn.Linear(%lld, %lld%s)", (long long)w->d[1], (long long)w->d[0],
                 bias ? "" : ", bias=False");
        return true;
    }
    if (!strcmp(type, "LayerNorm")) {
        if (nnodes != 3 || o->op != BS_OP_ADD) return false;
        const bs_node *mu = bs_node_get(c, o->in[0]);
        if (mu->op != BS_OP_MUL || !weight_path(x, mu->in[1], path, plen) || !PARAM_IS(o->in[1], "bias"))
            return false;
        const bs_node *ln = bs_node_get(c, mu->in[0]);
        if (ln->op != BS_OP_LAYERNORM || ln->in[0] != in) return false;
        const bs_shape *w = &bs_node_get(c, mu->in[1])->value.shape;
        if (w->ndim != 1) return false;
        char eps[40];
        snprintf(ctor, len, "nn.LayerNorm(%lld, eps=%s)", (long long)w->d[0], bs_float_repr(ln->attr.k, eps, sizeof eps));
        return true;
    }
    if (!strcmp(type, "Embedding")) {
        if (nnodes != 1 || o->op != BS_OP_INDEX_SELECT || o->in[1] != in || o->attr.dim != 0 ||
            !weight_path(x, o->in[0], path, plen) || bs_node_get(c, in)->value.shape.ndim != 1)
            return false;
        const bs_shape *w = &bs_node_get(c, o->in[0])->value.shape;
        snprintf(ctor, len, "nn.Embedding(%lld, %lld)", (long long)w->d[0], (long long)w->d[1]);
        return true;
    }
#undef PARAM_IS
    if (nnodes != 1 || o->nin != 1 || o->in[0] != in) return false;
    static const struct { const char *type; bs_op op; } acts[] = {
        {"ReLU", BS_OP_RELU}, {"Sigmoid", BS_OP_SIGMOID}, {"Tanh", BS_OP_TANH}, {"SiLU", BS_OP_SILU},
        {"Softplus", BS_OP_SOFTPLUS}, {"LeakyReLU", BS_OP_LEAKY_RELU}, {"GELU", BS_OP_GELU},
        {"Softmax", BS_OP_SOFTMAX}, {"LogSoftmax", BS_OP_LOG_SOFTMAX},
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        if (strcmp(type, acts[i].type) || o->op != acts[i].op) continue;
        char k[40];
        if (o->op == BS_OP_LEAKY_RELU) snprintf(ctor, len, "nn.LeakyReLU(%s)", bs_float_repr(o->attr.k, k, sizeof k));
        else if (o->op == BS_OP_GELU) snprintf(ctor, len, "nn.GELU(%s)", o->attr.k == BS_GELU_TANH ? "approximate='tanh'" : "");
        else if (o->op == BS_OP_SOFTMAX || o->op == BS_OP_LOG_SOFTMAX) snprintf(ctor, len, "nn.%s(dim=%d)", type, o->attr.dim);
        else snprintf(ctor, len, "nn.%s()", type);
        return true;
    }
    return false;
}

static bool in_scope(const bs_ctx *c, int32_t s, int32_t anc)
{
    for (int guard = 0; s > 0 && guard < 1000000; guard++, s = bs_scope_parent(c, s))
        if (s == anc) return true;
    return false;
}

static const char *last_part(const char *path)
{
    const char *d = strrchr(path, '.');
    return d ? d + 1 : path;
}

/* the children of module parent (-1: the Model) in the order they are made: named ones as they
   came, then indices in order (a Sequential runs its children in that order) */
static int mod_children(const exp_t *x, int parent, int *out)
{
    int k = 0;
    for (int j = 0; j < x->nmods; j++) {
        const char *l = last_part(x->mods[j].path);
        if (x->mods[j].parent == parent && !is_digits(l, strlen(l))) out[k++] = j;
    }
    int first = k;
    for (int j = 0; j < x->nmods; j++) {
        const char *l = last_part(x->mods[j].path);
        if (x->mods[j].parent != parent || !is_digits(l, strlen(l))) continue;
        int at = k++;
        while (at > first && atoi(last_part(x->mods[out[at - 1]].path)) > atoi(l)) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = j;
    }
    return k;
}

/* module m's Python expression: self.fc1, self.layers[0], getattr(self, "0") */
static void mod_expr(exp_t *x, int m)
{
    exp_mod *md = &x->mods[m];
    if (md->expr) return;
    if (md->parent >= 0) mod_expr(x, md->parent);
    const char *pe = md->parent < 0 ? "self" : x->mods[md->parent].expr;
    if (!pe) return;
    const char *last = last_part(md->path);
    char buf[512];
    if (!is_digits(last, strlen(last))) {
        snprintf(buf, sizeof buf, "%s.%s", pe, last);
    } else {
        /* pe[k] when the container is a list whose children are exactly 0..n-1 */
        const char *pc = md->parent >= 0 ? x->mods[md->parent].ctor : x->self_seq ? "nn.Sequential()" : "";
        bool list = !strcmp(pc, "nn.Sequential()") || !strcmp(pc, "nn.ModuleList()");
        int *kids = malloc((size_t)x->nmods * sizeof *kids);
        if (!kids) return;
        int nk = mod_children(x, md->parent, kids);
        for (int j = 0; j < nk && list; j++) {
            const char *lj = last_part(x->mods[kids[j]].path);
            list = is_digits(lj, strlen(lj)) && atoi(lj) == j;
        }
        free(kids);
        if (list) snprintf(buf, sizeof buf, "%s[%s]", pe, last);
        else snprintf(buf, sizeof buf, "getattr(%s, \"%s\")", pe, last);
    }
    md->expr = strdup(buf);
}

/* params' dotted names, the submodules, and the calls written as calls */
static bool find_modules(exp_t *x, bs_id root)
{
    const bs_ctx *c = x->c;
    /* the prefix every module param shares */
    char prefix[96] = "";
    bool any = false, shared = true;
    for (bs_id i = 0; i <= root; i++) {
        if (!x->in_graph[i] || !x->is_param[i]) continue;
        const char *l = bs_node_get(c, i)->label;
        if (!l || !strchr(l, '.')) continue;
        if (!good_path(l)) return true; /* a name Python cannot spell: flat names */
        size_t k = (size_t)(strchr(l, '.') - l);
        if (!any) snprintf(prefix, sizeof prefix, "%.*s", (int)k, l);
        else if (strlen(prefix) != k || strncmp(prefix, l, k)) shared = false;
        any = true;
    }
    if (!any) return true;
    if (!shared) prefix[0] = 0;
    size_t pl = strlen(prefix);
    for (bs_id i = 0; i <= root; i++) { /* dotted names for module params */
        if (!x->in_graph[i] || !x->is_param[i]) continue;
        const char *l = bs_node_get(c, i)->label;
        if (!l || !strchr(l, '.')) continue;
        const char *key = pl && !strncmp(l, prefix, pl) && l[pl] == '.' ? l + pl + 1 : l;
        char *nm = strdup(key);
        if (!nm) return false;
        free(x->name[i]);
        x->name[i] = nm;
        char *dot = strrchr(nm, '.');
        if (!dot) continue; /* a param of the Model itself: the session's model is one module */
        char *mp = strndup(nm, (size_t)(dot - nm));
        if (!mp || add_mod(x, mp) < 0) {
            free(mp);
            return false;
        }
        free(mp);
    }
    /* the calls: each scope of a module type, innermost first */
    int32_t ns = bs_scope_count(c);
    x->calls = calloc((size_t)ns + 1, sizeof *x->calls);
    int *nodes = calloc((size_t)ns + 1, sizeof *nodes);
    if (!x->calls || !nodes) {
        free(nodes);
        return false;
    }
    x->ncalls = ns + 1;
    for (bs_id i = 0; i <= root; i++)
        if (x->in_graph[i] && !x->is_param[i] && !bs_node_get(c, i)->is_number)
            for (int32_t s = bs_node_get(c, i)->scope; s > 0; s = bs_scope_parent(c, s)) nodes[s]++;
    for (int32_t s = ns; s >= 1; s--) {
        exp_call *k = &x->calls[s];
        k->scope = s;
        k->in = k->out = BS_NONE;
        k->mod = -1;
        char who[128], tb[48], p[256];
        const char *type = scope_type(bs_scope_name(c, s), who, sizeof who, tb, sizeof tb);
        if (!type || !nodes[s]) continue;
        call_path(c, s, prefix, pl, p, sizeof p);
        bool self_call = pl && !strcmp(p, prefix); /* the session's model: the Model itself */
        if (!good_path(p) || (self_call && strcmp(type, "Sequential"))) continue;
        /* a call is the module at p only if the params it and the calls around it use live
           there: a loop variable (`for block in self.blocks: x = block(x)`) names every block
           alike, and such calls (with the calls inside them) are written out op by op */
        bool elsewhere = false;
        for (int32_t t = s; t > 0 && !elsewhere && !self_call; t = bs_scope_parent(c, t)) {
            char w2[128], tb2[48], pt[256];
            if (!scope_type(bs_scope_name(c, t), w2, sizeof w2, tb2, sizeof tb2)) continue;
            call_path(c, t, prefix, pl, pt, sizeof pt);
            if (pl && !strcmp(pt, prefix)) break;
            elsewhere = !params_under(x, root, t, pt);
        }
        if (elsewhere) continue;
        if (self_call) x->self_seq = true;
        /* one input from outside, one output used outside */
        bool bad = false;
        for (bs_id i = 0; i <= root && !bad; i++) {
            if (!x->in_graph[i]) continue;
            const bs_node *n = bs_node_get(c, i);
            bool inside = !x->is_param[i] && !n->is_number && in_scope(c, n->scope, s);
            for (int j = 0; j < n->nin; j++) {
                bs_id a = n->in[j];
                const bs_node *an = bs_node_get(c, a);
                bool ain = !x->is_param[a] && !an->is_number && in_scope(c, an->scope, s);
                if (inside && !ain && !x->is_param[a]) {
                    if (an->is_number || (k->in != BS_NONE && k->in != a)) bad = true;
                    k->in = a;
                }
                if (!inside && ain) {
                    if (k->out != BS_NONE && k->out != a) bad = true;
                    k->out = a;
                }
            }
            if (inside && i == root) {
                if (k->out != BS_NONE && k->out != i) bad = true;
                k->out = i;
            }
        }
        if (bad || k->in == BS_NONE || k->out == BS_NONE) continue;
        int direct = 0; /* nodes in s itself, not in a child call */
        for (bs_id i = 0; i <= root; i++)
            direct += x->in_graph[i] && !x->is_param[i] && !bs_node_get(c, i)->is_number &&
                      bs_node_get(c, i)->scope == s;
        if (!strcmp(type, "Sequential")) {
            /* a chain of child calls that are all written as calls */
            bs_id cur = k->in;
            bool ok = direct == 0;
            for (int32_t t = s + 1; t <= ns && ok; t++) {
                if (bs_scope_parent(c, t) != s) continue;
                if (!x->calls[t].ok || x->calls[t].in != cur) ok = false;
                else cur = x->calls[t].out;
            }
            k->ok = ok && cur == k->out;
            if (k->ok) snprintf(k->ctor, sizeof k->ctor, "nn.Sequential()");
        } else {
            bool kids = false;
            for (int32_t t = s + 1; t <= ns; t++) kids = kids || bs_scope_parent(c, t) == s;
            k->ok = !kids && call_pattern(x, type, k->in, k->out, p, sizeof p, direct, k->ctor, sizeof k->ctor);
        }
        if (!k->ok || self_call) continue;
        k->mod = add_mod(x, p);
        if (k->mod < 0) {
            free(nodes);
            return false;
        }
        exp_mod *md = &x->mods[k->mod];
        if (!md->known) {
            md->ctor = strdup(k->ctor);
            md->known = md->ctor != NULL;
        } else if (strcmp(md->ctor, k->ctor)) {
            k->ok = false; /* one module called as two different ones */
        }
    }
    free(nodes);
    /* the outermost calls are written; the nodes inside them are not */
    for (int32_t s = 1; s <= ns; s++) {
        exp_call *k = &x->calls[s];
        if (!k->ok) continue;
        bool outer = true;
        for (int32_t t = bs_scope_parent(c, s); t > 0 && outer; t = bs_scope_parent(c, t))
            outer = !x->calls[t].ok;
        if (!outer) continue;
        for (bs_id i = 0; i <= root; i++) {
            const bs_node *n = bs_node_get(c, i);
            if (x->in_graph[i] && !x->is_param[i] && !n->is_number && in_scope(c, n->scope, s) && i != k->out)
                x->hidden[i] = true;
        }
        x->call_of[k->out] = s;
    }
    /* the containers' kinds and each module's Python expression */
    for (int m = 0; m < x->nmods; m++) {
        exp_mod *md = &x->mods[m];
        if (!md->ctor) { /* a container: Sequential if it was one in the session */
            const char *kind = "nn.Module()";
            for (int32_t s = 1; s <= ns; s++) {
                char who[128], tb[48];
                const char *t = scope_type(bs_scope_name(c, s), who, sizeof who, tb, sizeof tb);
                const char *last = strrchr(md->path, '.');
                if (t && !strcmp(who, last ? last + 1 : md->path) &&
                    (!strcmp(t, "Sequential") || !strcmp(t, "ModuleList")))
                    kind = !strcmp(t, "Sequential") ? "nn.Sequential()" : "nn.ModuleList()";
            }
            bool kids = false, digits = true; /* only indexed children: a list (ModuleList) */
            for (int j = 0; j < x->nmods; j++) {
                if (x->mods[j].parent != m) continue;
                const char *l = last_part(x->mods[j].path);
                kids = true;
                digits = digits && is_digits(l, strlen(l));
            }
            if (!strcmp(kind, "nn.Module()") && kids && digits) kind = "nn.ModuleList()";
            md->ctor = strdup(kind);
            if (!md->ctor) return false;
        }
    }
    for (int m = 0; m < x->nmods; m++) mod_expr(x, m);
    for (int m = 0; m < x->nmods; m++)
        if (!x->mods[m].expr) return false;
    /* the params' expressions */
    for (bs_id i = 0; i <= root; i++) {
        if (!x->in_graph[i] || !x->is_param[i] || !strchr(x->name[i], '.')) continue;
        char *dot = strrchr(x->name[i], '.');
        char *mp = strndup(x->name[i], (size_t)(dot - x->name[i]));
        int m = mp ? find_mod(x, mp) : -1;
        free(mp);
        if (m < 0) return false;
        char buf[512];
        snprintf(buf, sizeof buf, "%s.%s", x->mods[m].expr, dot + 1);
        x->pexpr[i] = strdup(buf);
        if (!x->pexpr[i]) return false;
    }
    return true;
}

/* ==== Size variables as Model()'s arguments ====
 * A param made from constructors with size variables (param(randn(D, H) * 0.05)) is written
 * with its initializer: at the session's sizes Model() has the session's values, at others it
 * makes the param again as the session made it (randn(D, H) * 0.05 at the new sizes), as :run does.
 */

static void dims_expr(exp_t *x, sbuf *b, const bs_node *n)
{
    for (int d = 0; d < n->value.shape.ndim; d++) {
        if (d) sb_str(b, ", ");
        if (n->sym[d] >= 0) dim_expr(x, b, n->sym[d], "");
        else sb_printf(b, "%lld", (long long)n->value.shape.d[d]);
    }
}

/* a leaf of an initializer as its constructor, torch.randn(D, H, dtype=...) */
static void ctor_expr(exp_t *x, sbuf *b, const bs_node *n)
{
    const char *dt = torch_dtype(n->value.dtype);
    const char *fn = n->init == BS_INIT_RANDN ? "randn" : n->init == BS_INIT_RAND ? "rand"
                     : n->init == BS_INIT_ZEROS ? "zeros" : n->init == BS_INIT_ONES ? "ones" : NULL;
    if (fn) {
        sb_printf(b, "torch.%s(", fn);
        dims_expr(x, b, n);
        sb_printf(b, "%sdtype=%s)", n->value.shape.ndim ? ", " : "", dt);
    } else if (n->init == BS_INIT_FULL) {
        sb_str(b, "torch.full((");
        dims_expr(x, b, n);
        sb_str(b, n->value.shape.ndim == 1 ? ",), " : "), ");
        py_float(b, n->init_arg[0]);
        sb_printf(b, ", dtype=%s)", dt);
    } else if (n->init == BS_INIT_COPY && n->init_src >= 0) {
        operand(x, b, n->init_src);
    } else {
        bool sym = false;
        for (int d = 0; d < n->value.shape.ndim; d++) sym = sym || n->sym[d] >= 0;
        if (sym || bs_tensor_numel(&n->value) > INLINE_MAX) x->init_ok = false;
        else py_tensor(x, b, &n->value, "init");
    }
}

/* the size variables under node id's initializer (leaves' sym[], reshapes' shape_sym) */
static void init_syms(exp_t *x, bs_id id, uint64_t *mask, int depth)
{
    const bs_node *n = bs_node_get(x->c, id);
    if (!n || depth > 200) return;
    for (int d = 0; d < n->value.shape.ndim; d++) {
        if (n->sym[d] >= 0) *mask |= 1ull << dim_root(x, n->sym[d]);
        if (n->op == BS_OP_RESHAPE && n->attr.shape_sym[d] >= 0)
            *mask |= 1ull << dim_root(x, n->attr.shape_sym[d]);
    }
    if (n->op == BS_OP_LEAF || n->nin == 0) { /* a no-grad op's result keeps its op and inputs */
        if (n->init == BS_INIT_COPY && n->init_src >= 0) init_syms(x, n->init_src, mask, depth + 1);
        return;
    }
    for (int k = 0; k < n->nin; k++) init_syms(x, n->in[k], mask, depth + 1);
}

/* the size variables Model() takes: those the params' initializers use */
static uint64_t size_args(exp_t *x, bs_id root)
{
    uint64_t mask = 0;
    for (bs_id i = 0; i <= root; i++)
        if (x->in_graph[i] && x->is_param[i]) init_syms(x, i, &mask, 0);
    for (int k = 0; k < 64; k++) x->size_arg[k] = (mask >> k) & 1;
    return mask;
}

/* a param's value: its initializer at sizes other than the session's */
static bool param_value(exp_t *x, sbuf *b, bs_id i, bool sized)
{
    const bs_node *n = bs_node_get(x->c, i);
    if (sized) {
        uint64_t m = 0;
        init_syms(x, i, &m, 0);
        if (m && n->init == BS_INIT_COPY && n->init_src >= 0) {
            sbuf e = {0};
            x->init_mode = true;
            x->init_ok = true;
            operand(x, &e, n->init_src);
            x->init_mode = false;
            if (x->init_ok && !e.oom) {
                if (!py_tensor(x, b, &n->value, x->name[i])) {
                    free(e.p);
                    return false;
                }
                sb_str(b, " if same else ");
                sb_str(b, e.p);
                free(e.p);
                return true;
            }
            free(e.p);
        }
    }
    return py_tensor(x, b, &n->value, x->name[i]);
}

/* ==== The program ==== */

static const char program_load_npy[] =
    "\n\n"
    "def load_npy(path, dtype):\n"
    "    import numpy as np\n"
    "    here = os.path.dirname(os.path.abspath(__file__))\n"
    "    return torch.from_numpy(np.load(os.path.join(here, path))).to(dtype)\n";

static const char program_main[] =
    "\n\n"
    "def main():\n"
    "    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])\n"
    "    ap.add_argument(\"--steps\", type=int, default=1, help=\"optimizer steps (default 1)\")\n"
    "    ap.add_argument(\"--lr\", type=float, default=None, help=\"learning rate (default: the session's)\")\n"
    "    ap.add_argument(\"--device\", default=\"cpu\", help=\"cpu or cuda\")\n"
    "    ap.add_argument(\"--dtype\", default=\"%s\", choices=[\"float64\", \"float32\", \"bfloat16\", \"float16\"])\n"
    "    ap.add_argument(\"--ddp\", action=\"store_true\", help=\"DistributedDataParallel under torchrun\")\n"
    "    ap.add_argument(\"--print-grads\", action=\"store_true\",\n"
    "                    help=\"after the first backward, print the loss and every param's grad\")\n"
    "    ap.add_argument(\"--exact\", action=\"store_true\", help=\"print the losses with every digit\")\n"
    "    args = ap.parse_args()\n"
    "    dtype = getattr(torch, args.dtype)\n"
    "    rank, world = 0, 1\n"
    "    if args.ddp:  # torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT\n"
    "        import torch.distributed as dist\n"
    "        dist.init_process_group(\"nccl\" if args.device == \"cuda\" else \"gloo\")\n"
    "        rank, world = dist.get_rank(), dist.get_world_size()\n"
    "        if args.device == \"cuda\":\n"
    "            torch.cuda.set_device(int(os.environ.get(\"LOCAL_RANK\", 0)))\n"
    "    model = Model().to(device=args.device, dtype=dtype)\n"
    "    net = model\n"
    "    if args.ddp:\n"
    "        from torch.nn.parallel import DistributedDataParallel\n"
    "        net = DistributedDataParallel(model)  # averages the grads over the ranks\n"
    "    opt = make_optimizer(model.parameters(), args.lr)\n";

/* --ddp with a batch: each rank takes its rows (program_shard_rows), then weights its loss by how
   the loss reduces over them (the mean's or the sum's line) */
static const char program_shard_mean_why[] =
    "    # rank r trains on its rows of the global batch. The loss is a mean over the rows: weighted\n"
    "    # by world * its rows / all rows, each rank's mean makes DDP's average of the grads the\n"
    "    # whole batch's grads (the weight is 1 when the rows divide evenly)\n";

static const char program_shard_sum_why[] =
    "    # rank r trains on its rows of the global batch. The loss is a sum over the rows: weighted\n"
    "    # by world, each rank's sum makes DDP's average of the grads the whole batch's grads\n";

static const char program_shard_rows[] =
    "    data = [t.to(args.device, dtype) if t.is_floating_point() else t.to(args.device) for t in batch()]\n"
    "    rows = len(data[0])\n"
    "    lo, hi = rank * rows // world, (rank + 1) * rows // world\n"
    "    if lo == hi:\n"
    "        raise SystemExit(f\"the batch has {rows} rows: too few for {world} ranks\")\n"
    "    shard = [t[lo:hi] for t in data]\n";

static const char program_shard_none[] =
    "    # the loss is not a mean or a sum over rows of a batch: every rank computes all of it\n"
    "    shard, weight = [], 1\n";

static const char program_loop[] =
    "    for step in range(args.steps):\n"
    "        opt.zero_grad()\n"
    "        loss = net(*shard) * weight\n"
    "        loss.backward()\n"
    "        shown = loss.detach().clone()\n"
    "        if args.ddp:  # the whole batch's loss: the ranks' weighted losses, averaged\n"
    "            dist.all_reduce(shown)\n"
    "        shown = (shown / world).item()\n"
    "        if args.print_grads and step == 0 and rank == 0:\n"
    "            print(\"loss\", repr(shown))\n"
    "            for name, p in model.named_parameters():\n"
    "                if p.grad is not None:\n"
    "                    print(\"grad\", name, \" \".join(repr(v) for v in p.grad.double().flatten().tolist()))\n"
    "        opt.step()\n"
    "        if rank == 0 and not args.print_grads:\n"
    "            print(f\"step {step + 1} loss {shown!r}\" if args.exact else f\"step {step + 1} loss {shown:.6f}\")\n"
    "    if args.ddp:\n"
    "        dist.barrier()  # every rank is done\n"
    "        net = None  # DDP's reducer goes before the process group it uses\n"
    "        dist.destroy_process_group()\n"
    "\n\n"
    "if __name__ == \"__main__\":\n"
    "    main()\n";

/* the session's optimizer (the newest one bound to a name), or NULL */
static const bs_opt_conf *session_opt(bs_session *s)
{
    const bs_opt_conf *best = NULL;
    int order = -1;
    for (int i = 0; i < s->cap; i++) {
        const bs_name *nm = &s->names[i];
        if (!nm->name) continue;
        bs_opt *o = nm->kind == BS_NAME_OPT ? nm->opt
                    : nm->kind == BS_NAME_VALUE && nm->val.k == BS_V_OPT ? nm->val.opt : NULL;
        if (o && nm->order > order) {
            best = bs_opt_conf_of(o);
            order = nm->order;
        }
    }
    return best;
}

static void write_optimizer(sbuf *b, const bs_opt_conf *o)
{
    sb_str(b, "\n\ndef make_optimizer(params, lr=None):\n");
    if (!o) {
        sb_str(b, "    # the session had no optimizer: plain SGD\n"
                  "    return torch.optim.SGD(params, lr=0.01 if lr is None else lr)\n");
        return;
    }
    sb_str(b, "    # the session's optimizer, with its settings\n    lr = ");
    py_float(b, o->lr);
    sb_str(b, " if lr is None else lr\n");
    if (o->kind == BS_OPT_SGD) {
        sb_str(b, "    return torch.optim.SGD(params, lr=lr, momentum=");
        py_float(b, o->momentum);
        sb_str(b, ", dampening=");
        py_float(b, o->dampening);
        sb_str(b, ", weight_decay=");
        py_float(b, o->weight_decay);
        sb_printf(b, ", nesterov=%s)\n", o->nesterov ? "True" : "False");
    } else {
        sb_str(b, "    return torch.optim.Adam(params, lr=lr, betas=(");
        py_float(b, o->beta1);
        sb_str(b, ", ");
        py_float(b, o->beta2);
        sb_str(b, "), eps=");
        py_float(b, o->eps);
        sb_str(b, ", weight_decay=");
        py_float(b, o->weight_decay);
        sb_str(b, ")\n");
    }
}

/* the names forward() uses: every named node keeps the session's name (made unique), params and
   buffers are attributes, other nodes used more than once get t<id>, the rest are inlined */
static bool assign_names(exp_t *x, bs_id root)
{
    for (bs_id i = 0; i <= root; i++) {
        if (!x->in_graph[i]) continue;
        const bs_node *n = bs_node_get(x->c, i);
        for (int k = 0; k < n->nin; k++) x->uses[n->in[k]]++;
        if ((n->op == BS_OP_MSE || n->op == BS_OP_BCE || n->op == BS_OP_BCE_LOGITS) &&
            (bs_node_get(x->c, n->in[1])->is_number ||
             !bs_shape_eq(&bs_node_get(x->c, n->in[1])->value.shape, &bs_node_get(x->c, n->in[0])->value.shape)))
            x->uses[n->in[0]]++; /* the prediction is written twice: full_like(p, y) */
    }
    int ntaken = 0;
    char **taken = calloc((size_t)root + 1, sizeof *taken);
    if (!taken) return false;
    for (bs_id i = 0; i <= root; i++) {
        if (!x->in_graph[i]) continue;
        const bs_node *n = bs_node_get(x->c, i);
        bool leaf = n->is_leaf || n->op == BS_OP_LEAF;
        x->is_param[i] = leaf && n->requires_grad;
        x->is_buffer[i] = leaf && !n->requires_grad && !n->is_number;
        bool named = n->label && *n->label;
        if (!named && !leaf && x->uses[i] <= 1 && i != root) continue; /* inlined */
        if (n->is_number && !named) continue; /* a Python number: written as its literal */
        char id[96], base[96];
        if (named) py_ident(n->label, base, sizeof base);
        else snprintf(base, sizeof base, "%s%d", x->is_param[i] ? "p" : "t", i);
        if (reserved(base)) {
            char t[96];
            snprintf(t, sizeof t, "%s_", base);
            snprintf(base, sizeof base, "%s", t);
        }
        snprintf(id, sizeof id, "%s", base);
        for (int k = 1;; k++) { /* a rebound name's older values: z1, z1_1, ... */
            bool clash = false;
            for (int j = 0; j < ntaken && !clash; j++) clash = !strcmp(taken[j], id);
            if (!clash) break;
            snprintf(id, sizeof id, "%s_%d", base, k);
        }
        x->name[i] = strdup(id);
        if (!x->name[i]) {
            free(taken);
            return false;
        }
        taken[ntaken++] = x->name[i];
    }
    free(taken);
    return true;
}

/* the submodules under parent, parents first */
static bool write_mods(exp_t *x, sbuf *b, int parent)
{
    int *kids = malloc((size_t)(x->nmods ? x->nmods : 1) * sizeof *kids);
    if (!kids) return false;
    int nk = mod_children(x, parent, kids);
    bool ok = true;
    for (int j = 0; j < nk && ok; j++) {
        const exp_mod *md = &x->mods[kids[j]];
        const char *last = last_part(md->path);
        const char *pe = parent < 0 ? "self" : x->mods[parent].expr;
        if (parent < 0 && x->self_seq && is_digits(last, strlen(last))) pe = "self";
        if (is_digits(last, strlen(last))) sb_printf(b, "        %s.add_module(\"%s\", %s)\n", pe, last, md->ctor);
        else sb_printf(b, "        %s = %s\n", md->expr, md->ctor);
        ok = write_mods(x, b, kids[j]);
    }
    free(kids);
    return ok;
}

/* the leaves forward() reads as self.NAME (params, buffers) */
static bool is_attr(const exp_t *x, bs_id i) { return x->is_param[i] || (x->is_buffer[i] && !x->batched[i]); }

static bool write_program(exp_t *x, sbuf *b, bs_id root, const char *file)
{
    const bs_ctx *c = x->c;
    char rn[96];
    bs_node_name(c, root, rn, sizeof rn);
    bs_dtype dt = bs_node_get(c, root)->value.dtype;
    const char *dts = dt == BS_F32 ? "float32" : dt == BS_BF16 ? "bfloat16" : dt == BS_F16 ? "float16" : "float64";
    int nparams = 0;
    for (bs_id i = 0; i <= root; i++) nparams += x->in_graph[i] && x->is_param[i];
    sb_printf(b, "#!/usr/bin/env python3\n"
                 "\"\"\"%s: the graph of %s from a backstep session, as a PyTorch program.\n\n"
                 "Run it with\n"
                 "    python3 %s --steps 100                     # one process, CPU\n"
                 "    python3 %s --steps 100 --device cuda       # one GPU\n"
                 "    torchrun --nproc_per_node=2 %s --ddp --steps 100   # DistributedDataParallel\n"
                 "--print-grads prints the loss and every param's grad after the first backward.\n"
                 "Written by backstep's :export; %d params, the session's values.\n",
              file, rn, file, file, file, nparams);
    if (x->batch)
        sb_printf(b, "Under --ddp each rank trains on its share of the batch's %lld rows.\n",
                  (long long)x->batch);
    sb_str(b, "\"\"\"\n"
              "import argparse\n"
              "import os\n\n"
              "import torch\n"
              "import torch.nn as nn\n"
              "import torch.nn.functional as F\n\n"
              "# the params' names in the session\n"
              "NAMES = {\n");
    for (bs_id i = 0; i <= root; i++)
        if (x->in_graph[i] && x->is_param[i]) {
            char nm[96];
            sb_printf(b, "    \"%s\": \"%s\",\n", x->name[i], bs_node_name(c, i, nm, sizeof nm));
        }
    uint64_t sizes = size_args(x, root);
    sb_printf(b, "}\n\n\nclass Model(nn.%s):\n    def __init__(self", x->self_seq ? "Sequential" : "Module");
    for (int k = 0; k < 64; k++)
        if (x->size_arg[k]) sb_printf(b, ", %s=%lld", bs_dim_name(c, k), (long long)bs_dim_value(c, k));
    sb_str(b, "):\n        super().__init__()\n");
    if (sizes) {
        sb_str(b, "        # the session's sizes; at others each param is made again as the session made it\n");
        for (int k = 0; k < 64; k++)
            if (x->size_arg[k]) sb_printf(b, "        self.%s = %s\n", bs_dim_name(c, k), bs_dim_name(c, k));
        sb_str(b, "        same = (");
        int nk = 0;
        for (int k = 0; k < 64; k++)
            if (x->size_arg[k]) sb_printf(b, "%s%s", nk++ ? ", " : "", bs_dim_name(c, k));
        sb_str(b, nk == 1 ? ",) == (" : ") == (");
        nk = 0;
        for (int k = 0; k < 64; k++)
            if (x->size_arg[k]) sb_printf(b, "%s%lld", nk++ ? ", " : "", (long long)bs_dim_value(c, k));
        sb_str(b, nk == 1 ? ",)\n" : ")\n");
    }
    if (x->nmods) {
        sb_str(b, "        # the session's modules, so that state_dict() has its names\n");
        if (!write_mods(x, b, -1)) return false;
    }
    for (bs_id i = 0; i <= root; i++) {
        if (!x->in_graph[i] || !is_attr(x, i)) continue;
        const bs_node *n = bs_node_get(c, i);
        if (x->is_param[i]) {
            if (x->pexpr[i]) sb_printf(b, "        %s = nn.Parameter(", x->pexpr[i]);
            else sb_printf(b, "        self.%s = nn.Parameter(", x->name[i]);
            if (!param_value(x, b, i, sizes != 0)) return false;
            sb_str(b, ")\n");
        } else { /* not in state_dict(): its keys are the params' */
            sb_printf(b, "        self.register_buffer(\"%s\", ", x->name[i]);
            if (!py_tensor(x, b, &n->value, x->name[i])) return false;
            sb_str(b, ", persistent=False)\n");
        }
    }
    sb_str(b, "\n    def forward(self");
    for (bs_id i = 0; i <= root; i++)
        if (x->in_graph[i] && x->batched[i]) sb_printf(b, ", %s", x->name[i]);
    sb_str(b, "):\n");
    for (bs_id i = 0; i <= root; i++) { /* the session's named numbers */
        const bs_node *n = bs_node_get(c, i);
        if (!x->in_graph[i] || !x->name[i] || !n->is_number) continue;
        sb_printf(b, "        %s = ", x->name[i]);
        if (n->value.dtype == BS_I64) sb_printf(b, "%lld\n", (long long)n->value.data[0]);
        else {
            py_float(b, n->value.data[0]);
            sb_str(b, "\n");
        }
    }
    for (bs_id i = 0; i <= root; i++) {
        const bs_node *n = bs_node_get(c, i);
        if (!x->in_graph[i] || !x->name[i] || x->is_param[i] || x->is_buffer[i] || n->is_number ||
            x->hidden[i])
            continue;
        sb_printf(b, "        %s = ", x->name[i]);
        if (!node_expr(x, b, i)) return false;
        sb_str(b, "\n");
    }
    sb_str(b, "        return ");
    operand(x, b, root);
    sb_str(b, bs_tensor_numel(&bs_node_get(c, root)->value) != 1
                  ? ".sum()  # backstep seeds a tensor root with ones\n" : "\n");
    if (x->batch) {
        sb_printf(b, "\n\ndef batch():\n"
                     "    # the session's data: the global batch, row i of each tensor is sample i (%lld rows)\n",
                  (long long)x->batch);
        for (bs_id i = 0; i <= root; i++) {
            if (!x->in_graph[i] || !x->batched[i]) continue;
            sb_printf(b, "    %s = ", x->name[i]);
            if (!py_tensor(x, b, &bs_node_get(c, i)->value, x->name[i])) return false;
            sb_str(b, "\n");
        }
        sb_str(b, "    return ");
        int nb = 0;
        for (bs_id i = 0; i <= root; i++) {
            if (!x->in_graph[i] || !x->batched[i]) continue;
            sb_printf(b, "%s%s", nb++ ? ", " : "", x->name[i]);
        }
        sb_str(b, nb == 1 ? ",\n" : "\n"); /* one tensor: a tuple of one */
    }
    write_optimizer(b, session_opt(x->s));
    for (bs_id i = 0; i <= root; i++) /* large tensors come from .npy files */
        if (x->in_graph[i] && (x->is_param[i] || x->is_buffer[i]) &&
            bs_tensor_numel(&bs_node_get(c, i)->value) > INLINE_MAX) {
            sb_str(b, program_load_npy);
            break;
        }
    sb_printf(b, program_main, dts);
    if (!x->batch) {
        sb_str(b, program_shard_none);
    } else {
        bool mean = x->batch_kind == K_MEAN;
        sb_str(b, mean ? program_shard_mean_why : program_shard_sum_why);
        sb_str(b, program_shard_rows);
        sb_str(b, mean ? "    weight = world * (hi - lo) / rows\n" : "    weight = world\n");
    }
    sb_str(b, program_loop);
    return !b->oom;
}

/* ==== --check ==== */

static const char *find_python(void)
{
    const char *e = getenv("BACKSTEP_PYTHON");
    if (e && *e) return e;
    struct stat st;
    if (!stat("/usr/bin/python3", &st)) return "/usr/bin/python3";
    return "python3";
}

/* the file's path as one shell word */
static void shell_quote(sbuf *b, const char *t)
{
    sb_str(b, "'");
    for (; *t; t++) {
        if (*t == '\'') sb_str(b, "'\\''");
        else sb_put(b, t, 1);
    }
    sb_str(b, "'");
}

/* runs the program for one step in float64 (--print-grads) and compares its loss and grads with a
   replay of the graph on the CPU engine from the session's current values */
static int check_program(exp_t *x, const char *file, bs_id root, int line, int col)
{
    bs_session *s = x->s;
    sbuf cmd = {0}, out = {0};
    const char *py = find_python();
    shell_quote(&cmd, py);
    sb_str(&cmd, " ");
    shell_quote(&cmd, file);
    sb_str(&cmd, " --steps 1 --dtype float64 --print-grads 2>&1");
    if (cmd.oom) return bs_fail(s, line, col, "out of memory");
    fflush(NULL);
    FILE *p = popen(cmd.p, "r");
    free(cmd.p);
    if (!p) return bs_fail(s, line, col, "cannot run %s: %s", py, strerror(errno));
    char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, p)) > 0) sb_put(&out, chunk, k);
    int status = pclose(p);
    if (out.oom) return bs_fail(s, line, col, "out of memory");
    if (status != 0 || !out.p) {
        const char *why = out.p && strstr(out.p, "No module named 'torch'")
                              ? " has no torch (set BACKSTEP_PYTHON to a Python that has it)" : " failed";
        char last[300] = "";
        if (out.p) { /* its last line says what went wrong */
            char *e = out.p + out.n;
            while (e > out.p && (e[-1] == '\n' || e[-1] == ' ')) *--e = 0;
            char *l = strrchr(out.p, '\n');
            snprintf(last, sizeof last, ": %s", l ? l + 1 : out.p);
        }
        free(out.p);
        return bs_fail(s, line, col, "%s %s%s%s", py, file, why, last);
    }
    /* the reference: one forward and backward of the same graph, f64, no update */
    bs_backend *be = bs_backend_cpu();
    char err[256];
    if (be->open(be, err, sizeof err)) {
        free(out.p);
        return bs_fail(s, line, col, "%s", err);
    }
    bs_plan_opts o = bs_plan_defaults();
    o.dtype = BS_F64;
    o.update = false;
    o.time_nodes = false;
    bs_plan *plan = bs_plan_new(s->ctx, root, be, &o, err, sizeof err);
    double loss = 0, dloss = 0, dgrad = 0;
    bool gotloss = false;
    int nparams = 0, ngot = 0, rc = 0;
    if (!plan || bs_plan_forward(plan, &loss) || bs_plan_backward(plan)) {
        rc = bs_fail(s, line, col, "replaying %s: %s", x->name[root], plan ? bs_plan_errmsg(plan) : err);
        goto done;
    }
    for (char *l = strtok(out.p, "\n"); l; l = strtok(NULL, "\n")) {
        if (!strncmp(l, "loss ", 5)) {
            double v = strtod(l + 5, NULL);
            gotloss = true;
            dloss = v == loss || (isnan(v) && isnan(loss)) ? 0
                    : isnan(v - loss) ? INFINITY : fabs(v - loss) / fmax(1.0, fabs(loss));
            continue;
        }
        if (strncmp(l, "grad ", 5)) continue;
        char *name = l + 5, *sp = strchr(name, ' ');
        if (!sp) continue;
        *sp = 0;
        bs_id id = BS_NONE;
        for (bs_id i = 0; i <= root && id == BS_NONE; i++) {
            if (x->in_graph[i] && x->is_param[i] && !strcmp(x->name[i], name)) id = i;
        }
        if (id == BS_NONE) continue;
        ngot++;
        int64_t numel = bs_shape_numel(bs_plan_shape(plan, id));
        double *g = malloc((size_t)(numel ? numel : 1) * sizeof *g);
        if (!g) {
            rc = bs_fail(s, line, col, "out of memory");
            goto done;
        }
        if (bs_plan_read(plan, id, true, g)) memset(g, 0, (size_t)numel * sizeof *g);
        char *q = sp + 1;
        for (int64_t j = 0; j < numel; j++) {
            char *e;
            double v = strtod(q, &e);
            if (e == q) {
                dgrad = INFINITY;
                break;
            }
            q = e;
            if (!(isnan(v) && isnan(g[j])) && v != g[j]) /* equal infinities differ by nothing */
                dgrad = fmax(dgrad, isnan(v - g[j]) ? INFINITY : fabs(v - g[j]) / fmax(1.0, fabs(g[j])));
        }
        free(g);
    }
    for (bs_id i = 0; i <= root; i++) nparams += x->in_graph[i] && x->is_param[i];
    if (!gotloss || ngot != nparams) {
        rc = bs_fail(s, line, col, "%s %s printed %s (%d of %d params' grads)", py, file,
                     !gotloss ? "no loss" : "too few grads", ngot, nparams);
        goto done;
    }
    char lb[40];
    fprintf(s->out, "checked with PyTorch (%s, float64, one step): loss %s, difference %.3g; "
            "grads of %d params, largest difference %.3g\n",
            py, bs_float_repr(loss, lb, sizeof lb), dloss, nparams, dgrad);
done:
    bs_plan_free(plan);
    be->close(be);
    free(out.p);
    return rc;
}

int bs_export_py(bs_session *s, const char *file, bs_id root, bool check, int line, int col)
{
    const bs_node *r = bs_node_get(s->ctx, root);
    if (!r) return bs_fail(s, line, col, "nothing to export");
    if (!r->requires_grad)
        return bs_fail(s, line, col, "%s does not require grad: there is nothing to train",
                       r->label ? r->label : "the root");
    exp_t x = {.s = s, .c = s->ctx, .n = bs_tape_len(s->ctx)};
    x.name = calloc((size_t)x.n, sizeof *x.name);
    x.uses = calloc((size_t)x.n, sizeof *x.uses);
    x.in_graph = calloc((size_t)x.n, 1);
    x.is_param = calloc((size_t)x.n, 1);
    x.is_buffer = calloc((size_t)x.n, 1);
    x.batched = calloc((size_t)x.n, 1);
    x.rows = calloc((size_t)x.n, 1);
    x.pexpr = calloc((size_t)x.n, sizeof *x.pexpr);
    x.call_of = calloc((size_t)x.n, sizeof *x.call_of);
    x.hidden = calloc((size_t)x.n, 1);
    sbuf b = {0};
    int rc = -1;
    if (!x.name || !x.uses || !x.in_graph || !x.is_param || !x.is_buffer || !x.batched || !x.rows || !x.pexpr || !x.call_of ||
        !x.hidden)
        goto nomem;
    /* the graph: what the root depends on (ids are topological: inputs come first) */
    bs_tape_walk(s->ctx, root, 0, x.in_graph);
    if (!assign_names(&x, root) || !find_batch(&x, root) || !find_modules(&x, root)) goto nomem;
    /* the data folder: model.py -> model_data/ beside it */
    size_t fl = strlen(file);
    size_t stem = fl > 3 && !strcmp(file + fl - 3, ".py") ? fl - 3 : fl;
    x.dir = malloc(stem + 8);
    if (!x.dir) goto nomem;
    memcpy(x.dir, file, stem);
    strcpy(x.dir + stem, "_data");
    const char *slash = strrchr(x.dir, '/');
    x.dir_base = slash ? slash + 1 : x.dir;
    const char *fbase = strrchr(file, '/');
    if (!write_program(&x, &b, root, fbase ? fbase + 1 : file)) {
        if (b.oom) goto nomem;
        rc = bs_fail(s, line, col, "%s", x.err);
        goto out;
    }
    FILE *f = fopen(file, "w");
    if (!f || fwrite(b.p, 1, b.n, f) != b.n || fclose(f)) {
        rc = bs_fail(s, line, col, "cannot write %s: %s", file, strerror(errno));
        goto out;
    }
    if (!s->o.quiet) fprintf(s->out, "wrote %s\n", file);
    rc = check ? check_program(&x, file, root, line, col) : 0;
    goto out;
nomem:
    rc = bs_fail(s, line, col, "out of memory while exporting");
out:
    if (x.name)
        for (int32_t i = 0; i < x.n; i++) free(x.name[i]);
    free(x.name);
    free(x.uses);
    free(x.in_graph);
    free(x.is_param);
    free(x.is_buffer);
    free(x.batched);
    free(x.rows);
    if (x.pexpr)
        for (int32_t i = 0; i < x.n; i++) free(x.pexpr[i]);
    free(x.pexpr);
    for (int i = 0; i < x.nmods; i++) {
        free(x.mods[i].path);
        free(x.mods[i].expr);
        free(x.mods[i].ctor);
    }
    free(x.mods);
    free(x.calls);
    free(x.call_of);
    free(x.hidden);
    free(x.dir);
    free(b.p);
    return rc;
}
