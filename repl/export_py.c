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
    bs_session *s;
    const bs_ctx *c;
    int32_t n;            /* tape length */
    char **name;          /* per node: its Python name in forward() (or NULL: inlined) */
    int *uses;            /* per node: consumers within the graph */
    bool *in_graph;
    bool *is_param, *is_buffer;
    char *dir;            /* the data folder for large tensors ("model_data"), made on demand */
    const char *dir_base; /* its name relative to the program */
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
    "with", "yield", "self", "torch", "nn", "F", "np", "args", "model", "opt", "loss", "main",
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

static void operand(exp_t *x, sbuf *b, bs_id id);

/* dim d of an input of ndim dims, as a non-negative number */
static int norm_dim(int d, int ndim) { return d < 0 ? d + ndim : d; }

static void slice_bound(sbuf *b, int64_t v, int64_t none)
{
    if (v != none) sb_printf(b, "%lld", (long long)v);
}

/* the expression that computes node n from its operands: every op of core/ops.def has one */
static bool torch_expr(exp_t *x, sbuf *b, const bs_node *n)
{
    const bs_attr *a = &n->attr;
    const bs_node *in0 = bs_node_get(x->c, n->in[0]);
    int nd0 = in0->value.shape.ndim;
#define A operand(x, b, n->in[0])
#define B operand(x, b, n->in[1])
#define C operand(x, b, n->in[2])
#define S(t) sb_str(b, t)
    /* a loss's target: torch wants a tensor of the prediction's shape and dtype, where backstep
       broadcasts a number or a smaller tensor */
    const bs_node *in1 = n->nin > 1 ? bs_node_get(x->c, n->in[1]) : NULL;
    bool widen = in1 && (in1->is_number || !bs_shape_eq(&in1->value.shape, &in0->value.shape));
#define TARGET                                                                                   \
    do {                                                                                         \
        if (in1->is_number) { S("torch.full_like("); A; S(", "); B; S(")"); }                     \
        else if (widen) { S("torch.broadcast_to("); B; S(", "); A; S(".shape).to("); A; S(".dtype)"); } \
        else B;                                                                                  \
    } while (0)
    switch (n->op) {
    case BS_OP_ADD: A; S(" + "); B; return true;
    case BS_OP_SUB: A; S(" - "); B; return true;
    case BS_OP_MUL: A; S(" * "); B; return true;
    case BS_OP_DIV: A; S(" / "); B; return true;
    case BS_OP_POW: A; S(" ** "); B; return true;
    case BS_OP_NEG: S("-"); A; return true;
    case BS_OP_RELU: S("torch.relu("); A; S(")"); return true;
    case BS_OP_LEAKY_RELU: S("F.leaky_relu("); A; S(", "); py_float(b, a->k); S(")"); return true;
    case BS_OP_SIGMOID: S("torch.sigmoid("); A; S(")"); return true;
    case BS_OP_TANH: S("torch.tanh("); A; S(")"); return true;
    case BS_OP_EXP: S("torch.exp("); A; S(")"); return true;
    case BS_OP_LOG: S("torch.log("); A; S(")"); return true;
    case BS_OP_SQRT: S("torch.sqrt("); A; S(")"); return true;
    case BS_OP_ABS: S("torch.abs("); A; S(")"); return true;
    case BS_OP_SIN: S("torch.sin("); A; S(")"); return true;
    case BS_OP_COS: S("torch.cos("); A; S(")"); return true;
    case BS_OP_ERF: S("torch.erf("); A; S(")"); return true;
    case BS_OP_GELU:
        S("F.gelu(");
        A;
        S(a->k == BS_GELU_TANH ? ", approximate='tanh')" : ")");
        return true;
    case BS_OP_SILU: S("F.silu("); A; S(")"); return true;
    case BS_OP_SOFTPLUS: S("F.softplus("); A; S(")"); return true;
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
        for (int d = 0; d < a->shape.ndim; d++)
            sb_printf(b, "%lld%s", (long long)a->shape.d[d], d + 1 < a->shape.ndim ? ", " : "");
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
    case BS_OP_LAYERNORM: S("F.layer_norm("); A; S(", "); A; S(".shape[-1:], eps="); py_float(b, a->k); S(")"); return true;
    case BS_OP_MSE: S("F.mse_loss("); A; S(", "); TARGET; S(")"); return true;
    case BS_OP_BCE: S("F.binary_cross_entropy("); A; S(", "); TARGET; S(")"); return true;
    case BS_OP_BCE_LOGITS: S("F.binary_cross_entropy_with_logits("); A; S(", "); TARGET; S(")"); return true;
    case BS_OP_CROSS_ENTROPY: S("F.cross_entropy("); A; S(", "); B; S(")"); return true;
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
    case BS_OP_WHERE: S("torch.where("); A; S(" != 0, "); B; S(", "); C; S(")"); return true;
    case BS_OP_MASKED_FILL: A; S(".masked_fill("); B; S(" != 0, "); C; S(")"); return true;
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
    if (x->name[id]) {
        if (x->is_param[id] || x->is_buffer[id]) sb_str(b, "self.");
        sb_str(b, x->name[id]);
        return;
    }
    if (n->is_number) { /* a Python number the user typed */
        if (n->value.dtype == BS_I64) sb_printf(b, "%lld", (long long)n->value.data[0]);
        else py_float(b, n->value.data[0]);
        return;
    }
    sb_str(b, "(");
    torch_expr(x, b, n);
    sb_str(b, ")");
}

/* ==== The program ==== */

static const char program_tail[] =
    "\n\n"
    "def load_npy(path, dtype):\n"
    "    import numpy as np\n"
    "    here = os.path.dirname(os.path.abspath(__file__))\n"
    "    return torch.from_numpy(np.load(os.path.join(here, path))).to(dtype)\n"
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
    "    args = ap.parse_args()\n"
    "    dtype = getattr(torch, args.dtype)\n"
    "    rank = 0\n"
    "    if args.ddp:\n"
    "        import torch.distributed as dist\n"
    "        dist.init_process_group(\"nccl\" if args.device == \"cuda\" else \"gloo\")\n"
    "        rank = dist.get_rank()\n"
    "        if args.device == \"cuda\":\n"
    "            torch.cuda.set_device(int(os.environ.get(\"LOCAL_RANK\", 0)))\n"
    "    model = Model().to(device=args.device, dtype=dtype)\n"
    "    net = model\n"
    "    if args.ddp:\n"
    "        from torch.nn.parallel import DistributedDataParallel\n"
    "        net = DistributedDataParallel(model)\n"
    "    opt = make_optimizer(model.parameters(), args.lr)\n"
    "    for step in range(args.steps):\n"
    "        opt.zero_grad()\n"
    "        loss = net()\n"
    "        loss.backward()\n"
    "        if args.print_grads and step == 0 and rank == 0:\n"
    "            print(\"loss\", repr(loss.item()))\n"
    "            for name, p in model.named_parameters():\n"
    "                if p.grad is not None:\n"
    "                    print(\"grad\", name, \" \".join(repr(v) for v in p.grad.double().flatten().tolist()))\n"
    "        opt.step()\n"
    "        if rank == 0 and not args.print_grads:\n"
    "            print(f\"step {step + 1} loss {loss.item():.6f}\")\n"
    "    if args.ddp:\n"
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
                 "Written by backstep's :export; %d params, the session's values.\n\"\"\"\n"
                 "import argparse\n"
                 "import os\n\n"
                 "import torch\n"
                 "import torch.nn as nn\n"
                 "import torch.nn.functional as F\n\n"
                 "# the params' names in the session\n"
                 "NAMES = {\n",
              file, rn, file, file, file, nparams);
    for (bs_id i = 0; i <= root; i++)
        if (x->in_graph[i] && x->is_param[i]) {
            char nm[96];
            sb_printf(b, "    \"%s\": \"%s\",\n", x->name[i], bs_node_name(c, i, nm, sizeof nm));
        }
    sb_str(b, "}\n\n\nclass Model(nn.Module):\n    def __init__(self):\n        super().__init__()\n");
    for (bs_id i = 0; i <= root; i++) {
        if (!x->in_graph[i] || !(x->is_param[i] || x->is_buffer[i])) continue;
        const bs_node *n = bs_node_get(c, i);
        if (x->is_param[i]) {
            sb_printf(b, "        self.%s = nn.Parameter(", x->name[i]);
            if (!py_tensor(x, b, &n->value, x->name[i])) return false;
            sb_str(b, ")\n");
        } else {
            sb_printf(b, "        self.register_buffer(\"%s\", ", x->name[i]);
            if (!py_tensor(x, b, &n->value, x->name[i])) return false;
            sb_str(b, ")\n");
        }
    }
    sb_str(b, "\n    def forward(self):\n");
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
        if (!x->in_graph[i] || !x->name[i] || x->is_param[i] || x->is_buffer[i] || n->is_number) continue;
        sb_printf(b, "        %s = ", x->name[i]);
        if (!torch_expr(x, b, n)) return false;
        sb_str(b, "\n");
        (void)n;
    }
    sb_str(b, "        return ");
    operand(x, b, root);
    sb_str(b, bs_tensor_numel(&bs_node_get(c, root)->value) != 1
                  ? ".sum()  # backstep seeds a tensor root with ones\n" : "\n");
    write_optimizer(b, session_opt(x->s));
    char tail[sizeof program_tail + 16];
    snprintf(tail, sizeof tail, program_tail, dts);
    sb_str(b, tail);
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
    sbuf b = {0};
    int rc = -1;
    if (!x.name || !x.uses || !x.in_graph || !x.is_param || !x.is_buffer) goto nomem;
    /* the graph: what the root depends on (ids are topological: inputs come first) */
    x.in_graph[root] = true;
    for (bs_id i = root; i >= 0; i--) {
        if (!x.in_graph[i]) continue;
        const bs_node *n = bs_node_get(s->ctx, i);
        for (int k = 0; k < n->nin; k++) x.in_graph[n->in[k]] = true;
    }
    if (!assign_names(&x, root)) goto nomem;
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
    free(x.dir);
    free(b.p);
    return rc;
}
