/* repl/exec.c: Python as a PyTorch user writes it: compound statements (if, for, while, def,
 * class, with), calls of functions, classes and instances, comparisons, truth, f-strings and
 * format specs, and the Python builtins (len, range, enumerate, zip, ...). Tensor arithmetic
 * stays in eval.c and builtins.c; torch.nn's modules are in nn.c. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl_int.h"

#define MAX_ARGS 16
#define MAX_DEPTH_CALLS 100

static int fail_at(bs_session *s, const bs_expr *e, const char *fmt, const char *a)
{
    return bs_fail(s, e ? e->line : 0, e ? e->col : 0, fmt, a);
}

/* ==== Numbers out of values ==== */

bool bs_as_number(bs_session *s, const bs_value *v, double *out, bool *is_int)
{
    if (is_int) *is_int = false;
    switch (v->k) {
    case BS_V_NUM:
        *out = v->num;
        if (is_int) *is_int = v->is_int;
        return true;
    case BS_V_BOOL:
        *out = v->b;
        if (is_int) *is_int = true;
        return true;
    case BS_V_NODE:
    case BS_V_TMP: {
        const bs_tensor *t = v->k == BS_V_NODE ? &bs_node_get(s->ctx, v->id)->value : &v->tmp;
        if (bs_tensor_numel(t) != 1) return false;
        *out = t->data[0];
        if (is_int) *is_int = t->dtype == BS_I64;
        return true;
    }
    default: return false;
    }
}

static bs_value bool_value(bool b)
{
    bs_value r = bs_value_of(BS_V_BOOL);
    r.b = b;
    return r;
}

static bool is_tensor(const bs_value *v) { return v->k == BS_V_NODE || v->k == BS_V_TMP; }

static int64_t tensor_numel(bs_session *s, const bs_value *v)
{
    const bs_tensor *t = v->k == BS_V_NODE ? &bs_node_get(s->ctx, v->id)->value : &v->tmp;
    return bs_tensor_numel(t);
}

static int tensor_ndim(bs_session *s, const bs_value *v)
{
    return (v->k == BS_V_NODE ? &bs_node_get(s->ctx, v->id)->value : &v->tmp)->shape.ndim;
}

static const char *type_name(const bs_value *v)
{
    switch (v->k) {
    case BS_V_NUM: return v->is_int ? "int" : "float";
    case BS_V_BOOL: return "bool";
    case BS_V_STR: return "str";
    case BS_V_NONE: return "NoneType";
    case BS_V_LIST: return "list";
    case BS_V_TUPLE: return "tuple";
    case BS_V_NODE: case BS_V_TMP: return "Tensor";
    case BS_V_SHAPE: return "torch.Size";
    case BS_V_RANGE: return "range";
    case BS_V_FUNC: return "function";
    case BS_V_CLASS: return "type";
    case BS_V_OBJ: {
        const bs_hobj *o = v->ref;
        return o->cls ? o->cls->name : o->type;
    }
    case BS_V_OPT: return "Optimizer";
    case BS_V_DICT: return ((bs_hdict *)v->ref)->is_set ? "set" : "dict";
    case BS_V_EXC: return v->ref2;
    case BS_V_GRADFN: return v->str; /* type(L.grad_fn).__name__: "MseLossBackward0" */
    default: return "object";
    }
}

/* ==== Truth and comparison ==== */

bool bs_truthy(bs_session *s, const bs_value *v, const bs_expr *e, int *err)
{
    *err = 0;
    int n;
    switch (v->k) {
    case BS_V_NONE: case BS_V_VOID: return false;
    case BS_V_BOOL: return v->b;
    case BS_V_NUM: return v->num != 0;
    case BS_V_STR: return v->str && v->str[0];
    case BS_V_LIST: case BS_V_TUPLE: bs_list_items(v, &n); return n > 0;
    case BS_V_RANGE: return v->r[2] > 0 ? v->r[0] < v->r[1] : v->r[0] > v->r[1];
    case BS_V_SHAPE: return v->shape.ndim > 0;
    case BS_V_DICT: return ((bs_hdict *)v->ref)->n > 0;
    case BS_V_NODE: case BS_V_TMP: {
        double x;
        if (!bs_as_number(s, v, &x, NULL)) {
            *err = fail_at(s, e, "Boolean value of Tensor with more than one value is ambiguous%s", "");
            return false;
        }
        return x != 0;
    }
    default: return true;
    }
}

static bool same_object(const bs_value *a, const bs_value *b)
{
    if (a->k != b->k) return false;
    switch (a->k) {
    case BS_V_NONE: return true;
    case BS_V_BOOL: return a->b == b->b;
    case BS_V_NODE: return a->id == b->id;
    case BS_V_NUM: return a->num == b->num && a->is_int == b->is_int;
    case BS_V_OPT: return a->opt == b->opt;
    default: return a->ref && a->ref == b->ref;
    }
}

static int values_equal(bs_session *s, const bs_value *a, const bs_value *b, bool *eq)
{
    double x, y;
    if (bs_as_number(s, a, &x, NULL) && bs_as_number(s, b, &y, NULL)) {
        *eq = x == y;
        return 0;
    }
    if (a->k == BS_V_STR && b->k == BS_V_STR) {
        *eq = !strcmp(a->str, b->str);
        return 0;
    }
    if ((a->k == BS_V_LIST || a->k == BS_V_TUPLE) && a->k == b->k) {
        int na, nb;
        bs_value *ia = bs_list_items(a, &na), *ib = bs_list_items(b, &nb);
        *eq = na == nb;
        for (int i = 0; i < na && *eq; i++)
            if (values_equal(s, &ia[i], &ib[i], eq)) return -1;
        return 0;
    }
    if (a->k == BS_V_SHAPE && b->k == BS_V_SHAPE) {
        *eq = bs_shape_eq(&a->shape, &b->shape);
        return 0;
    }
    if ((a->k == BS_V_SHAPE) != (b->k == BS_V_SHAPE) &&
        (a->k == BS_V_TUPLE || a->k == BS_V_LIST || b->k == BS_V_TUPLE || b->k == BS_V_LIST)) {
        /* x.shape == (2, 3): a torch.Size is a tuple */
        const bs_value *sh = a->k == BS_V_SHAPE ? a : b, *tu = a->k == BS_V_SHAPE ? b : a;
        int n;
        bs_value *it = bs_list_items(tu, &n);
        *eq = tu->k == BS_V_TUPLE && n == sh->shape.ndim;
        for (int i = 0; i < n && *eq; i++) {
            double x;
            *eq = it[i].k == BS_V_NUM && bs_as_number(s, &it[i], &x, NULL) && x == (double)sh->shape.d[i];
        }
        return 0;
    }
    if (a->k == BS_V_DICT && b->k == BS_V_DICT) { /* the same keys, each with an equal value */
        bs_hdict *da = a->ref, *db = b->ref;
        *eq = da->n == db->n;
        for (int i = 0; i < da->n && *eq; i++) {
            int j = bs_hdict_find(s, db, &da->keys[i], NULL);
            if (j < -1) return -1;
            *eq = j >= 0;
            if (*eq && values_equal(s, &da->vals[i], &db->vals[j], eq)) return -1;
        }
        return 0;
    }
    if ((is_tensor(a) && tensor_numel(s, a) != 1) || (is_tensor(b) && tensor_numel(s, b) != 1))
        return -2;
    *eq = same_object(a, b);
    return 0;
}

/* does container c hold v? */
static int contains(bs_session *s, const bs_expr *e, const bs_value *c, const bs_value *v, bool *in)
{
    *in = false;
    if (c->k == BS_V_STR) {
        if (v->k != BS_V_STR) return fail_at(s, e, "'in <string>' requires string as left operand, not %s", type_name(v));
        *in = strstr(c->str, v->str) != NULL;
        return 0;
    }
    if (c->k == BS_V_LIST || c->k == BS_V_TUPLE) {
        int n;
        bs_value *it = bs_list_items(c, &n);
        for (int i = 0; i < n && !*in; i++) {
            bool eq;
            int r = values_equal(s, &it[i], v, &eq);
            if (r == -2) continue;
            *in = eq;
        }
        return 0;
    }
    if (c->k == BS_V_DICT) {
        int i = bs_hdict_find(s, c->ref, v, e);
        if (i < -1) return -1;
        *in = i >= 0;
        return 0;
    }
    if (c->k == BS_V_RANGE) {
        double x;
        if (!bs_as_number(s, v, &x, NULL)) return 0;
        int64_t a = c->r[0], b = c->r[1], st = c->r[2];
        *in = x == floor(x) && (st > 0 ? x >= a && x < b : x <= a && x > b) && fmod(x - a, st) == 0;
        return 0;
    }
    if (c->k == BS_V_SHAPE) {
        double x;
        if (bs_as_number(s, v, &x, NULL))
            for (int i = 0; i < c->shape.ndim; i++) *in |= c->shape.d[i] == x;
        return 0;
    }
    return fail_at(s, e, "argument of type '%s' is not iterable", type_name(c));
}

/* x > 0 on a tensor: elementwise, broadcast, a 0/1 integer tensor (backstep has no bool dtype)
   that takes no gradient; `a if mask else b` and torch.where take it */
static int tensor_compare(bs_session *s, const bs_expr *e, bs_cmpop op, const bs_value *a, const bs_value *b,
                          bs_value *out)
{
    bs_tensor ta, tb;
    bs_value ca = *a, cb = *b;
    if (bs_to_tensor(s, &ca, e->cmp.items[0], &ta) || bs_to_tensor(s, &cb, e->cmp.items[1], &tb)) return -1;
    bs_shape sh;
    if (!bs_shape_broadcast(&ta.shape, &tb.shape, &sh)) {
        char x[64], y[64];
        return bs_fail(s, e->op_line, e->op_col, "shapes %s and %s cannot be broadcast together",
                       bs_shape_str(&ta.shape, x, sizeof x), bs_shape_str(&tb.shape, y, sizeof y));
    }
    int64_t n = bs_shape_numel(&sh);
    double *d = bs_arena_alloc(&s->arena, sizeof(double) * (size_t)(n ? n : 1));
    if (!d) return bs_fail(s, e->line, e->col, "out of memory");
    /* the dtype torch compares in (a Python number takes the tensor's) */
    bs_dtype cdts[2] = {ta.dtype, tb.dtype};
    int tiers[2] = {a->k == BS_V_NUM || a->k == BS_V_BOOL ? 0 : ta.shape.ndim ? 2 : 1,
                    b->k == BS_V_NUM || b->k == BS_V_BOOL ? 0 : tb.shape.ndim ? 2 : 1};
    if (a->k == BS_V_NUM) cdts[0] = a->is_int ? BS_I64 : BS_F64;
    if (b->k == BS_V_NUM) cdts[1] = b->is_int ? BS_I64 : BS_F64;
    bs_dtype cdt = bs_result_dtype(cdts, tiers, 2, true, BS_F64);
    int64_t sa[BS_MAX_DIMS], sb[BS_MAX_DIMS];
    const bs_tensor *ts[2] = {&ta, &tb};
    int64_t *st[2] = {sa, sb};
    for (int k = 0; k < 2; k++) { /* each operand's stride per output dim, 0 where it broadcasts */
        int64_t acc = 1;
        int off = sh.ndim - ts[k]->shape.ndim;
        for (int i = sh.ndim - 1; i >= 0; i--) {
            int j = i - off;
            int64_t size = j >= 0 ? ts[k]->shape.d[j] : 1;
            st[k][i] = size == 1 ? 0 : acc;
            acc *= size;
        }
    }
    for (int64_t f = 0; f < n; f++) {
        int64_t rem = f, oa = 0, ob = 0;
        for (int i = sh.ndim - 1; i >= 0; i--) {
            int64_t c = rem % sh.d[i];
            rem /= sh.d[i];
            oa += c * sa[i];
            ob += c * sb[i];
        }
        double x = ta.data[oa], y = tb.data[ob];
        if (cdt == BS_F32 || cdt == BS_F16 || cdt == BS_BF16) { /* both cast to it, as torch */
            x = (double)bs_dtype_roundf(cdt, (float)x);
            y = (double)bs_dtype_roundf(cdt, (float)y);
        }
        bool r = op == BS_CMP_EQ ? x == y : op == BS_CMP_NE ? x != y : op == BS_CMP_LT ? x < y
               : op == BS_CMP_LE ? x <= y : op == BS_CMP_GT ? x > y : x >= y;
        d[f] = r;
    }
    *out = bs_value_of(BS_V_TMP);
    out->tmp = (bs_tensor){BS_I64, sh, d};
    out->mask = true;
    return 0;
}

static bool is_order_or_eq(bs_cmpop op) { return op <= BS_CMP_GE; }

int bs_eval_compare(bs_session *s, const bs_expr *e, bs_value *out)
{
    if (e->cmp.n == 2 && is_order_or_eq(e->cmp.ops[0])) {
        bs_value a, b;
        if (bs_eval_expr(s, e->cmp.items[0], &a) || bs_eval_expr(s, e->cmp.items[1], &b)) return -1;
        /* a tensor with dims compares elementwise (a 0-d one gives a Python bool) */
        if ((is_tensor(&a) && (tensor_numel(s, &a) != 1 || tensor_ndim(s, &a) > 0)) ||
            (is_tensor(&b) && (tensor_numel(s, &b) != 1 || tensor_ndim(s, &b) > 0)))
            return tensor_compare(s, e, e->cmp.ops[0], &a, &b, out);
    }
    bs_value a;
    if (bs_eval_expr(s, e->cmp.items[0], &a)) return -1;
    bool result = true;
    for (int i = 1; i < e->cmp.n && result; i++) {
        bs_value b;
        if (bs_eval_expr(s, e->cmp.items[i], &b)) return -1;
        bs_cmpop op = e->cmp.ops[i - 1];
        const bs_expr *at = e->cmp.items[i - 1];
        bool r = false;
        switch (op) {
        case BS_CMP_IS: r = same_object(&a, &b); break;
        case BS_CMP_ISNOT: r = !same_object(&a, &b); break;
        case BS_CMP_IN:
        case BS_CMP_NOTIN:
            if (contains(s, e->cmp.items[i], &b, &a, &r)) return -1;
            if (op == BS_CMP_NOTIN) r = !r;
            break;
        case BS_CMP_EQ:
        case BS_CMP_NE: {
            bool eq;
            int rc = values_equal(s, &a, &b, &eq);
            if (rc == -2)
                return bs_fail(s, e->op_line, e->op_col, "comparing tensors of more than one element "
                               "elementwise is not supported; compare numbers (x.item()) or use a loop");
            if (rc) return -1;
            r = op == BS_CMP_EQ ? eq : !eq;
            break;
        }
        default: {
            double x, y;
            if (a.k == BS_V_STR && b.k == BS_V_STR) {
                int c = strcmp(a.str, b.str);
                r = op == BS_CMP_LT ? c < 0 : op == BS_CMP_LE ? c <= 0 : op == BS_CMP_GT ? c > 0 : c >= 0;
                break;
            }
            if (!bs_as_number(s, &a, &x, NULL) || !bs_as_number(s, &b, &y, NULL)) {
                if ((is_tensor(&a) && tensor_numel(s, &a) != 1) || (is_tensor(&b) && tensor_numel(s, &b) != 1))
                    return bs_fail(s, e->op_line, e->op_col, "comparing tensors of more than one element "
                                   "elementwise is not supported; compare numbers (x.item()) or use a loop");
                return bs_fail(s, at->line, at->col, "'%s' not supported between instances of '%s' and '%s'",
                               bs_cmpop_symbol(op), type_name(&a), type_name(&b));
            }
            r = op == BS_CMP_LT ? x < y : op == BS_CMP_LE ? x <= y : op == BS_CMP_GT ? x > y : x >= y;
            break;
        }
        }
        result = r;
        a = b;
    }
    *out = bool_value(result);
    return 0;
}

/* ==== Strings ==== */

typedef struct {
    char *p;
    size_t n, cap;
    bs_arena *a;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t nc = (b->cap ? b->cap * 2 : 64);
        while (nc < b->n + n + 1) nc *= 2;
        char *np = bs_arena_alloc(b->a, nc);
        if (!np) return;
        if (b->n) memcpy(np, b->p, b->n);
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void repr_into(bs_session *s, sbuf *b, const bs_value *v);

/* ==== A tensor as torch prints it (torch/_tensor_str.py) ====
 * One format for every element: integers as "3.", else 4 decimals, or "%.4e" when the values span
 * more than 1000x, pass 1e8 or go under 1e-4; each right-aligned to the widest; rows wrapped at 80
 * columns; then ", grad_fn=<...>" or ", requires_grad=True", and the dtype when it is not the
 * default (torch.set_default_dtype, :dtype; f64 unless changed). */
typedef struct {
    bool is_i64, int_mode, sci;
    int width;
    bool is_bool;     /* torch.bool: True / False */
} tfmt;

static void tfmt_one(const tfmt *f, double v, char *buf, size_t len)
{
    if (f->is_bool) snprintf(buf, len, v != 0 ? "True" : "False");
    else if (f->is_i64) snprintf(buf, len, "%lld", (long long)v);
    else if (isnan(v)) snprintf(buf, len, "nan");
    else if (isinf(v)) snprintf(buf, len, v < 0 ? "-inf" : "inf");
    else if (f->sci) snprintf(buf, len, "%.4e", v);
    else if (f->int_mode) snprintf(buf, len, "%.0f.", v);
    else snprintf(buf, len, "%.4f", v);
}

static void tensor_rows(sbuf *b, const bs_tensor *t, const tfmt *f, int dim, int64_t *off, int indent)
{
    char one[64];
    if (t->shape.ndim == 0) {
        tfmt_one(f, t->data[0], one, sizeof one);
        sb_puts(b, one);
        return;
    }
    int64_t n = t->shape.d[dim];
    sb_puts(b, "[");
    if (dim == t->shape.ndim - 1) {
        int per = (80 - indent) / (f->width + 2);
        if (per < 1) per = 1;
        for (int64_t i = 0; i < n; i++) {
            tfmt_one(f, t->data[(*off)++], one, sizeof one);
            if (i) {
                sb_puts(b, ",");
                if (i % per == 0) {
                    sb_puts(b, "\n");
                    for (int k = 0; k < indent + 1; k++) sb_puts(b, " ");
                } else {
                    sb_puts(b, " ");
                }
            }
            for (int k = (int)strlen(one); k < f->width; k++) sb_puts(b, " ");
            sb_puts(b, one);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            if (i) {
                sb_puts(b, ",");
                for (int k = 0; k < t->shape.ndim - dim - 1; k++) sb_puts(b, "\n");
                for (int k = 0; k < indent + 1; k++) sb_puts(b, " ");
            }
            tensor_rows(b, t, f, dim + 1, off, indent + 1);
        }
    }
    sb_puts(b, "]");
}

static void torch_repr(bs_session *s, sbuf *b, const bs_value *v)
{
    const bs_node *n = v->k == BS_V_NODE ? bs_node_get(s->ctx, v->id) : NULL;
    const bs_tensor *t = n ? &n->value : &v->tmp;
    int64_t cnt = bs_tensor_numel(t);
    tfmt f = {t->dtype == BS_I64, true, false, 1, bs_is_mask(s, v)};
    if (!f.is_i64) {
        double mx = 0, mn = INFINITY;
        bool any = false;
        for (int64_t i = 0; i < cnt; i++) {
            double x = t->data[i];
            if (!isfinite(x)) continue;
            if (x != ceil(x)) f.int_mode = false;
            if (x == 0) continue;
            any = true;
            double a = fabs(x);
            if (a > mx) mx = a;
            if (a < mn) mn = a;
        }
        if (any) {
            if (f.int_mode) f.sci = mx / mn > 1000 || mx > 1e8;
            else f.sci = mx / mn > 1000 || mx > 1e8 || mn < 1e-4;
        }
    }
    char one[64];
    for (int64_t i = 0; i < cnt; i++) {
        tfmt_one(&f, t->data[i], one, sizeof one);
        if ((int)strlen(one) > f.width) f.width = (int)strlen(one);
    }
    sb_puts(b, "tensor(");
    int64_t off = 0;
    if (cnt == 0) sb_puts(b, "[]");
    else tensor_rows(b, t, &f, 0, &off, 7);
    if (t->dtype != bs_ctx_dtype(s->ctx) && t->dtype != BS_I64) { /* not the default dtype */
        sb_puts(b, ", dtype=torch.");
        sb_puts(b, t->dtype == BS_F32 ? "float32" : t->dtype == BS_F16 ? "float16"
                   : t->dtype == BS_BF16 ? "bfloat16" : "float64");
    }
    if (n && !n->is_leaf && n->op != BS_OP_LEAF && n->requires_grad) {
        sb_puts(b, ", grad_fn=<");
        sb_puts(b, bs_node_grad_fn(s->ctx, v->id));
        sb_puts(b, ">");
    } else if (n && n->requires_grad) {
        sb_puts(b, ", requires_grad=True");
    }
    sb_puts(b, ")");
}


static void str_into(bs_session *s, sbuf *b, const bs_value *v)
{
    char buf[64];
    switch (v->k) {
    case BS_V_NUM:
        if (v->is_int) snprintf(buf, sizeof buf, "%lld", (long long)v->num);
        else bs_float_repr(v->num, buf, sizeof buf);
        sb_puts(b, buf);
        break;
    case BS_V_BOOL: sb_puts(b, v->b ? "True" : "False"); break;
    case BS_V_NONE: sb_puts(b, "None"); break;
    case BS_V_STR: sb_puts(b, v->str); break;
    case BS_V_DICT:
    case BS_V_EXC:
        sb_puts(b, bs_dict_str(s, v));
        break;
    case BS_V_LIST:
    case BS_V_TUPLE: {
        int n;
        bs_value *it = bs_list_items(v, &n);
        if (v->k == BS_V_LIST && v->str) { /* d.keys(): dict_keys([...]) */
            sb_puts(b, v->str);
            sb_puts(b, "(");
        }
        sb_puts(b, v->k == BS_V_LIST ? "[" : "(");
        for (int i = 0; i < n; i++) {
            if (i) sb_puts(b, ", ");
            repr_into(s, b, &it[i]);
        }
        if (v->k == BS_V_TUPLE && n == 1) sb_puts(b, ",");
        sb_puts(b, v->k == BS_V_LIST ? "]" : ")");
        if (v->k == BS_V_LIST && v->str) sb_puts(b, ")");
        break;
    }
    case BS_V_SHAPE:
        sb_puts(b, "torch.Size([");
        for (int i = 0; i < v->shape.ndim; i++) {
            snprintf(buf, sizeof buf, "%s%lld", i ? ", " : "", (long long)v->shape.d[i]);
            sb_puts(b, buf);
        }
        sb_puts(b, "])");
        break;
    case BS_V_RANGE:
        if (v->r[2] == 1) snprintf(buf, sizeof buf, "range(%lld, %lld)", (long long)v->r[0], (long long)v->r[1]);
        else snprintf(buf, sizeof buf, "range(%lld, %lld, %lld)", (long long)v->r[0], (long long)v->r[1], (long long)v->r[2]);
        sb_puts(b, buf);
        break;
    case BS_V_FUNC:
        sb_puts(b, "<function ");
        sb_puts(b, ((bs_hfunc *)v->ref)->def->def.name);
        sb_puts(b, ">");
        break;
    case BS_V_CLASS:
        sb_puts(b, "<class '");
        sb_puts(b, ((bs_hclass *)v->ref)->name);
        sb_puts(b, "'>");
        break;
    case BS_V_NODE:
    case BS_V_TMP: torch_repr(s, b, v); break;
    default: {
        /* modules, optimizers: as the REPL prints them */
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f) return;
        bs_print_inline(s, f, v);
        fclose(f);
        sb_put(b, text, len);
        free(text);
    }
    }
}

static void repr_into(bs_session *s, sbuf *b, const bs_value *v)
{
    if (v->k == BS_V_EXC) { /* ValueError('bad') */
        sb_puts(b, v->ref2);
        sb_puts(b, "(");
        bs_value m = bs_value_of(BS_V_STR);
        m.str = v->str;
        if (v->str && *v->str) repr_into(s, b, &m);
        sb_puts(b, ")");
        return;
    }
    if (v->k != BS_V_STR) {
        str_into(s, b, v);
        return;
    }
    char q = strchr(v->str, '\'') && !strchr(v->str, '"') ? '"' : '\'';
    sb_put(b, &q, 1);
    for (const char *c = v->str; *c; c++) {
        if (*c == '\\' || *c == q) sb_put(b, "\\", 1);
        if (*c == '\n') { sb_puts(b, "\\n"); continue; }
        if (*c == '\t') { sb_puts(b, "\\t"); continue; }
        sb_put(b, c, 1);
    }
    sb_put(b, &q, 1);
}

char *bs_str_value(bs_session *s, const bs_value *v)
{
    sbuf b = {NULL, 0, 0, &s->arena};
    str_into(s, &b, v);
    return b.p ? b.p : "";
}

static char *repr_value(bs_session *s, const bs_value *v)
{
    sbuf b = {NULL, 0, 0, &s->arena};
    repr_into(s, &b, v);
    return b.p ? b.p : "";
}

/* Python's format-spec mini-language: [[fill]align][sign][#][0][width][,|_][.precision][type] */
typedef struct {
    char fill, align, sign, type, group;
    bool alt, zero;
    int width, prec;
} fspec;

static bool parse_spec(const char *sp, fspec *f)
{
    memset(f, 0, sizeof *f);
    f->fill = ' ';
    f->prec = -1;
    const char *p = sp;
    if (p[0] && (p[1] == '<' || p[1] == '>' || p[1] == '^' || p[1] == '=')) {
        f->fill = p[0];
        f->align = p[1];
        p += 2;
    } else if (*p == '<' || *p == '>' || *p == '^' || *p == '=') {
        f->align = *p++;
    }
    if (*p == '+' || *p == '-' || *p == ' ') f->sign = *p++;
    if (*p == '#') { f->alt = true; p++; }
    if (*p == '0') { f->zero = true; p++; }
    while (isdigit((unsigned char)*p)) f->width = f->width * 10 + (*p++ - '0');
    if (*p == ',' || *p == '_') f->group = *p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return false;
        f->prec = 0;
        while (isdigit((unsigned char)*p)) f->prec = f->prec * 10 + (*p++ - '0');
    }
    if (*p && strchr("bcdeEfFgGnosxX%", *p)) f->type = *p++;
    return *p == 0;
}

/* insert thousands separators into the integer part of digits */
static void group_digits(char *d, size_t cap, char sep)
{
    char *start = d;
    if (*start == '-' || *start == '+' || *start == ' ') start++;
    char *end = start;
    while (isdigit((unsigned char)*end)) end++;
    int n = (int)(end - start);
    int extra = (n - 1) / 3;
    if (extra <= 0 || strlen(d) + (size_t)extra + 1 > cap) return;
    memmove(end + extra, end, strlen(end) + 1);
    char *w = end + extra - 1;
    for (int i = 0; i < n; i++) {
        *w-- = end[-1 - i];
        if (i % 3 == 2 && i != n - 1) *w-- = sep;
    }
}

static char *pad(bs_session *s, const char *body, const fspec *f, bool numeric)
{
    size_t len = strlen(body);
    int w = f->width;
    char align = f->align ? f->align : (numeric ? '>' : '<');
    char fill = f->fill;
    if (f->zero && !f->align && numeric) {
        align = '=';
        fill = '0';
    }
    if ((int)len >= w) return bs_arena_strndup(&s->arena, body, len);
    int padn = w - (int)len;
    char *o = bs_arena_alloc(&s->arena, (size_t)w + 1);
    if (!o) return NULL;
    int k = 0;
    if (align == '=') {
        int signlen = (body[0] == '-' || body[0] == '+' || body[0] == ' ') ? 1 : 0;
        memcpy(o, body, (size_t)signlen);
        k = signlen;
        for (int i = 0; i < padn; i++) o[k++] = fill;
        memcpy(o + k, body + signlen, len - (size_t)signlen);
        k += (int)len - signlen;
    } else {
        int left = align == '<' ? 0 : align == '^' ? padn / 2 : padn;
        for (int i = 0; i < left; i++) o[k++] = fill;
        memcpy(o + k, body, len);
        k += (int)len;
        for (int i = 0; i < padn - left; i++) o[k++] = fill;
    }
    o[k] = 0;
    return o;
}

static void format_float(char *buf, size_t cap, double x, const fspec *f)
{
    char t = f->type;
    int prec = f->prec;
    if (isnan(x) || isinf(x)) {
        snprintf(buf, cap, "%s", isnan(x) ? "nan" : x < 0 ? "-inf" : "inf");
        if (t == 'E' || t == 'F' || t == 'G')
            for (char *c = buf; *c; c++) *c = (char)toupper((unsigned char)*c);
    } else if (t == 0 && prec < 0) {
        bs_float_repr(x, buf, cap);
    } else if (t == 0) { /* like 'g', keeping a '.0' on whole numbers in fixed notation */
        snprintf(buf, cap, f->alt ? "%#.*g" : "%.*g", prec ? prec : 1, x);
        if (!strpbrk(buf, ".einf")) strncat(buf, ".0", cap - strlen(buf) - 1);
    } else if (t == '%') {
        snprintf(buf, cap, "%.*f%%", prec < 0 ? 6 : prec, x * 100);
    } else {
        char fmt[16];
        char ct = t == 'n' ? 'g' : t;
        snprintf(fmt, sizeof fmt, f->alt ? "%%#.*%c" : "%%.*%c", ct);
        snprintf(buf, cap, fmt, prec < 0 ? 6 : prec, x);
    }
    if (f->sign == '+' && buf[0] != '-') { memmove(buf + 1, buf, strlen(buf) + 1); buf[0] = '+'; }
    if (f->sign == ' ' && buf[0] != '-') { memmove(buf + 1, buf, strlen(buf) + 1); buf[0] = ' '; }
    if (f->group) group_digits(buf, cap, f->group);
}

char *bs_format_value(bs_session *s, const bs_value *v, const char *spec, char conv, const bs_expr *e)
{
    if (conv == 'r' || conv == 'a') {
        bs_value t;
        if (!bs_heap_str(s, repr_value(s, v), &t)) return NULL;
        return bs_format_value(s, &t, spec, 0, e);
    }
    if (conv == 's' && v->k != BS_V_STR) {
        bs_value t;
        memset(&t, 0, sizeof t);
        t.k = BS_V_STR;
        t.str = bs_str_value(s, v);
        return bs_format_value(s, &t, spec, 0, e);
    }
    if (!spec || !*spec) return bs_str_value(s, v);
    fspec f;
    if (!parse_spec(spec, &f)) {
        bs_fail(s, e ? e->line : 0, e ? e->col : 0, "Invalid format specifier '%s' for object of type '%s'",
                spec, type_name(v));
        return NULL;
    }
    char buf[512];
    double x;
    bool is_int;
    if (v->k == BS_V_STR || (!bs_as_number(s, v, &x, &is_int) && v->k != BS_V_BOOL)) {
        if (f.type && f.type != 's') {
            bs_fail(s, e ? e->line : 0, e ? e->col : 0, "Unknown format code '%c' for object of type '%s'",
                    f.type, type_name(v));
            return NULL;
        }
        const char *str = v->k == BS_V_STR ? v->str : bs_str_value(s, v);
        size_t n = strlen(str);
        if (f.prec >= 0 && (size_t)f.prec < n) n = (size_t)f.prec;
        char *cut = bs_arena_strndup(&s->arena, str, n);
        return cut ? pad(s, cut, &f, false) : NULL;
    }
    if (is_tensor(v)) is_int = false; /* torch formats a tensor's item(); a float tensor's is a float */
    if (is_int && (!f.type || strchr("dnbxXoc", f.type))) {
        long long iv = (long long)x;
        switch (f.type) {
        case 'x': snprintf(buf, sizeof buf, f.alt ? "%#llx" : "%llx", iv); break;
        case 'X': snprintf(buf, sizeof buf, f.alt ? "%#llX" : "%llX", iv); break;
        case 'o': snprintf(buf, sizeof buf, f.alt ? "0o%llo" : "%llo", iv); break;
        case 'c': snprintf(buf, sizeof buf, "%c", (int)iv); break;
        case 'b': {
            char tmp[70];
            int k = 0;
            unsigned long long u = iv < 0 ? (unsigned long long)-iv : (unsigned long long)iv;
            do { tmp[k++] = (char)('0' + (u & 1)); u >>= 1; } while (u);
            int o = 0;
            if (iv < 0) buf[o++] = '-';
            while (k) buf[o++] = tmp[--k];
            buf[o] = 0;
            break;
        }
        default: snprintf(buf, sizeof buf, "%lld", iv); break;
        }
        if (f.sign == '+' && iv >= 0) { memmove(buf + 1, buf, strlen(buf) + 1); buf[0] = '+'; }
        if (f.sign == ' ' && iv >= 0) { memmove(buf + 1, buf, strlen(buf) + 1); buf[0] = ' '; }
        if (f.group) group_digits(buf, sizeof buf, f.group);
        if (f.prec >= 0 && !f.type) {
            bs_fail(s, e ? e->line : 0, e ? e->col : 0, "Precision not allowed in integer format specifier%s", "");
            return NULL;
        }
        return pad(s, buf, &f, true);
    }
    if (f.type && strchr("dbxXoc", f.type)) {
        bs_fail(s, e ? e->line : 0, e ? e->col : 0, "Unknown format code '%c' for object of type 'float'", f.type);
        return NULL;
    }
    format_float(buf, sizeof buf, x, &f);
    return pad(s, buf, &f, true);
}

int bs_eval_fstring(bs_session *s, const bs_expr *e, bs_value *out)
{
    sbuf b = {NULL, 0, 0, &s->arena};
    for (int i = 0; i < e->fstr.n; i++) {
        const bs_fpart *p = &e->fstr.parts[i];
        if (p->lit) {
            sb_puts(&b, p->lit);
            continue;
        }
        bs_value v;
        if (bs_eval_expr(s, p->expr, &v)) return -1;
        if (p->self_doc) {
            sb_puts(&b, p->text);
            sb_puts(&b, "=");
        }
        char conv = p->conv ? p->conv : p->self_doc && !*p->spec ? 'r' : 0;
        char *t = bs_format_value(s, &v, p->spec, conv, p->expr);
        if (!t) return -1;
        sb_puts(&b, t);
    }
    memset(out, 0, sizeof *out);
    out->k = BS_V_STR;
    out->str = b.p ? b.p : "";
    out->sym = -1;
    return 0;
}

/* "%.4f" % x, "%d/%d" % (a, b) */
static int percent_format(bs_session *s, const bs_expr *e, const char *fmt, const bs_value *args,
                          bs_value *out)
{
    int n = 1;
    const bs_value *items = args;
    if (args->k == BS_V_TUPLE) items = bs_list_items(args, &n);
    sbuf b = {NULL, 0, 0, &s->arena};
    int k = 0;
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            sb_put(&b, p, 1);
            continue;
        }
        p++;
        if (*p == '%') {
            sb_put(&b, "%", 1);
            continue;
        }
        char spec[32];
        int j = 0;
        while (*p && strchr("-+ #0123456789.", *p) && j < 28) spec[j++] = *p == '-' ? '<' : *p, p++;
        if (!*p) return bs_fail(s, e->op_line, e->op_col, "incomplete format");
        char type = *p == 'i' || *p == 'u' ? 'd' : *p == 'r' ? 's' : *p;
        if (!strchr("sdfFeEgGxXoc", type)) return bs_fail(s, e->op_line, e->op_col, "unsupported format character '%c'", *p);
        spec[j++] = type;
        spec[j] = 0;
        if (k >= n) return bs_fail(s, e->op_line, e->op_col, "not enough arguments for format string");
        /* '<' written for '-' must come before the width: move it to the front */
        char fixed[40];
        const char *sp = spec;
        if (strchr(spec, '<')) {
            int q = 0;
            fixed[q++] = '<';
            for (int i = 0; spec[i]; i++)
                if (spec[i] != '<') fixed[q++] = spec[i];
            fixed[q] = 0;
            sp = fixed;
        }
        bs_value v = items[k++];
        if (type == 's') {
            bs_value t;
            memset(&t, 0, sizeof t);
            t.k = BS_V_STR;
            t.str = *p == 'r' ? repr_value(s, &v) : bs_str_value(s, &v);
            v = t;
            char *q = strchr(sp == fixed ? fixed : spec, 's');
            if (q) *q = 0;
        } else if (type == 'd' && v.k == BS_V_NUM && !v.is_int) {
            v = bs_num_value(trunc(v.num), true);
        }
        char *t = bs_format_value(s, &v, sp, 0, e);
        if (!t) return -1;
        sb_puts(&b, t);
    }
    if (k < n) return bs_fail(s, e->op_line, e->op_col, "not all arguments converted during string formatting");
    memset(out, 0, sizeof *out);
    out->k = BS_V_STR;
    out->str = b.p ? b.p : "";
    out->sym = -1;
    return 0;
}

int bs_eval_pybinary(bs_session *s, const bs_expr *e, bs_binop op, const bs_value *a,
                     const bs_value *b, bs_value *out)
{
    double x;
    if (a->k == BS_V_STR && op == BS_BIN_MOD) return percent_format(s, e, a->str, b, out);
    if (a->k == BS_V_STR && b->k == BS_V_STR && op == BS_BIN_ADD) {
        size_t n = strlen(a->str), m = strlen(b->str);
        char *d = bs_arena_alloc(&s->arena, n + m + 1);
        if (!d) return bs_fail(s, e->op_line, e->op_col, "out of memory");
        memcpy(d, a->str, n);
        memcpy(d + n, b->str, m + 1);
        memset(out, 0, sizeof *out);
        out->k = BS_V_STR;
        out->str = d;
        out->sym = -1;
        return 0;
    }
    if (op == BS_BIN_SUB && bs_is_set(a) && bs_is_set(b)) return bs_set_op(s, e, '-', a, b, out);
    bool seq_a = a->k == BS_V_STR || a->k == BS_V_LIST || a->k == BS_V_TUPLE;
    bool seq_b = b->k == BS_V_STR || b->k == BS_V_LIST || b->k == BS_V_TUPLE;
    if (op == BS_BIN_MUL && (seq_a || seq_b)) {
        const bs_value *sq = seq_a ? a : b, *nv = seq_a ? b : a;
        bool is_int;
        if (!bs_as_number(s, nv, &x, &is_int) || !is_int || is_tensor(nv))
            return bs_fail(s, e->op_line, e->op_col, "can't multiply sequence by non-int of type '%s'", type_name(nv));
        int64_t times = x < 0 ? 0 : (int64_t)x;
        if (sq->k == BS_V_STR) {
            size_t n = strlen(sq->str);
            if (times > 0 && n * (size_t)times > ((size_t)1 << 26))
                return bs_fail(s, e->op_line, e->op_col, "string too long");
            char *d = bs_arena_alloc(&s->arena, n * (size_t)times + 1);
            if (!d) return bs_fail(s, e->op_line, e->op_col, "out of memory");
            for (int64_t i = 0; i < times; i++) memcpy(d + (size_t)i * n, sq->str, n);
            d[n * (size_t)times] = 0;
            memset(out, 0, sizeof *out);
            out->k = BS_V_STR;
            out->str = d;
            out->sym = -1;
            return 0;
        }
        int n;
        bs_value *it = bs_list_items(sq, &n);
        if ((int64_t)n * times > (1 << 24)) return bs_fail(s, e->op_line, e->op_col, "list too long");
        int total = (int)(n * times);
        memset(out, 0, sizeof *out);
        out->k = sq->k;
        out->sym = -1;
        out->n = total;
        out->items = bs_arena_alloc(&s->arena, sizeof(bs_value) * (size_t)(total ? total : 1));
        if (!out->items) return bs_fail(s, e->op_line, e->op_col, "out of memory");
        for (int i = 0; i < total; i++) out->items[i] = it[i % n];
        return 0;
    }
    if (op == BS_BIN_ADD && (a->k == BS_V_LIST || a->k == BS_V_TUPLE) && a->k == b->k) {
        int na, nb;
        bs_value *ia = bs_list_items(a, &na), *ib = bs_list_items(b, &nb);
        memset(out, 0, sizeof *out);
        out->k = a->k;
        out->sym = -1;
        out->n = na + nb;
        out->items = bs_arena_alloc(&s->arena, sizeof(bs_value) * (size_t)(na + nb + 1));
        if (!out->items) return bs_fail(s, e->op_line, e->op_col, "out of memory");
        memcpy(out->items, ia, sizeof(bs_value) * (size_t)na);
        memcpy(out->items + na, ib, sizeof(bs_value) * (size_t)nb);
        return 0;
    }
    if (seq_a || seq_b || a->k == BS_V_NONE || b->k == BS_V_NONE || a->k == BS_V_OBJ || b->k == BS_V_OBJ ||
        a->k == BS_V_FUNC || b->k == BS_V_FUNC || a->k == BS_V_SHAPE || b->k == BS_V_SHAPE)
        return bs_fail(s, e->op_line, e->op_col, "unsupported operand type(s) for %s: '%s' and '%s'",
                       bs_binop_symbol(op), type_name(a), type_name(b));
    return 1;
}

/* ==== Iteration ==== */

typedef struct {
    bs_value v;      /* what is iterated (kept alive: a root for the collector) */
    int64_t i, n;
} iter;

static int iter_begin(bs_session *s, const bs_expr *e, bs_value *v, iter *it)
{
    it->v = *v;
    it->i = 0;
    switch (v->k) {
    case BS_V_RANGE: {
        int64_t a = v->r[0], b = v->r[1], st = v->r[2];
        it->n = bs_range_len(a, b, st);
        return 0;
    }
    case BS_V_LIST:
    case BS_V_TUPLE: {
        int n;
        bs_list_items(v, &n);
        it->n = n;
        return 0;
    }
    case BS_V_STR: it->n = (int64_t)strlen(v->str); return 0;
    case BS_V_SHAPE: it->n = v->shape.ndim; return 0;
    case BS_V_DICT: it->n = ((bs_hdict *)v->ref)->n; return 0;
    case BS_V_NODE:
    case BS_V_TMP: {
        const bs_tensor *t = v->k == BS_V_NODE ? &bs_node_get(s->ctx, v->id)->value : &v->tmp;
        if (t->shape.ndim == 0) return fail_at(s, e, "iteration over a 0-d tensor%s", "");
        it->n = t->shape.d[0];
        return 0;
    }
    case BS_V_OBJ: {
        bs_hobj *o = v->ref;
        if (o->mod == BS_MOD_SEQUENTIAL || o->mod == BS_MOD_MODULELIST) {
            it->n = o->attrs.n;
            return 0;
        }
        break;
    }
    default: break;
    }
    return fail_at(s, e, "'%s' object is not iterable", type_name(v));
}

/* the next item; 0 at the end, 1 with one, -1 on error */
static int iter_next(bs_session *s, const bs_expr *e, iter *it, bs_value *out)
{
    if (it->i >= it->n) return 0;
    int64_t i = it->i++;
    bs_value *v = &it->v;
    switch (v->k) {
    case BS_V_RANGE: *out = bs_num_value((double)(v->r[0] + i * v->r[2]), true); return 1;
    case BS_V_LIST:
    case BS_V_TUPLE: {
        int n;
        bs_value *items = bs_list_items(v, &n);
        if (i >= n) return 0; /* the list shrank */
        it->n = n;
        *out = items[i];
        return 1;
    }
    case BS_V_STR: {
        char c[2] = {v->str[i], 0};
        return bs_heap_str(s, c, out) ? 1 : bs_fail(s, e->line, e->col, "out of memory");
    }
    case BS_V_SHAPE: *out = bs_num_value((double)v->shape.d[i], true); return 1;
    case BS_V_DICT: {
        bs_hdict *d = v->ref;
        if (i >= d->n || it->n != d->n)
            return bs_fail(s, e->line, e->col, "dictionary changed size during iteration");
        *out = d->keys[i];
        return 1;
    }
    case BS_V_OBJ: *out = ((bs_hobj *)v->ref)->attrs.vals[i]; return 1;
    case BS_V_NODE:
    case BS_V_TMP: { /* x[0], x[1], ...: each a select on the tape */
        bs_id x;
        if (bs_to_node(s, v, e, &x)) return -1;
        *v = (bs_value){.k = BS_V_NODE, .id = x, .sym = -1}; /* converted once */
        bs_id r = bs_select(s->ctx, x, 0, i);
        if (r < 0) return bs_fail_core(s, e->line, e->col, NULL);
        *out = (bs_value){.k = BS_V_NODE, .id = r, .sym = -1};
        return 1;
    }
    default: return 0;
    }
}

/* ==== Names ==== */

bs_value *bs_frame_lookup(bs_session *s, const char *name)
{
    if (!s->frame) return NULL;
    bs_value *v = bs_dict_get(&s->frame->locals, name);
    if (!v && s->frame->fn && s->frame->fn->closure) v = bs_dict_get(s->frame->fn->closure, name);
    return v;
}

bs_value *bs_frame_lookup_name(bs_session *s, const bs_expr *e)
{
    if (!s->frame) return NULL;
    /* the slot is a cache in the (otherwise read-only) tree, as e->text is */
    bs_value *v = bs_dict_get_at(&s->frame->locals, e->name, &((bs_expr *)e)->slot);
    if (!v && s->frame->fn && s->frame->fn->closure) v = bs_dict_get(s->frame->fn->closure, e->name);
    return v;
}

static int collect_items(bs_session *s, const bs_expr *e, bs_value *v, bs_value *out);
static int make_list(bs_session *s, const bs_expr *e, bs_vkind k, int n, bs_value *out);

/* max(x, dim) or min(x, dim) (-max(-x, dim)): a (values, indices) pair when unpacked */
static bool max_with_dim(bs_session *s, bs_id id)
{
    const bs_node *n = bs_node_get(s->ctx, id);
    if (n->op == BS_OP_NEG) {
        n = bs_node_get(s->ctx, n->in[0]);
        if (n->op != BS_OP_MAX || bs_node_get(s->ctx, n->in[0])->op != BS_OP_NEG) return false;
    }
    return n->op == BS_OP_MAX && n->attr.dim != BS_DIM_ALL;
}

/* a shape as torch's messages write it: [2, 3] */
static void list_shape(const bs_shape *sh, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < sh->ndim && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%lld", i ? ", " : "", (long long)sh->d[i]);
    if (n < len) snprintf(buf + n, len - n, "]");
}

/* T[index] = v on a tensor, as torch's index_put_: v (a number or a tensor that broadcasts to
 * T[index]'s shape) goes where T[index] reads. Which entries those are comes from indexing a tensor
 * of T's positions with the same index (bs_tensor_index), so every index form x[...] reads works.
 * - T a leaf, outside no_grad or v not requiring grad: T's data changes in place (bs_update_inplace),
 *   so every name holding T sees it; a leaf that requires grad is torch's error outside no_grad.
 * - Otherwise (T computed, or v requires grad): the result is a new node, masked_fill(T, M, v) for
 *   a 0-d v, where(M, v spread over T's shape, T) else, with M the mask of the written entries; the
 *   gradient flows to T outside M and to v inside it, as torch's CopySlices gives. The target
 *   (T's name, attribute or item) is bound to it; other names holding the old T keep the old T. */
static int tensor_setitem(bs_session *s, const bs_expr *t, bs_value *obj, bs_value *v, const bs_expr *at)
{
    int line = t->op_line, col = t->op_col;
    int32_t grad_owner = obj->k == BS_V_TMP ? obj->grad_owner : 0; /* x.grad[0] = 0 */
    bs_id x;
    if (bs_to_node(s, obj, t->sub.obj, &x)) return -1;
    const bs_node *xn = bs_node_get(s->ctx, x);
    bool leaf = xn->is_leaf, xrg = xn->requires_grad;
    bs_shape xs = xn->value.shape;
    int64_t numel = bs_tensor_numel(&xn->value);
    bool was = bs_ctx_no_grad(s->ctx);
    if (s->step) return bs_fail(s, line, col, "a pass is being stepped: :finish or :abort it first");
    /* which entries T[index] reads: T's positions, indexed */
    double *pd = bs_arena_alloc(&s->arena, sizeof(double) * (size_t)(numel ? 3 * numel : 3));
    if (!pd) return bs_fail(s, line, col, "out of memory");
    double *mask = pd + numel, *map = pd + 2 * numel;
    for (int64_t i = 0; i < numel; i++) pd[i] = (double)i, mask[i] = 0, map[i] = 0;
    bs_id P = bs_leaf(s->ctx, pd, &xs, BS_F64, false);
    bs_value pv = bs_node_value(P), rv;
    if (P < 0) return bs_fail_core(s, line, col, NULL);
    if (bs_tensor_index(s, t, &pv, &rv)) return -1;
    /* basic indexing (integers, slices) writes through a view in torch, the rest is index_put_:
       their errors differ */
    bool advanced = false;
    for (bs_id k = rv.id; k != P && k >= 0;) {
        const bs_node *kn = bs_node_get(s->ctx, k);
        if (kn->op == BS_OP_INDEX_SELECT) advanced = true;
        k = kn->nin ? kn->in[0] : -1;
    }
    if (leaf && xrg && !was)
        return bs_fail(s, line, col, "a %sleaf Variable that requires grad is being used in an in-place operation.",
                       advanced ? "" : "view of a ");
    const bs_node *rn = bs_node_get(s->ctx, rv.id);
    bs_shape rs = rn->value.shape;
    int64_t cnt = bs_tensor_numel(&rn->value);
    for (int64_t k = 0; k < cnt; k++) {
        int64_t p = (int64_t)rn->value.data[k];
        mask[p] = 1;
        map[p] = (double)k;
    }
    bs_id vid;
    if (bs_to_node(s, v, at, &vid)) return -1;
    const bs_node *vn = bs_node_get(s->ctx, vid);
    bool vrg = vn->requires_grad;
    bs_shape vs = vn->value.shape;
    /* v broadcasts to T[index]'s shape, as torch requires */
    bool fits = vs.ndim <= rs.ndim;
    for (int i = 1; fits && i <= vs.ndim; i++)
        fits = vs.d[vs.ndim - i] == 1 || vs.d[vs.ndim - i] == rs.d[rs.ndim - i];
    if (!fits) { /* in torch's words: index_put_'s, or copy_'s expand */
        char a[96], b[96];
        list_shape(&vs, a, sizeof a);
        list_shape(&rs, b, sizeof b);
        if (advanced)
            return bs_fail(s, at->line, at->col, "shape mismatch: value tensor of shape %s cannot be broadcast to "
                           "indexing result of shape %s", a, b);
        if (vs.ndim > rs.ndim)
            return bs_fail(s, at->line, at->col, "RuntimeError: expand(torch.DoubleTensor{%s}, size=%s): the number of sizes "
                           "provided (%d) must be greater or equal to the number of dimensions in the tensor (%d)",
                           a, b, rs.ndim, vs.ndim);
        int i = 1;
        while (vs.d[vs.ndim - i] == 1 || vs.d[vs.ndim - i] == rs.d[rs.ndim - i]) i++;
        return bs_fail(s, at->line, at->col, "The expanded size of the tensor (%lld) must match the existing size "
                       "(%lld) at non-singleton dimension %d.  Target sizes: %s.  Tensor sizes: %s",
                       (long long)rs.d[rs.ndim - i], (long long)vs.d[vs.ndim - i], rs.ndim - i, b, a);
    }
    bool inplace = leaf && (was || !vrg);
    if (cnt == 0) return 0; /* nothing is written */
    if (inplace || grad_owner) bs_ctx_set_no_grad(s->ctx, true);
    bs_id M = bs_leaf(s->ctx, mask, &xs, BS_F64, false), nw = -1;
    if (M >= 0 && vs.ndim == 0) {
        nw = bs_masked_fill(s->ctx, x, M, vid);
    } else if (M >= 0) {
        /* v spread over T's shape: v (broadcast to T[index]'s shape, flattened) gathered at map */
        bs_id vb = vid;
        bool same = vs.ndim == rs.ndim;
        for (int i = 0; same && i < vs.ndim; i++) same = vs.d[i] == rs.d[i];
        if (!same) {
            bs_id z = bs_make(s->ctx, BS_INIT_ZEROS, &rs, NULL, bs_node_get(s->ctx, vid)->value.dtype, 0, 0);
            vb = z < 0 ? z : bs_apply2(s->ctx, BS_OP_ADD, vid, z);
        }
        bs_attr at1 = bs_attr_default(BS_OP_RESHAPE);
        at1.shape.ndim = 1;
        at1.shape.d[0] = cnt;
        for (int i = 0; i < BS_MAX_DIMS; i++) at1.shape_sym[i] = -1;
        bs_id flat = vb < 0 ? vb : bs_apply(s->ctx, BS_OP_RESHAPE, (bs_id[]){vb, BS_NONE, BS_NONE}, &at1);
        bs_shape ms = {1, {numel}};
        bs_id mi = flat < 0 ? flat : bs_leaf(s->ctx, map, &ms, BS_I64, false);
        bs_id g = mi < 0 ? mi : bs_index_select(s->ctx, flat, 0, mi);
        bs_attr at2 = bs_attr_default(BS_OP_RESHAPE);
        at2.shape = xs;
        for (int i = 0; i < BS_MAX_DIMS; i++) at2.shape_sym[i] = -1;
        bs_id g2 = g < 0 ? g : bs_apply(s->ctx, BS_OP_RESHAPE, (bs_id[]){g, BS_NONE, BS_NONE}, &at2);
        nw = g2 < 0 ? g2 : bs_where(s->ctx, M, g2, x);
    }
    if (nw < 0) {
        bs_ctx_set_no_grad(s->ctx, was);
        return bs_fail_core(s, line, col, NULL);
    }
    if (grad_owner) { /* x.grad[i] = v: the grad itself changes */
        bs_status st = bs_grad_set(s->ctx, grad_owner - 1, &bs_node_get(s->ctx, nw)->value);
        bs_ctx_set_no_grad(s->ctx, was);
        return st ? bs_fail_core(s, line, col, NULL) : 0;
    }
    if (inplace) {
        bs_tensor nv = bs_node_get(s->ctx, nw)->value;
        bs_status st = bs_update_inplace(s->ctx, x, &nv);
        bs_ctx_set_no_grad(s->ctx, was);
        return st ? bs_fail_core(s, line, col, NULL) : 0;
    }
    char *tt = bs_expr_text(s, t), *vt = bs_expr_text(s, at);
    if (tt && vt) {
        size_t n = strlen(tt) + strlen(vt) + 8;
        char *lab = bs_arena_alloc(&s->arena, n);
        if (lab) {
            snprintf(lab, n, "%s = %s", tt, vt);
            bs_node_set_text(s->ctx, nw, lab);
        }
    }
    bs_value nv = bs_node_value(nw);
    return bs_assign_target(s, t->sub.obj, &nv, at);
}

int bs_assign_target(bs_session *s, const bs_expr *t, bs_value *v, const bs_expr *at)
{
    switch (t->kind) {
    case BS_EX_NAME: return bs_bind_name(s, t, v, at, false);
    case BS_EX_TUPLE:
    case BS_EX_LIST: {
        int n;
        bs_value *items;
        bs_value shape_items[BS_MAX_DIMS];
        if (v->k == BS_V_SHAPE) {
            n = v->shape.ndim;
            for (int i = 0; i < n; i++) shape_items[i] = bs_num_value((double)v->shape.d[i], true);
            items = shape_items;
        } else if (v->k == BS_V_LIST || v->k == BS_V_TUPLE) {
            items = bs_list_items(v, &n);
        } else if (v->k == BS_V_NODE && t->list.n == 2 && max_with_dim(s, v->id)) {
            /* values, indices = torch.max(x, 1): the node and its .indices */
            bs_expr ae = *at;
            ae.kind = BS_EX_ATTR;
            ae.attr.obj = (bs_expr *)at;
            ae.attr.name = "indices";
            ae.attr.name_line = at->line;
            ae.attr.name_col = at->col;
            shape_items[0] = *v;
            shape_items[1] = bs_value_of(BS_V_NONE);
            bs_value self = *v;
            if (bs_get_attr(s, &ae, &self, "indices", &shape_items[1])) return -1;
            items = shape_items;
            n = 2;
        } else if ((v->k == BS_V_NODE || v->k == BS_V_TMP) && tensor_ndim(s, v) > 0) {
            /* a, b = x: x's rows, as iterating it gives them */
            bs_value all;
            if (collect_items(s, at, v, &all)) return -1;
            items = all.items;
            n = all.n;
        } else {
            return bs_fail(s, at->line, at->col, "cannot unpack non-iterable %s object", type_name(v));
        }
        if (n != t->list.n)
            return bs_fail(s, at->line, at->col, n > t->list.n ? "too many values to unpack (expected %d)"
                                                               : "not enough values to unpack (expected %d, got fewer)",
                           t->list.n);
        for (int i = 0; i < n; i++)
            if (bs_assign_target(s, t->list.items[i], &items[i], at)) return -1;
        return 0;
    }
    case BS_EX_ATTR: {
        bs_value obj;
        if (bs_eval_expr(s, t->attr.obj, &obj)) return -1;
        if (obj.k == BS_V_OBJ) {
            bs_value keep;
            if (bs_persist(s, v, at, &keep)) return -1;
            bs_nn_relabel(s, &keep, t->attr.name);
            if (bs_dict_set(&((bs_hobj *)obj.ref)->attrs, t->attr.name, &keep))
                return bs_fail(s, t->line, t->col, "out of memory");
            return 0;
        }
        if (obj.k == BS_V_NODE && !strcmp(t->attr.name, "grad")) {
            if (s->step) return bs_fail(s, t->line, t->col, "a pass is being stepped: :finish or :abort it first");
            if (v->k == BS_V_NONE) {
                bs_zero_grad(s->ctx, obj.id);
                return 0;
            }
            if (v->k != BS_V_NODE && v->k != BS_V_TMP)
                return bs_fail(s, at->line, at->col, "assigned grad expected to be a Tensor or None but got "
                               "grad of type %s", type_name(v));
            bs_tensor g;
            bs_value c = *v;
            if (bs_to_tensor(s, &c, at, &g)) return -1;
            if (bs_grad_set(s->ctx, obj.id, &g)) return bs_fail_core(s, at->line, at->col, NULL);
            return 0;
        }
        if (obj.k == BS_V_NODE && !strcmp(t->attr.name, "data")) {
            bs_tensor tv;
            bs_value c = *v;
            if (bs_to_tensor(s, &c, at, &tv)) return -1;
            bool was = bs_ctx_no_grad(s->ctx);
            bs_ctx_set_no_grad(s->ctx, true);
            bs_status st = bs_update_inplace(s->ctx, obj.id, &tv);
            bs_ctx_set_no_grad(s->ctx, was);
            return st ? bs_fail_core(s, t->line, t->col, NULL) : 0;
        }
        return bs_fail(s, t->attr.name_line, t->attr.name_col, "cannot set attribute '%s' of a %s", t->attr.name,
                       type_name(&obj));
    }
    case BS_EX_SUBSCRIPT: {
        bs_value obj, idx;
        if (bs_eval_expr(s, t->sub.obj, &obj)) return -1;
        if (is_tensor(&obj)) return tensor_setitem(s, t, &obj, v, at);
        if (bs_eval_expr(s, t->sub.index, &idx)) return -1;
        if (obj.k == BS_V_DICT && ((bs_hdict *)obj.ref)->is_set)
            return bs_fail(s, t->op_line, t->op_col, "TypeError: 'set' object does not support item assignment");
        if (obj.k == BS_V_DICT) return bs_hdict_set(s, obj.ref, &idx, v, t->sub.index);
        if (obj.k == BS_V_LIST && obj.ref) {
            bs_hlist *l = obj.ref;
            double x;
            bool is_int;
            if (!bs_as_number(s, &idx, &x, &is_int) || !is_int)
                return bs_fail(s, t->sub.index->line, t->sub.index->col, "list indices must be integers");
            int64_t i = (int64_t)x;
            if (i < 0) i += l->n;
            if (i < 0 || i >= l->n) return bs_fail(s, t->sub.index->line, t->sub.index->col, "list assignment index out of range");
            return bs_persist(s, v, at, &l->items[i]);
        }
        return bs_fail(s, t->op_line, t->op_col, "item assignment on a %s is not supported", type_name(&obj));
    }
    default:
        return bs_fail(s, t->line, t->col, "cannot assign to this expression");
    }
}

/* ==== Calls ==== */

int bs_expand_star(bs_session *s, const bs_arg *g, bs_value *v, bs_value *pos, int *npos, const char **kn,
                   bs_value *kv, int *nkw, int max)
{
    if (g->star == 1) {
        bs_value all;
        if (collect_items(s, g->value, v, &all)) return -1;
        for (int j = 0; j < all.n; j++) {
            if (*npos >= max) return bs_fail(s, g->line, g->col, "too many arguments");
            pos[(*npos)++] = all.items[j];
        }
        return 0;
    }
    if (v->k != BS_V_DICT)
        return bs_fail(s, g->value->line, g->value->col, "argument after ** must be a mapping, not %s", type_name(v));
    bs_hdict *d = v->ref;
    for (int j = 0; j < d->n; j++) {
        if (d->keys[j].k != BS_V_STR) return bs_fail(s, g->value->line, g->value->col, "keywords must be strings");
        for (int k = 0; k < *nkw; k++)
            if (!strcmp(kn[k], d->keys[j].str))
                return bs_fail(s, g->value->line, g->value->col, "got multiple values for keyword argument '%s'",
                               d->keys[j].str);
        if (*nkw >= max) return bs_fail(s, g->line, g->col, "too many arguments");
        kn[*nkw] = d->keys[j].str;
        kv[(*nkw)++] = d->vals[j];
    }
    return 0;
}

int bs_eval_args(bs_session *s, const bs_expr *call, bs_value *pos, int *npos, const char **kn,
                 bs_value *kv, int *nkw, int max)
{
    *npos = *nkw = 0;
    for (int i = 0; i < call->call.nargs; i++) {
        const bs_arg *g = &call->call.args[i];
        if (*npos >= max || *nkw >= max) return bs_fail(s, g->line, g->col, "too many arguments");
        if (g->star) {
            bs_value v;
            if (bs_eval_expr(s, g->value, &v) || bs_expand_star(s, g, &v, pos, npos, kn, kv, nkw, max)) return -1;
        } else if (g->name) {
            kn[*nkw] = g->name;
            if (bs_eval_expr(s, g->value, &kv[(*nkw)++])) return -1;
        } else {
            if (bs_eval_expr(s, g->value, &pos[(*npos)++])) return -1;
        }
    }
    return 0;
}

/* the scope a call's nodes get: "fc1 (Linear)" for self.fc1(x), "model (Net)", "neuron()" */
static int32_t enter_call_scope(bs_session *s, const bs_expr *call, const char *type, const char *fname)
{
    char buf[160];
    const char *who = call && call->kind == BS_EX_CALL ? bs_expr_text(s, call->call.fn) : NULL;
    if (s->child_name) { /* a container's child: its key ("0" in a Sequential) */
        who = s->child_name;
        s->child_name = NULL;
    }
    if (who && !strncmp(who, "self.", 5)) who += 5;
    if (type) snprintf(buf, sizeof buf, "%.100s (%.40s)", who && *who ? who : "?", type);
    else snprintf(buf, sizeof buf, "%.100s()", fname ? fname : "?");
    return bs_scope_enter(s->ctx, buf);
}

int32_t bs_enter_module_scope(bs_session *s, const bs_expr *call, const char *type)
{
    return enter_call_scope(s, call, type, NULL);
}

static int call_func_body(bs_session *s, const bs_expr *call, bs_hfunc *f, const bs_value *self,
                          bs_value *pos, int npos, const char **kn, bs_value *kv, int nkw, bs_value *out);

static int call_func(bs_session *s, const bs_expr *call, bs_hfunc *f, const bs_value *self,
                     bs_value *pos, int npos, const char **kn, bs_value *kv, int nkw, bs_value *out)
{
    /* a method's nodes belong to its object's scope (entered by the caller); a function's to it */
    int32_t prev = self ? -2 : enter_call_scope(s, call, NULL, f->def->def.name);
    int r = call_func_body(s, call, f, self, pos, npos, kn, kv, nkw, out);
    if (prev >= 0) bs_scope_leave(s->ctx, prev);
    return r;
}

static int call_func_body(bs_session *s, const bs_expr *call, bs_hfunc *f, const bs_value *self,
                          bs_value *pos, int npos, const char **kn, bs_value *kv, int nkw, bs_value *out)
{
    const bs_stmt *d = f->def;
    const char *fname = d->def.name;
    int line = call->line, col = call->col;
    if (s->depth >= MAX_DEPTH_CALLS)
        return bs_fail(s, line, col, "maximum recursion depth exceeded (%d calls)", MAX_DEPTH_CALLS);
    int np = d->def.nparams;
    bs_value bound[MAX_ARGS + 1];
    bool have[MAX_ARGS + 1] = {0};
    if (np > MAX_ARGS) return bs_fail(s, line, col, "%s() has too many parameters", fname);
    int vpos = -1, vkw = -1; /* the *args and **kwargs parameters */
    for (int j = 0; j < np; j++) {
        if (d->def.params[j].star == 1) vpos = j;
        if (d->def.params[j].star == 2) vkw = j;
    }
    int npar = vpos >= 0 ? vpos : vkw >= 0 ? vkw : np; /* positional parameters */
    int k = 0;
    if (self) {
        if (npar == 0 && vpos < 0) return bs_fail(s, line, col, "%s() takes 0 positional arguments but 1 was given", fname);
        if (npar == 0) { /* def f(*args) as a method: self is args[0] */
            bs_value *all = bs_arena_alloc(&s->arena, sizeof(bs_value) * (size_t)(npos + 1));
            if (!all) return bs_fail(s, line, col, "out of memory");
            all[0] = *self;
            memcpy(all + 1, pos, sizeof(bs_value) * (size_t)npos);
            pos = all;
            npos++;
        } else {
            bound[0] = *self;
            have[0] = true;
            k = 1;
        }
    }
    int given = npos, extra = k + npos > npar ? k + npos - npar : 0;
    if (extra && vpos < 0)
        return bs_fail(s, line, col, "%s() takes %d positional argument%s but %d %s given", fname, npar - (self != NULL),
                       npar - (self != NULL) == 1 ? "" : "s", given, given == 1 ? "was" : "were");
    for (int i = 0; i < npos - extra; i++, k++) {
        bound[k] = pos[i];
        have[k] = true;
    }
    if (vpos >= 0) { /* the rest as a tuple */
        bs_value tu;
        if (make_list(s, call, BS_V_TUPLE, extra, &tu)) return -1;
        memcpy(tu.items, pos + (npos - extra), sizeof(bs_value) * (size_t)extra);
        bound[vpos] = tu;
        have[vpos] = true;
    }
    bs_hdict *rest = NULL;
    if (vkw >= 0) {
        if (!(rest = bs_heap_dict(s))) return bs_fail(s, line, col, "out of memory");
        bound[vkw] = bs_value_of(BS_V_DICT);
        bound[vkw].ref = rest;
        have[vkw] = true;
    }
    for (int i = 0; i < nkw; i++) {
        int j = 0;
        while (j < np && (d->def.params[j].star || strcmp(d->def.params[j].name, kn[i]))) j++;
        if (j == np && rest) {
            bs_value key;
            if (!bs_heap_str(s, kn[i], &key)) return bs_fail(s, line, col, "out of memory");
            if (bs_hdict_set(s, rest, &key, &kv[i], call)) return -1;
            continue;
        }
        if (j == np) return bs_fail(s, line, col, "%s() got an unexpected keyword argument '%s'", fname, kn[i]);
        if (have[j]) return bs_fail(s, line, col, "%s() got multiple values for argument '%s'", fname, kn[i]);
        bound[j] = kv[i];
        have[j] = true;
    }
    for (int j = 0; j < np; j++) {
        if (have[j]) continue;
        if (f->defaults && f->defaults[j].k != BS_V_VOID) {
            bound[j] = f->defaults[j];
            continue;
        }
        return bs_fail(s, line, col, "%s() missing 1 required %s argument: '%s'", fname,
                       vpos >= 0 && j > vpos ? "keyword-only" : "positional", d->def.params[j].name);
    }
    bs_frame fr;
    memset(&fr, 0, sizeof fr);
    fr.fn = f;
    fr.ret.k = BS_V_NONE;
    for (int j = 0; j < np; j++) {
        bs_value keep;
        if (bs_persist(s, &bound[j], call, &keep)) return -1;
        if (bs_dict_set(&fr.locals, d->def.params[j].name, &keep)) return bs_fail(s, line, col, "out of memory");
    }
    fr.up = s->frame;
    s->frame = &fr;
    s->depth++;
    const char *saved_src = s->src;
    s->src = f->src->text;
    bool was_no_grad = bs_ctx_no_grad(s->ctx);
    if (d->def.no_grad) bs_ctx_set_no_grad(s->ctx, true); /* @torch.no_grad() */
    int r = bs_exec_block(s, &d->def.body);
    bs_ctx_set_no_grad(s->ctx, was_no_grad);
    s->src = saved_src;
    s->depth--;
    s->frame = fr.up;
    if (r && s->e->msg[0] && strcmp(s->e->msg, "interrupted")) { /* a traceback: where it was called */
        size_t n = strlen(s->e->msg);
        snprintf(s->e->msg + n, sizeof s->e->msg - n, "\n  in %s(), called at line %d, column %d", fname, line, col);
    }
    if (!r) {
        if (s->flow == BS_FLOW_BREAK || s->flow == BS_FLOW_CONTINUE)
            r = bs_fail(s, line, col, "'break' or 'continue' outside a loop in %s()", fname);
        *out = fr.ret; /* None unless a return gave a value */
        s->flow = BS_FLOW_NONE;
    }
    for (int i = 0; i < fr.locals.n; i++) free(fr.locals.keys[i]);
    free(fr.locals.keys);
    free(fr.locals.vals);
    return r;
}

/* a method of class c or its bases */
static bs_value *class_lookup(bs_hclass *c, const char *name)
{
    for (; c; c = c->base) {
        bs_value *v = bs_dict_get(&c->attrs, name);
        if (v) return v;
    }
    return NULL;
}

int bs_call_value(bs_session *s, const bs_expr *call, bs_value *fn, bs_value *pos, int npos,
                  const char **kn, bs_value *kv, int nkw, bs_value *out)
{
    memset(out, 0, sizeof *out);
    out->sym = -1;
    switch (fn->k) {
    case BS_V_FUNC: return call_func(s, call, fn->ref, NULL, pos, npos, kn, kv, nkw, out);
    case BS_V_BOUND: {
        bs_value self;
        memset(&self, 0, sizeof self);
        self.k = BS_V_OBJ;
        self.ref = fn->ref;
        return call_func(s, call, fn->ref2, &self, pos, npos, kn, kv, nkw, out);
    }
    case BS_V_CLASS: {
        bs_hclass *c = fn->ref;
        if (c->exc) {
            if (nkw) return bs_fail(s, call->line, call->col, "%s() takes no keyword arguments", c->name);
            return bs_exc_new(s, call, c->exc, pos, npos, out);
        }
        bs_hobj *o = bs_heap_obj(s, c);
        if (!o) return bs_fail(s, call->line, call->col, "out of memory");
        o->mod = BS_MOD_USER;
        o->type = c->name;
        bs_value self;
        memset(&self, 0, sizeof self);
        self.k = BS_V_OBJ;
        self.ref = o;
        bs_value *init = class_lookup(c, "__init__");
        if (init && init->k == BS_V_FUNC) {
            bs_value ignored;
            if (call_func(s, call, init->ref, &self, pos, npos, kn, kv, nkw, &ignored)) return -1;
        } else if (npos || nkw) {
            return bs_fail(s, call->line, call->col, "%s() takes no arguments", c->name);
        }
        *out = self;
        return 0;
    }
    case BS_V_OBJ: {
        bs_hobj *o = fn->ref;
        if (o->mod != BS_MOD_USER) {
            if (nkw) return bs_fail(s, call->line, call->col, "%s() takes no keyword arguments here", o->type);
            return bs_nn_call(s, call, o, pos, npos, out);
        }
        bs_value *f = class_lookup(o->cls, "forward");
        if (!f) f = class_lookup(o->cls, "__call__");
        if (!f || f->k != BS_V_FUNC)
            return bs_fail(s, call->line, call->col, "'%s' object is not callable%s", o->cls->name,
                           bs_is_module(o) ? " (define forward(self, ...))" : "");
        int32_t prev = bs_enter_module_scope(s, call, o->cls->name);
        int r = call_func(s, call, f->ref, fn, pos, npos, kn, kv, nkw, out);
        if (prev >= 0) bs_scope_leave(s->ctx, prev);
        return r;
    }
    case BS_V_BUILTIN:
        if (bs_bound_dict(fn)) {
            bs_value d = bs_value_of(BS_V_DICT);
            d.ref = fn->ref;
            return bs_dict_method_v(s, call, &d, fn->str, pos, npos, kn, kv, nkw, out);
        }
        if (bs_is_nn_class(fn->str)) return bs_nn_new(s, call, fn->str, pos, npos, kn, kv, nkw, out);
        if (bs_is_py_builtin(fn->str)) return bs_py_builtin_v(s, call, fn->str, pos, npos, kn, kv, nkw, out);
        return bs_call_builtin_v(s, call, fn->str, NULL, pos, npos, kn, kv, nkw, out);
    default:
        return bs_fail(s, call->op_line, call->op_col, "'%s' object is not callable", type_name(fn));
    }
}

/* ==== Instances ==== */

int bs_obj_attr(bs_session *s, const bs_expr *e, bs_value *obj, const char *name, bs_value *out)
{
    int line = e->attr.name_line, col = e->attr.name_col;
    if (obj->k == BS_V_CLASS) {
        bs_value *v = class_lookup(obj->ref, name);
        if (!v) return bs_fail(s, line, col, "type object '%s' has no attribute '%s'", ((bs_hclass *)obj->ref)->name, name);
        *out = *v;
        return 0;
    }
    bs_hobj *o = obj->ref;
    bs_value *v = bs_dict_get(&o->attrs, name);
    if (v) {
        *out = *v;
        return 0;
    }
    if (o->cls) {
        v = class_lookup(o->cls, name);
        if (v) {
            if (v->k == BS_V_FUNC) {
                memset(out, 0, sizeof *out);
                out->k = BS_V_BOUND;
                out->ref = o;
                out->ref2 = v->ref;
                return 0;
            }
            *out = *v;
            return 0;
        }
    }
    if (!strcmp(name, "training")) {
        *out = bool_value(!o->eval_mode);
        return 0;
    }
    return bs_fail(s, line, col, "'%s' object has no attribute '%s'", o->cls ? o->cls->name : o->type, name);
}

static int list_value(bs_session *s, const bs_expr *e, bs_hlist *l, bs_vkind k, bs_value *out)
{
    if (!l) return bs_fail(s, e->line, e->col, "out of memory");
    memset(out, 0, sizeof *out);
    out->k = k;
    out->ref = l;
    out->items = l->items;
    out->n = l->n;
    out->sym = -1;
    return 0;
}

int bs_obj_method(bs_session *s, const bs_expr *call, bs_value *obj, const char *name, bs_value *out)
{
    bs_hobj *o = obj->ref;
    bs_value pos[MAX_ARGS], kv[MAX_ARGS];
    const char *kn[MAX_ARGS];
    int npos, nkw;
    if (bs_is_amp(o)) {
        if (bs_eval_args(s, call, pos, &npos, kn, kv, &nkw, MAX_ARGS)) return -1;
        return bs_amp_method(s, call, o, name, pos, npos, kn, kv, nkw, out);
    }
    /* an attribute that is callable (a submodule, a function kept on the instance) */
    bs_value *a = bs_dict_get(&o->attrs, name);
    if (a || (o->cls && class_lookup(o->cls, name))) {
        bs_value fn;
        if (bs_obj_attr(s, call->call.fn, obj, name, &fn)) return -1;
        if (bs_eval_args(s, call, pos, &npos, kn, kv, &nkw, MAX_ARGS)) return -1;
        return bs_call_value(s, call, &fn, pos, npos, kn, kv, nkw, out);
    }
    if (bs_eval_args(s, call, pos, &npos, kn, kv, &nkw, MAX_ARGS)) return -1;
    bool is_module = bs_is_module(o);
    if (is_module && (!strcmp(name, "parameters") || !strcmp(name, "named_parameters"))) {
        bs_hlist *names = bs_heap_list(s, 0), *params = bs_heap_list(s, 0);
        if (!names || !params) return bs_fail(s, call->line, call->col, "out of memory");
        if (bs_nn_params(s, o, "", names, params)) return -1;
        if (!strcmp(name, "parameters")) return list_value(s, call, params, BS_V_LIST, out);
        bs_hlist *pairs = bs_heap_list(s, names->n);
        if (!pairs) return bs_fail(s, call->line, call->col, "out of memory");
        for (int i = 0; i < names->n; i++) {
            bs_hlist *pr = bs_heap_list(s, 2);
            if (!pr || !pr->items) return bs_fail(s, call->line, call->col, "out of memory");
            pr->items[0] = names->items[i];
            pr->items[1] = params->items[i];
            list_value(s, call, pr, BS_V_TUPLE, &pairs->items[i]);
        }
        return list_value(s, call, pairs, BS_V_LIST, out);
    }
    if (is_module && (!strcmp(name, "state_dict") || !strcmp(name, "load_state_dict")))
        return bs_nn_state(s, call, o, name[0] == 'l', pos, npos, out);
    if (is_module && !strcmp(name, "zero_grad")) {
        bs_hlist *names = bs_heap_list(s, 0), *params = bs_heap_list(s, 0);
        if (!names || !params || bs_nn_params(s, o, "", names, params)) return -1;
        for (int i = 0; i < params->n; i++)
            if (params->items[i].k == BS_V_NODE) bs_zero_grad(s->ctx, params->items[i].id);
        out->k = BS_V_VOID;
        return 0;
    }
    if (is_module && (!strcmp(name, "train") || !strcmp(name, "eval"))) { /* dropout's mode */
        int err = 0;
        bool on = name[0] == 't' && (npos == 0 || bs_truthy(s, &pos[0], call, &err));
        if (err) return -1;
        bs_nn_set_training(o, on);
        *out = *obj;
        return 0;
    }
    if (is_module && (!strcmp(name, "double") || !strcmp(name, "float") || !strcmp(name, "half") ||
                      !strcmp(name, "bfloat16") || !strcmp(name, "to"))) {
        /* model.float(), model.to(torch.float16): every param converted in place, its grad too
           (torch's Module._apply); the params stay the same leaves, so an optimizer made before
           keeps them. model.to('cpu') and model.to(device) change nothing. */
        const char *want = !strcmp(name, "double") ? "torch.float64" : !strcmp(name, "float") ? "torch.float32"
                           : !strcmp(name, "half") ? "torch.float16" : !strcmp(name, "bfloat16") ? "torch.bfloat16" : NULL;
        if (!want && npos > 0 && pos[0].k == BS_V_STR && !strncmp(pos[0].str, "torch.", 6) &&
            (strstr(pos[0].str, "float") || strstr(pos[0].str, "half") || strstr(pos[0].str, "double")))
            want = pos[0].str;
        if (want) {
            bs_dtype t = !strcmp(want, "torch.float32") || !strcmp(want, "torch.float") ? BS_F32
                         : !strcmp(want, "torch.float16") || !strcmp(want, "torch.half") ? BS_F16
                         : !strcmp(want, "torch.bfloat16") ? BS_BF16 : BS_F64;
            bs_hlist *names = bs_heap_list(s, 0), *params = bs_heap_list(s, 0);
            if (!names || !params) return bs_fail(s, call->line, call->col, "out of memory");
            if (bs_nn_params(s, o, "", names, params)) return -1;
            for (int i = 0; i < params->n; i++) {
                const bs_node *p = bs_node_get(s->ctx, params->items[i].id);
                if (p && p->value.dtype != t && bs_leaf_convert(s->ctx, params->items[i].id, t))
                    return bs_fail_core(s, call->line, call->col, NULL);
            }
        }
        *out = *obj;
        return 0;
    }
    if (is_module && (!strcmp(name, "train") || !strcmp(name, "eval") || !strcmp(name, "cpu"))) {
        *out = *obj; /* nothing here changes between training and evaluation (no dropout) */
        return 0;
    }
    if (is_module && (!strcmp(name, "children") || !strcmp(name, "modules"))) {
        bs_hlist *l = bs_heap_list(s, 0);
        if (!l) return bs_fail(s, call->line, call->col, "out of memory");
        if (!strcmp(name, "modules")) bs_list_push(l, obj);
        for (int i = 0; i < o->attrs.n; i++)
            if (o->attrs.vals[i].k == BS_V_OBJ && !bs_list_push(l, &o->attrs.vals[i]))
                return bs_fail(s, call->line, call->col, "out of memory");
        return list_value(s, call, l, BS_V_LIST, out);
    }
    if (is_module && !strcmp(name, "forward") && o->mod != BS_MOD_USER) return bs_nn_call(s, call, o, pos, npos, out);
    if (o->mod == BS_MOD_MODULELIST && !strcmp(name, "append")) {
        char key[16];
        snprintf(key, sizeof key, "%d", o->attrs.n);
        bs_value keep;
        if (npos != 1 || bs_persist(s, &pos[0], call, &keep)) return npos != 1 ? bs_fail(s, call->line, call->col, "append() takes one module") : -1;
        if (bs_dict_set(&o->attrs, key, &keep)) return bs_fail(s, call->line, call->col, "out of memory");
        *out = *obj;
        return 0;
    }
    const bs_expr *fn = call->call.fn;
    return bs_fail(s, fn->attr.name_line, fn->attr.name_col, "'%s' object has no attribute '%s'",
                   o->cls ? o->cls->name : o->type, name);
}

/* list.append(x) and the other list and str methods a training script uses */
int bs_list_method(bs_session *s, const bs_expr *call, bs_value *obj, const char *name, bs_value *out)
{
    bs_value pos[MAX_ARGS], kv[MAX_ARGS];
    const char *kn[MAX_ARGS];
    int npos, nkw;
    if (bs_eval_args(s, call, pos, &npos, kn, kv, &nkw, MAX_ARGS)) return -1;
    const bs_expr *fn = call->call.fn;
    int line = fn->attr.name_line, col = fn->attr.name_col;
    memset(out, 0, sizeof *out);
    out->sym = -1;
    if (obj->k == BS_V_LIST) {
        bs_hlist *l = obj->ref;
        if (!strcmp(name, "append") || !strcmp(name, "extend") || !strcmp(name, "insert") ||
            !strcmp(name, "pop") || !strcmp(name, "clear")) {
            if (!l) return bs_fail(s, line, col, "%s() on a list that no name holds has no effect", name);
            out->k = BS_V_VOID;
            if (!strcmp(name, "append")) {
                bs_value keep;
                if (npos != 1) return bs_fail(s, line, col, "list.append() takes exactly one argument (%d given)", npos);
                if (bs_persist(s, &pos[0], call, &keep)) return -1;
                if (!bs_list_push(l, &keep)) return bs_fail(s, line, col, "out of memory");
                return 0;
            }
            if (!strcmp(name, "extend")) {
                int n;
                if (npos != 1 || (pos[0].k != BS_V_LIST && pos[0].k != BS_V_TUPLE))
                    return bs_fail(s, line, col, "list.extend() takes one list");
                bs_value *it = bs_list_items(&pos[0], &n);
                for (int i = 0; i < n; i++) {
                    bs_value keep;
                    if (bs_persist(s, &it[i], call, &keep)) return -1;
                    if (!bs_list_push(l, &keep)) return bs_fail(s, line, col, "out of memory");
                }
                return 0;
            }
            if (!strcmp(name, "clear")) {
                l->n = 0;
                return 0;
            }
            if (!strcmp(name, "pop")) {
                if (!l->n) return bs_fail(s, line, col, "pop from empty list");
                double x = -1;
                bool is_int = true;
                if (npos && (!bs_as_number(s, &pos[0], &x, &is_int) || !is_int))
                    return bs_fail(s, line, col, "list indices must be integers");
                int64_t i = (int64_t)x;
                if (i < 0) i += l->n;
                if (i < 0 || i >= l->n) return bs_fail(s, line, col, "pop index out of range");
                *out = l->items[i];
                memmove(l->items + i, l->items + i + 1, sizeof(bs_value) * (size_t)(l->n - i - 1));
                l->n--;
                return 0;
            }
            /* insert */
            double x;
            bool is_int;
            if (npos != 2 || !bs_as_number(s, &pos[0], &x, &is_int) || !is_int)
                return bs_fail(s, line, col, "insert(i, x) takes an index and a value");
            bs_value keep;
            if (bs_persist(s, &pos[1], call, &keep) || !bs_list_push(l, &keep)) return -1;
            int64_t i = (int64_t)x;
            if (i < 0) i += l->n - 1;
            if (i < 0) i = 0;
            if (i > l->n - 1) i = l->n - 1;
            memmove(l->items + i + 1, l->items + i, sizeof(bs_value) * (size_t)(l->n - 1 - i));
            l->items[i] = keep;
            return 0;
        }
    }
    if (obj->k == BS_V_LIST || obj->k == BS_V_TUPLE) {
        int n;
        bs_value *it = bs_list_items(obj, &n);
        if (!strcmp(name, "index") || !strcmp(name, "count")) {
            if (npos != 1) return bs_fail(s, line, col, "%s() takes exactly one argument", name);
            int count = 0;
            for (int i = 0; i < n; i++) {
                bool eq;
                if (values_equal(s, &it[i], &pos[0], &eq) == 0 && eq) {
                    if (!strcmp(name, "index")) {
                        *out = bs_num_value(i, true);
                        return 0;
                    }
                    count++;
                }
            }
            if (!strcmp(name, "index")) return bs_fail(s, line, col, "%s is not in list", bs_str_value(s, &pos[0]));
            *out = bs_num_value(count, true);
            return 0;
        }
    }
    if (obj->k == BS_V_STR) {
        if (!strcmp(name, "join")) {
            int n;
            if (npos != 1 || (pos[0].k != BS_V_LIST && pos[0].k != BS_V_TUPLE))
                return bs_fail(s, line, col, "join() takes a list of strings");
            bs_value *it = bs_list_items(&pos[0], &n);
            sbuf b = {NULL, 0, 0, &s->arena};
            for (int i = 0; i < n; i++) {
                if (it[i].k != BS_V_STR)
                    return bs_fail(s, line, col, "sequence item %d: expected str instance, %s found", i, type_name(&it[i]));
                if (i) sb_puts(&b, obj->str);
                sb_puts(&b, it[i].str);
            }
            out->k = BS_V_STR;
            out->str = b.p ? b.p : "";
            return 0;
        }
        if (!strcmp(name, "format")) {
            /* "{} {:.4f}".format(a, b): positional fields in order */
            sbuf b = {NULL, 0, 0, &s->arena};
            int k = 0;
            for (const char *p = obj->str; *p; p++) {
                if (p[0] == '{' && p[1] == '{') { sb_puts(&b, "{"); p++; continue; }
                if (p[0] == '}' && p[1] == '}') { sb_puts(&b, "}"); p++; continue; }
                if (*p != '{') { sb_put(&b, p, 1); continue; }
                const char *end = strchr(p, '}');
                if (!end) return bs_fail(s, line, col, "Single '{' encountered in format string");
                const char *colon = memchr(p, ':', (size_t)(end - p));
                const char *fe = colon ? colon : end;
                int idx = k;
                const bs_value *fv = NULL;
                if (p + 1 < fe && (isalpha((unsigned char)p[1]) || p[1] == '_')) { /* "{lr}".format(lr=0.1) */
                    size_t fl = (size_t)(fe - p - 1);
                    for (int q = 0; q < nkw && !fv; q++)
                        if (strlen(kn[q]) == fl && !strncmp(kn[q], p + 1, fl)) fv = &kv[q];
                    if (!fv) return bs_fail(s, line, col, "KeyError: '%.*s'", (int)fl, p + 1);
                } else {
                    if (p + 1 < fe && isdigit((unsigned char)p[1])) idx = atoi(p + 1);
                    else k++;
                    if (idx >= npos) return bs_fail(s, line, col, "Replacement index %d out of range for positional args tuple", idx);
                    fv = &pos[idx];
                }
                char *spec = colon ? bs_arena_strndup(&s->arena, colon + 1, (size_t)(end - colon - 1)) : "";
                char *t = bs_format_value(s, fv, spec, 0, call);
                if (!t) return -1;
                sb_puts(&b, t);
                p = end;
            }
            out->k = BS_V_STR;
            out->str = b.p ? b.p : "";
            return 0;
        }
        if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "strip")) {
            char *d = bs_arena_strndup(&s->arena, obj->str, strlen(obj->str));
            if (!d) return bs_fail(s, line, col, "out of memory");
            if (name[0] == 's') {
                char *st = d;
                while (isspace((unsigned char)*st)) st++;
                size_t n = strlen(st);
                while (n && isspace((unsigned char)st[n - 1])) st[--n] = 0;
                d = st;
            } else {
                for (char *c = d; *c; c++) *c = (char)(name[0] == 'u' ? toupper((unsigned char)*c) : tolower((unsigned char)*c));
            }
            out->k = BS_V_STR;
            out->str = d;
            return 0;
        }
        if (!strcmp(name, "split")) { /* split(), split(sep), split(sep, maxsplit) */
            const char *sep = npos >= 1 && pos[0].k == BS_V_STR ? pos[0].str : NULL;
            if (npos > 2 || (npos >= 1 && pos[0].k != BS_V_STR && pos[0].k != BS_V_NONE))
                return bs_fail(s, line, col, "split() takes a separator string and a count");
            if (sep && !*sep) return bs_fail(s, line, col, "ValueError: empty separator");
            double mx = -1;
            bool mi;
            if (npos == 2 && (!bs_as_number(s, &pos[1], &mx, &mi) || !mi))
                return bs_fail(s, line, col, "split(): maxsplit must be an integer");
            bs_hlist *l = bs_heap_list(s, 0);
            if (!l) return bs_fail(s, line, col, "out of memory");
            const char *p = obj->str;
            if (!sep) while (isspace((unsigned char)*p)) p++;
            for (;;) {
                if (!sep && !*p) break;
                const char *q;
                if (mx == 0) {
                    q = p + strlen(p);
                } else if (sep) {
                    q = strstr(p, sep);
                    if (!q) q = p + strlen(p);
                } else {
                    q = p;
                    while (*q && !isspace((unsigned char)*q)) q++;
                }
                bs_value piece;
                char *d = bs_arena_strndup(&s->arena, p, (size_t)(q - p));
                if (!d || !bs_heap_str(s, d, &piece) || !bs_list_push(l, &piece)) return bs_fail(s, line, col, "out of memory");
                if (mx > 0) mx--;
                if (!*q) break;
                p = q + (sep ? strlen(sep) : 0);
                if (!sep) while (isspace((unsigned char)*p)) p++;
            }
            return list_value(s, call, l, BS_V_LIST, out);
        }
        if (!strcmp(name, "replace")) {
            if (npos != 2 || pos[0].k != BS_V_STR || pos[1].k != BS_V_STR)
                return bs_fail(s, line, col, "replace() takes two strings");
            sbuf b = {NULL, 0, 0, &s->arena};
            size_t m = strlen(pos[0].str);
            for (const char *p = obj->str; *p;) {
                const char *q = m ? strstr(p, pos[0].str) : NULL;
                if (!q) { sb_puts(&b, p); break; }
                sb_put(&b, p, (size_t)(q - p));
                sb_puts(&b, pos[1].str);
                p = q + m;
            }
            out->k = BS_V_STR;
            out->str = b.p ? b.p : "";
            return 0;
        }
        if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
            if (npos != 1 || pos[0].k != BS_V_STR) return bs_fail(s, line, col, "%s() takes one string", name);
            size_t n = strlen(obj->str), m = strlen(pos[0].str);
            bool r = m <= n && !strncmp(name[0] == 's' ? obj->str : obj->str + n - m, pos[0].str, m);
            *out = bool_value(r);
            return 0;
        }
    }
    return bs_fail(s, line, col, "'%s' object has no attribute '%s'", type_name(obj), name);
}

/* ==== Python's builtins ==== */

static int make_list(bs_session *s, const bs_expr *e, bs_vkind k, int n, bs_value *out)
{
    memset(out, 0, sizeof *out);
    out->k = k;
    out->sym = -1;
    out->n = n;
    /* not zeroed: every caller fills the n items (or lowers n to what it filled) */
    out->items = bs_arena_alloc_raw(&s->arena, sizeof(bs_value) * (size_t)(n > 0 ? n : 1));
    return out->items ? 0 : bs_fail(s, e->line, e->col, "out of memory");
}

/* all items of an iterable into a fresh arena list */
static int collect_items(bs_session *s, const bs_expr *e, bs_value *v, bs_value *out)
{
    iter it;
    if (iter_begin(s, e, v, &it)) return -1;
    if (it.n > (1 << 24)) return bs_fail(s, e->line, e->col, "too many items");
    if (make_list(s, e, BS_V_LIST, (int)it.n, out)) return -1;
    bs_value x;
    int r, i = 0;
    while ((r = iter_next(s, e, &it, &x)) == 1) out->items[i++] = x;
    out->n = i;
    return r < 0 ? -1 : 0;
}

static const char *const py_builtin_names[] = {
    "len", "range", "enumerate", "zip", "list", "tuple", "str", "int", "float", "bool", "round",
    "isinstance", "super", "min", "max", "sum", "abs", "sorted", "reversed", "any", "all", "repr",
    "type", "map", "filter", "dict", "set", NULL};

bool bs_is_py_builtin(const char *name)
{
    /* the names' first bytes, a bit each: a call of relu() asks before every function of backstep's */
    static uint64_t first[4];
    static bool ready;
    if (!ready) {
        for (int i = 0; py_builtin_names[i]; i++) {
            unsigned char c = (unsigned char)py_builtin_names[i][0];
            first[c >> 6] |= 1ull << (c & 63);
        }
        ready = true;
    }
    unsigned char c = (unsigned char)name[0];
    if (first[c >> 6] >> (c & 63) & 1)
        for (int i = 0; py_builtin_names[i]; i++)
            if (py_builtin_names[i][0] == name[0] && !strcmp(py_builtin_names[i], name)) return true;
    return bs_is_exc_name(name);
}

/* a < b as Python orders numbers, strings, and lists or tuples (item by item); -1 with an error */
static int py_less(bs_session *s, const bs_expr *e, const char *fn, const bs_value *a, const bs_value *b, bool *lt)
{
    double x, y;
    if (a->k == BS_V_STR && b->k == BS_V_STR) {
        *lt = strcmp(a->str, b->str) < 0;
        return 0;
    }
    if ((a->k == BS_V_LIST || a->k == BS_V_TUPLE) && a->k == b->k) {
        int na, nb;
        bs_value *ia = bs_list_items(a, &na), *ib = bs_list_items(b, &nb);
        for (int i = 0; i < na && i < nb; i++) {
            bool eq;
            if (values_equal(s, &ia[i], &ib[i], &eq) == 0 && eq) continue;
            return py_less(s, e, fn, &ia[i], &ib[i], lt);
        }
        *lt = na < nb;
        return 0;
    }
    if (bs_as_number(s, a, &x, NULL) && bs_as_number(s, b, &y, NULL)) {
        *lt = x < y;
        return 0;
    }
    return bs_fail(s, e->line, e->col, "'<' not supported between instances of '%s' and '%s'%s", type_name(a),
                   type_name(b), fn);
}

/* key(x) for sorted/min/max (key None or absent: x itself) */
static int apply_key(bs_session *s, const bs_expr *call, bs_value *key, bs_value *x, bs_value *out)
{
    if (!key || key->k == BS_V_NONE) {
        *out = *x;
        return 0;
    }
    return bs_call_value(s, call, key, x, 1, NULL, NULL, 0, out);
}

/* Python's builtins over evaluated arguments; sum/max/min/abs of a tensor are the op */
int bs_py_builtin(bs_session *s, const bs_expr *call, const char *name, bs_value *out)
{
    bs_value pos[MAX_ARGS], kv[MAX_ARGS];
    const char *kn[MAX_ARGS];
    int npos, nkw;
    if (bs_eval_args(s, call, pos, &npos, kn, kv, &nkw, MAX_ARGS)) return -1;
    return bs_py_builtin_v(s, call, name, pos, npos, kn, kv, nkw, out);
}

/* the same with evaluated arguments (map(str, xs), key=len) */
/* isinstance(v, t) for one type t */
static bool is_instance(bs_session *s, const bs_value *v, const bs_value *t)
{
    if (t->k == BS_V_CLASS && v->k == BS_V_OBJ) {
        for (bs_hclass *c = ((bs_hobj *)v->ref)->cls; c; c = c->base)
            if (c == t->ref) return true;
        return false;
    }
    if (t->k == BS_V_CLASS && v->k == BS_V_EXC)
        return ((bs_hclass *)t->ref)->exc && bs_exc_is(s, v->ref2, ((bs_hclass *)t->ref)->exc);
    if (t->k == BS_V_BUILTIN) {
        const char *tn = t->str;
        const char *dot = strrchr(tn, '.');
        const char *base = dot ? dot + 1 : tn;
        if (v->k == BS_V_EXC) return bs_is_exc_name(tn) && bs_exc_is(s, v->ref2, tn);
        static const char *const pytypes[] = {"int", "float", "str", "list", "tuple", "dict", "set", "bool", NULL};
        for (int i = 0; pytypes[i]; i++)
            if (!strcmp(tn, pytypes[i])) /* isinstance(3, int); a bool is an int too, as in Python */
                return !strcmp(tn, type_name(v)) || (!strcmp(tn, "int") && v->k == BS_V_BOOL);
        return (!strcmp(base, "Tensor") && is_tensor(v)) ||
               (v->k == BS_V_OBJ && ((bs_hobj *)v->ref)->mod != BS_MOD_USER && !strcmp(base, ((bs_hobj *)v->ref)->type)) ||
               (!strcmp(base, "Module") && v->k == BS_V_OBJ);
    }
    if (t->k == BS_V_STR) return !strcmp(t->str, type_name(v)); /* int, float, str, list written bare */
    return false;
}

int bs_py_builtin_v(bs_session *s, const bs_expr *call, const char *name, bs_value *pos, int npos,
                    const char **kn, bs_value *kv, int nkw, bs_value *out)
{
    int line = call->line, col = call->col;
    /* sum(x, dim=1), max(x), abs(x) of a tensor: the op, with the values already evaluated */
    bool tensor_fn = !strcmp(name, "min") || !strcmp(name, "max") || !strcmp(name, "sum") || !strcmp(name, "abs");
    if (tensor_fn && npos >= 1 && is_tensor(&pos[0]))
        return bs_call_builtin_v(s, call, name, NULL, pos, npos, kn, kv, nkw, out);
    memset(out, 0, sizeof *out);
    out->sym = -1;
    if (nkw && strcmp(name, "sorted") && strcmp(name, "enumerate") && strcmp(name, "min") && strcmp(name, "max") &&
        strcmp(name, "round") && strcmp(name, "sum") && strcmp(name, "dict"))
        return bs_fail(s, line, col, "%s() takes no keyword arguments", name);
    double x;
    bool is_int;
    if (!strcmp(name, "len")) {
        if (npos != 1) return bs_fail(s, line, col, "len() takes exactly one argument (%d given)", npos);
        bs_value *v = &pos[0];
        int n;
        switch (v->k) {
        case BS_V_STR: *out = bs_num_value((double)strlen(v->str), true); return 0;
        case BS_V_LIST: case BS_V_TUPLE: bs_list_items(v, &n); *out = bs_num_value(n, true); return 0;
        case BS_V_SHAPE: *out = bs_num_value(v->shape.ndim, true); return 0;
        case BS_V_DICT: *out = bs_num_value(((bs_hdict *)v->ref)->n, true); return 0;
        case BS_V_NODE: case BS_V_TMP: {
            const bs_tensor *t = v->k == BS_V_NODE ? &bs_node_get(s->ctx, v->id)->value : &v->tmp;
            if (!t->shape.ndim) return bs_fail(s, line, col, "len() of a 0-d tensor");
            *out = bs_num_value((double)t->shape.d[0], true);
            return 0;
        }
        default: {
            iter it;
            if (iter_begin(s, call, v, &it)) return bs_fail(s, line, col, "object of type '%s' has no len()", type_name(v));
            *out = bs_num_value((double)it.n, true);
            return 0;
        }
        }
    }
    if (!strcmp(name, "range")) {
        int64_t r[3] = {0, 0, 1};
        if (npos < 1 || npos > 3) return bs_fail(s, line, col, "range expected 1 to 3 arguments, got %d", npos);
        for (int i = 0; i < npos; i++) {
            if (!bs_as_number(s, &pos[i], &x, &is_int) || !is_int)
                return bs_fail(s, line, col, "'%s' object cannot be interpreted as an integer", type_name(&pos[i]));
            r[npos == 1 ? 1 : i] = (int64_t)x;
        }
        if (r[2] == 0) return bs_fail(s, line, col, "range() arg 3 must not be zero");
        out->k = BS_V_RANGE;
        memcpy(out->r, r, sizeof r);
        return 0;
    }
    if (!strcmp(name, "enumerate") || !strcmp(name, "list") || !strcmp(name, "tuple") ||
        !strcmp(name, "sorted") || !strcmp(name, "reversed")) {
        if (npos != 1) {
            if (npos == 0 && (name[0] == 'l' || name[0] == 't')) return make_list(s, call, name[0] == 'l' ? BS_V_LIST : BS_V_TUPLE, 0, out);
            return bs_fail(s, line, col, "%s() takes exactly one argument (%d given)", name, npos);
        }
        bs_value all;
        if (collect_items(s, call, &pos[0], &all)) return -1;
        if (name[0] == 'e') {
            int64_t start = 0;
            for (int i = 0; i < nkw; i++) {
                if (strcmp(kn[i], "start") || !bs_as_number(s, &kv[i], &x, NULL))
                    return bs_fail(s, line, col, "enumerate() got an unexpected keyword argument '%s'", kn[i]);
                start = (int64_t)x;
            }
            if (make_list(s, call, BS_V_LIST, all.n, out)) return -1;
            for (int i = 0; i < all.n; i++) {
                if (make_list(s, call, BS_V_TUPLE, 2, &out->items[i])) return -1;
                out->items[i].items[0] = bs_num_value((double)(start + i), true);
                out->items[i].items[1] = all.items[i];
            }
            return 0;
        }
        if (name[0] == 'r') {
            for (int i = 0; i < all.n / 2; i++) {
                bs_value t = all.items[i];
                all.items[i] = all.items[all.n - 1 - i];
                all.items[all.n - 1 - i] = t;
            }
        }
        if (!strcmp(name, "sorted")) {
            bool rev = false;
            bs_value *key = NULL;
            for (int i = 0; i < nkw; i++) {
                int err;
                if (!strcmp(kn[i], "key")) {
                    key = &kv[i];
                    continue;
                }
                if (strcmp(kn[i], "reverse")) return bs_fail(s, line, col, "sorted() got an unexpected keyword argument '%s'", kn[i]);
                rev = bs_truthy(s, &kv[i], call, &err);
                if (err) return -1;
            }
            bs_value keys;
            if (make_list(s, call, BS_V_LIST, all.n, &keys)) return -1;
            for (int i = 0; i < all.n; i++)
                if (apply_key(s, call, key, &all.items[i], &keys.items[i])) return -1;
            for (int i = 1; i < all.n; i++) /* insertion sort: stable, as Python's (reverse too) */
                for (int j = i; j > 0; j--) {
                    bool lt;
                    if (rev ? py_less(s, call, "", &keys.items[j - 1], &keys.items[j], &lt)
                            : py_less(s, call, "", &keys.items[j], &keys.items[j - 1], &lt))
                        return -1;
                    if (!lt) break;
                    bs_value t = all.items[j];
                    all.items[j] = all.items[j - 1];
                    all.items[j - 1] = t;
                    t = keys.items[j];
                    keys.items[j] = keys.items[j - 1];
                    keys.items[j - 1] = t;
                }
        }
        *out = all;
        out->k = name[0] == 't' ? BS_V_TUPLE : BS_V_LIST;
        return 0;
    }
    if (!strcmp(name, "zip")) {
        bs_value lists[MAX_ARGS];
        int n = INT32_MAX;
        for (int i = 0; i < npos; i++) {
            if (collect_items(s, call, &pos[i], &lists[i])) return -1;
            if (lists[i].n < n) n = lists[i].n;
        }
        if (!npos) n = 0;
        if (make_list(s, call, BS_V_LIST, n, out)) return -1;
        for (int j = 0; j < n; j++) {
            if (make_list(s, call, BS_V_TUPLE, npos, &out->items[j])) return -1;
            for (int i = 0; i < npos; i++) out->items[j].items[i] = lists[i].items[j];
        }
        return 0;
    }
    if (!strcmp(name, "str") || !strcmp(name, "repr")) {
        out->k = BS_V_STR;
        out->str = npos ? (name[0] == 's' ? bs_str_value(s, &pos[0]) : repr_value(s, &pos[0])) : "";
        return 0;
    }
    if (!strcmp(name, "type")) {
        out->k = BS_V_STR;
        sbuf b = {NULL, 0, 0, &s->arena};
        sb_puts(&b, "<class '");
        sb_puts(&b, npos ? (is_tensor(&pos[0]) ? "torch.Tensor" : type_name(&pos[0])) : "NoneType");
        sb_puts(&b, "'>");
        out->str = b.p;
        return 0;
    }
    if (!strcmp(name, "int") || !strcmp(name, "float") || !strcmp(name, "bool")) {
        if (npos == 0) {
            *out = name[0] == 'b' ? bool_value(false) : bs_num_value(0, name[0] == 'i');
            return 0;
        }
        if (pos[0].k == BS_V_STR && name[0] != 'b') {
            char *end;
            double v = strtod(pos[0].str, &end);
            while (isspace((unsigned char)*end)) end++;
            if (*end || end == pos[0].str)
                return bs_fail(s, line, col, "invalid literal for %s(): '%s'", name, pos[0].str);
            *out = bs_num_value(name[0] == 'i' ? trunc(v) : v, name[0] == 'i');
            return 0;
        }
        if (name[0] == 'b') {
            int err;
            *out = bool_value(bs_truthy(s, &pos[0], call, &err));
            return err ? -1 : 0;
        }
        if (!bs_as_number(s, &pos[0], &x, NULL))
            return bs_fail(s, line, col, "%s() argument must be a string or a number, not '%s'", name, type_name(&pos[0]));
        *out = bs_num_value(name[0] == 'i' ? trunc(x) : x, name[0] == 'i');
        return 0;
    }
    if (!strcmp(name, "round")) {
        if (npos < 1 || !bs_as_number(s, &pos[0], &x, NULL)) return bs_fail(s, line, col, "round() needs a number");
        double nd = 0;
        bool have_nd = npos > 1 && pos[1].k != BS_V_NONE;
        if (npos > 1 && have_nd && !bs_as_number(s, &pos[1], &nd, NULL)) return bs_fail(s, line, col, "round() needs an integer");
        if (nkw) {
            if (strcmp(kn[0], "ndigits") || !bs_as_number(s, &kv[0], &nd, NULL)) return bs_fail(s, line, col, "round() got an unexpected keyword argument");
            have_nd = true;
        }
        double m = pow(10, nd), y = x * m, r = nearbyint(y); /* banker's rounding, as Python */
        if (!have_nd) {
            *out = bs_num_value(r, true);
            return 0;
        }
        char b[64];
        snprintf(b, sizeof b, "%.*f", (int)(nd > 0 ? nd : 0), x);
        *out = bs_num_value(nd >= 0 ? strtod(b, NULL) : r / m, false);
        return 0;
    }
    if (!strcmp(name, "isinstance")) {
        if (npos != 2) return bs_fail(s, line, col, "isinstance expected 2 arguments, got %d", npos);
        int nt = 1;
        const bs_value *ts = &pos[1];
        if (pos[1].k == BS_V_TUPLE) ts = bs_list_items(&pos[1], &nt); /* isinstance(x, (A, B)) */
        bool r = false;
        for (int i = 0; i < nt; i++) r |= is_instance(s, &pos[0], &ts[i]);
        *out = bool_value(r);
        return 0;
    }
    if (!strcmp(name, "super")) {
        bs_frame *f = s->frame;
        if (!f || !f->fn || !f->fn->cls || f->fn->def->def.nparams == 0)
            return bs_fail(s, line, col, "super(): no arguments, and not inside a method");
        bs_value *self = bs_dict_get(&f->locals, f->fn->def->def.params[0].name);
        if (!self || self->k != BS_V_OBJ) return bs_fail(s, line, col, "super(): the first argument is not an instance");
        out->k = BS_V_SUPER;
        out->ref = self->ref;
        out->ref2 = f->fn->cls;
        return 0;
    }
    if (!strcmp(name, "any") || !strcmp(name, "all")) {
        bs_value all;
        if (npos != 1 || collect_items(s, call, &pos[0], &all)) return npos != 1 ? bs_fail(s, line, col, "%s() takes one argument", name) : -1;
        bool r = name[1] == 'l';
        for (int i = 0; i < all.n; i++) {
            int err;
            bool t = bs_truthy(s, &all.items[i], call, &err);
            if (err) return -1;
            if (name[1] == 'n' && t) r = true;
            if (name[1] == 'l' && !t) r = false;
        }
        *out = bool_value(r);
        return 0;
    }
    if (!strcmp(name, "map") || !strcmp(name, "filter")) {
        /* a list rather than an iterator: what list(map(...)) and a for loop see */
        if (npos < 2 || (name[0] == 'f' && npos != 2))
            return bs_fail(s, line, col, name[0] == 'm' ? "map() must have at least two arguments."
                                                        : "filter expected 2 arguments, got %d", npos);
        bs_value lists[MAX_ARGS];
        int n = INT32_MAX;
        for (int i = 1; i < npos; i++) {
            if (collect_items(s, call, &pos[i], &lists[i])) return -1;
            if (lists[i].n < n) n = lists[i].n;
        }
        if (make_list(s, call, BS_V_LIST, n, out)) return -1;
        int k = 0;
        for (int j = 0; j < n; j++) {
            bs_value args[MAX_ARGS], r;
            for (int i = 1; i < npos; i++) args[i - 1] = lists[i].items[j];
            if (name[0] == 'f' && pos[0].k == BS_V_NONE) {
                r = args[0];
            } else {
                bs_value fn = pos[0];
                if (bs_call_value(s, call, &fn, args, npos - 1, NULL, NULL, 0, &r)) return -1;
            }
            if (name[0] == 'm') {
                out->items[k++] = r;
                continue;
            }
            int err;
            bool keep = bs_truthy(s, &r, call, &err);
            if (err) return -1;
            if (keep) out->items[k++] = args[0];
        }
        out->n = k;
        return 0;
    }
    if (bs_is_exc_name(name)) {
        if (nkw) return bs_fail(s, line, col, "%s() takes no keyword arguments", name);
        return bs_exc_new(s, call, name, pos, npos, out);
    }
    if (!strcmp(name, "set")) {
        if (nkw) return bs_fail(s, line, col, "set() takes no keyword arguments");
        return bs_set_new(s, call, pos, npos, out);
    }
    if (!strcmp(name, "dict")) {
        bs_hdict *d = bs_heap_dict(s);
        if (!d) return bs_fail(s, line, col, "out of memory");
        out->k = BS_V_DICT;
        out->ref = d;
        if (npos > 1) return bs_fail(s, line, col, "dict expected at most 1 argument, got %d", npos);
        if (npos == 1 && pos[0].k == BS_V_DICT) {
            bs_hdict *src = pos[0].ref;
            for (int i = 0; i < src->n; i++)
                if (bs_hdict_set(s, d, &src->keys[i], &src->vals[i], call)) return -1;
        } else if (npos == 1) {
            bs_value all;
            if (collect_items(s, call, &pos[0], &all)) return -1;
            for (int i = 0; i < all.n; i++) {
                int m;
                bs_value *kvp = (all.items[i].k == BS_V_LIST || all.items[i].k == BS_V_TUPLE)
                                    ? bs_list_items(&all.items[i], &m) : NULL;
                if (!kvp || m != 2)
                    return bs_fail(s, line, col, "dictionary update sequence element #%d has the wrong length; 2 is required", i);
                if (bs_hdict_set(s, d, &kvp[0], &kvp[1], call)) return -1;
            }
        }
        for (int i = 0; i < nkw; i++) {
            bs_value k;
            if (!bs_heap_str(s, kn[i], &k)) return bs_fail(s, line, col, "out of memory");
            if (bs_hdict_set(s, d, &k, &kv[i], call)) return -1;
        }
        return 0;
    }
    /* min, max, sum, abs over Python numbers and lists */
    bs_value all;
    if (!strcmp(name, "abs")) {
        if (npos != 1 || !bs_as_number(s, &pos[0], &x, &is_int)) return bs_fail(s, line, col, "bad operand type for abs()");
        *out = bs_num_value(fabs(x), is_int);
        return 0;
    }
    if (npos == 1) {
        if (collect_items(s, call, &pos[0], &all)) return -1;
    } else {
        all.n = npos;
        all.items = pos;
    }
    if (!strcmp(name, "sum")) {
        bs_value acc = bs_num_value(0, true);
        for (int i = 0; i < nkw; i++)
            if (!strcmp(kn[i], "start")) acc = kv[i];
        for (int i = 0; i < all.n; i++) {
            double a, b;
            bool ia, ib;
            if (bs_as_number(s, &acc, &a, &ia) && !is_tensor(&acc) && bs_as_number(s, &all.items[i], &b, &ib) &&
                !is_tensor(&all.items[i])) {
                acc = bs_num_value(a + b, ia && ib);
                continue;
            }
            /* tensors: acc + item as one add node */
            bs_id xa, xb;
            if (bs_to_node(s, &acc, call, &xa) || bs_to_node(s, &all.items[i], call, &xb)) return -1;
            bs_id r = bs_apply2(s->ctx, BS_OP_ADD, xa, xb);
            if (r < 0) return bs_fail_core(s, line, col, NULL);
            memset(&acc, 0, sizeof acc);
            acc.k = BS_V_NODE;
            acc.id = r;
            acc.sym = -1;
        }
        *out = acc;
        return 0;
    }
    bs_value *key = NULL, *dflt = NULL;
    for (int i = 0; i < nkw; i++) {
        if (!strcmp(kn[i], "key")) key = &kv[i];
        else if (!strcmp(kn[i], "default") && npos == 1) dflt = &kv[i];
        else return bs_fail(s, line, col, "%s() got an unexpected keyword argument '%s'", name, kn[i]);
    }
    if (!all.n) {
        if (dflt) {
            *out = *dflt;
            return 0;
        }
        return bs_fail(s, line, col, "%s() arg is an empty sequence", name);
    }
    /* the first of the smallest (largest), as Python's min (max) */
    int best = 0;
    bs_value bk;
    if (apply_key(s, call, key, &all.items[0], &bk)) return -1;
    for (int i = 1; i < all.n; i++) {
        bs_value k;
        bool better;
        if (apply_key(s, call, key, &all.items[i], &k)) return -1;
        if (name[1] == 'a' ? py_less(s, call, "", &bk, &k, &better) : py_less(s, call, "", &k, &bk, &better)) return -1;
        if (better) {
            bk = k;
            best = i;
        }
    }
    *out = all.items[best];
    return 0;
}

/* ==== Statements ==== */

static int exec_loop_body(bs_session *s, const bs_block *body, bool *stop)
{
    *stop = false;
    int r = bs_exec_block(s, body);
    if (r) return r;
    if (s->flow == BS_FLOW_BREAK) {
        s->flow = BS_FLOW_NONE;
        *stop = true;
    } else if (s->flow == BS_FLOW_CONTINUE) {
        s->flow = BS_FLOW_NONE;
    } else if (s->flow == BS_FLOW_RETURN) {
        *stop = true;
    }
    return 0;
}

/* between iterations of a loop at top level: free the iteration's temporaries, reclaim the tape */
static void loop_tidy(bs_session *s, bs_arena_mark m)
{
    if (s->depth) return;
    bs_arena_release(&s->arena, m);
    bs_heap_maybe_gc(s); /* lists the turn made and dropped */
    bs_session_collect(s, false);
}

static int exec_for(bs_session *s, const bs_stmt *st)
{
    bs_value v;
    if (bs_eval_expr(s, st->loop.cond, &v)) return -1;
    bs_value keep = v;
    /* the loop's own copy of what it iterates, which the collector sees (s->roots). A list the
       statement just made (zip(ws, xs), range's items) stays in the arena, below the mark every
       turn releases to, so it lives as long as the loop: nothing else can reach it to change it */
    if (!((v.k == BS_V_LIST || v.k == BS_V_TUPLE) && !v.ref) && bs_persist(s, &v, st->loop.cond, &keep)) return -1;
    iter it;
    if (iter_begin(s, st->loop.cond, &keep, &it)) return -1;
    if (s->nroots >= (int)(sizeof s->roots / sizeof s->roots[0]))
        return bs_fail(s, st->line, st->col, "loops nested too deeply");
    s->roots[s->nroots++] = &it.v;
    bs_arena_mark m = bs_arena_save(&s->arena);
    int r = 0;
    for (;;) {
        if (s->interrupted) {
            r = bs_fail(s, st->line, st->col, "interrupted");
            break;
        }
        bs_value x;
        int got = iter_next(s, st->loop.cond, &it, &x);
        if (got <= 0) {
            r = got;
            break;
        }
        bool stop;
        if (bs_assign_target(s, st->loop.target, &x, st->loop.cond) || exec_loop_body(s, &st->loop.body, &stop)) {
            r = -1;
            break;
        }
        if (stop) break;
        loop_tidy(s, m);
    }
    s->nroots--;
    return r;
}

static int exec_while(bs_session *s, const bs_stmt *st)
{
    bs_arena_mark m = bs_arena_save(&s->arena);
    for (;;) {
        if (s->interrupted) return bs_fail(s, st->line, st->col, "interrupted");
        bs_value c;
        int err;
        if (bs_eval_expr(s, st->loop.cond, &c)) return -1;
        bool go = bs_truthy(s, &c, st->loop.cond, &err);
        if (err) return -1;
        if (!go) return 0;
        bool stop;
        if (exec_loop_body(s, &st->loop.body, &stop)) return -1;
        if (stop) return 0;
        loop_tidy(s, m);
    }
}

static bs_hsrc *current_src(bs_session *s)
{
    if (s->frame && s->frame->fn) return s->frame->fn->src;
    return s->cur_src;
}

static int exec_def(bs_session *s, const bs_stmt *st, bs_hclass *cls, bs_value *out)
{
    bs_hsrc *src = current_src(s);
    if (!src) return bs_fail(s, st->line, st->col, "a function cannot be defined here");
    bs_hfunc *f = bs_heap_new(s, BS_H_FUNC, sizeof *f);
    if (!f) return bs_fail(s, st->line, st->col, "out of memory");
    f->def = st;
    f->src = src;
    src->adopted = true;
    f->cls = cls;
    if (s->frame && !cls) { /* a def or lambda inside a function sees the function's names */
        bs_frame *fr = s->frame;
        bs_dict *up = fr->fn ? fr->fn->closure : NULL;
        if (!(f->closure = calloc(1, sizeof *f->closure))) return bs_fail(s, st->line, st->col, "out of memory");
        for (int i = 0; i < fr->locals.n; i++)
            if (bs_dict_set(f->closure, fr->locals.keys[i], &fr->locals.vals[i]))
                return bs_fail(s, st->line, st->col, "out of memory");
        for (int i = 0; up && i < up->n; i++)
            if (!bs_dict_get(f->closure, up->keys[i]) && bs_dict_set(f->closure, up->keys[i], &up->vals[i]))
                return bs_fail(s, st->line, st->col, "out of memory");
    }
    int np = st->def.nparams;
    if (np) {
        f->defaults = calloc((size_t)np, sizeof *f->defaults);
        if (!f->defaults) return bs_fail(s, st->line, st->col, "out of memory");
        for (int i = 0; i < np; i++) {
            f->defaults[i].k = BS_V_VOID;
            if (!st->def.params[i].def) continue;
            bs_value v;
            if (bs_eval_expr(s, st->def.params[i].def, &v) || bs_persist(s, &v, st->def.params[i].def, &f->defaults[i]))
                return -1;
        }
    }
    memset(out, 0, sizeof *out);
    out->k = BS_V_FUNC;
    out->ref = f;
    out->sym = -1;
    return 0;
}

static int exec_class(bs_session *s, const bs_stmt *st)
{
    bs_hclass *c = bs_heap_new(s, BS_H_CLASS, sizeof *c);
    if (!c) return bs_fail(s, st->line, st->col, "out of memory");
    if (!(c->name = strdup(st->cls.name))) return bs_fail(s, st->line, st->col, "out of memory");
    for (int i = 0; i < st->cls.nbases; i++) {
        bs_value b;
        const bs_expr *be = st->cls.bases[i];
        if (bs_eval_expr(s, be, &b)) return -1;
        if (b.k == BS_V_CLASS) {
            if (c->base) return bs_fail(s, be->line, be->col, "multiple inheritance is not supported");
            c->base = b.ref;
            if (c->base->exc && !(c->exc = bs_exc_register(s, c->name, c->base->exc)))
                return bs_fail(s, be->line, be->col, "out of memory");
        } else if (b.k == BS_V_BUILTIN && (!strcmp(b.str, "Module") || !strcmp(b.str, "nn.Module"))) {
            c->module = true;
        } else if (b.k == BS_V_BUILTIN && !strcmp(b.str, "object")) {
        } else if (b.k == BS_V_BUILTIN && bs_is_exc_name(b.str)) {
            if (!(c->exc = bs_exc_register(s, c->name, b.str))) return bs_fail(s, be->line, be->col, "out of memory");
        } else {
            return bs_fail(s, be->line, be->col, "a class can derive from nn.Module, an exception class or a class defined here");
        }
    }
    for (int i = 0; i < st->cls.body.n; i++) {
        const bs_stmt *b = st->cls.body.stmts[i];
        bs_value v;
        if (b->kind == BS_ST_PASS) continue;
        if (b->kind == BS_ST_EXPR && (b->expr->kind == BS_EX_STR)) continue; /* a docstring */
        if (b->kind == BS_ST_DEF) {
            if (c->exc)
                return bs_fail(s, b->line, b->col, "methods on an exception class are not supported: "
                               "the class body may be 'pass', a docstring or class attributes");
            if (exec_def(s, b, c, &v)) return -1;
            if (bs_dict_set(&c->attrs, b->def.name, &v)) return bs_fail(s, b->line, b->col, "out of memory");
            continue;
        }
        if (b->kind == BS_ST_ASSIGN && b->assign.target->kind == BS_EX_NAME) {
            bs_value keep;
            if (bs_eval_expr(s, b->assign.value, &v) || bs_persist(s, &v, b->assign.value, &keep)) return -1;
            if (bs_dict_set(&c->attrs, b->assign.target->name, &keep)) return bs_fail(s, b->line, b->col, "out of memory");
            continue;
        }
        return bs_fail(s, b->line, b->col, "a class body holds methods (def), class attributes and docstrings");
    }
    bs_value cv;
    memset(&cv, 0, sizeof cv);
    cv.k = BS_V_CLASS;
    cv.ref = c;
    cv.sym = -1;
    return bs_bind(s, st->cls.name, &cv, NULL, false);
}

/* x op= v: in place on a leaf tensor (as PyTorch's in-place ops), else x = x op v */
static int exec_augassign(bs_session *s, const bs_stmt *st)
{
    const bs_expr *t = st->aug.target;
    bs_value cur, rhs, res;
    if (bs_eval_expr(s, t, &cur) || bs_eval_expr(s, st->aug.value, &rhs)) return -1;
    /* list += iterable extends the list itself */
    if (cur.k == BS_V_LIST && cur.ref && st->aug.op == BS_BIN_ADD) {
        bs_value all;
        if (collect_items(s, st->aug.value, &rhs, &all)) return -1;
        for (int i = 0; i < all.n; i++) {
            bs_value keep;
            if (bs_persist(s, &all.items[i], st->aug.value, &keep) || !bs_list_push(cur.ref, &keep)) return -1;
        }
        return 0;
    }
    /* the arithmetic of "cur op rhs", as the binary expression would do it */
    bs_expr bin;
    memset(&bin, 0, sizeof bin);
    bin.kind = BS_EX_BINARY;
    bin.line = t->line;
    bin.col = t->col;
    bin.op_line = st->aug.op_line;
    bin.op_col = st->aug.op_col;
    bin.start = st->start;
    bin.end = st->end;
    bin.bin.op = st->aug.op;
    bin.bin.lhs = (bs_expr *)t;
    bin.bin.rhs = st->aug.value;
    if (bs_eval_binary_values(s, &bin, &cur, &rhs, &res)) return -1;
    if (cur.k == BS_V_TMP && cur.grad_owner && res.k == BS_V_NODE) { /* p.grad /= scale */
        if (bs_grad_set(s->ctx, cur.grad_owner - 1, &bs_node_get(s->ctx, res.id)->value))
            return bs_fail_core(s, st->aug.op_line, st->aug.op_col, NULL);
        return 0;
    }
    const bs_node *n = cur.k == BS_V_NODE ? bs_node_get(s->ctx, cur.id) : NULL;
    if (n && n->op == BS_OP_LEAF && res.k == BS_V_NODE) {
        bs_tensor tv = bs_node_get(s->ctx, res.id)->value;
        if (bs_update_inplace(s->ctx, cur.id, &tv)) return bs_fail_core(s, st->aug.op_line, st->aug.op_col, NULL);
        return 0;
    }
    if (t->kind == BS_EX_NAME) return bs_bind_name(s, t, &res, st->aug.value, true);
    return bs_assign_target(s, t, &res, st->aug.value);
}

int bs_exec_stmt(bs_session *s, const bs_stmt *st)
{
    switch (st->kind) {
    case BS_ST_IF: {
        bs_value c;
        int err;
        if (bs_eval_expr(s, st->ifs.cond, &c)) return -1;
        bool go = bs_truthy(s, &c, st->ifs.cond, &err);
        if (err) return -1;
        return bs_exec_block(s, go ? &st->ifs.body : &st->ifs.orelse);
    }
    case BS_ST_FOR: return exec_for(s, st);
    case BS_ST_WHILE: return exec_while(s, st);
    case BS_ST_DEF: {
        bs_value f;
        if (exec_def(s, st, NULL, &f)) return -1;
        return bs_bind(s, st->def.name, &f, NULL, false);
    }
    case BS_ST_CLASS: return exec_class(s, st);
    case BS_ST_RETURN:
        if (!s->frame) return bs_fail(s, st->line, st->col, "'return' outside function");
        if (st->ret.value) {
            bs_value v;
            if (bs_eval_expr(s, st->ret.value, &v) || bs_persist(s, &v, st->ret.value, &s->frame->ret)) return -1;
        } else {
            s->frame->ret.k = BS_V_NONE;
        }
        s->flow = BS_FLOW_RETURN;
        return 0;
    case BS_ST_PASS: return 0;
    case BS_ST_BREAK:
    case BS_ST_CONTINUE:
        s->flow = st->kind == BS_ST_BREAK ? BS_FLOW_BREAK : BS_FLOW_CONTINUE;
        return 0;
    case BS_ST_ASSERT: {
        bs_value c;
        int err;
        if (bs_eval_expr(s, st->ifs.cond, &c)) return -1;
        bool ok = bs_truthy(s, &c, st->ifs.cond, &err);
        if (err) return -1;
        if (ok) return 0;
        if (st->ifs.msg) {
            bs_value m;
            if (bs_eval_expr(s, st->ifs.msg, &m)) return -1;
            return bs_fail(s, st->line, st->col, "AssertionError: %s", bs_str_value(s, &m));
        }
        return bs_fail(s, st->line, st->col, "AssertionError");
    }
    case BS_ST_AUGASSIGN: return exec_augassign(s, st);
    case BS_ST_TRY: return bs_exec_try(s, st);
    case BS_ST_RAISE: return bs_exec_raise(s, st);
    case BS_ST_DEL: return bs_exec_del(s, st);
    default: return bs_fail(s, st->line, st->col, "unknown statement");
    }
}

int bs_exec_block(bs_session *s, const bs_block *b)
{
    /* what a statement leaves in the arena is its own: names, containers and return values
       hold persistent copies, so each statement's temporaries go when it ends */
    for (int i = 0; i < b->n; i++) {
        bs_arena_mark m = bs_arena_save(&s->arena);
        int r = bs_exec_simple(s, b->stmts[i]);
        bs_arena_release(&s->arena, m);
        if (r) return -1;
        if (s->flow != BS_FLOW_NONE) return 0;
    }
    return 0;
}

int bs_eval_listcomp(bs_session *s, const bs_expr *e, bs_value *out)
{
    bs_value v;
    if (bs_eval_expr(s, e->comp.iter, &v)) return -1;
    iter it;
    if (iter_begin(s, e->comp.iter, &v, &it)) return -1;
    bs_hlist *l = bs_heap_list(s, 0);
    if (!l) return bs_fail(s, e->line, e->col, "out of memory");
    bs_value x;
    int r;
    while ((r = iter_next(s, e->comp.iter, &it, &x)) == 1) {
        if (bs_assign_target(s, e->comp.target, &x, e->comp.iter)) return -1;
        if (e->comp.cond) {
            bs_value c;
            int err;
            if (bs_eval_expr(s, e->comp.cond, &c)) return -1;
            bool keep = bs_truthy(s, &c, e->comp.cond, &err);
            if (err) return -1;
            if (!keep) continue;
        }
        bs_value y, k;
        if (bs_eval_expr(s, e->comp.elt, &y) || bs_persist(s, &y, e->comp.elt, &k)) return -1;
        if (!bs_list_push(l, &k)) return bs_fail(s, e->line, e->col, "out of memory");
    }
    if (r < 0) return -1;
    return list_value(s, e, l, BS_V_LIST, out);
}

/* "model.0 (Linear)" for a node made by the first layer of model = nn.Sequential(...): the names of
   the scopes from the outermost, joined by '.', and the innermost one's type; "" for none */
char *bs_scope_path(bs_session *s, int32_t scope, char *buf, size_t len)
{
    int32_t chain[32];
    int n = 0;
    for (int32_t k = scope; k > 0 && n < 32; k = bs_scope_parent(s->ctx, k)) chain[n++] = k;
    size_t at = 0;
    buf[0] = 0;
    for (int i = n - 1; i >= 0; i--) {
        const char *nm = bs_scope_name(s->ctx, chain[i]);
        if (!nm) continue;
        const char *paren = strstr(nm, " (");
        size_t w = paren && i > 0 ? (size_t)(paren - nm) : strlen(nm);
        int r = snprintf(buf + at, len - at, "%s%.*s", at ? "." : "", (int)w, nm);
        if (r < 0 || (size_t)r >= len - at) break;
        at += (size_t)r;
    }
    return buf;
}

/* ==== For pydict.c ==== */

int bs_values_eq(bs_session *s, const bs_value *a, const bs_value *b, bool *eq) { return values_equal(s, a, b, eq); }
const char *bs_type_name(const bs_value *v) { return type_name(v); }
char *bs_repr_value(bs_session *s, const bs_value *v) { return repr_value(s, v); }
int bs_collect(bs_session *s, const bs_expr *e, bs_value *v, bs_value *out) { return collect_items(s, e, v, out); }
int bs_make_def(bs_session *s, const bs_stmt *st, bs_value *out) { return exec_def(s, st, NULL, out); }
