/* repl/builtins.c: the functions, methods and attributes a user can call. Ops come from the op
 * table (their signature is the first part of their help line in core/ops.def); the rest are
 * constructors, optimizers and tensor methods. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl_int.h"

#define MAX_POS 16
#define MAX_KW 8

/* ==== Arguments ==== */

typedef struct {
    const bs_expr *call;
    const char *fname;          /* for messages: "sum" */
    int npos;
    bs_value pos[MAX_POS];
    const bs_expr *pe[MAX_POS];
    int nkw;
    const char *kn[MAX_KW];
    bs_value kv[MAX_KW];
    const bs_expr *ke[MAX_KW];
    bool kused[MAX_KW];
    bool want_bool;             /* dtype=torch.bool: the result is a mask (int64 0/1, is_bool) */
} args_t;

static int collect(bs_session *s, const bs_expr *call, const char *fname, const bs_value *self,
                   args_t *a)
{
    memset(a, 0, sizeof *a);
    a->call = call;
    a->fname = fname;
    if (self) {
        a->pos[0] = *self;
        a->pe[0] = call->call.fn->kind == BS_EX_ATTR ? call->call.fn->attr.obj : call;
        a->npos = 1;
    }
    for (int i = 0; i < call->call.nargs; i++) {
        const bs_arg *g = &call->call.args[i];
        if (g->star) { /* x.view(*shape), f(**opts) */
            bs_value v;
            int np0 = a->npos, nk0 = a->nkw;
            if (bs_eval_expr(s, g->value, &v)) return -1;
            if (bs_expand_star(s, g, &v, a->pos, &a->npos, a->kn, a->kv, &a->nkw,
                               g->star == 1 ? MAX_POS : MAX_KW)) return -1;
            for (int k = np0; k < a->npos; k++) a->pe[k] = g->value;
            for (int k = nk0; k < a->nkw; k++) a->ke[k] = g->value;
            continue;
        }
        if (g->name) {
            if (a->nkw == MAX_KW) return bs_fail(s, g->line, g->col, "too many keyword arguments");
            for (int k = 0; k < a->nkw; k++)
                if (!strcmp(a->kn[k], g->name))
                    return bs_fail(s, g->line, g->col, "keyword argument repeated: %s", g->name);
            a->kn[a->nkw] = g->name;
            a->ke[a->nkw] = g->value;
            if (bs_eval_expr(s, g->value, &a->kv[a->nkw])) return -1;
            a->nkw++;
        } else {
            if (a->npos == MAX_POS) return bs_fail(s, g->line, g->col, "too many arguments");
            a->pe[a->npos] = g->value;
            if (bs_eval_expr(s, g->value, &a->pos[a->npos])) return -1;
            a->npos++;
        }
    }
    return 0;
}

/* keyword k (marks it used); NULL if absent */
static bs_value *kw(args_t *a, const char *name, const bs_expr **e)
{
    for (int i = 0; i < a->nkw; i++)
        if (!strcmp(a->kn[i], name)) {
            a->kused[i] = true;
            if (e) *e = a->ke[i];
            return &a->kv[i];
        }
    return NULL;
}

static int check_kw_used(bs_session *s, args_t *a)
{
    for (int i = 0; i < a->nkw; i++)
        if (!a->kused[i])
            return bs_fail(s, a->ke[i]->line, a->ke[i]->col,
                           "%s() got an unexpected keyword argument '%s'", a->fname, a->kn[i]);
    return 0;
}

static int max_pos(bs_session *s, args_t *a, int max)
{
    if (a->npos > max)
        return bs_fail(s, a->pe[max]->line, a->pe[max]->col,
                       "%s() takes %d positional argument%s but %d %s given", a->fname, max,
                       max == 1 ? "" : "s", a->npos, a->npos == 1 ? "was" : "were");
    return 0;
}

static int get_num(bs_session *s, const bs_value *v, const bs_expr *e, const char *what, double *out)
{
    *out = 0;
    if (bs_as_number(s, v, out, NULL)) return 0;
    return bs_fail(s, e->line, e->col, "%s must be a number", what);
}

static int get_int(bs_session *s, const bs_value *v, const bs_expr *e, const char *what, int64_t *out)
{
    *out = 0;
    if (v->k == BS_V_NUM && v->is_int) {
        if (!(fabs(v->num) <= (double)BS_INT_EXACT_MAX))
            return bs_fail(s, e->line, e->col, "%s is too large", what);
        *out = (int64_t)v->num;
        return 0;
    }
    if (v->k == BS_V_BOOL) {
        *out = v->b;
        return 0;
    }
    return bs_fail(s, e->line, e->col, "%s must be an integer", what);
}

static int get_bool(bs_session *s, const bs_value *v, const bs_expr *e, const char *what, bool *out)
{
    *out = false;
    if (v->k == BS_V_BOOL) {
        *out = v->b;
        return 0;
    }
    if (v->k == BS_V_NUM && v->is_int) {
        *out = v->num != 0;
        return 0;
    }
    return bs_fail(s, e->line, e->col, "%s must be True or False", what);
}

static int get_dtype(bs_session *s, const bs_value *v, const bs_expr *e, bs_dtype *out)
{
    if (v->k != BS_V_STR)
        return bs_fail(s, e->line, e->col, "dtype must be a string such as 'f32'");
    const char *n = v->str;
    if (!strncmp(n, "torch.", 6)) n += 6;
    struct { const char *a; bs_dtype t; } alias[] = {
        {"float64", BS_F64}, {"double", BS_F64}, {"float32", BS_F32}, {"float", BS_F32},
        {"float16", BS_F16}, {"half", BS_F16}, {"bfloat16", BS_BF16}, {"int64", BS_I64},
        {"long", BS_I64}};
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (!strcmp(n, alias[i].a)) {
            *out = alias[i].t;
            return 0;
        }
    if (bs_dtype_parse(n, out)) return 0;
    return bs_fail(s, e->line, e->col, "unknown dtype '%s' (f64, f32, f16, bf16, i64)", v->str);
}

/* sizes: either one tuple/list/shape argument or several integers, from positional index `from` */
static int get_sizes(bs_session *s, args_t *a, int from, bs_shape *shape, int8_t *sym)
{
    memset(shape, 0, sizeof *shape);
    for (int i = 0; i < BS_MAX_DIMS; i++) sym[i] = -1;
    const bs_value *items = &a->pos[from];
    int n = a->npos - from;
    const bs_expr *const *es = &a->pe[from];
    const bs_expr *one = n == 1 ? a->pe[from] : NULL;
    if (n == 1 && (items[0].k == BS_V_TUPLE || items[0].k == BS_V_LIST)) {
        n = items[0].n;
        items = items[0].items;
        es = NULL;
    } else if (n == 1 && items[0].k == BS_V_SHAPE) {
        *shape = items[0].shape;
        return 0;
    }
    if (n > BS_MAX_DIMS)
        return bs_fail(s, a->call->line, a->call->col, "tensors have at most %d dimensions",
                       BS_MAX_DIMS);
    shape->ndim = n;
    for (int i = 0; i < n; i++) {
        const bs_expr *e = es ? es[i] : one;
        int64_t v;
        if (get_int(s, &items[i], e, "a size", &v)) return -1;
        shape->d[i] = v;
        sym[i] = (int8_t)items[i].sym;
    }
    return 0;
}

/* ==== Tensor data from nested lists ==== */

typedef struct {
    bs_shape shape;
    double *data;
    int64_t n, cap;
    bool all_int;
    bool some_not_bool;         /* an entry that is not True/False: not a bool tensor */
} listdata;

static int list_walk(bs_session *s, const bs_value *v, const bs_expr *e, int depth, listdata *L)
{
    if (v->k == BS_V_LIST || v->k == BS_V_TUPLE) {
        if (depth >= BS_MAX_DIMS)
            return bs_fail(s, e->line, e->col, "tensors have at most %d dimensions", BS_MAX_DIMS);
        if (L->shape.ndim <= depth) {
            if (L->shape.ndim < depth)
                return bs_fail(s, e->line, e->col, "a list inside a list of numbers: the nesting is uneven");
            L->shape.ndim = depth + 1;
            L->shape.d[depth] = v->n;
        } else if (L->shape.d[depth] != v->n) {
            return bs_fail(s, e->line, e->col, "expected sequence of length %lld at dim %d (got %d)",
                           (long long)L->shape.d[depth], depth, v->n);
        }
        for (int i = 0; i < v->n; i++) {
            const bs_expr *ie = e && (e->kind == BS_EX_LIST || e->kind == BS_EX_TUPLE) && i < e->list.n
                                    ? e->list.items[i] : e;
            if (list_walk(s, &v->items[i], ie, depth + 1, L)) return -1;
        }
        return 0;
    }
    if (depth != L->shape.ndim)
        return bs_fail(s, e->line, e->col, "expected a list at dim %d, got a number", depth);
    double x;
    if (v->k != BS_V_BOOL && !bs_is_mask(s, v)) L->some_not_bool = true;
    if (v->k == BS_V_NUM) {
        x = v->num;
        if (!v->is_int) L->all_int = false;
    } else if (v->k == BS_V_BOOL) {
        x = v->b;
    } else if ((v->k == BS_V_NODE || v->k == BS_V_TMP)) {
        const bs_tensor *t = v->k == BS_V_NODE ? &bs_node_get(s->ctx, v->id)->value : &v->tmp;
        if (bs_tensor_numel(t) != 1)
            return bs_fail(s, e->line, e->col, "only one-element tensors can be list entries");
        x = t->data[0];
        if (t->dtype != BS_I64) L->all_int = false;
    } else {
        return bs_fail(s, e->line, e->col, "tensor data must be numbers");
    }
    if (L->n == L->cap) {
        int64_t nc = L->cap ? L->cap * 2 : 16;
        double *nd = bs_arena_alloc(&s->arena, (size_t)nc * sizeof(double));
        if (!nd) return bs_fail(s, e->line, e->col, "out of memory");
        if (L->n) memcpy(nd, L->data, (size_t)L->n * sizeof(double));
        L->data = nd;
        L->cap = nc;
    }
    L->data[L->n++] = x;
    return 0;
}

/* the data of a number, list or tensor value */
static int value_data(bs_session *s, const bs_value *v, const bs_expr *e, listdata *L)
{
    memset(L, 0, sizeof *L);
    L->all_int = true;
    if (v->k == BS_V_NODE || v->k == BS_V_TMP) {
        const bs_tensor *t = v->k == BS_V_NODE ? &bs_node_get(s->ctx, v->id)->value : &v->tmp;
        L->shape = t->shape;
        L->data = t->data;
        L->n = bs_tensor_numel(t);
        L->all_int = t->dtype == BS_I64;
        return 0;
    }
    if (v->k == BS_V_LIST || v->k == BS_V_TUPLE) {
        /* shape first pass is implicit: the first path down fixes each dim's length */
        if (list_walk(s, v, e, 0, L)) return -1;
        return 0;
    }
    if (v->k == BS_V_NUM || v->k == BS_V_BOOL) return list_walk(s, v, e, 0, L);
    return bs_fail(s, e->line, e->col, "expected a number, a list of numbers or a tensor");
}

/* ==== Op calls from the op table ==== */

typedef struct {
    bool parsed;
    int ntensor;
    char tname[BS_MAX_INPUTS][16];
    int nkw;
    char kwn[4][16];
    char kwd[4][16];
    bool star_shape;
} op_sig;

static op_sig sigs[BS_OP_COUNT];

static const op_sig *sig_of(bs_op op)
{
    op_sig *g = &sigs[op];
    if (g->parsed) return g;
    g->parsed = true;
    const char *p = strchr(bs_ops[op].help, '(');
    const char *end = p ? strchr(p, ')') : NULL;
    if (!p || !end) {
        g->ntensor = bs_ops[op].arity;
        return g;
    }
    p++;
    while (p < end) {
        while (*p == ' ' || *p == ',') p++;
        const char *q = p;
        while (q < end && *q != ',') q++;
        char item[48];
        snprintf(item, sizeof item, "%.*s", (int)(q - p), p);
        char *eq = strchr(item, '=');
        if (item[0] == '*') {
            g->star_shape = true;
        } else if (eq) {
            *eq = 0;
            if (g->nkw < 4) {
                snprintf(g->kwn[g->nkw], sizeof g->kwn[0], "%.15s", item);
                snprintf(g->kwd[g->nkw], sizeof g->kwd[0], "%.15s", eq + 1);
                g->nkw++;
            }
        } else if (item[0] && g->ntensor < BS_MAX_INPUTS) {
            snprintf(g->tname[g->ntensor++], sizeof g->tname[0], "%.15s", item);
        }
        p = q;
    }
    return g;
}

/* set attribute `name` of attr from value v */
static int set_attr(bs_session *s, bs_attr *at, const char *name, const bs_value *v, const bs_expr *e)
{
    if (!strcmp(name, "dim")) {
        if (v->k == BS_V_NONE) {
            at->dim = BS_DIM_ALL;
            return 0;
        }
        int64_t d;
        if (get_int(s, v, e, "dim", &d)) return -1;
        if (d < -64 || d > 64) return bs_fail(s, e->line, e->col, "Dimension out of range (got %lld)", (long long)d);
        at->dim = (int)d;
        return 0;
    }
    if (!strcmp(name, "keepdim")) return get_bool(s, v, e, "keepdim", &at->keepdim);
    if (!strcmp(name, "slope") || !strcmp(name, "eps")) return get_num(s, v, e, name, &at->k);
    if (!strcmp(name, "min") || !strcmp(name, "max")) { /* clamp's bounds; None: that side open */
        double *dst = name[1] == 'i' ? &at->k : &at->k2;
        if (v->k == BS_V_NONE) {
            *dst = name[1] == 'i' ? -INFINITY : INFINITY;
            return 0;
        }
        return get_num(s, v, e, name, dst);
    }
    if (!strcmp(name, "approximate")) { /* gelu: 'none' or 'tanh', as torch spells them */
        if (v->k != BS_V_STR || (strcmp(v->str, "none") && strcmp(v->str, "tanh")))
            return bs_fail(s, e->line, e->col, "approximate argument must be either none or tanh.");
        at->k = !strcmp(v->str, "tanh") ? BS_GELU_TANH : 0;
        return 0;
    }
    if (!strcmp(name, "diagonal")) { /* tril, triu */
        int64_t d;
        if (get_int(s, v, e, "diagonal", &d)) return -1;
        at->start = d;
        return 0;
    }
    return bs_fail(s, e->line, e->col, "unknown attribute %s", name);
}

static int call_op(bs_session *s, bs_op op, args_t *a, bs_value *out);
static int node_out(bs_session *s, bs_id id, const bs_expr *call, bs_value *out);

/* x.permute(0, 2, 1, 3), x.permute((0, 2, 1, 3)), torch.permute(x, dims); x.transpose(d0, d1),
   torch.transpose(x, d0, d1), x.swapaxes(d0, d1): one permute node (x.T, x.t() and transpose(x)
   with no dims stay the reversing transpose). Dims are kept as given, negatives too. */
static int call_permute(bs_session *s, bool swap, args_t *a, bs_value *out)
{
    const char *fn = a->fname;
    if (a->npos < 1) return bs_fail(s, a->call->line, a->call->col, "%s() needs a tensor", fn);
    bs_id x;
    if (bs_to_node(s, &a->pos[0], a->pe[0], &x)) return -1;
    int nd = bs_node_get(s->ctx, x)->value.shape.ndim;
    bs_attr at = bs_attr_default(BS_OP_PERMUTE);
    const bs_value *items = &a->pos[1];
    const bs_expr *const *es = &a->pe[1];
    int n = a->npos - 1;
    if (swap) {
        bs_value *d0 = n > 0 ? &a->pos[1] : kw(a, "dim0", NULL), *d1 = n > 1 ? &a->pos[2] : kw(a, "dim1", NULL);
        const bs_expr *e0 = n > 0 ? a->pe[1] : a->call, *e1 = n > 1 ? a->pe[2] : a->call;
        if (n > 2 || !d0 || !d1)
            return bs_fail(s, a->call->line, a->call->col, "%s() takes a tensor and two dims (dim0, dim1)", fn);
        int64_t i0, i1;
        if (get_int(s, d0, e0, "dim0", &i0) || get_int(s, d1, e1, "dim1", &i1) || check_kw_used(s, a)) return -1;
        int r[2];
        int64_t dd[2] = {i0, i1};
        for (int k = 0; k < 2; k++) {
            int m = nd ? nd : 1;
            if (dd[k] < -m || dd[k] >= m)
                return bs_fail(s, (k ? e1 : e0)->line, (k ? e1 : e0)->col,
                               "Dimension out of range (expected to be in range of [%d, %d], but got %lld)", -m, m - 1,
                               (long long)dd[k]);
            r[k] = (int)(dd[k] < 0 ? dd[k] + m : dd[k]);
        }
        if (nd == 0) { /* a 0-d tensor's transpose(0, 0) is itself */
            *out = bs_node_value(x);
            return 0;
        }
        at.shape.ndim = nd;
        for (int k = 0; k < nd; k++) at.shape.d[k] = k == r[0] ? r[1] : k == r[1] ? r[0] : k;
    } else {
        bs_value *dv = n == 0 ? kw(a, "dims", NULL) : NULL;
        if (dv) {
            items = dv;
            n = 1;
            es = NULL;
        }
        if (n == 1 && (items[0].k == BS_V_TUPLE || items[0].k == BS_V_LIST)) {
            n = items[0].n;
            items = bs_list_items(&items[0], &n);
            es = NULL;
        }
        if (check_kw_used(s, a)) return -1;
        if (n > BS_MAX_DIMS)
            return bs_fail(s, a->call->line, a->call->col, "tensors have at most %d dimensions", BS_MAX_DIMS);
        at.shape.ndim = n;
        for (int k = 0; k < n; k++) {
            int64_t d;
            if (get_int(s, &items[k], es ? es[k] : a->call, "a dim", &d)) return -1;
            at.shape.d[k] = d;
        }
    }
    bs_id r = bs_apply(s->ctx, BS_OP_PERMUTE, (bs_id[]){x, BS_NONE, BS_NONE}, &at);
    return node_out(s, r, a->call, out);
}

/* x.split(size, dim=0) / torch.split, x.chunk(n, dim=0) / torch.chunk: a tuple of slices of x
   along dim (the fused QKV of attention: q, k, v = qkv.split(D, dim=2)); each piece is a slice
   node on the tape, as PyTorch's SplitBackward is a narrow of each piece. When the pieces are
   even, each slice also keeps (attr.k, attr.k2) = (pieces, its index), so that :run at other
   sizes (core/plan.c) cuts the resized dim into as many pieces */
static int split_fn(bs_session *s, args_t *a, bool chunk, bs_value *out)
{
    const char *fn = a->fname;
    if (a->npos < 2 && !(a->npos == 1 && kw(a, chunk ? "chunks" : "split_size_or_sections", NULL)))
        return bs_fail(s, a->call->line, a->call->col, "%s() takes a tensor and %s", fn,
                       chunk ? "a number of chunks" : "a size");
    bs_id x;
    if (bs_to_node(s, &a->pos[0], a->pe[0], &x)) return -1;
    const bs_expr *ke = a->call;
    bs_value *kv = a->npos > 1 ? &a->pos[1] : kw(a, chunk ? "chunks" : "split_size_or_sections", &ke);
    if (a->npos > 1) ke = a->pe[1];
    int64_t k, dim = 0;
    if (kv->k == BS_V_LIST || kv->k == BS_V_TUPLE)
        return bs_fail(s, ke->line, ke->col, "%s() with a list of sizes is not supported: give one size", fn);
    if (get_int(s, kv, ke, chunk ? "chunks" : "split_size", &k)) return -1;
    const bs_expr *de = a->call;
    bs_value *dv = a->npos > 2 ? &a->pos[2] : kw(a, "dim", &de);
    if (a->npos > 2) de = a->pe[2];
    if (a->npos > 3) return max_pos(s, a, 3);
    if (dv && get_int(s, dv, de, "dim", &dim)) return -1;
    if (check_kw_used(s, a)) return -1;
    const bs_shape *sh = &bs_node_get(s->ctx, x)->value.shape;
    int nd = sh->ndim;
    if (nd == 0) return bs_fail(s, a->call->line, a->call->col, "%s expects at least a 1-dimensional tensor", fn);
    if (dim < -nd || dim >= nd)
        return bs_fail(s, de->line, de->col, "Dimension out of range (expected to be in range of [%d, %d], but got %lld)",
                       -nd, nd - 1, (long long)dim);
    int64_t len = sh->d[dim < 0 ? dim + nd : dim];
    if (k <= 0 && (chunk || k < 0))
        return bs_fail(s, ke->line, ke->col, chunk ? "chunk expects `chunks` to be greater than 0, got: %lld"
                                                   : "split expects split_size be non-negative, but got split_size=%lld",
                       (long long)k);
    if (k == 0) /* torch allows it only for an empty dim */
        return bs_fail(s, ke->line, ke->col, "split_size can only be 0 if dimension size is 0, but got dimension size of %lld",
                       (long long)len);
    int64_t size = chunk ? (len + k - 1) / k : k;
    int64_t pieces = size ? (len + size - 1) / size : 1;
    if (pieces < 1) pieces = 1;
    if (pieces > 64) return bs_fail(s, ke->line, ke->col, "%s() into %lld pieces: at most 64", fn, (long long)pieces);
    bs_value *items = bs_arena_alloc(&s->arena, sizeof(bs_value) * (size_t)pieces);
    if (!items) return bs_fail(s, a->call->line, a->call->col, "out of memory");
    for (int64_t i = 0; i < pieces; i++) {
        bs_attr at = bs_attr_default(BS_OP_SLICE);
        at.dim = (int)dim;
        at.start = i * size;
        at.stop = i + 1 == pieces ? BS_SLICE_NO_STOP : (i + 1) * size;
        if (len % size == 0) { /* even pieces: a replay at other sizes cuts the dim in as many */
            at.k = (double)pieces;
            at.k2 = (double)i;
        }
        bs_id r = bs_apply(s->ctx, BS_OP_SLICE, (bs_id[]){x, BS_NONE, BS_NONE}, &at);
        if (r < 0) return bs_fail_core(s, a->call->line, a->call->col, NULL);
        items[i] = bs_node_value(r);
    }
    *out = bs_value_of(BS_V_TUPLE);
    out->n = (int)pieces;
    out->items = items;
    return 0;
}

static int call_op(bs_session *s, bs_op op, args_t *a, bs_value *out)
{
    if (op == BS_OP_PERMUTE || (op == BS_OP_TRANSPOSE && (a->npos > 1 || kw(a, "dim0", NULL))))
        return call_permute(s, op == BS_OP_TRANSPOSE, a, out);
    const op_sig *g = sig_of(op);
    bs_attr at = bs_attr_default(op);
    bs_id in[BS_MAX_INPUTS] = {BS_NONE, BS_NONE};
    /* tensor inputs: positional first, then by keyword */
    for (int i = 0; i < g->ntensor; i++) {
        const bs_expr *e = NULL;
        bs_value *v = NULL;
        if (i < a->npos) {
            v = &a->pos[i];
            e = a->pe[i];
        } else {
            v = kw(a, g->tname[i], &e);
            if (!v && i == 1 && (op == BS_OP_POW)) v = kw(a, "exponent", &e);
            if (!v && i == 1) v = kw(a, "other", &e);
            if (!v && i == 0) v = kw(a, "input", &e);
        }
        if (!v) {
            int missing = g->ntensor - i;
            return bs_fail(s, a->call->op_line, a->call->op_col,
                           "%s() missing %d required argument%s: '%s'", a->fname, missing,
                           missing == 1 ? "" : "s", g->tname[i]);
        }
        if (op == BS_OP_MAX && i == 0 && a->npos > 1 &&
            (a->pos[1].k == BS_V_NODE || a->pos[1].k == BS_V_TMP))
            return bs_fail(s, a->pe[1]->line, a->pe[1]->col,
                           "max(a, b) of two tensors is not supported: use max(x, dim=k)");
        if (bs_to_node(s, v, e, &in[i])) return -1;
    }
    /* extra positionals bind to the keyword parameters in order, or to *shape */
    int extra = a->npos - g->ntensor;
    if (extra > 0) {
        if (g->star_shape) {
            bs_shape shp;
            int8_t sym[BS_MAX_DIMS];
            if (get_sizes(s, a, g->ntensor, &shp, sym)) return -1;
            at.shape = shp;
            memcpy(at.shape_sym, sym, sizeof sym);
        } else {
            if (extra > g->nkw)
                return max_pos(s, a, g->ntensor + g->nkw);
            for (int i = 0; i < extra; i++)
                if (set_attr(s, &at, g->kwn[i], &a->pos[g->ntensor + i], a->pe[g->ntensor + i]))
                    return -1;
        }
    } else if (g->star_shape) {
        bs_value *v = kw(a, "shape", NULL);
        if (!v)
            return bs_fail(s, a->call->op_line, a->call->op_col, "%s() needs a shape", a->fname);
        args_t tmp = *a;
        tmp.npos = 1;
        tmp.pos[0] = *v;
        tmp.pe[0] = a->call;
        bs_shape shp;
        int8_t sym[BS_MAX_DIMS];
        if (get_sizes(s, &tmp, 0, &shp, sym)) return -1;
        at.shape = shp;
        memcpy(at.shape_sym, sym, sizeof sym);
    }
    for (int i = 0; i < g->nkw; i++) {
        const bs_expr *e;
        bs_value *v = kw(a, g->kwn[i], &e);
        if (!v && !strcmp(g->kwn[i], "slope")) v = kw(a, "negative_slope", &e);
        if (!v) continue;
        if (i < extra) return bs_fail(s, e->line, e->col, "%s() got multiple values for argument '%s'", a->fname, g->kwn[i]);
        if (set_attr(s, &at, g->kwn[i], v, e)) return -1;
    }
    int red = BS_REDUCE_MEAN;
    if (bs_ops[op].kind == BS_K_LOSS) {
        const bs_expr *e;
        bs_value *v = kw(a, "reduction", &e);
        if (v && (red = bs_loss_reduction(s, v, e)) < 0) return -1;
    }
    if (check_kw_used(s, a)) return -1;
    bs_id r = bs_apply(s->ctx, op, in, &at);
    if (r < 0) return bs_fail_core(s, a->call->line, a->call->col, NULL);
    bs_node_text_from(s, r, a->call);
    if (red == BS_REDUCE_SUM && bs_loss_sum(s, a->call, &r)) return -1;
    out->k = BS_V_NODE;
    out->id = r;
    return 0;
}

int bs_loss_reduction(bs_session *s, const bs_value *v, const bs_expr *e)
{
    if (v->k == BS_V_STR && !strcmp(v->str, "mean")) return BS_REDUCE_MEAN;
    if (v->k == BS_V_STR && !strcmp(v->str, "sum")) return BS_REDUCE_SUM;
    if (v->k == BS_V_STR && !strcmp(v->str, "none"))
        return bs_fail(s, e->line, e->col, "reduction='none' is not supported yet: write the "
                       "loss per element ((p - y) ** 2 for mse), or use 'mean' or 'sum'");
    if (v->k == BS_V_STR) return bs_fail(s, e->line, e->col, "%s is not a valid value for reduction", v->str);
    return bs_fail(s, e->line, e->col, "reduction takes 'mean', 'sum' or 'none'");
}

/* reduction='sum': the mean times the count it divides by, recorded as one more node (what the
   stepper shows is what ran) */
int bs_loss_sum(bs_session *s, const bs_expr *call, bs_id *r)
{
    const bs_node *n = bs_node_get(s->ctx, *r);
    bs_id k = bs_scalar(s->ctx, bs_node_mean_count(s->ctx, *r), n->value.dtype);
    bs_id sum = k < 0 ? k : bs_apply2(s->ctx, BS_OP_MUL, *r, k);
    if (sum < 0) return bs_fail_core(s, call->line, call->col, NULL);
    bs_node_text_from(s, sum, call);
    bs_node_mark_loss_sum(s->ctx, sum);
    *r = sum;
    return 0;
}

/* ==== Constructors ==== */

static int set_requires_grad(bs_session *s, bs_id id, bool on, const bs_expr *e)
{
    if (bs_node_set_requires_grad(s->ctx, id, on)) return bs_fail_core(s, e->line, e->col, NULL);
    return 0;
}

static int node_out(bs_session *s, bs_id id, const bs_expr *call, bs_value *out)
{
    if (id < 0) return bs_fail_core(s, call->line, call->col, NULL);
    bs_node_text_from(s, id, call);
    out->k = BS_V_NODE;
    out->id = id;
    return 0;
}

static int opt_dtype(bs_session *s, args_t *a, bs_dtype def, bs_dtype *t)
{
    const bs_expr *e;
    bs_value *v = kw(a, "dtype", &e);
    *t = def;
    if (v && v->k == BS_V_STR && !strcmp(v->str, "torch.bool")) {
        a->want_bool = true;
        *t = BS_I64;
        return 0;
    }
    return v ? get_dtype(s, v, e, t) : 0;
}

static int opt_rg(bs_session *s, args_t *a, bool *rg)
{
    const bs_expr *e;
    bs_value *v = kw(a, "requires_grad", &e);
    *rg = false;
    return v ? get_bool(s, v, e, "requires_grad", rg) : 0;
}

static int fn_make(bs_session *s, args_t *a, bs_init_kind kind, bs_value *out)
{
    bs_shape shp;
    int8_t sym[BS_MAX_DIMS];
    bool rg;
    bs_dtype t;
    if (a->npos == 0 && kind != BS_INIT_EYE) {
        memset(&shp, 0, sizeof shp);
        memset(sym, -1, sizeof sym);
    } else if (get_sizes(s, a, 0, &shp, sym)) {
        return -1;
    }
    if (opt_rg(s, a, &rg) || opt_dtype(s, a, bs_ctx_dtype(s->ctx), &t) || check_kw_used(s, a))
        return -1;
    if (kind == BS_INIT_EYE) {
        if (shp.ndim < 1 || shp.ndim > 2)
            return bs_fail(s, a->call->line, a->call->col, "eye(n) or eye(n, m)");
        if (shp.ndim == 1) {
            shp.ndim = 2;
            shp.d[1] = shp.d[0];
            sym[1] = sym[0];
        }
    }
    for (int i = 0; i < shp.ndim; i++)
        if (shp.d[i] < 0)
            return bs_fail(s, a->call->line, a->call->col,
                           "Trying to create tensor with negative dimension %lld", (long long)shp.d[i]);
    bs_id id = bs_make(s->ctx, kind, &shp, sym, t, 0, 0);
    if (id >= 0 && rg && set_requires_grad(s, id, true, a->call)) return -1;
    return node_out(s, id, a->call, out);
}

static int fn_randn(bs_session *s, args_t *a, bs_value *out) { return fn_make(s, a, BS_INIT_RANDN, out); }
static int fn_rand(bs_session *s, args_t *a, bs_value *out) { return fn_make(s, a, BS_INIT_RAND, out); }
static int fn_zeros(bs_session *s, args_t *a, bs_value *out) { return fn_make(s, a, BS_INIT_ZEROS, out); }
static int fn_ones(bs_session *s, args_t *a, bs_value *out) { return fn_make(s, a, BS_INIT_ONES, out); }
static int fn_eye(bs_session *s, args_t *a, bs_value *out) { return fn_make(s, a, BS_INIT_EYE, out); }

static int like(bs_session *s, args_t *a, bs_init_kind kind, bs_value *out)
{
    if (a->npos != 1) return bs_fail(s, a->call->line, a->call->col, "%s(x) takes one tensor", a->fname);
    bs_id x;
    if (bs_to_node(s, &a->pos[0], a->pe[0], &x)) return -1;
    const bs_node *n = bs_node_get(s->ctx, x);
    bool rg;
    bs_dtype t;
    if (opt_rg(s, a, &rg) || opt_dtype(s, a, n->value.dtype, &t) || check_kw_used(s, a)) return -1;
    bs_shape shp = n->value.shape;
    bs_id id = bs_make(s->ctx, kind, &shp, n->sym, t, 0, 0);
    if (id >= 0 && rg && set_requires_grad(s, id, true, a->call)) return -1;
    return node_out(s, id, a->call, out);
}
static int fn_zeros_like(bs_session *s, args_t *a, bs_value *out) { return like(s, a, BS_INIT_ZEROS, out); }
static int fn_ones_like(bs_session *s, args_t *a, bs_value *out) { return like(s, a, BS_INIT_ONES, out); }
static int fn_randn_like(bs_session *s, args_t *a, bs_value *out) { return like(s, a, BS_INIT_RANDN, out); }

static int fn_arange(bs_session *s, args_t *a, bs_value *out)
{
    double v[3] = {0, 0, 1};
    bool all_int = true;
    if (a->npos < 1 || a->npos > 3)
        return bs_fail(s, a->call->line, a->call->col, "arange(end), arange(start, end[, step])");
    for (int i = 0; i < a->npos; i++) {
        if (get_num(s, &a->pos[i], a->pe[i], "arange's bounds", &v[a->npos == 1 ? 1 : i])) return -1;
        if (a->pos[i].k != BS_V_NUM || !a->pos[i].is_int) all_int = false;
    }
    bool rg;
    bs_dtype t;
    if (opt_rg(s, a, &rg) || opt_dtype(s, a, all_int ? BS_I64 : bs_ctx_dtype(s->ctx), &t) ||
        check_kw_used(s, a))
        return -1;
    if (v[2] == 0) return bs_fail(s, a->call->line, a->call->col, "step must be nonzero");
    double n = ceil((v[1] - v[0]) / v[2]);
    if (!isfinite(v[0]) || !isfinite(v[1]) || !isfinite(v[2]))
        return bs_fail(s, a->call->line, a->call->col, "unsupported range: %g -> %g", v[0], v[1]);
    if (n < 0) return bs_fail(s, a->call->line, a->call->col, "upper bound and larger bound inconsistent with step sign");
    if (n > (double)BS_INT_EXACT_MAX)
        return bs_fail(s, a->call->line, a->call->col, "arange: %.3g elements are too many", n);
    bs_shape shp = {1, {(int64_t)n}};
    int8_t sym[BS_MAX_DIMS] = {-1, -1, -1, -1};
    if (a->npos == 1) sym[0] = (int8_t)a->pos[0].sym;
    bs_id id = bs_make(s->ctx, BS_INIT_ARANGE, &shp, sym, t, v[0], v[2]);
    if (id >= 0 && rg && set_requires_grad(s, id, true, a->call)) return -1;
    return node_out(s, id, a->call, out);
}

/* torch.linspace(start, end, steps): steps evenly spaced values, both ends included (a constant) */
static int fn_linspace(bs_session *s, args_t *a, bs_value *out)
{
    double v[2];
    int64_t n;
    if (a->npos != 3 || get_num(s, &a->pos[0], a->pe[0], "start", &v[0]) ||
        get_num(s, &a->pos[1], a->pe[1], "end", &v[1]) || get_int(s, &a->pos[2], a->pe[2], "steps", &n))
        return a->npos != 3 ? bs_fail(s, a->call->line, a->call->col, "linspace(start, end, steps)") : -1;
    bool rg;
    bs_dtype t;
    if (opt_rg(s, a, &rg) || opt_dtype(s, a, bs_ctx_dtype(s->ctx), &t) || check_kw_used(s, a)) return -1;
    if (n < 0 || n > (1 << 26)) return bs_fail(s, a->pe[2]->line, a->pe[2]->col, "number of steps must be non-negative");
    double *d = bs_arena_alloc(&s->arena, sizeof(double) * (size_t)(n ? n : 1));
    if (!d) return bs_fail(s, a->call->line, a->call->col, "out of memory");
    /* as torch: the first half counts up from start, the second down from end */
    double step = n > 1 ? (v[1] - v[0]) / (double)(n - 1) : 0;
    for (int64_t i = 0; i < n; i++) d[i] = i < n / 2 ? v[0] + step * (double)i : v[1] - step * (double)(n - 1 - i);
    bs_shape shp = {1, {n}};
    bs_id id = bs_leaf(s->ctx, d, &shp, t, rg);
    return node_out(s, id, a->call, out);
}

/* a reshape of x to `shape` (unsqueeze, squeeze, flatten, clone are reshapes on the tape) */
static int reshape_to(bs_session *s, args_t *a, const bs_value *x, const bs_expr *xe, const bs_shape *shape,
                      bs_value *out)
{
    bs_id id;
    bs_value c = *x;
    if (bs_to_node(s, &c, xe, &id)) return -1;
    bs_attr at = bs_attr_default(BS_OP_RESHAPE);
    at.shape = *shape;
    for (int i = 0; i < BS_MAX_DIMS; i++) at.shape_sym[i] = -1;
    bs_id r = bs_apply(s->ctx, BS_OP_RESHAPE, (bs_id[]){id, BS_NONE, BS_NONE}, &at);
    return node_out(s, r, a->call, out);
}

/* unsqueeze(x, dim), squeeze(x[, dim]), flatten(x), clone(x): shapes PyTorch's way */
static int shape_fn(bs_session *s, args_t *a, const bs_value *x, const bs_expr *xe, int first, bs_value *out)
{
    const bs_tensor *t = x->k == BS_V_NODE ? &bs_node_get(s->ctx, x->id)->value : x->k == BS_V_TMP ? &x->tmp : NULL;
    if (!t) return bs_fail(s, a->call->line, a->call->col, "%s() needs a tensor", a->fname);
    bs_shape sh = t->shape;
    int nd = sh.ndim;
    const bs_expr *de = a->npos > first ? a->pe[first] : NULL;
    bs_value *dv = a->npos > first ? &a->pos[first] : kw(a, "dim", &de);
    if (max_pos(s, a, first + 1) || check_kw_used(s, a)) return -1;
    int64_t d = 0;
    if (dv && get_int(s, dv, de, "dim", &d)) return -1;
    if (!strcmp(a->fname, "unsqueeze")) {
        if (!dv) return bs_fail(s, a->call->line, a->call->col, "unsqueeze() missing 1 required positional argument: 'dim'");
        if (d < -(nd + 1) || d > nd)
            return bs_fail(s, de->line, de->col, "Dimension out of range (expected to be in range of [%d, %d], but got %lld)",
                           -(nd + 1), nd, (long long)d);
        if (nd == BS_MAX_DIMS) return bs_fail(s, a->call->line, a->call->col, "at most %d dims", BS_MAX_DIMS);
        if (d < 0) d += nd + 1;
        for (int i = nd; i > d; i--) sh.d[i] = sh.d[i - 1];
        sh.d[d] = 1;
        sh.ndim = nd + 1;
    } else if (!strcmp(a->fname, "squeeze")) {
        int k = 0;
        if (dv && d < 0) d += nd;
        if (dv && (d < 0 || d >= (nd ? nd : 1)))
            return bs_fail(s, de->line, de->col, "Dimension out of range (got %lld)", (long long)d);
        for (int i = 0; i < nd; i++)
            if (!(sh.d[i] == 1 && (!dv || i == d))) sh.d[k++] = sh.d[i];
        sh.ndim = k;
    } else if (!strcmp(a->fname, "flatten")) {
        sh.ndim = 1;
        sh.d[0] = bs_tensor_numel(t);
    } /* clone: the same shape */
    return reshape_to(s, a, x, xe, &sh, out);
}

static int fn_shape(bs_session *s, args_t *a, bs_value *out)
{
    if (a->npos < 1) return bs_fail(s, a->call->line, a->call->col, "%s(x, ...) takes a tensor", a->fname);
    return shape_fn(s, a, &a->pos[0], a->pe[0], 1, out);
}

/* the index of the largest (mx) or smallest value of t along dim (every element when dim < 0),
   as an i64 tensor in the arena; false when out of memory */
static bool arg_extreme(bs_session *s, const bs_tensor *t, int64_t d, bool keep, bool mx, bs_tensor *out)
{
    int nd = t->shape.ndim;
    int64_t numel = bs_tensor_numel(t);
    bs_shape sh = {0, {0}};
    int64_t outer = 1, len = numel, inner = 1;
    if (d >= 0 && nd) {
        len = t->shape.d[d];
        for (int i = 0; i < d; i++) outer *= t->shape.d[i];
        for (int i = (int)d + 1; i < nd; i++) inner *= t->shape.d[i];
        for (int i = 0; i < nd; i++)
            if (i != d || keep) sh.d[sh.ndim++] = i == d ? 1 : t->shape.d[i];
    }
    int64_t cells = outer * inner;
    double *o = bs_arena_alloc(&s->arena, sizeof(double) * (size_t)(cells > 0 ? cells : 1));
    if (!o) return false;
    for (int64_t p = 0; p < outer; p++)
        for (int64_t j = 0; j < inner; j++) {
            int64_t best = 0;
            for (int64_t i = 1; i < len; i++) {
                double v = t->data[(p * len + i) * inner + j], b = t->data[(p * len + best) * inner + j];
                if (mx ? v > b : v < b) best = i;
            }
            o[p * inner + j] = (double)best;
        }
    *out = (bs_tensor){BS_I64, sh, o};
    return true;
}

/* argmax / argmin over every element (dim=None) or along dim: indices, no gradient */
static int argext(bs_session *s, args_t *a, const bs_value *x, int first, bs_value *out)
{
    const bs_tensor *t = x->k == BS_V_NODE ? &bs_node_get(s->ctx, x->id)->value : x->k == BS_V_TMP ? &x->tmp : NULL;
    if (!t) return bs_fail(s, a->call->line, a->call->col, "%s() needs a tensor", a->fname);
    const bs_expr *de = a->npos > first ? a->pe[first] : NULL;
    bs_value *dv = a->npos > first ? &a->pos[first] : kw(a, "dim", &de);
    const bs_expr *ke;
    bs_value *kd = kw(a, "keepdim", &ke);
    bool keep = false;
    if (max_pos(s, a, first + 1) || (kd && get_bool(s, kd, ke, "keepdim", &keep)) || check_kw_used(s, a)) return -1;
    bool mx = !strcmp(a->fname, "argmax");
    int nd = t->shape.ndim;
    int64_t d = -1;
    if (dv && dv->k != BS_V_NONE) {
        if (get_int(s, dv, de, "dim", &d)) return -1;
        if (d < 0) d += nd;
        if (d < 0 || d >= (nd ? nd : 1)) return bs_fail(s, de->line, de->col, "Dimension out of range (got %lld)", (long long)d);
    }
    if (bs_tensor_numel(t) == 0)
        return bs_fail(s, a->call->line, a->call->col, "%s(): Expected reduction dim to be specified for "
                       "input.numel() == 0.", a->fname);
    out->k = BS_V_TMP;
    if (!arg_extreme(s, t, d, keep, mx, &out->tmp)) return bs_fail(s, a->call->line, a->call->col, "out of memory");
    return 0;
}

static int fn_argext(bs_session *s, args_t *a, bs_value *out)
{
    if (a->npos < 1) return bs_fail(s, a->call->line, a->call->col, "%s(x) takes a tensor", a->fname);
    return argext(s, a, &a->pos[0], 1, out);
}

static int data_leaf(bs_session *s, args_t *a, bool param, bs_value *out)
{
    if (a->npos != 1)
        return bs_fail(s, a->call->op_line, a->call->op_col, "%s() takes exactly one argument (data)", a->fname);
    bool rg = param;
    if (!param && opt_rg(s, a, &rg)) return -1;
    bs_value *v = &a->pos[0];
    listdata L;
    if (value_data(s, v, a->pe[0], &L)) return -1;
    bs_dtype t = L.all_int && !param ? BS_I64 : bs_ctx_dtype(s->ctx);
    if (v->k == BS_V_NODE) t = param && L.all_int ? bs_ctx_dtype(s->ctx) : bs_node_get(s->ctx, v->id)->value.dtype;
    if (opt_dtype(s, a, t, &t) || check_kw_used(s, a)) return -1;
    if (rg && t == BS_I64)
        return bs_fail(s, a->call->line, a->call->col,
                       "only tensors of floating point dtype can require gradients");
    bs_id id;
    if (v->k == BS_V_NODE) {
        id = bs_copy_leaf(s->ctx, v->id, rg);
        if (id >= 0 && bs_node_get(s->ctx, id)->value.dtype != t) {
            bs_leaf_convert(s->ctx, id, t);
        }
    } else {
        id = bs_leaf(s->ctx, L.data, &L.shape, t, rg);
    }
    /* tensor([True, False]), tensor(mask): torch.bool */
    if (id >= 0 && !param && t == BS_I64 && L.n && !L.some_not_bool && (v->k == BS_V_LIST || v->k == BS_V_TUPLE || v->k == BS_V_BOOL))
        bs_node_mark_bool(s->ctx, id);
    if (id >= 0 && !param && t == BS_I64 && v->k == BS_V_NODE && bs_node_get(s->ctx, v->id)->is_bool && !kw(a, "dtype", NULL))
        bs_node_mark_bool(s->ctx, id);
    return node_out(s, id, a->call, out);
}

static int fn_param(bs_session *s, args_t *a, bs_value *out) { return data_leaf(s, a, true, out); }
static int fn_tensor(bs_session *s, args_t *a, bs_value *out) { return data_leaf(s, a, false, out); }

static int fn_seed(bs_session *s, args_t *a, bs_value *out)
{
    int64_t n;
    if (max_pos(s, a, 1) || check_kw_used(s, a)) return -1;
    if (a->npos != 1) return bs_fail(s, a->call->line, a->call->col, "seed(n) needs a number");
    if (get_int(s, &a->pos[0], a->pe[0], "the seed", &n)) return -1;
    bs_ctx_seed(s->ctx, (uint64_t)n);
    out->k = BS_V_VOID;
    return 0;
}

static int fn_dim(bs_session *s, args_t *a, bs_value *out)
{
    int64_t n;
    if (max_pos(s, a, 1) || check_kw_used(s, a)) return -1;
    if (a->npos != 1) return bs_fail(s, a->call->line, a->call->col, "dim(n) needs a size");
    if (get_int(s, &a->pos[0], a->pe[0], "a size", &n)) return -1;
    if (n < 1) return bs_fail(s, a->pe[0]->line, a->pe[0]->col, "a size must be at least 1");
    *out = (bs_value){.k = BS_V_DIM, .num = (double)n, .is_int = true, .sym = -1};
    return 0;
}

static int kw_num(bs_session *s, args_t *a, const char *name, double *v)
{
    const bs_expr *e;
    bs_value *x = kw(a, name, &e);
    return x ? get_num(s, x, e, name, v) : 0;
}

/* A value torch.optim refuses: an integer the user typed is shown as Python shows it ("Invalid
 * learning rate: -1", not "-1.0"). The caret stays under the call. */
static int opt_fail(bs_session *s, args_t *a)
{
    static const struct {
        const char *prefix, *kw;
    } which[] = {
        {"Invalid learning rate", "lr"},          {"Invalid epsilon", "eps"},
        {"Invalid momentum", "momentum"},         {"Invalid weight_decay", "weight_decay"},
    };
    const char *msg = bs_errmsg(s->ctx);
    const bs_value *v = NULL;
    for (size_t i = 0; i < sizeof which / sizeof which[0] && !v; i++) {
        if (strncmp(msg, which[i].prefix, strlen(which[i].prefix))) continue;
        v = kw(a, which[i].kw, NULL);
        if (!v && !strcmp(which[i].kw, "lr") && a->npos == 1) v = &a->pos[0];
        if (!v) break;
    }
    size_t n = strlen(msg);
    if (v && v->k == BS_V_NUM && v->is_int && n > 2 && !strcmp(msg + n - 2, ".0"))
        return bs_fail(s, a->call->line, a->call->col, "%.*s", (int)(n - 2), msg);
    return bs_fail_core(s, a->call->line, a->call->col, NULL);
}

static int make_opt(bs_session *s, args_t *a, bs_opt_kind kind, bs_value *out)
{
    bs_opt_conf c = bs_opt_defaults(kind);
    c.lr = 1e-3;
    if (max_pos(s, a, 1)) return -1;
    if (a->npos == 1 && get_num(s, &a->pos[0], a->pe[0], "lr", &c.lr)) return -1;
    if (kind == BS_OPT_SGD && a->npos == 0 && !kw(a, "lr", NULL))
        return bs_fail(s, a->call->line, a->call->col,
                       "sgd() needs a learning rate, as in sgd(lr=0.1) (torch.optim.SGD requires lr)");
    for (int i = 0; i < a->nkw; i++)
        if (!strcmp(a->kn[i], "lr")) a->kused[i] = false;
    if (kw_num(s, a, "lr", &c.lr) || kw_num(s, a, "weight_decay", &c.weight_decay)) return -1;
    if (kind == BS_OPT_SGD) {
        const bs_expr *e;
        bs_value *nv = kw(a, "nesterov", &e);
        if (nv && get_bool(s, nv, e, "nesterov", &c.nesterov)) return -1;
        if (kw_num(s, a, "momentum", &c.momentum) || kw_num(s, a, "dampening", &c.dampening)) return -1;
    } else {
        const bs_expr *e;
        bs_value *b = kw(a, "betas", &e);
        if (b) {
            if ((b->k != BS_V_TUPLE && b->k != BS_V_LIST) || b->n != 2)
                return bs_fail(s, e->line, e->col, "betas must be a pair, as in betas=(0.9, 0.999)");
            if (get_num(s, &b->items[0], e, "beta1", &c.beta1) ||
                get_num(s, &b->items[1], e, "beta2", &c.beta2))
                return -1;
        }
        if (kw_num(s, a, "eps", &c.eps)) return -1;
    }
    if (check_kw_used(s, a)) return -1;
    bs_opt *o = bs_opt_new(s->ctx, &c);
    if (!o) return opt_fail(s, a);
    out->k = BS_V_OPT;
    out->opt = o;
    return 0;
}
/* grad_scaler(init_scale=65536.0, ...): torch.amp.GradScaler's short form (amp.c) */
static int fn_grad_scaler(bs_session *s, args_t *a, bs_value *out)
{
    for (int i = 0; i < a->nkw; i++) a->kused[i] = true;
    return bs_amp_new(s, a->call, a->pos, a->npos, a->kn, a->kv, a->nkw, out);
}

/* checkpoint(fn, *args, use_reentrant=False, **kwargs): torch.utils.checkpoint. fn(*args,
   **kwargs) runs inside a checkpoint (core/checkpoint.c): nothing it makes is kept for backward
   but what it reads from outside, and backward runs its forward again. use_reentrant=True (torch
   1.13's default) gets the same recomputation: the gradients are the same when an input or a
   param requires grad. */
static int fn_checkpoint(bs_session *s, args_t *a, bs_value *out)
{
    if (a->npos < 1)
        return bs_fail(s, a->call->line, a->call->col,
                       "checkpoint(function, *args, use_reentrant=False): the function (a module, a def) comes first");
    const char *kn[MAX_KW];
    bs_value kv[MAX_KW];
    int nkw = 0;
    for (int i = 0; i < a->nkw; i++) {
        a->kused[i] = true;
        if (!strcmp(a->kn[i], "use_reentrant") || !strcmp(a->kn[i], "preserve_rng_state") ||
            !strcmp(a->kn[i], "determinism_check") || !strcmp(a->kn[i], "debug"))
            continue;
        kn[nkw] = a->kn[i]; /* the rest are fn's, as PyTorch passes them on */
        kv[nkw++] = a->kv[i];
    }
    const char *who = bs_expr_text(s, a->pe[0]);
    if (who && !strncmp(who, "self.", 5)) who += 5;
    char name[160];
    snprintf(name, sizeof name, "checkpoint(%.140s)", who && *who ? who : "?");
    int32_t prev = bs_checkpoint_enter(s->ctx, name);
    if (prev < 0) return bs_fail(s, a->call->line, a->call->col, "out of memory");
    bs_value fn = a->pos[0];
    /* a module called here is named as its argument is written ("block1 (HeavyBlock)"), not as
       the call's own callee (checkpoint) */
    if (fn.k == BS_V_OBJ) s->child_name = who && *who ? who : NULL;
    int r = bs_call_value(s, a->call, &fn, a->pos + 1, a->npos - 1, kn, kv, nkw, out);
    s->child_name = NULL;
    bs_scope_leave(s->ctx, prev);
    return r;
}

static int fn_sgd(bs_session *s, args_t *a, bs_value *out) { return make_opt(s, a, BS_OPT_SGD, out); }
static int fn_adam(bs_session *s, args_t *a, bs_value *out) { return make_opt(s, a, BS_OPT_ADAM, out); }

static int fn_zero_grad(bs_session *s, args_t *a, bs_value *out)
{
    if (max_pos(s, a, 0)) return -1;
    kw(a, "set_to_none", NULL);
    if (check_kw_used(s, a)) return -1;
    bs_zero_grad_all(s->ctx);
    out->k = BS_V_VOID;
    return 0;
}

static int fn_print(bs_session *s, args_t *a, bs_value *out)
{
    const bs_value *sep = kw(a, "sep", NULL), *end = kw(a, "end", NULL);
    kw(a, "flush", NULL);
    if (check_kw_used(s, a)) return -1;
    for (int i = 0; i < a->npos; i++) {
        if (i) fputs(sep && sep->k == BS_V_STR ? sep->str : " ", s->out);
        fputs(bs_str_value(s, &a->pos[i]), s->out);
    }
    fputs(end && end->k == BS_V_STR ? end->str : "\n", s->out);
    out->k = BS_V_VOID;
    return 0;
}

static int detach_value(bs_session *s, const bs_value *v, const bs_expr *ve, const bs_expr *call,
                        bs_value *out)
{
    bs_value tmp = *v;
    bs_id x;
    if (bs_to_node(s, &tmp, ve, &x)) return -1;
    bs_id id = bs_copy_leaf(s->ctx, x, false);
    return node_out(s, id, call, out);
}

static int fn_detach(bs_session *s, args_t *a, bs_value *out)
{
    if (a->npos != 1 || check_kw_used(s, a))
        return bs_fail(s, a->call->line, a->call->col, "detach(x) takes one tensor");
    return detach_value(s, &a->pos[0], a->pe[0], a->call, out);
}

typedef struct {
    const char *name;
    int (*fn)(bs_session *, args_t *, bs_value *);
    const char *help;
} builtin;

static int fn_norm(bs_session *s, args_t *a, bs_value *out);

/* min(x, dim=None, keepdim=False): -max(-x, ...) on the tape (the gradient goes to the smallest
   entry); with a dim, values, indices = torch.min(x, 1) unpacks as max's does */
static int fn_min(bs_session *s, args_t *a, bs_value *out)
{
    if (a->npos < 1) return bs_fail(s, a->call->line, a->call->col, "min(x) takes a tensor");
    bs_id x;
    bs_value c = a->pos[0];
    if (bs_to_node(s, &c, a->pe[0], &x)) return -1;
    bs_id nx = bs_apply1(s->ctx, BS_OP_NEG, x);
    if (nx < 0) return bs_fail_core(s, a->call->line, a->call->col, NULL);
    a->pos[0] = bs_node_value(nx);
    bs_value m;
    if (call_op(s, BS_OP_MAX, a, &m)) return -1;
    bs_id r = bs_apply1(s->ctx, BS_OP_NEG, m.id);
    return node_out(s, r, a->call, out);
}

static int fn_split(bs_session *s, args_t *a, bs_value *out) { return split_fn(s, a, false, out); }
static int fn_chunk(bs_session *s, args_t *a, bs_value *out) { return split_fn(s, a, true, out); }
static int fn_swapaxes(bs_session *s, args_t *a, bs_value *out) { return call_permute(s, true, a, out); }

/* F.embedding(input, weight): what nn.Embedding's forward records (repl/nn.c) */
static int fn_embedding(bs_session *s, args_t *a, bs_value *out)
{
    bs_value *w = a->npos > 1 ? &a->pos[1] : kw(a, "weight", NULL);
    if (a->npos < 1 || !w || a->npos > 2 || check_kw_used(s, a))
        return bs_fail(s, a->call->line, a->call->col, "embedding(input, weight) takes an index tensor and a weight");
    return bs_nn_embedding(s, a->call, &a->pos[0], w, out);
}

static const builtin builtins[] = {
    {"param", fn_param, "param(data): a leaf that learns (requires_grad=True); data is a number, a nested list or a tensor"},
    {"tensor", fn_tensor, "tensor(data, requires_grad=False, dtype=None): a tensor from a number or nested list (integers give i64)"},
    {"randn", fn_randn, "randn(*sizes, requires_grad=False): standard normal samples; sizes may be size variables"},
    {"rand", fn_rand, "rand(*sizes, requires_grad=False): uniform samples in [0, 1)"},
    {"zeros", fn_zeros, "zeros(*sizes): all zeros"},
    {"ones", fn_ones, "ones(*sizes): all ones"},
    {"eye", fn_eye, "eye(n, m=n): the identity matrix"},
    {"arange", fn_arange, "arange(end) or arange(start, end, step=1)"},
    {"zeros_like", fn_zeros_like, "zeros_like(x): zeros of x's shape"},
    {"ones_like", fn_ones_like, "ones_like(x): ones of x's shape (a seed for backward)"},
    {"randn_like", fn_randn_like, "randn_like(x): normal samples of x's shape"},
    {"seed", fn_seed, "seed(n): fix the random generator"},
    {"dim", fn_dim, "N = dim(4): a named size; randn(N, D) then has a symbolic shape that :run can change"},
    {"sgd", fn_sgd, "sgd(lr=0.001, momentum=0, dampening=0, weight_decay=0, nesterov=False): torch.optim.SGD over every param"},
    {"adam", fn_adam, "adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0): torch.optim.Adam over every param"},
    {"zero_grad", fn_zero_grad, "zero_grad(): set every param's grad to None"},
    {"grad_scaler", fn_grad_scaler, "grad_scaler(init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000): torch.amp.GradScaler, dynamic loss scaling"},
    {"checkpoint", fn_checkpoint, "checkpoint(fn, *args, use_reentrant=False): torch.utils.checkpoint: fn(*args) keeps nothing for backward but its inputs; backward runs its forward again (:step shows it)"},
    {"detach", fn_detach, "detach(x): x's value, cut from the graph"},
    {"linspace", fn_linspace, "linspace(start, end, steps): steps values evenly spaced from start to end"},
    {"unsqueeze", fn_shape, "unsqueeze(x, dim): x with a dim of size 1 inserted at dim (a reshape)"},
    {"squeeze", fn_shape, "squeeze(x, dim=None): x without its dims of size 1 (a reshape)"},
    {"flatten", fn_shape, "flatten(x): x as one dim (a reshape)"},
    {"clone", fn_shape, "clone(x): a copy of x on the tape (its gradient passes through)"},
    {"argmax", fn_argext, "argmax(x, dim=None, keepdim=False): the index of the largest value (no gradient)"},
    {"argmin", fn_argext, "argmin(x, dim=None, keepdim=False): the index of the smallest value (no gradient)"},
    {"norm", fn_norm, "norm(x, p=2): the 2-norm of every element, sqrt(sum(x * x)), recorded as those ops"},
    {"min", fn_min, "min(x, dim=None, keepdim=False): the smallest element (values only), recorded as -max(-x); the gradient flows to it"},
    {"print", fn_print, "print(x, ..., sep=' ', end='\\n'): print values as Python's str() writes them"},
    {"split", fn_split, "split(x, size, dim=0): a tuple of slices of x along dim, each size long (the last may be shorter): q, k, v = qkv.split(D, dim=2)"},
    {"chunk", fn_chunk, "chunk(x, chunks, dim=0): x cut into that many slices along dim (the last may be shorter)"},
    {"swapaxes", fn_swapaxes, "swapaxes(x, dim0, dim1): x.transpose(dim0, dim1), a permute of two dims"},
    {"embedding", fn_embedding, "embedding(input, weight): F.embedding, the rows of weight that the integer tensor input picks (nn.Embedding's forward)"},
};
#define NBUILTINS (int)(sizeof builtins / sizeof builtins[0])

/* The functions and the ops by name, hashed once (every call and every assignment asks): the
   first builtin and the first op of each name, as the scans of the tables found them. */
#define NAME_SLOTS 512
typedef struct {
    const char *name;
    int16_t b, op;      /* index in builtins / bs_ops, or -1 */
} name_entry;
static name_entry name_index[NAME_SLOTS];

static uint32_t name_hash(const char *c)
{
    uint32_t h = 2166136261u;
    for (; *c; c++) h = (h ^ (unsigned char)*c) * 16777619u;
    return h;
}

static name_entry *name_slot(const char *name, bool add)
{
    for (uint32_t j = name_hash(name) & (NAME_SLOTS - 1);; j = (j + 1) & (NAME_SLOTS - 1)) {
        name_entry *e = &name_index[j];
        if (!e->name) {
            if (!add) return NULL;
            *e = (name_entry){name, -1, -1};
            return e;
        }
        if (!strcmp(e->name, name)) return e;
    }
}

static const name_entry *name_find(const char *name)
{
    static bool ready;
    if (!ready) {
        _Static_assert(NBUILTINS + BS_OP_COUNT < NAME_SLOTS / 2, "the name index is at most half full");
        for (int i = 0; i < NBUILTINS; i++) {
            name_entry *e = name_slot(builtins[i].name, true);
            if (e->b < 0) e->b = (int16_t)i;
        }
        for (int i = 0; i < BS_OP_COUNT; i++) {
            if (!bs_ops[i].name) continue;
            name_entry *e = name_slot(bs_ops[i].name, true);
            if (e->op < 0) e->op = (int16_t)i;
        }
        ready = true;
    }
    return name ? name_slot(name, false) : NULL;
}

static const builtin *find_builtin(const char *name)
{
    const name_entry *e = name_find(name);
    return e && e->b >= 0 ? &builtins[e->b] : NULL;
}

/* bs_op_by_name through the index */
static const bs_op_info *op_named(const char *name)
{
    const name_entry *e = name_find(name);
    return e && e->op >= 0 ? &bs_ops[e->op] : NULL;
}

bool bs_is_builtin(const char *name)
{
    const name_entry *e = name_find(name);
    return e && (e->b >= 0 || e->op >= 0);
}

const char *bs_builtin_help(const char *name)
{
    const builtin *b = find_builtin(name);
    return b ? b->help : NULL;
}

void bs_builtins_each(void (*fn)(void *ud, const char *name, bool is_func), void *ud)
{
    for (int i = 0; i < NBUILTINS; i++) fn(ud, builtins[i].name, true);
    for (int i = 0; i < BS_OP_COUNT; i++) fn(ud, bs_ops[i].name, true);
}

/* zeros(3, dtype=torch.bool): the int64 0/1 result marked as a mask */
static int bool_result(bs_session *s, args_t *a, int r, bs_value *out)
{
    if (!r && out->k == BS_V_NODE && a->want_bool) {
        bs_node_mark_bool(s->ctx, out->id);
    }
    return r;
}

int bs_call_function(bs_session *s, const bs_expr *call, const char *name, bs_value *out)
{
    args_t a;
    const builtin *b = find_builtin(name);
    const bs_op_info *op = b ? NULL : op_named(name);
    if (!b && !op) {
        if (!strcmp(name, "no_grad"))
            return bs_fail(s, call->line, call->col, "no_grad is used as 'with no_grad: statement'");
        char dym[64];
        return bs_fail(s, call->line, call->col, "name '%s' is not defined%s", name,
                       bs_suggest_name(s, name, dym, sizeof dym));
    }
    if (collect(s, call, name, NULL, &a)) return -1;
    if (b) return bool_result(s, &a, b->fn(s, &a, out), out);
    return call_op(s, op->id, &a, out);
}

int bs_call_builtin_v(bs_session *s, const bs_expr *call, const char *name, const bs_value *self,
                      bs_value *pos, int npos, const char **kn, bs_value *kv, int nkw, bs_value *out)
{
    args_t a;
    memset(&a, 0, sizeof a);
    a.call = call;
    a.fname = name;
    if (self) {
        a.pos[a.npos] = *self;
        a.pe[a.npos++] = call;
    }
    /* the values are the call's own arguments, in order: their positions come from it */
    bool own = !self && call->kind == BS_EX_CALL && npos + nkw == call->call.nargs;
    for (int i = 0; i < npos; i++) {
        if (a.npos == MAX_POS) return bs_fail(s, call->line, call->col, "too many arguments");
        a.pos[a.npos] = pos[i];
        a.pe[a.npos++] = own ? call->call.args[i].value : call;
    }
    for (int i = 0; i < nkw; i++) {
        if (a.nkw == MAX_KW) return bs_fail(s, call->line, call->col, "too many keyword arguments");
        a.kn[a.nkw] = kn[i];
        a.kv[a.nkw] = kv[i];
        a.ke[a.nkw++] = own ? call->call.args[npos + i].value : call;
    }
    const builtin *b = find_builtin(name);
    const bs_op_info *op = b ? NULL : op_named(name);
    if (b) return bool_result(s, &a, b->fn(s, &a, out), out);
    if (op) return call_op(s, op->id, &a, out);
    return bs_fail(s, call->line, call->col, "name '%s' is not defined", name);
}

/* ==== Methods ==== */

static const bs_tensor *value_tensor(bs_session *s, const bs_value *v)
{
    if (v->k == BS_V_NODE) return &bs_node_get(s->ctx, v->id)->value;
    if (v->k == BS_V_TMP) return &v->tmp;
    return NULL;
}

static int m_backward(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    const bs_expr *call = a->call;
    if (self->k != BS_V_NODE) return bs_fail(s, call->line, call->col, "backward() needs a tensor on the graph");
    if (max_pos(s, a, 3)) return -1;
    bs_value *seedv = a->npos > 1 ? &a->pos[1] : NULL;
    const bs_expr *seede = a->npos > 1 ? a->pe[1] : NULL;
    if (!seedv) seedv = kw(a, "gradient", &seede);
    if (!seedv) seedv = kw(a, "seed", &seede);
    bool retain = false;
    const bs_expr *e;
    bs_value *rv = a->npos > 2 ? &a->pos[2] : kw(a, "retain_graph", &e);
    if (a->npos > 2) e = a->pe[2];
    if (rv && rv->k != BS_V_NONE && get_bool(s, rv, e, "retain_graph", &retain)) return -1;
    bs_value *cg = kw(a, "create_graph", &e);
    if (cg) {
        bool on = false;
        if (get_bool(s, cg, e, "create_graph", &on)) return -1;
        if (on) return bs_fail(s, e->line, e->col, "create_graph=True (higher-order gradients) is not supported");
    }
    if (check_kw_used(s, a)) return -1;
    bs_tensor seed;
    if (seedv && seedv->k != BS_V_NONE) {
        if (bs_to_tensor(s, seedv, seede, &seed)) return -1;
        /* a number seed for a scalar */
    }
    bs_status st = bs_backward(s->ctx, self->id, seedv && seedv->k != BS_V_NONE ? &seed : NULL, retain);
    if (st) return bs_fail_core(s, call->op_line, call->op_col, NULL);
    bs_pass_record(s, self->id);
    out->k = BS_V_VOID;
    return 0;
}

static int m_item(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    const bs_tensor *t = value_tensor(s, self);
    if (max_pos(s, a, 1) || check_kw_used(s, a)) return -1;
    if (!t) return bs_fail(s, a->call->line, a->call->col, "item() needs a tensor");
    int64_t n = bs_tensor_numel(t);
    if (n != 1)
        return bs_fail(s, a->call->op_line, a->call->op_col,
                       "a Tensor with %lld elements cannot be converted to Scalar", (long long)n);
    *out = (bs_value){.k = BS_V_NUM, .num = t->data[0], .is_int = t->dtype == BS_I64, .sym = -1};
    if (bs_is_mask(s, self)) *out = (bs_value){.k = BS_V_BOOL, .b = t->data[0] != 0, .sym = -1};
    return 0;
}

static int m_detach(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    if (max_pos(s, a, 1) || check_kw_used(s, a)) return -1;
    return detach_value(s, self, a->pe[0], a->call, out);
}

/* obj.name(...) where obj has no such method: the error at the method's name, with a hint */
static int no_method(bs_session *s, const bs_expr *call, const bs_value *obj, const char *name)
{
    const bs_expr *fn = call->call.fn;
    char dym[64];
    const char *o = obj->k == BS_V_NONE ? bs_expr_text(s, fn->attr.obj) : NULL;
    size_t on = o ? strlen(o) : 0;
    if (on > 5 && !strcmp(o + on - 5, ".grad")) /* x.grad.zero_() before any backward */
        return bs_fail(s, fn->attr.name_line, fn->attr.name_col,
                       "%s is None (no backward has reached %.*s yet, or zero_grad() set it to None): it has "
                       "no method '%s'", o, (int)(on - 5), o, name);
    if (obj->k == BS_V_NONE)
        return bs_fail(s, fn->attr.name_line, fn->attr.name_col, "'NoneType' object has no attribute '%s'", name);
    return bs_fail(s, fn->attr.name_line, fn->attr.name_col, "%s has no method '%s'%s",
                   obj->k == BS_V_OPT ? "an optimizer" : obj->k == BS_V_NODE || obj->k == BS_V_TMP ? "a tensor" : "this value",
                   name, bs_suggest_method(obj, name, dym, sizeof dym));
}

static int m_zero_grad(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    kw(a, "set_to_none", NULL);
    if (max_pos(s, a, 1) || check_kw_used(s, a)) return -1;
    if (self->k == BS_V_OPT) {
        int r = bs_opt_each(s, a->call, self, false);
        if (r < 0) return -1;
        if (r) bs_opt_zero_grad(s->ctx, self->opt);
    } else if (self->k == BS_V_NODE) {
        bs_zero_grad(s->ctx, self->id);
    } else {
        return no_method(s, a->call, self, "zero_grad"); /* x.grad.zero_grad(): zero_() */
    }
    out->k = BS_V_VOID;
    return 0;
}

static int m_step(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    if (self->k != BS_V_OPT) return bs_fail(s, a->call->line, a->call->col, "step() is an optimizer method");
    if (max_pos(s, a, 1) || check_kw_used(s, a)) return -1;
    int r = bs_opt_each(s, a->call, self, true);
    if (r < 0) return -1;
    if (r && bs_opt_step(s->ctx, self->opt)) return bs_fail_core(s, a->call->line, a->call->col, NULL);
    out->k = BS_V_VOID;
    return 0;
}

static int m_numel(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    const bs_tensor *t = value_tensor(s, self);
    if (!t || max_pos(s, a, 1) || check_kw_used(s, a)) return t ? -1 : bs_fail(s, a->call->line, a->call->col, "numel() needs a tensor");
    *out = (bs_value){.k = BS_V_NUM, .num = (double)bs_tensor_numel(t), .is_int = true, .sym = -1};
    return 0;
}

static int m_dim(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    const bs_tensor *t = value_tensor(s, self);
    if (!t || max_pos(s, a, 1) || check_kw_used(s, a)) return t ? -1 : bs_fail(s, a->call->line, a->call->col, "dim() needs a tensor");
    *out = (bs_value){.k = BS_V_NUM, .num = t->shape.ndim, .is_int = true, .sym = -1};
    return 0;
}

static int m_size(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    const bs_tensor *t = value_tensor(s, self);
    if (!t) return bs_fail(s, a->call->line, a->call->col, "size() needs a tensor");
    if (max_pos(s, a, 2)) return -1;
    const bs_expr *e = a->npos > 1 ? a->pe[1] : NULL;
    bs_value *dv = a->npos > 1 ? &a->pos[1] : kw(a, "dim", &e);
    if (check_kw_used(s, a)) return -1;
    if (!dv) {
        out->k = BS_V_SHAPE;
        out->shape = t->shape;
        return 0;
    }
    int64_t d;
    if (get_int(s, dv, e, "dim", &d)) return -1;
    int nd = t->shape.ndim;
    if (d < -nd || d >= nd || nd == 0)
        return bs_fail(s, e->line, e->col, "Dimension out of range (expected to be in range of [%d, %d], but got %lld)",
                       -(nd ? nd : 1), (nd ? nd : 1) - 1, (long long)d);
    if (d < 0) d += nd;
    *out = (bs_value){.k = BS_V_NUM, .num = (double)t->shape.d[d], .is_int = true, .sym = -1};
    return 0;
}

static int m_requires_grad_(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    if (self->k != BS_V_NODE) return bs_fail(s, a->call->line, a->call->col, "requires_grad_() needs a tensor");
    bool on = true;
    const bs_expr *e = a->npos > 1 ? a->pe[1] : NULL;
    bs_value *v = a->npos > 1 ? &a->pos[1] : kw(a, "requires_grad", &e);
    if (max_pos(s, a, 2) || (v && get_bool(s, v, e, "requires_grad", &on)) || check_kw_used(s, a)) return -1;
    if (set_requires_grad(s, self->id, on, a->call)) return -1;
    *out = *self;
    return 0;
}

static int m_retain_grad(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    if (max_pos(s, a, 1) || check_kw_used(s, a)) return -1;
    (void)self;
    out->k = BS_V_VOID; /* backstep keeps every node's grad already */
    return 0;
}

/* x.tolist(): numbers as Python gives them (ints for an integer tensor), nested by dimension */
static int tolist_rec(bs_session *s, const bs_tensor *t, int dim, int64_t *off, bs_value *out, bool mask)
{
    memset(out, 0, sizeof *out);
    out->sym = -1;
    if (dim == t->shape.ndim) {
        out->k = mask ? BS_V_BOOL : BS_V_NUM;
        out->b = t->data[*off] != 0;
        out->num = t->data[(*off)++];
        out->is_int = t->dtype == BS_I64;
        return 0;
    }
    int64_t n = t->shape.d[dim];
    out->k = BS_V_LIST;
    out->n = (int)n;
    out->items = bs_arena_alloc(&s->arena, sizeof(bs_value) * (size_t)(n ? n : 1));
    if (!out->items) return -1;
    for (int64_t i = 0; i < n; i++)
        if (tolist_rec(s, t, dim + 1, off, &out->items[i], mask)) return -1;
    return 0;
}

static int m_tolist(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    const bs_tensor *t = value_tensor(s, self);
    if (max_pos(s, a, 1) || check_kw_used(s, a)) return -1;
    if (!t) return bs_fail(s, a->call->line, a->call->col, "tolist() needs a tensor");
    if (bs_tensor_numel(t) > (1 << 22)) return bs_fail(s, a->call->line, a->call->col, "tolist(): tensor too large");
    int64_t off = 0;
    if (tolist_rec(s, t, 0, &off, out, bs_is_mask(s, self))) return bs_fail(s, a->call->line, a->call->col, "out of memory");
    return 0;
}

/* x.zero_(), x.fill_(v), x.copy_(src), x.add_(y), x.sub_(y), x.mul_(y), x.div_(y): in place, as
   PyTorch's underscore methods (on a leaf; under no_grad when it requires grad). x.grad.zero_()
   zeros the grad x holds. */
static int m_inplace(bs_session *s, args_t *a, bs_value *self, bs_value *out, const char *name)
{
    const bs_expr *call = a->call;
    if (self->k == BS_V_TMP && self->grad_owner && !strcmp(name, "zero_")) {
        if (max_pos(s, a, 1) || check_kw_used(s, a)) return -1;
        bs_grad_zero_(s->ctx, self->grad_owner - 1);
        out->k = BS_V_VOID;
        return 0;
    }
    if (self->k != BS_V_NODE && self->k != BS_V_TMP) return no_method(s, call, self, name); /* opt.zero_() */
    if (self->k != BS_V_NODE)
        return bs_fail(s, call->line, call->col, "%s() on a value that no name holds (x.grad) changes nothing here", name);
    bs_value *arg = a->npos > 1 ? &a->pos[1] : NULL;
    const bs_expr *ae = a->npos > 1 ? a->pe[1] : call;
    bs_value *alpha = kw(a, "alpha", NULL);
    if (max_pos(s, a, 2) || check_kw_used(s, a)) return -1;
    bool needs_arg = strcmp(name, "zero_") != 0;
    if (needs_arg != (arg != NULL))
        return bs_fail(s, call->line, call->col, needs_arg ? "%s() takes one argument" : "%s() takes no arguments", name);
    const bs_tensor *x = &bs_node_get(s->ctx, self->id)->value;
    int64_t n = bs_tensor_numel(x);
    double *d = bs_arena_alloc(&s->arena, sizeof(double) * (size_t)(n ? n : 1));
    if (!d) return bs_fail(s, call->line, call->col, "out of memory");
    bs_tensor v = {x->dtype, x->shape, d};
    if (!strcmp(name, "zero_")) {
        memset(d, 0, sizeof(double) * (size_t)n);
    } else {
        bs_tensor y;
        bs_value av = *arg;
        if (bs_to_tensor(s, &av, ae, &y)) return -1;
        int64_t m = bs_tensor_numel(&y);
        if (m != 1 && m != n)
            return bs_fail(s, ae->line, ae->col, "%s(): a tensor of %lld elements cannot go into one of %lld",
                           name, (long long)m, (long long)n);
        double al = 1;
        if (alpha && alpha->k == BS_V_NUM) al = alpha->num;
        for (int64_t i = 0; i < n; i++) {
            double b = y.data[m == 1 ? 0 : i], xv = x->data[i];
            switch (name[0]) {
            case 'f': case 'c': d[i] = b; break;          /* fill_, copy_ */
            case 'a': d[i] = xv + al * b; break;
            case 's': d[i] = xv - al * b; break;
            case 'm': d[i] = xv * b; break;
            default: d[i] = xv / b; break;                /* div_ */
            }
        }
    }
    if (bs_update_inplace(s->ctx, self->id, &v)) return bs_fail_core(s, call->op_line, call->op_col, NULL);
    out->k = BS_V_VOID; /* torch returns x itself; a script's bare x.copy_(w) prints nothing here */
    return 0;
}

/* x.norm(), torch.norm(x): the 2-norm, recorded as the ops it is: sqrt(sum(x * x)) */
static int norm_of(bs_session *s, args_t *a, bs_value *x, const bs_expr *xe, bs_value *out)
{
    const bs_expr *pe = NULL;
    bs_value *p = a->npos > 1 ? &a->pos[1] : kw(a, "p", &pe);
    if (a->npos > 1) pe = a->pe[1];
    if (max_pos(s, a, 2) || check_kw_used(s, a)) return -1;
    if (p && !(p->k == BS_V_NUM && p->num == 2))
        return bs_fail(s, pe->line, pe->col, "norm(): only p=2 is supported");
    bs_id id;
    bs_value c = *x;
    if (bs_to_node(s, &c, xe, &id)) return -1;
    bs_id sq = bs_apply2(s->ctx, BS_OP_MUL, id, id);
    bs_id sm = sq < 0 ? sq : bs_apply1(s->ctx, BS_OP_SUM, sq);
    bs_id r = sm < 0 ? sm : bs_apply1(s->ctx, BS_OP_SQRT, sm);
    return node_out(s, r, a->call, out);
}

/* x.var(dim=None, unbiased=True, keepdim=False) and x.std(...): recorded as the ops they are,
   d = x - x.mean(dim, keepdim=True); sum(d * d, dim) / (n - 1) (n without unbiased); std its sqrt */
static int m_stdvar(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    const bs_expr *call = a->call;
    const bs_tensor *t = value_tensor(s, self);
    if (!t) return bs_fail(s, call->line, call->col, "%s() needs a tensor", a->fname);
    const bs_expr *de = NULL;
    bs_value *dv = a->npos > 1 ? &a->pos[1] : kw(a, "dim", &de);
    if (a->npos > 1) de = a->pe[1];
    bool unbiased = true, keep = false;
    const bs_expr *ue, *ke, *ce;
    bs_value *uv = kw(a, "unbiased", &ue), *kv = kw(a, "keepdim", &ke), *cv = kw(a, "correction", &ce);
    if (max_pos(s, a, 2) || check_kw_used(s, a)) return -1;
    if (uv && get_bool(s, uv, ue, "unbiased", &unbiased)) return -1;
    if (kv && get_bool(s, kv, ke, "keepdim", &keep)) return -1;
    double corr = unbiased ? 1 : 0;
    if (cv && get_num(s, cv, ce, "correction", &corr)) return -1;
    int nd = t->shape.ndim, dim = BS_DIM_ALL;
    double n = (double)bs_tensor_numel(t);
    if (dv && dv->k != BS_V_NONE) {
        int64_t d;
        if (get_int(s, dv, de, "dim", &d)) return -1;
        if (d < -nd || d >= (nd ? nd : 1))
            return bs_fail(s, de->line, de->col, "Dimension out of range (expected to be in range of [%d, %d], but got %lld)",
                           -(nd ? nd : 1), (nd ? nd : 1) - 1, (long long)d);
        dim = (int)d;
        n = nd ? (double)t->shape.d[d < 0 ? d + nd : d] : 1;
    }
    bs_id x;
    bs_value c = *self;
    if (bs_to_node(s, &c, a->pe[0], &x)) return -1;
    bs_attr am = bs_attr_default(BS_OP_MEAN), as = bs_attr_default(BS_OP_SUM);
    am.dim = as.dim = dim;
    am.keepdim = dim != BS_DIM_ALL;
    as.keepdim = keep;
    bs_id m = bs_apply(s->ctx, BS_OP_MEAN, (bs_id[]){x, BS_NONE, BS_NONE}, &am);
    bs_id d = m < 0 ? m : bs_apply2(s->ctx, BS_OP_SUB, x, m);
    bs_id sq = d < 0 ? d : bs_apply2(s->ctx, BS_OP_MUL, d, d);
    bs_id sm = sq < 0 ? sq : bs_apply(s->ctx, BS_OP_SUM, (bs_id[]){sq, BS_NONE, BS_NONE}, &as);
    if (sm < 0) return bs_fail_core(s, call->line, call->col, NULL);
    bs_value dn = bs_num_value(n - corr, false);
    bs_id den;
    if (bs_to_node(s, &dn, call, &den)) return -1;
    bs_id v = bs_apply2(s->ctx, BS_OP_DIV, sm, den);
    bs_id r = v < 0 || a->fname[0] == 'v' ? v : bs_apply1(s->ctx, BS_OP_SQRT, v);
    return node_out(s, r, call, out);
}

static int m_min(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    (void)self; /* a->pos[0] is self */
    return fn_min(s, a, out);
}

static int m_split(bs_session *s, args_t *a, bs_value *self, bs_value *out) { return split_fn(s, a, false, out); }
static int m_chunk(bs_session *s, args_t *a, bs_value *self, bs_value *out) { return split_fn(s, a, true, out); }
static int m_swapaxes(bs_session *s, args_t *a, bs_value *self, bs_value *out) { return call_permute(s, true, a, out); }

/* x.contiguous(): x itself (backstep's tensors are always contiguous; a view's copy is not
   recorded, as PyTorch records none for a tensor that is contiguous already) */
static int m_contiguous(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    if (a->npos != 1 || check_kw_used(s, a)) return bs_fail(s, a->call->line, a->call->col, "contiguous() takes no arguments");
    *out = *self;
    return 0;
}

static int m_shape(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    return shape_fn(s, a, self, a->pe[0], 1, out);
}

static int m_argext(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    return argext(s, a, self, 1, out);
}

static int m_norm(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    return norm_of(s, a, self, a->pe[0], out);
}

static int fn_norm(bs_session *s, args_t *a, bs_value *out)
{
    if (a->npos < 1) return bs_fail(s, a->call->line, a->call->col, "norm(x) takes a tensor");
    return norm_of(s, a, &a->pos[0], a->pe[0], out);
}

#define INPLACE(n) \
    static int m_##n(bs_session *s, args_t *a, bs_value *self, bs_value *out) { return m_inplace(s, a, self, out, #n); }
INPLACE(zero_)
INPLACE(fill_)
INPLACE(copy_)
INPLACE(add_)
INPLACE(sub_)
INPLACE(mul_)
INPLACE(div_)
#undef INPLACE

/* x.float(), .double(), .half(), .bfloat16(), .long(), .int(), .bool(), .to(dtype or device),
   .type(dtype), .cpu(), .cuda(): the tensor itself when nothing changes (as torch returns self),
   else a new leaf of the dtype (torch.bool: an int64 0/1 mask). backstep has no cast op, so a
   tensor that requires grad keeps its dtype: converting it is an error, not a cut graph */
static int m_cast(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    const char *name = a->fname;
    const bs_tensor *t = value_tensor(s, self);
    if (!t) return bs_fail(s, a->call->line, a->call->col, "%s() needs a tensor", name);
    bs_dtype to = t->dtype;
    bool mask = bs_is_mask(s, self), to_mask = false;
    const char *target = !strcmp(name, "float") ? "torch.float32" : !strcmp(name, "double") ? "torch.float64"
                       : !strcmp(name, "half") ? "torch.float16" : !strcmp(name, "bfloat16") ? "torch.bfloat16"
                       : !strcmp(name, "long") || !strcmp(name, "int") ? "torch.int64"
                       : !strcmp(name, "bool") ? "torch.bool" : NULL;
    kw(a, "non_blocking", NULL);
    if (!strcmp(name, "to") || !strcmp(name, "type")) {
        const bs_expr *de;
        bs_value *dv = kw(a, "dtype", &de);
        if (!dv && a->npos > 1) dv = &a->pos[1], de = a->pe[1];
        if (max_pos(s, a, 2)) return -1;
        if (!dv) return bs_fail(s, a->call->line, a->call->col, "%s() needs a dtype or a device", name);
        if (dv->k == BS_V_STR && strncmp(dv->str, "torch.", 6)) { /* .to('cpu'), .to(device) */
            if (strcmp(dv->str, "cpu"))
                return bs_fail(s, de->line, de->col, "backstep computes on the CPU: .to('%s') is not available "
                               "(use torch.device('cuda' if torch.cuda.is_available() else 'cpu'))", dv->str);
            target = NULL;
        } else if (dv->k == BS_V_STR && !strcmp(dv->str, "torch.bool")) {
            target = "torch.bool";
        } else if (dv->k == BS_V_STR && (!strcmp(dv->str, "torch.int32") || !strcmp(dv->str, "torch.int"))) {
            target = "torch.int64";
        } else {
            if (get_dtype(s, dv, de, &to)) return -1;
            target = "";
        }
    } else if (!strcmp(name, "cpu") || !strcmp(name, "cuda")) {
        if (max_pos(s, a, 1)) return -1;
        if (name[1] == 'u') return bs_fail(s, a->call->line, a->call->col, "backstep computes on the CPU: there is no CUDA device here");
        target = NULL;
    } else if (max_pos(s, a, 1)) {
        return -1;
    }
    if (check_kw_used(s, a)) return -1;
    if (target && *target) {
        to_mask = !strcmp(target, "torch.bool");
        if (to_mask) to = BS_I64;
        else {
            bs_value tv = bs_value_of(BS_V_STR);
            tv.str = target;
            if (get_dtype(s, &tv, a->call, &to)) return -1;
        }
    } else if (target) {
        to_mask = false;
    } else { /* a device move: nothing changes */
        *out = *self;
        return 0;
    }
    if (to == t->dtype && to_mask == mask) {
        *out = *self;
        return 0;
    }
    if (self->k == BS_V_NODE && bs_node_get(s->ctx, self->id)->requires_grad && !to_mask) {
        /* a differentiable conversion (ToCopyBackward0): the grad comes back in the old dtype */
        bs_id id = bs_cast(s->ctx, self->id, to);
        return node_out(s, id, a->call, out);
    }
    int64_t n = bs_tensor_numel(t);
    double *d = bs_arena_alloc(&s->arena, sizeof(double) * (size_t)(n ? n : 1));
    if (!d) return bs_fail(s, a->call->line, a->call->col, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        double x = t->data[i];
        d[i] = to_mask ? (x != 0) : to == BS_I64 ? trunc(x) : x;
    }
    bs_tensor nt = {to, t->shape, d};
    if (to_mask) return bs_mask_leaf(s, a->call, &nt, out);
    bs_id id = bs_leaf(s->ctx, d, &t->shape, to, false);
    return node_out(s, id, a->call, out);
}

/* m.any(), m.all(): a 0-d mask, True when some (every) entry is nonzero */
static int m_anyall(bs_session *s, args_t *a, bs_value *self, bs_value *out)
{
    const bs_tensor *t = value_tensor(s, self);
    if (!t) return bs_fail(s, a->call->line, a->call->col, "%s() needs a tensor", a->fname);
    if (max_pos(s, a, 1) || check_kw_used(s, a)) return -1;
    bool all = a->fname[1] == 'l', r = all;
    for (int64_t i = 0; i < bs_tensor_numel(t); i++) {
        if (all && t->data[i] == 0) r = false;
        if (!all && t->data[i] != 0) r = true;
    }
    double d = r;
    bs_shape sh = {0, {0}};
    bs_tensor nt = {BS_I64, sh, &d};
    return bs_mask_leaf(s, a->call, &nt, out);
}

int bs_mask_leaf(bs_session *s, const bs_expr *e, const bs_tensor *t, bs_value *out)
{
    bs_id id = bs_leaf(s->ctx, t->data, &t->shape, BS_I64, false);
    if (id < 0) return bs_fail_core(s, e->line, e->col, NULL);
    bs_node_mark_bool(s->ctx, id);
    return node_out(s, id, e, out);
}

typedef struct {
    const char *name;
    int (*fn)(bs_session *, args_t *, bs_value *, bs_value *);
} method;

static const method methods[] = {
    {"backward", m_backward}, {"item", m_item}, {"detach", m_detach},
    {"zero_grad", m_zero_grad}, {"step", m_step}, {"numel", m_numel}, {"dim", m_dim},
    {"size", m_size}, {"requires_grad_", m_requires_grad_}, {"retain_grad", m_retain_grad},
    {"tolist", m_tolist}, {"zero_", m_zero_}, {"fill_", m_fill_}, {"copy_", m_copy_}, {"add_", m_add_},
    {"sub_", m_sub_}, {"mul_", m_mul_}, {"div_", m_div_}, {"norm", m_norm},
    {"unsqueeze", m_shape}, {"squeeze", m_shape}, {"flatten", m_shape}, {"clone", m_shape},
    {"argmax", m_argext}, {"argmin", m_argext},
    {"float", m_cast}, {"double", m_cast}, {"half", m_cast}, {"bfloat16", m_cast}, {"long", m_cast},
    {"int", m_cast}, {"bool", m_cast}, {"to", m_cast}, {"type", m_cast}, {"cpu", m_cast}, {"cuda", m_cast},
    {"split", m_split}, {"chunk", m_chunk}, {"swapaxes", m_swapaxes}, {"contiguous", m_contiguous},
    {"any", m_anyall}, {"all", m_anyall}, {"std", m_stdvar}, {"var", m_stdvar}, {"min", m_min},
};

int bs_call_method(bs_session *s, const bs_expr *call, bs_value *obj, const char *name, bs_value *out)
{
    args_t a;
    if (collect(s, call, name, obj, &a)) return -1;
    /* the call's slot caches what its name found last: i + 1 for methods[i], -(op + 1) for an op
       of the table (not a method, so the scan of methods is skipped); 0: nothing yet */
    int *slot = &((bs_expr *)call)->slot;
    bool tensor = obj->k == BS_V_NODE || obj->k == BS_V_TMP || obj->k == BS_V_NUM;
    size_t k = (size_t)*slot - 1, nm = sizeof methods / sizeof methods[0];
    if (*slot > 0 && k < nm && !strcmp(methods[k].name, name)) return methods[k].fn(s, &a, obj, out);
    if (*slot < 0 && tensor && -*slot - 1 < BS_OP_COUNT && !strcmp(bs_ops[-*slot - 1].name, name))
        return call_op(s, bs_ops[-*slot - 1].id, &a, out);
    for (size_t i = 0; i < nm; i++)
        if (!strcmp(methods[i].name, name)) {
            *slot = (int)i + 1;
            return methods[i].fn(s, &a, obj, out);
        }
    if (tensor) {
        const bs_op_info *op = bs_op_by_name(name);
        if (op) *slot = -(int)op->id - 1;
        if (!op && !strcmp(name, "view")) op = &bs_ops[BS_OP_RESHAPE];
        if (!op && !strcmp(name, "t")) op = &bs_ops[BS_OP_TRANSPOSE];
        if (op) return call_op(s, op->id, &a, out);
    }
    return no_method(s, call, obj, name);
}

/* ==== Attributes ==== */

static const char *dtype_torch(bs_dtype t)
{
    switch (t) {
    case BS_F64: return "torch.float64";
    case BS_F32: return "torch.float32";
    case BS_F16: return "torch.float16";
    case BS_BF16: return "torch.bfloat16";
    case BS_I64: return "torch.int64";
    default: return "?";
    }
}

int bs_get_attr(bs_session *s, const bs_expr *e, bs_value *obj, const char *name, bs_value *out)
{
    int line = e->attr.name_line, col = e->attr.name_col;
    if (obj->k == BS_V_OPT) {
        const bs_opt_conf *c = bs_opt_conf_of(obj->opt);
        if (!strcmp(name, "lr")) {
            *out = (bs_value){.k = BS_V_NUM, .num = c->lr, .sym = -1};
            return 0;
        }
        if (!strcmp(name, "param_groups") && bs_opt_groups(s, obj, out) == 0) return 0;
        if (bs_opt_method(name)) { /* opt.step without the parentheses */
            const char *o = bs_expr_text(s, e->attr.obj);
            return bs_fail(s, line, col, "%s is a method: call it, as in %s.%s()", name, o ? o : "opt", name);
        }
        char dym[64];
        return bs_fail(s, line, col, "an optimizer has no attribute '%s'%s", name,
                       bs_suggest_method(obj, name, dym, sizeof dym));
    }
    if (obj->k == BS_V_TMP) {
        const bs_tensor *t = &obj->tmp;
        if (!strcmp(name, "shape")) {
            out->k = BS_V_SHAPE;
            out->shape = t->shape;
            return 0;
        }
        if (!strcmp(name, "dtype")) {
            out->k = BS_V_STR;
            out->str = obj->mask ? "torch.bool" : dtype_torch(t->dtype);
            return 0;
        }
        if (!strcmp(name, "ndim")) {
            *out = (bs_value){.k = BS_V_NUM, .num = t->shape.ndim, .is_int = true, .sym = -1};
            return 0;
        }
        bs_id id;
        if (bs_to_node(s, obj, e->attr.obj, &id)) return -1;
        obj->k = BS_V_NODE;
        obj->id = id;
    }
    if (obj->k != BS_V_NODE) {
        if (obj->k == BS_V_NONE)
            return bs_fail(s, line, col, "'NoneType' object has no attribute '%s'", name);
        return bs_fail(s, line, col, "this value has no attribute '%s'", name);
    }
    const bs_node *n = bs_node_get(s->ctx, obj->id);
    if (!strcmp(name, "grad")) {
        /* while a pass is stepped: the gradient accumulated so far */
        int g = bs_grad_get(s, obj->id, &out->tmp);
        if (g < 0) return bs_fail(s, line, col, "out of memory");
        out->k = g == BS_GRAD_NONE ? BS_V_NONE : BS_V_TMP;
        out->grad_owner = obj->id + 1;
        return 0;
    }
    if (!strcmp(name, "shape")) {
        out->k = BS_V_SHAPE;
        out->shape = n->value.shape;
        return 0;
    }
    if (!strcmp(name, "requires_grad")) {
        out->k = BS_V_BOOL;
        out->b = n->requires_grad;
        return 0;
    }
    if (!strcmp(name, "is_leaf")) {
        out->k = BS_V_BOOL;
        out->b = n->is_leaf;
        return 0;
    }
    if (!strcmp(name, "grad_fn")) {
        if (n->is_leaf || n->op == BS_OP_LEAF) {
            out->k = BS_V_NONE;
        } else {
            out->k = BS_V_GRADFN;
            out->str = bs_node_grad_fn(s->ctx, obj->id);
        }
        return 0;
    }
    if (!strcmp(name, "dtype")) {
        out->k = BS_V_STR;
        out->str = n->is_bool ? "torch.bool" : dtype_torch(n->value.dtype);
        return 0;
    }
    if (!strcmp(name, "ndim")) {
        *out = (bs_value){.k = BS_V_NUM, .num = n->value.shape.ndim, .is_int = true, .sym = -1};
        return 0;
    }
    if (!strcmp(name, "T")) {
        bs_id r = bs_apply1(s->ctx, BS_OP_TRANSPOSE, obj->id);
        return node_out(s, r, e, out);
    }
    if (!strcmp(name, "mT")) { /* the last two dims swapped */
        int nd = n->value.shape.ndim;
        if (nd < 2) return bs_fail(s, line, col, "tensor.mT is only supported on matrices or batches of matrices. Got %d-D tensor.", nd);
        bs_attr at = bs_attr_default(BS_OP_PERMUTE);
        at.shape.ndim = nd;
        for (int k = 0; k < nd; k++) at.shape.d[k] = k == nd - 2 ? nd - 1 : k == nd - 1 ? nd - 2 : k;
        bs_id r = bs_apply(s->ctx, BS_OP_PERMUTE, (bs_id[]){obj->id, BS_NONE, BS_NONE}, &at);
        return node_out(s, r, e, out);
    }
    if (!strcmp(name, "data")) return detach_value(s, obj, e->attr.obj, e, out);
    /* x.min(dim=k) is -max(-x): its indices are that max's */
    if (n->op == BS_OP_NEG && bs_node_get(s->ctx, n->in[0])->op == BS_OP_MAX && !strcmp(name, "indices")) {
        bs_value mx = bs_node_value(n->in[0]);
        return bs_get_attr(s, e, &mx, name, out);
    }
    if (n->op == BS_OP_NEG && bs_node_get(s->ctx, n->in[0])->op == BS_OP_MAX && !strcmp(name, "values")) {
        *out = *obj;
        return 0;
    }
    /* x.max(dim=k) is torch's (values, indices): .values is the node itself, .indices the argmax */
    if (n->op == BS_OP_MAX && (!strcmp(name, "values") || !strcmp(name, "indices"))) {
        if (name[0] == 'v') {
            *out = *obj;
            return 0;
        }
        const bs_tensor *x = &bs_node_get(s->ctx, n->in[0])->value;
        int nd = x->shape.ndim, dim = n->attr.dim;
        if (dim == BS_DIM_ALL || nd == 0) dim = -1;
        else if (dim < 0) dim += nd;
        out->k = BS_V_TMP;
        if (!arg_extreme(s, x, dim, n->attr.keepdim, true, &out->tmp)) return bs_fail(s, line, col, "out of memory");
        out->tmp.shape = n->value.shape; /* the values' shape, keepdim or not */
    return 0;
    }
    /* L.backward without the parentheses: Python would give a bound method and do nothing */
    for (const char *const *m = bs_tensor_attrs(); *m; m++) {
        size_t k = strcspn(*m, "(");
        if ((*m)[k] == '(' && strlen(name) == k && !strncmp(*m, name, k)) {
            const char *o = bs_expr_text(s, e->attr.obj);
            return bs_fail(s, line, col, "%s is a method: call it, as in %s.%s()", name, o ? o : "x", name);
        }
    }
    char dym[64];
    return bs_fail(s, line, col, "'Tensor' object has no attribute '%s'%s", name,
                   bs_suggest_attr(name, dym, sizeof dym));
}

const char *const *bs_tensor_attrs(void)
{
    static const char *list[64 + BS_OP_COUNT];
    static char opnames[BS_OP_COUNT][40];
    if (list[0]) return list;
    int n = 0;
    const char *fixed[] = {"grad", "shape", "requires_grad", "grad_fn", "T", "is_leaf", "dtype",
                           "ndim", "data", "backward(", "item()", "detach()", "zero_grad()",
                           "step()", "numel()", "dim()", "size(", "requires_grad_(", "view(", "t()",
                           "tolist()", "norm()", "unsqueeze(", "squeeze(", "flatten(", "clone()", "argmax(", "argmin(", "zero_()", "fill_(", "copy_(", "add_(", "sub_(", "mul_(", "div_("};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) list[n++] = fixed[i];
    for (int i = 0; i < BS_OP_COUNT; i++) {
        snprintf(opnames[i], sizeof opnames[i], "%s(", bs_ops[i].name);
        list[n++] = opnames[i];
    }
    list[n] = NULL;
    return list;
}
