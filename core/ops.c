/* core/ops.c: the op table bs_ops[], assembled from ops.def by X-macro, name lookup, and the
 * helpers every op family shares (errors, dims, broadcasting). */
#include "ops_int.h"

#include <stdio.h>
#include <string.h>

/* ==== The table ==== */
/* scalar functions exist for elementwise ops only */
#define S_FWD_BS_K_EW(fn) op_##fn##_sfwd
#define S_VJP_BS_K_EW(fn) op_##fn##_svjp
#define S_NONE(fn) NULL
#define S_FWD_BS_K_RED S_NONE
#define S_FWD_BS_K_SHAPE S_NONE
#define S_FWD_BS_K_MAT S_NONE
#define S_FWD_BS_K_ROW S_NONE
#define S_FWD_BS_K_LOSS S_NONE
#define S_FWD_BS_K_INDEX S_NONE
#define S_VJP_BS_K_RED S_NONE
#define S_VJP_BS_K_SHAPE S_NONE
#define S_VJP_BS_K_MAT S_NONE
#define S_VJP_BS_K_ROW S_NONE
#define S_VJP_BS_K_LOSS S_NONE
#define S_VJP_BS_K_INDEX S_NONE
const bs_op_info bs_ops[BS_OP_COUNT] = {
#define BS_OP(ID, fn, sym, ar, kind_, flags_, gfn, da, db, dc, help_)                                \
    [BS_OP_##ID] = {                                                                             \
        .id = BS_OP_##ID,                                                                        \
        .name = #fn,                                                                             \
        .symbol = sym,                                                                           \
        .arity = ar,                                                                             \
        .kind = kind_,                                                                           \
        .grad_fn = gfn,                                                                          \
        .deriv = {da, db, dc},                                                                   \
        .help = help_,                                                                           \
        .flags = flags_,                                                                         \
        .shape = op_##fn##_shape,                                                                \
        .fwd = op_##fn##_fwd,                                                                    \
        .vjp = op_##fn##_vjp,                                                                    \
        .jvp = op_##fn##_jvp,                                                                    \
        .flops = op_##fn##_flops,                                                                \
        .saved = op_##fn##_saved,                                                                \
        .s_fwd = S_FWD_##kind_(fn),                                                              \
        .s_vjp = S_VJP_##kind_(fn),                                                              \
    },
#include "ops.def"
#undef BS_OP
};

/* The function name a user types (ops.def's fn column). Operators (+, @, x.T) are the REPL's. */
const bs_op_info *bs_op_by_name(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < BS_OP_COUNT; i++)
        if (strcmp(bs_ops[i].name, name) == 0)
            return &bs_ops[i];
    return NULL;
}

/* ==== Errors ==== */
bs_status ops_fail(bs_status st, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

char *ops_sizes_str(const bs_shape *s, char *buf, size_t len)
{
    /* the tuple form "(2, 3)" / "(3,)" with list brackets: "[2, 3]" / "[3]" */
    if (!buf || len < 3)
        return buf;
    bs_shape_str(s, buf, len);
    size_t n = strlen(buf);
    buf[0] = '[';
    if (n >= 2 && buf[n - 2] == ',')
        n--;
    buf[n - 1] = ']';
    buf[n] = '\0';
    return buf;
}

char *ops_torch_size_str(const bs_shape *s, char *buf, size_t len)
{
    char tmp[96];
    ops_sizes_str(s, tmp, sizeof tmp);
    snprintf(buf, len, "torch.Size(%s)", tmp);
    return buf;
}

const char *ops_torch_dtype(bs_dtype t)
{
    switch (t) {
    case BS_F64: return "Double";
    case BS_F32: return "Float";
    case BS_F16: return "Half";
    case BS_BF16: return "BFloat16";
    case BS_I64: return "Long";
    default: return "?";
    }
}

/* ==== Dims ==== */
bs_status ops_dim_norm(int dim, int ndim, int *out, char *err, size_t errlen)
{
    int n = ndim > 0 ? ndim : 1; /* a 0-d tensor accepts dim 0 and -1 */
    if (dim < -n || dim >= n)
        return ops_fail(BS_ERR_VALUE, err, errlen,
                        "Dimension out of range (expected to be in range of [%d, %d], but got %d)",
                        -n, n - 1, dim);
    *out = ndim > 0 ? (dim < 0 ? dim + n : dim) : 0;
    return BS_OK;
}

void ops_dim_split(const bs_shape *s, int d, int64_t *outer, int64_t *len, int64_t *inner)
{
    int64_t o = 1, l = 1, in = 1;
    for (int k = 0; k < s->ndim; k++) {
        if (k < d)
            o *= s->d[k];
        else if (k == d)
            l = s->d[k];
        else
            in *= s->d[k];
    }
    *outer = o;
    *len = l;
    *inner = in;
}

/* PyTorch's infer_size: walks dims from the right and reports the first mismatch it meets, with
 * the dim counted in the broadcast result's frame. */
bs_status ops_broadcast(const bs_shape *a, const bs_shape *b, bs_shape *out, char *err,
                        size_t errlen)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = nd - 1; i >= 0; i--) {
        int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return ops_fail(BS_ERR_SHAPE, err, errlen,
                            "The size of tensor a (%lld) must match the size of tensor b (%lld) "
                            "at non-singleton dimension %d",
                            (long long)da, (long long)db, i);
    }
    if (!bs_shape_broadcast(a, b, out))
        return ops_fail(BS_ERR_SHAPE, err, errlen, "too many dimensions (at most %d)",
                        BS_MAX_DIMS);
    return BS_OK;
}

/* ==== Broadcast iteration ==== */
void ops_bcast_strides(const bs_shape *in, const bs_shape *out, int64_t st[BS_MAX_DIMS])
{
    int64_t s = 1;
    for (int k = BS_MAX_DIMS - 1; k >= 0; k--) {
        int ki = in->ndim - BS_MAX_DIMS + k; /* the dim of `in` aligned with padded dim k */
        if (ki < 0) {
            st[k] = 0;
            continue;
        }
        st[k] = in->d[ki] == 1 ? 0 : s;
        s *= in->d[ki];
    }
}

void ops_iter_init(ops_iter *it, const bs_shape *out, const bs_shape *a, const bs_shape *b)
{
    for (int k = 0; k < BS_MAX_DIMS; k++) {
        int ko = out->ndim - BS_MAX_DIMS + k;
        it->d[k] = ko >= 0 ? out->d[ko] : 1;
        it->idx[k] = 0;
        it->st[1][k] = 0;
    }
    ops_bcast_strides(a, out, it->st[0]);
    if (b)
        ops_bcast_strides(b, out, it->st[1]);
    it->off[0] = it->off[1] = 0;
}
