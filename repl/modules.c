/* repl/modules.c: PyTorch's module names as a PyTorch user writes them: `import torch`,
 * `import torch.nn.functional as F`, `from torch import nn`, then `torch.relu(x)`,
 * `F.mse_loss(p, y)`, `torch.manual_seed(0)`, `nn.functional.softmax(z, dim=1)`.
 *
 * A module is a value (BS_V_MODULE) that names one of torch's modules below. Calling NAME on it
 * calls the builtin or op that PyTorch's NAME is, under PyTorch's spelling (F.mse_loss is mse,
 * F.binary_cross_entropy is bce, torch.manual_seed is seed); the arguments bind as the builtin
 * binds them (PyTorch's keyword names are accepted there: dim, keepdim, negative_slope, input,
 * other, requires_grad, dtype). What torch has and backstep does not yet is a clear error that
 * says what to write instead; importing anything that is not torch's is an error. */
#include <math.h>
#include <string.h>

#include "repl_int.h"

/* the modules that can be imported, each once, as the value's string */
static const char *const modules[] = {
    "torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.autograd", "torch.utils",
    "torch.utils.checkpoint", "torch.cuda", "torch.amp", "torch.cuda.amp",
};

typedef struct {
    const char *module, *name, *to; /* module.name is backstep's `to` */
} alias;

/* PyTorch's spellings that differ from backstep's; every other NAME of torch and F that is a
   builtin or an op is that builtin or op */
static const alias aliases[] = {
    {"torch", "manual_seed", "seed"},
    {"torch", "mm", "matmul"},
    {"torch.nn.functional", "mse_loss", "mse"},
    {"torch.nn.functional", "binary_cross_entropy", "bce"},
    {"torch.nn.functional", "binary_cross_entropy_with_logits", "bce_with_logits"},
    {"torch.utils.checkpoint", "checkpoint", "checkpoint"},
};

/* names torch has whose backstep form is not a module call yet: what to write instead */
static const alias missing[] = {
    {"torch", "no_grad", "with torch.no_grad(): statement"},
};

/* module.name that is a class of torch.nn or torch.optim: its name for bs_nn_new, or NULL */
static const char *class_of(const char *module, const char *name)
{
    if (!strcmp(module, "torch.nn") && bs_is_nn_class(name)) return name;
    if (!strcmp(module, "torch.optim") && (!strcmp(name, "SGD") || !strcmp(name, "Adam")))
        return !strcmp(name, "SGD") ? "optim.SGD" : "optim.Adam";
    if (!strcmp(module, "torch") && !strcmp(name, "Tensor")) return "Tensor";
    if ((!strcmp(module, "torch.amp") || !strcmp(module, "torch.cuda.amp")) && !strcmp(name, "GradScaler"))
        return "amp.GradScaler";
    return NULL;
}

static const char *module_find(const char *name)
{
    for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++)
        if (!strcmp(modules[i], name)) return modules[i];
    return NULL;
}

/* "torch.nn" + "functional" -> "torch.nn.functional", or NULL */
static const char *submodule(const char *module, const char *name)
{
    char full[96];
    snprintf(full, sizeof full, "%s.%s", module, name);
    return module_find(full);
}

/* the builtin that module.name is, or NULL */
static const char *function_of(const char *module, const char *name)
{
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(aliases[i].module, module) && !strcmp(aliases[i].name, name)) return aliases[i].to;
    bool functional = !strcmp(module, "torch") || !strcmp(module, "torch.nn.functional");
    if (functional && (bs_is_builtin(name) || bs_op_by_name(name))) return name;
    return NULL;
}

static int not_there(bs_session *s, int line, int col, const char *module, const char *name)
{
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++)
        if (!strcmp(missing[i].module, module) && !strcmp(missing[i].name, name)) {
            if (missing[i].to)
                return bs_fail(s, line, col, "%s.%s is not in backstep yet; write %s", module, name,
                               missing[i].to);
            return bs_fail(s, line, col, "%s.%s is not in backstep yet", module, name);
        }
    /* what the module has: its submodules, PyTorch's spellings, and for torch and F every
       builtin and op */
    const char *cands[BS_OP_COUNT + 96];
    int n = 0;
    size_t ml = strlen(module);
    for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++)
        if (!strncmp(modules[i], module, ml) && modules[i][ml] == '.' && !strchr(modules[i] + ml + 1, '.'))
            cands[n++] = modules[i] + ml + 1;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(aliases[i].module, module)) cands[n++] = aliases[i].name;
    for (size_t i = 0; i < sizeof missing / sizeof missing[0] && n < BS_OP_COUNT + 32; i++)
        if (!strcmp(missing[i].module, module)) cands[n++] = missing[i].name;
    if (!strcmp(module, "torch") || !strcmp(module, "torch.nn.functional"))
        for (int i = 0; i < BS_OP_COUNT; i++) cands[n++] = bs_ops[i].name;
    static const char *const nn_names[] = {"Linear", "Sequential", "ModuleList", "Identity", "Dropout", "ReLU",
        "LeakyReLU", "Sigmoid", "Tanh", "GELU", "SiLU", "Softplus", "Softmax", "LogSoftmax", "MSELoss",
        "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "Parameter", "Module", "LayerNorm", "Embedding"};
    if (!strcmp(module, "torch.nn"))
        for (size_t i = 0; i < sizeof nn_names / sizeof nn_names[0] && n < BS_OP_COUNT + 60; i++) cands[n++] = nn_names[i];
    if (!strcmp(module, "torch.optim")) {
        cands[n++] = "SGD";
        cands[n++] = "Adam";
    }
    char dym[64];
    return bs_fail(s, line, col, "module '%s' has no attribute '%s'%s", module, name,
                   bs_suggest_among(name, cands, n, dym, sizeof dym));
}

/* torch's dtypes, as the strings a dtype= argument takes (and Python prints) */
static const char *const dtypes[] = {
    "torch.float64", "torch.double", "torch.float32", "torch.float", "torch.float16", "torch.half",
    "torch.bfloat16", "torch.int64", "torch.long", "torch.bool",
};

static const char *const torch_extra_names[] = {"device", "allclose", "equal", "is_tensor", "cat", "concat",
                                                "stack", "randperm", "randint", "set_default_dtype",
                                                "get_default_dtype", NULL};

/* torch.set_default_dtype(torch.float16): the dtype of new float tensors and parameters, as
   :dtype sets it; get_default_dtype() names it */
static int default_dtype(bs_session *s, const bs_expr *call, bool set, bs_value *pos, int npos, int nkw,
                         bs_value *out)
{
    static const struct { const char *name; bs_dtype t; } fl[] = {
        {"torch.float64", BS_F64}, {"torch.double", BS_F64}, {"torch.float32", BS_F32}, {"torch.float", BS_F32},
        {"torch.float16", BS_F16}, {"torch.half", BS_F16}, {"torch.bfloat16", BS_BF16}};
    if (!set) {
        if (npos || nkw) return bs_fail(s, call->line, call->col, "get_default_dtype() takes no arguments");
        bs_dtype t = bs_ctx_dtype(s->ctx);
        for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
            if (fl[i].t == t) {
                *out = (bs_value){.k = BS_V_STR, .str = fl[i].name};
                return 0;
            }
        return bs_fail(s, call->line, call->col, "get_default_dtype(): no float dtype");
    }
    if (npos != 1 || nkw || pos[0].k != BS_V_STR)
        return bs_fail(s, call->line, call->col, "set_default_dtype(d) takes a dtype, such as torch.float32");
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
        if (!strcmp(pos[0].str, fl[i].name)) {
            bs_ctx_set_dtype(s->ctx, fl[i].t);
            *out = bs_value_of(BS_V_NONE);
            return 0;
        }
    return bs_fail(s, call->line, call->col, "only floating-point types are supported as the default type");
}

/* torch.randperm(n) and torch.randint(low=0, high, size): int64 leaves from backstep's generator
   (so their values differ from torch's, as randn's do) */
static int random_ints(bs_session *s, const bs_expr *call, bool perm, bs_value *pos, int npos, const char **kn,
                       bs_value *kv, int nkw, bs_value *out)
{
    int line = call->line, col = call->col;
    double lo = 0, hi = 0;
    bs_shape sh = {1, {0}};
    int8_t sym[BS_MAX_DIMS] = {-1, -1, -1, -1};
    int hsym = -1; /* the size variable high was given as */
    bs_value *size = NULL;
    for (int i = 0; i < nkw; i++) {
        if (!strcmp(kn[i], "size")) size = &kv[i];
        else if (strcmp(kn[i], "dtype") && strcmp(kn[i], "device"))
            return bs_fail(s, line, col, "%s() got an unexpected keyword argument '%s'", perm ? "randperm" : "randint", kn[i]);
    }
    if (perm) {
        if (npos != 1 || !bs_as_number(s, &pos[0], &hi, NULL) || hi < 0 || hi != floor(hi) || hi > (1 << 24))
            return bs_fail(s, line, col, "randperm(n) takes a count");
        sh.d[0] = (int64_t)hi;
    } else {
        int k = npos;
        if (!size && k >= 1 && (pos[k - 1].k == BS_V_TUPLE || pos[k - 1].k == BS_V_LIST || pos[k - 1].k == BS_V_SHAPE))
            size = &pos[--k];
        if (!size || k < 1 || k > 2 || !bs_as_number(s, &pos[0], k == 2 ? &lo : &hi, NULL) ||
            (k == 2 && !bs_as_number(s, &pos[1], &hi, NULL)))
            return bs_fail(s, line, col, "randint(low=0, high, size) takes integer bounds and a size tuple");
        if (pos[k - 1].k == BS_V_NUM) hsym = pos[k - 1].sym;
        if (hi <= lo) return bs_fail(s, line, col, "random_ expects 'from' to be less than 'to', but got from=%g >= to=%g", lo, hi);
        if (size->k == BS_V_SHAPE) {
            sh = size->shape;
        } else {
            int m;
            bs_value *it = bs_list_items(size, &m);
            if (m > BS_MAX_DIMS) return bs_fail(s, line, col, "tensors have at most %d dimensions", BS_MAX_DIMS);
            sh.ndim = m;
            for (int i = 0; i < m; i++) {
                double d;
                if (!bs_as_number(s, &it[i], &d, NULL) || d < 0) return bs_fail(s, line, col, "randint(): a size must be a count");
                sh.d[i] = (int64_t)d;
                sym[i] = it[i].k == BS_V_NUM ? (int8_t)it[i].sym : -1;
            }
        }
    }
    int64_t n = bs_shape_numel(&sh);
    if (n > (1 << 24)) return bs_fail(s, line, col, "%s(): too many elements", perm ? "randperm" : "randint");
    double *d = bs_arena_alloc(&s->arena, sizeof(double) * (size_t)(n ? n : 1));
    if (!d) return bs_fail(s, line, col, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        if (perm) { /* Fisher-Yates */
            int64_t j = (int64_t)(bs_rand_uniform(s->ctx) * (double)(i + 1));
            if (j > i) j = i;
            d[i] = d[j];
            d[j] = (double)i;
        } else {
            double r = lo + floor(bs_rand_uniform(s->ctx) * (hi - lo));
            d[i] = r < hi ? r : hi - 1;
        }
    }
    bs_id id = bs_leaf(s->ctx, d, &sh, BS_I64, false);
    if (id < 0) return bs_fail_core(s, line, col, NULL);
    if (!perm) { /* randint(0, V, (N, S)): a replay at other sizes draws integers in [lo, hi) again */
        bs_leaf_set_init(s->ctx, id, BS_INIT_RAND, lo, hi, sym, hsym);
    }
    bs_node_text_from(s, id, call);
    *out = bs_node_value(id);
    return 0;
}

/* torch.cat(tensors, dim=0): the op cat applied in turn, ((a, b), c), ...; torch.stack(tensors,
   dim=0): each viewed with a new dim of size 1 at dim (a reshape), then joined the same way */
static int join_list(bs_session *s, const bs_expr *call, bool stack, bs_value *pos, int npos, const char **kn,
                     bs_value *kv, int nkw, bs_value *out)
{
    int line = call->line, col = call->col;
    const char *fname = stack ? "stack" : "cat";
    double dd = 0;
    bool have_dim = false;
    for (int i = 0; i < nkw; i++) {
        if (strcmp(kn[i], "dim") && strcmp(kn[i], "axis"))
            return bs_fail(s, line, col, "%s() got an unexpected keyword argument '%s'", fname, kn[i]);
        if (!bs_as_number(s, &kv[i], &dd, NULL)) return bs_fail(s, line, col, "%s(): dim must be an integer", fname);
        have_dim = true;
    }
    if (npos == 2 && !have_dim && !bs_as_number(s, &pos[1], &dd, NULL))
        return bs_fail(s, line, col, "%s(): dim must be an integer", fname);
    if (npos < 1 || npos > 2 || (npos == 2 && have_dim))
        return bs_fail(s, line, col, "%s() takes a list of tensors and a dim: torch.%s([a, b], dim=0)", fname, fname);
    if (pos[0].k != BS_V_LIST && pos[0].k != BS_V_TUPLE)
        return bs_fail(s, line, col, "%s(): argument 'tensors' must be a list or tuple of tensors, not %s", fname,
                       bs_type_name(&pos[0]));
    int n;
    bs_value *items = bs_list_items(&pos[0], &n);
    if (n == 0) return bs_fail(s, line, col, stack ? "stack expects a non-empty TensorList" : "torch.cat(): expected a non-empty list of Tensors");
    int dim = (int)dd;
    bs_id acc = BS_NONE;
    bs_shape first;
    for (int i = 0; i < n; i++) {
        if (items[i].k != BS_V_NODE && items[i].k != BS_V_TMP)
            return bs_fail(s, line, col, "%s(): expected a list of tensors, but entry %d is %s", fname, i,
                           bs_type_name(&items[i]));
        bs_value v = items[i];
        bs_id x;
        if (bs_to_node(s, &v, call, &x)) return -1;
        if (stack) {
            bs_shape sh = bs_node_get(s->ctx, x)->value.shape;
            if (i == 0) first = sh;
            else if (!bs_shape_eq(&sh, &first)) {
                char a[64], b[64];
                return bs_fail(s, line, col, "stack expects each tensor to be equal size, but got %s at entry 0 and %s "
                               "at entry %d", bs_shape_str(&first, a, sizeof a), bs_shape_str(&sh, b, sizeof b), i);
            }
            int nd = sh.ndim, d = dim < 0 ? dim + nd + 1 : dim;
            if (d < 0 || d > nd)
                return bs_fail(s, line, col, "Dimension out of range (expected to be in range of [%d, %d], but got %d)",
                               -nd - 1, nd, dim);
            if (nd + 1 > BS_MAX_DIMS) return bs_fail(s, line, col, "tensors have at most %d dimensions", BS_MAX_DIMS);
            bs_attr at = bs_attr_default(BS_OP_RESHAPE);
            at.shape.ndim = nd + 1;
            for (int k = 0, j = 0; k <= nd; k++) at.shape.d[k] = k == d ? 1 : sh.d[j++];
            for (int k = 0; k < BS_MAX_DIMS; k++) at.shape_sym[k] = -1;
            x = bs_apply(s->ctx, BS_OP_RESHAPE, (bs_id[]){x, BS_NONE, BS_NONE}, &at);
            if (x < 0) return bs_fail_core(s, line, col, NULL);
        }
        if (i == 0) {
            acc = x;
            continue;
        }
        bs_attr at = bs_attr_default(BS_OP_CAT);
        at.dim = dim;
        acc = bs_apply(s->ctx, BS_OP_CAT, (bs_id[]){acc, x, BS_NONE}, &at);
        if (acc < 0) {
            /* torch counts the entry that does not fit: tensor number i */
            const char *m = bs_errmsg(s->ctx);
            const char *t = strstr(m, "for tensor number 1");
            if (t) return bs_fail(s, line, col, "%.*sfor tensor number %d in the list.", (int)(t - m), m, i);
            return bs_fail_core(s, line, col, NULL);
        }
    }
    if (n == 1 && !stack) { /* torch.cat([a]) is a new tensor equal to a: a reshape to its own shape */
        bs_attr at = bs_attr_default(BS_OP_RESHAPE);
        at.shape = bs_node_get(s->ctx, acc)->value.shape;
        for (int k = 0; k < BS_MAX_DIMS; k++) at.shape_sym[k] = -1;
        acc = bs_apply(s->ctx, BS_OP_RESHAPE, (bs_id[]){acc, BS_NONE, BS_NONE}, &at);
        if (acc < 0) return bs_fail_core(s, line, col, NULL);
    }
    bs_node_text_from(s, acc, call);
    *out = bs_node_value(acc);
    return 0;
}

static int tensor_arg(bs_session *s, const bs_expr *call, bs_value *v, bs_tensor *t)
{
    if (v->k != BS_V_NODE && v->k != BS_V_TMP)
        return bs_fail(s, call->line, call->col, "expected a tensor, got %s", bs_type_name(v));
    return bs_to_tensor(s, v, call, t);
}

/* F.layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05), over the last dim
   (normalized_shape one size, equal to it) */
static int layer_norm_call(bs_session *s, const bs_expr *call, bs_value *out)
{
    static const char *const names[] = {"input", "normalized_shape", "weight", "bias", "eps"};
    bs_value pos[16], kv[16], *arg[5] = {0};
    const char *kn[16];
    int npos, nkw;
    if (bs_eval_args(s, call, pos, &npos, kn, kv, &nkw, 16)) return -1;
    if (npos > 5) return bs_fail(s, call->line, call->col, "layer_norm() takes at most 5 arguments (%d given)", npos);
    for (int i = 0; i < npos; i++) arg[i] = &pos[i];
    for (int i = 0; i < nkw; i++) {
        int j = 0;
        while (j < 5 && strcmp(kn[i], names[j])) j++;
        if (j == 5) return bs_fail(s, call->line, call->col, "layer_norm() got an unexpected keyword argument '%s'", kn[i]);
        if (arg[j]) return bs_fail(s, call->line, call->col, "layer_norm() got multiple values for argument '%s'", kn[i]);
        arg[j] = &kv[i];
    }
    if (!arg[0] || !arg[1])
        return bs_fail(s, call->line, call->col, "layer_norm() missing required argument '%s'", names[arg[0] ? 1 : 0]);
    if (arg[0]->k != BS_V_NODE && arg[0]->k != BS_V_TMP)
        return bs_fail(s, call->line, call->col, "layer_norm(): input must be a tensor, got %s", bs_type_name(arg[0]));
    double d = -1;
    int n = 1;
    const bs_value *ns = arg[1];
    if (ns->k == BS_V_LIST || ns->k == BS_V_TUPLE) ns = bs_list_items(ns, &n);
    if (n != 1 || ns->k != BS_V_NUM || !ns->is_int)
        return bs_fail(s, call->line, call->col, "layer_norm(): normalized_shape must be one size, the last dim's (backstep normalises over the last dim only)");
    d = ns->num;
    bs_id x;
    if (bs_to_node(s, arg[0], call, &x)) return -1;
    const bs_shape *sh = &bs_node_get(s->ctx, x)->value.shape;
    if (sh->ndim < 1 || (double)sh->d[sh->ndim - 1] != d) {
        char buf[96];
        bs_shape_str(sh, buf, sizeof buf); /* "(2, 3)", torch prints "[2, 3]" */
        buf[0] = '[';
        char *close = strrchr(buf, ')');
        if (close) *close = ']';
        return bs_fail(s, call->line, call->col, "Given normalized_shape=[%g], expected input with shape [*, %g], but got input of size%s",
                       d, d, buf);
    }
    bs_value xv = bs_node_value(x);
    double eps = 1e-5;
    if (arg[4] && !bs_as_number(s, arg[4], &eps, NULL)) return bs_fail(s, call->line, call->col, "layer_norm(): eps must be a number");
    for (int i = 2; i < 4; i++)
        if (arg[i] && arg[i]->k != BS_V_NODE && arg[i]->k != BS_V_NONE)
            return bs_fail(s, call->line, call->col, "layer_norm(): %s must be a tensor or None, got %s", names[i], bs_type_name(arg[i]));
    return bs_nn_layer_norm(s, call, &xv, arg[2], arg[3], eps, out);
}

/* torch.cuda.is_available() and the device boilerplate of tutorials (backstep computes on the
   CPU: there is no CUDA device to move to), torch.allclose, torch.equal, torch.is_tensor:
   1 when name is none of them */
static int torch_extra(bs_session *s, const bs_expr *call, const char *module, const char *name, bs_value *out)
{
    bool cuda = !strcmp(module, "torch.cuda");
    if (!strcmp(name, "dropout") && (!strcmp(module, "torch") || !strcmp(module, "torch.nn.functional"))) {
        /* F.dropout(x, p=0.5, training=True) */
        bs_value pos[16], kv[16];
        const char *kn[16];
        int npos, nkw;
        if (bs_eval_args(s, call, pos, &npos, kn, kv, &nkw, 16)) return -1;
        double p = 0.5;
        bool training = true;
        if (npos < 1 || npos > 3) return bs_fail(s, call->line, call->col, "dropout(input, p=0.5, training=True)");
        if (npos > 1 && !bs_as_number(s, &pos[1], &p, NULL)) return bs_fail(s, call->line, call->col, "dropout(): p must be a number");
        int err = 0;
        if (npos > 2) training = bs_truthy(s, &pos[2], call, &err);
        for (int i = 0; i < nkw && !err; i++) {
            if (!strcmp(kn[i], "p") && bs_as_number(s, &kv[i], &p, NULL)) continue;
            if (!strcmp(kn[i], "training")) {
                training = bs_truthy(s, &kv[i], call, &err);
                continue;
            }
            if (!strcmp(kn[i], "inplace")) continue;
            return bs_fail(s, call->line, call->col, "dropout() got an unexpected keyword argument '%s'", kn[i]);
        }
        if (err) return -1;
        if (p < 0 || p > 1)
            return bs_fail(s, call->line, call->col, "dropout probability has to be between 0 and 1, but got %g", p);
        return bs_nn_dropout(s, call, &pos[0], p, training, out);
    }
    if (!strcmp(name, "layer_norm") && (!strcmp(module, "torch") || !strcmp(module, "torch.nn.functional")))
        return layer_norm_call(s, call, out);
    if (!cuda && strcmp(module, "torch")) return 1;
    if (cuda && strcmp(name, "is_available") && strcmp(name, "device_count")) return 1;
    bool known = cuda;
    for (int i = 0; torch_extra_names[i] && !known; i++) known = !strcmp(name, torch_extra_names[i]);
    if (!known) return 1;
    bs_value pos[16], kv[16];
    const char *kn[16];
    int npos, nkw;
    if (bs_eval_args(s, call, pos, &npos, kn, kv, &nkw, 16)) return -1;
    int line = call->line, col = call->col;
    *out = bs_value_of(BS_V_BOOL);
    if (cuda) {
        if (npos || nkw) return bs_fail(s, line, col, "%s() takes no arguments", name);
        if (name[0] == 'd') *out = bs_num_value(0, true);
        return 0;
    }
    if (!strcmp(name, "set_default_dtype") || !strcmp(name, "get_default_dtype"))
        return default_dtype(s, call, name[0] == 's', pos, npos, nkw, out);
    if (!strcmp(name, "randperm") || !strcmp(name, "randint"))
        return random_ints(s, call, name[4] == 'p', pos, npos, kn, kv, nkw, out);
    if (!strcmp(name, "cat") || !strcmp(name, "concat") || !strcmp(name, "stack"))
        return join_list(s, call, name[0] == 's', pos, npos, kn, kv, nkw, out);
    if (!strcmp(name, "device")) { /* torch.device('cpu'): prints as its name */
        if (npos != 1 || nkw || pos[0].k != BS_V_STR) return bs_fail(s, line, col, "device() takes a device name ('cpu')");
        if (strcmp(pos[0].str, "cpu") && strncmp(pos[0].str, "cuda", 4) && strcmp(pos[0].str, "mps"))
            return bs_fail(s, line, col, "Expected one of cpu, cuda, mps device type at start of device string: %s", pos[0].str);
        *out = pos[0];
        return 0;
    }
    if (!strcmp(name, "is_tensor")) {
        if (npos != 1) return bs_fail(s, line, col, "is_tensor() takes one argument");
        out->b = pos[0].k == BS_V_NODE || pos[0].k == BS_V_TMP;
        return 0;
    }
    /* allclose(a, b, rtol=1e-05, atol=1e-08): |a - b| <= atol + rtol * |b| everywhere (broadcast
       shapes must be equal here); equal(a, b): the same shape and values */
    double rtol = 1e-5, atol = 1e-8;
    for (int i = 0; i < nkw; i++) {
        double *d = !strcmp(kn[i], "rtol") ? &rtol : !strcmp(kn[i], "atol") ? &atol : NULL;
        if (!d || name[0] == 'e' || !bs_as_number(s, &kv[i], d, NULL))
            return bs_fail(s, line, col, "%s() got an unexpected keyword argument '%s'", name, kn[i]);
    }
    if (npos > 2 && name[0] == 'a' && !bs_as_number(s, &pos[2], &rtol, NULL)) return bs_fail(s, line, col, "rtol must be a number");
    if (npos > 3 && name[0] == 'a' && !bs_as_number(s, &pos[3], &atol, NULL)) return bs_fail(s, line, col, "atol must be a number");
    if (npos < 2) return bs_fail(s, line, col, "%s() takes two tensors", name);
    bs_tensor a, b;
    if (tensor_arg(s, call, &pos[0], &a) || tensor_arg(s, call, &pos[1], &b)) return -1;
    if (!bs_shape_eq(&a.shape, &b.shape)) {
        if (name[0] == 'e') return 0;
        char x[64], y[64];
        return bs_fail(s, line, col, "allclose() of shapes %s and %s: backstep compares tensors of one shape",
                       bs_shape_str(&a.shape, x, sizeof x), bs_shape_str(&b.shape, y, sizeof y));
    }
    out->b = true;
    for (int64_t i = 0; i < bs_tensor_numel(&a); i++) {
        double x = a.data[i], y = b.data[i];
        bool ok = name[0] == 'e' ? x == y : (x == y || fabs(x - y) <= atol + rtol * fabs(y));
        if (!ok) out->b = false;
    }
    return 0;
}

int bs_module_attr(bs_session *s, const bs_expr *e, const bs_value *mod, const char *name, bs_value *out)
{
    if (!strcmp(mod->str, "torch"))
        for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
            if (!strcmp(dtypes[i] + 6, name)) {
                *out = (bs_value){.k = BS_V_STR, .str = dtypes[i]};
                return 0;
            }
    const char *sub = submodule(mod->str, name);
    if (sub) {
        *out = (bs_value){.k = BS_V_MODULE, .str = sub};
        return 0;
    }
    const char *cls = class_of(mod->str, name);
    const char *fn = cls ? cls : function_of(mod->str, name);
    if (fn) { /* nn.Linear, torch.relu as values: called later */
        if (cls && bs_nn_attr(s, e, cls, out) == 0) return 0;
        *out = (bs_value){.k = BS_V_BUILTIN, .str = fn, .sym = -1};
        return 0;
    }
    return not_there(s, e->attr.name_line, e->attr.name_col, mod->str, name);
}

int bs_module_call(bs_session *s, const bs_expr *call, const bs_value *mod, const char *name,
                   bs_value *out)
{
    const bs_expr *fn = call->call.fn;
    const char *cls = class_of(mod->str, name);
    if (cls) {
        bs_value pos[16], kv[16];
        const char *kn[16];
        int npos, nkw;
        if (bs_eval_args(s, call, pos, &npos, kn, kv, &nkw, 16)) return -1;
        return bs_nn_new(s, call, cls, pos, npos, kn, kv, nkw, out);
    }
    int x = torch_extra(s, call, mod->str, name, out);
    if (x <= 0) return x;
    const char *to = function_of(mod->str, name);
    if (!to) {
        if (submodule(mod->str, name))
            return bs_fail(s, fn->attr.name_line, fn->attr.name_col, "%s.%s is a module, not a function",
                           mod->str, name);
        return not_there(s, fn->attr.name_line, fn->attr.name_col, mod->str, name);
    }
    return bs_call_function(s, call, to, out);
}

const char *bs_module_home(const char *name)
{
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(aliases[i].name, name))
            return !strcmp(aliases[i].module, "torch") ? "torch" : "F";
    if (bs_is_nn_class(name) && strcmp(name, "Module")) return "nn";
    if (!strcmp(name, "SGD") || !strcmp(name, "Adam")) return "torch.optim";
    return NULL;
}

/* bind `name` to a module value (a new name, or one that held a module) */
static int bind_module(bs_session *s, const bs_import *it, const char *name, const char *module)
{
    bs_name *n = bs_name_find(s, name);
    if (n && n->kind != BS_NAME_MODULE)
        return bs_fail(s, it->line, it->col, "'%s' already names a value of this session", name);
    if (!n && bs_is_builtin(name))
        return bs_fail(s, it->line, it->col, "'%s' is a built-in function; import it under another name", name);
    n = bs_name_bind(s, name);
    if (!n) return bs_fail(s, it->line, it->col, "out of memory");
    n->kind = BS_NAME_MODULE;
    n->module = module;
    return 0;
}

int bs_run_import(bs_session *s, const bs_stmt *st)
{
    /* check every entry before binding any, so a failed line binds nothing */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < st->imp.n; i++) {
            const bs_import *it = &st->imp.items[i];
            const char *m = module_find(it->module);
            if (!m) {
                if (!strncmp(it->module, "torch", 5) && (it->module[5] == '.' || !it->module[5]))
                    return bs_fail(s, it->line, it->col, "module '%s' is not in backstep", it->module);
                return bs_fail(s, it->line, it->col,
                               "No module named '%s' here: backstep imports only torch's own modules "
                               "(torch, torch.nn, torch.nn.functional, torch.optim, ...)", it->module);
            }
            if (!it->name) { /* import a.b.c [as x] */
                if (pass == 0) continue;
                char top[32];
                size_t k = strcspn(m, ".");
                snprintf(top, sizeof top, "%.*s", (int)k, m);
                if (bind_module(s, it, it->as ? it->as : top, it->as ? m : module_find(top))) return -1;
                continue;
            }
            const char *sub = submodule(m, it->name);
            const char *bind = it->as ? it->as : it->name;
            if (sub) {
                if (pass == 1 && bind_module(s, it, bind, sub)) return -1;
                continue;
            }
            const char *to = function_of(m, it->name);
            if (to && !strcmp(to, bind)) continue; /* from torch import relu: relu is here already */
            if (class_of(m, it->name)) {
                if (pass == 0) continue;
                bs_name *n = bs_name_bind(s, bind);
                if (!n) return bs_fail(s, it->line, it->col, "out of memory");
                n->kind = BS_NAME_VALUE;
                memset(&n->val, 0, sizeof n->val);
                const char *cls = class_of(m, it->name);
                if (bs_nn_attr(s, NULL, cls, &n->val)) { /* the optimizers: static names */
                    n->val.k = BS_V_BUILTIN;
                    n->val.str = cls[0] == 'o' ? cls : "Tensor";
                    n->val.sym = -1;
                }
                continue;
            }
            if (to)
                return bs_fail(s, it->line, it->col,
                               "'%s' is backstep's %s(...): import the module instead (import %s as M, "
                               "then M.%s(...)) or call %s(...)", it->name, to, m, it->name, to);
            return not_there(s, it->line, it->col, m, it->name);
        }
    return 0;
}
