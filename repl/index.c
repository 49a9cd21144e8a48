/* repl/index.c: x[i], x[a:b], x[:, 1], x[idx] on lists, tuples, strings, shapes, Sequential
 * modules, and on tensors, where each index is an op on the tape with its VJP. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl_int.h"

/* an integer index (a Python int, a bool, or a 0-d integer tensor) */
static bool int_index(bs_session *s, const bs_value *v, int64_t *out)
{
    if (v->k == BS_V_NUM && v->is_int) {
        *out = (int64_t)v->num;
        return true;
    }
    if (v->k == BS_V_BOOL) {
        *out = v->b;
        return true;
    }
    if (v->k == BS_V_NODE || v->k == BS_V_TMP) {
        const bs_tensor *t = v->k == BS_V_NODE ? &bs_node_get(s->ctx, v->id)->value : &v->tmp;
        if (t->dtype == BS_I64 && t->shape.ndim == 0) {
            *out = (int64_t)t->data[0];
            return true;
        }
    }
    return false;
}

/* Python's slice of a sequence of n: start, stop, step after clamping */
static int slice_bounds(bs_session *s, const bs_expr *e, int64_t n, int64_t *a, int64_t *b, int64_t *st)
{
    bs_value v;
    *st = 1;
    if (e->slice.step) {
        if (bs_eval_expr(s, e->slice.step, &v)) return -1;
        if (v.k != BS_V_NONE && !int_index(s, &v, st))
            return bs_fail(s, e->slice.step->line, e->slice.step->col, "slice indices must be integers or None");
        if (*st == 0) return bs_fail(s, e->slice.step->line, e->slice.step->col, "slice step cannot be zero");
    }
    bool neg = *st < 0;
    *a = neg ? n - 1 : 0;
    *b = neg ? -1 : n;
    const bs_expr *ends[2] = {e->slice.lo, e->slice.hi};
    for (int k = 0; k < 2; k++) {
        if (!ends[k]) continue;
        if (bs_eval_expr(s, ends[k], &v)) return -1;
        if (v.k == BS_V_NONE) continue;
        int64_t x;
        if (!int_index(s, &v, &x)) return bs_fail(s, ends[k]->line, ends[k]->col, "slice indices must be integers or None");
        if (x < 0) x += n;
        if (neg) x = x < -1 ? -1 : x > n - 1 ? n - 1 : x;
        else x = x < 0 ? 0 : x > n ? n : x;
        if (k == 0) *a = x;
        else *b = x;
    }
    return 0;
}

static int seq_index(bs_session *s, const bs_expr *e, const bs_value *obj, const bs_value *items, int64_t n,
                     bs_value *out)
{
    const bs_expr *ix = e->sub.index;
    if (ix->kind == BS_EX_SLICE) {
        int64_t a = 0, b = 0, st = 1;
        if (slice_bounds(s, ix, n, &a, &b, &st)) return -1;
        int64_t m = bs_range_len(a, b, st);
        memset(out, 0, sizeof *out);
        out->sym = -1;
        if (obj->k == BS_V_STR) {
            char *d = bs_arena_alloc(&s->arena, (size_t)m + 1);
            if (!d) return bs_fail(s, e->line, e->col, "out of memory");
            for (int64_t i = 0; i < m; i++) d[i] = obj->str[a + i * st];
            out->k = BS_V_STR;
            out->str = d;
            return 0;
        }
        if (obj->k == BS_V_SHAPE) {
            out->k = BS_V_SHAPE;
            out->shape.ndim = (int)m;
            for (int64_t i = 0; i < m; i++) out->shape.d[i] = obj->shape.d[a + i * st];
            return 0;
        }
        out->k = obj->k == BS_V_TUPLE ? BS_V_TUPLE : BS_V_LIST;
        out->n = (int)m;
        out->items = bs_arena_alloc(&s->arena, sizeof(bs_value) * (size_t)(m ? m : 1));
        if (!out->items) return bs_fail(s, e->line, e->col, "out of memory");
        for (int64_t i = 0; i < m; i++) out->items[i] = items[a + i * st];
        return 0;
    }
    bs_value v;
    if (bs_eval_expr(s, ix, &v)) return -1;
    int64_t i;
    const char *what = obj->k == BS_V_STR ? "string" : obj->k == BS_V_TUPLE ? "tuple" : obj->k == BS_V_SHAPE ? "tuple" : "list";
    if (!int_index(s, &v, &i))
        return bs_fail(s, ix->line, ix->col, "%s indices must be integers or slices", what);
    if (i < 0) i += n;
    if (i < 0 || i >= n) return bs_fail(s, ix->line, ix->col, "%s index out of range", what);
    memset(out, 0, sizeof *out);
    out->sym = -1;
    if (obj->k == BS_V_STR) {
        char c[2] = {obj->str[i], 0};
        out->k = BS_V_STR;
        out->str = bs_arena_strndup(&s->arena, c, 1);
        return out->str ? 0 : bs_fail(s, e->line, e->col, "out of memory");
    }
    if (obj->k == BS_V_SHAPE) {
        out->k = BS_V_NUM;
        out->num = (double)obj->shape.d[i];
        out->is_int = true;
        return 0;
    }
    *out = items[i];
    return 0;
}

int bs_tensor_index(bs_session *s, const bs_expr *e, bs_value *obj, bs_value *out);

int bs_eval_subscript(bs_session *s, const bs_expr *e, bs_value *out)
{
    bs_value obj;
    if (bs_eval_expr(s, e->sub.obj, &obj)) return -1;
    switch (obj.k) {
    case BS_V_LIST:
    case BS_V_TUPLE: {
        int n;
        bs_value *items = bs_list_items(&obj, &n);
        return seq_index(s, e, &obj, items, n, out);
    }
    case BS_V_STR: return seq_index(s, e, &obj, NULL, (int64_t)strlen(obj.str), out);
    case BS_V_DICT: {
        bs_value k;
        if (e->sub.index->kind == BS_EX_SLICE)
            return bs_fail(s, e->sub.index->line, e->sub.index->col, "TypeError: unhashable type: 'slice'");
        if (bs_eval_expr(s, e->sub.index, &k)) return -1;
        return bs_dict_subscript(s, e, &obj, &k, out);
    }
    case BS_V_SHAPE: return seq_index(s, e, &obj, NULL, obj.shape.ndim, out);
    case BS_V_RANGE: {
        bs_value v;
        int64_t i;
        if (e->sub.index->kind == BS_EX_SLICE || bs_eval_expr(s, e->sub.index, &v) || !int_index(s, &v, &i))
            return bs_fail(s, e->sub.index->line, e->sub.index->col, "range indices must be integers");
        int64_t a = obj.r[0], b = obj.r[1], st = obj.r[2];
        int64_t n = bs_range_len(a, b, st);
        if (i < 0) i += n;
        if (i < 0 || i >= n) return bs_fail(s, e->sub.index->line, e->sub.index->col, "range object index out of range");
        memset(out, 0, sizeof *out);
        out->k = BS_V_NUM;
        out->num = (double)(a + i * st);
        out->is_int = true;
        out->sym = -1;
        return 0;
    }
    case BS_V_OBJ: {
        bs_hobj *o = obj.ref;
        if (o->mod == BS_MOD_SEQUENTIAL || o->mod == BS_MOD_MODULELIST) {
            if (e->sub.index->kind == BS_EX_SLICE)
                return bs_fail(s, e->op_line, e->op_col, "slicing a %s is not supported", o->type);
            return seq_index(s, e, &obj, o->attrs.vals, o->attrs.n, out);
        }
        return bs_fail(s, e->op_line, e->op_col, "'%s' object is not subscriptable", o->cls ? o->cls->name : o->type);
    }
    case BS_V_NODE:
    case BS_V_TMP: return bs_tensor_index(s, e, &obj, out);
    default: return bs_fail(s, e->op_line, e->op_col, "this value is not subscriptable");
    }
}

#ifndef BS_SLICE_NO_START
int bs_tensor_index(bs_session *s, const bs_expr *e, bs_value *obj, bs_value *out)
{
    (void)obj;
    (void)out;
    return bs_fail(s, e->op_line, e->op_col, "tensor indexing needs core's select/slice ops");
}
#else
/* x[mask], mask of x's leading dims: x viewed as (those dims' product, the rest...), then the rows
   where mask is True picked with index_select (their gradients flow back as index_select's) */
static int mask_index(bs_session *s, const bs_expr *e, bs_id x, bs_value *mv, bs_value *out)
{
    const bs_expr *ix = e->sub.index;
    const bs_tensor *m = mv->k == BS_V_NODE ? &bs_node_get(s->ctx, mv->id)->value : &mv->tmp;
    bs_shape xs = bs_node_get(s->ctx, x)->value.shape;
    if (m->shape.ndim > xs.ndim)
        return bs_fail(s, ix->line, ix->col, "too many indices for tensor of dimension %d", xs.ndim);
    for (int i = 0; i < m->shape.ndim; i++)
        if (m->shape.d[i] != xs.d[i])
            return bs_fail(s, ix->line, ix->col, "The shape of the mask [%lld] at index %d does not match the shape "
                           "of the indexed tensor [%lld] at index %d", (long long)m->shape.d[i], i,
                           (long long)xs.d[i], i);
    int64_t rows = bs_tensor_numel(m), cnt = 0;
    double *dd = bs_arena_alloc(&s->arena, sizeof(double) * (size_t)(rows ? rows : 1));
    if (!dd) return bs_fail(s, ix->line, ix->col, "out of memory");
    for (int64_t i = 0; i < rows; i++)
        if (m->data[i] != 0) dd[cnt++] = (double)i;
    bs_id v = x;
    if (m->shape.ndim != 1) {
        bs_attr at = bs_attr_default(BS_OP_RESHAPE);
        at.shape.ndim = xs.ndim - m->shape.ndim + 1;
        at.shape.d[0] = rows;
        for (int i = m->shape.ndim; i < xs.ndim; i++) at.shape.d[i - m->shape.ndim + 1] = xs.d[i];
        for (int i = 0; i < BS_MAX_DIMS; i++) at.shape_sym[i] = -1;
        v = bs_apply(s->ctx, BS_OP_RESHAPE, (bs_id[]){x, BS_NONE, BS_NONE}, &at);
        if (v < 0) return bs_fail_core(s, ix->line, ix->col, NULL);
    }
    bs_shape sh = {1, {cnt}};
    bs_id idx = bs_leaf(s->ctx, dd, &sh, BS_I64, false);
    if (idx < 0) return bs_fail_core(s, ix->line, ix->col, NULL);
    bs_id r = bs_index_select(s->ctx, v, 0, idx);
    if (r < 0) return bs_fail_core(s, ix->line, ix->col, NULL);
    bs_node_text_from(s, r, e);
    *out = bs_node_value(r);
    return 0;
}

int bs_tensor_index(bs_session *s, const bs_expr *e, bs_value *obj, bs_value *out)
{
    bs_id x;
    if (bs_to_node(s, obj, e->sub.obj, &x)) return -1;
    const bs_expr *ix = e->sub.index;
    const bs_expr *one[1] = {ix};
    const bs_expr *const *items = one;
    int n = 1;
    if (ix->kind == BS_EX_TUPLE) {
        items = (const bs_expr *const *)ix->list.items;
        n = ix->list.n;
    }
    int ndim = bs_node_get(s->ctx, x)->value.shape.ndim;
    int used = 0;
    for (int k = 0; k < n; k++) used += items[k]->kind != BS_EX_NONE;
    if (ndim == 0)
        return bs_fail(s, ix->line, ix->col, "invalid index of a 0-dim tensor. Use `tensor.item()` to convert "
                       "a 0-dim tensor to a number");
    if (used > ndim)
        return bs_fail(s, ix->line, ix->col, "too many indices for tensor of dimension %d", ndim);
    int d = 0;
    bool advanced = false;
    for (int k = 0; k < n; k++) {
        const bs_expr *it = items[k];
        bs_id r;
        if (it->kind == BS_EX_SLICE) {
            int64_t lo = BS_SLICE_NO_START, hi = BS_SLICE_NO_STOP, st = 1;
            const bs_expr *parts[3] = {it->slice.lo, it->slice.hi, it->slice.step};
            int64_t *dst[3] = {&lo, &hi, &st};
            for (int j = 0; j < 3; j++) {
                if (!parts[j]) continue;
                bs_value v;
                if (bs_eval_expr(s, parts[j], &v)) return -1;
                if (v.k == BS_V_NONE) continue;
                if (!int_index(s, &v, dst[j]))
                    return bs_fail(s, parts[j]->line, parts[j]->col, "slice indices must be integers or None");
            }
            if (st <= 0) return bs_fail(s, it->line, it->col, "step must be greater than zero");
            r = bs_slice(s->ctx, x, d, lo, hi, st);
            d++;
        } else {
            bs_value v;
            if (bs_eval_expr(s, it, &v)) return -1;
            int64_t i;
            if (int_index(s, &v, &i)) {
                r = bs_select(s->ctx, x, d, i);
            } else if (v.k == BS_V_LIST || v.k == BS_V_TUPLE || v.k == BS_V_NODE || v.k == BS_V_TMP) {
                if (advanced) return bs_fail(s, it->line, it->col, "one index tensor per subscript is supported");
                advanced = true;
                bs_id idx;
                if (v.k == BS_V_LIST || v.k == BS_V_TUPLE) { /* x[[0, 2]]: the list as an i64 tensor */
                    int m;
                    bs_value *li = bs_list_items(&v, &m);
                    double *dd = bs_arena_alloc(&s->arena, sizeof(double) * (size_t)(m ? m : 1));
                    if (!dd) return bs_fail(s, it->line, it->col, "out of memory");
                    for (int j = 0; j < m; j++) {
                        int64_t q;
                        if (!int_index(s, &li[j], &q))
                            return bs_fail(s, it->line, it->col, "tensors used as indices must be long, int or bool");
                        dd[j] = (double)q;
                    }
                    bs_shape sh = {1, {m}};
                    idx = bs_leaf(s->ctx, dd, &sh, BS_I64, false);
                    if (idx < 0) return bs_fail_core(s, it->line, it->col, NULL);
                } else if (bs_is_mask(s, &v)) { /* x[mask]: the entries where mask is True, in order */
                    if (n != 1) return bs_fail(s, it->line, it->col, "a mask index must be the only index here");
                    return mask_index(s, e, x, &v, out);
                } else if (bs_to_node(s, &v, it, &idx)) {
                    return -1;
                }
                if (bs_node_get(s->ctx, idx)->value.dtype != BS_I64)
                    return bs_fail(s, it->line, it->col, "tensors used as indices must be long, int or bool");
                r = bs_index_select(s->ctx, x, d, idx);
                d++;
            } else {
                return bs_fail(s, it->line, it->col, "only integers, slices (:), and integer tensors are valid indices");
            }
        }
        if (r < 0) return bs_fail_core(s, it->line, it->col, NULL);
        x = r;
    }
    bs_node_text_from(s, x, e);
    memset(out, 0, sizeof *out);
    out->k = BS_V_NODE;
    out->id = x;
    out->sym = -1;
    return 0;
}
#endif
