/* repl/nn.c: torch.nn's modules (Linear, Sequential, the activations and losses), nn.Parameter,
 * and torch.optim's SGD and Adam over a parameter list. A module is an instance (bs_hobj) whose
 * attributes are its parameters and submodules, in the order PyTorch registers them, so that
 * named_parameters() gives PyTorch's names ("0.weight"). Each call records ordinary ops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl_int.h"

typedef struct {
    const char *name;
    bs_modkind mod;
    int op;             /* ACT, LOSS: the op */
} nn_class;

static const nn_class classes[] = {
    {"Linear", BS_MOD_LINEAR, -1},
    {"Sequential", BS_MOD_SEQUENTIAL, -1},
    {"ModuleList", BS_MOD_MODULELIST, -1},
    {"Identity", BS_MOD_IDENTITY, -1},
    {"Dropout", BS_MOD_DROPOUT, -1},
    {"LayerNorm", BS_MOD_LAYERNORM, BS_OP_LAYERNORM},
    {"Embedding", BS_MOD_EMBEDDING, -1},
    {"ReLU", BS_MOD_ACT, BS_OP_RELU},
    {"LeakyReLU", BS_MOD_ACT, BS_OP_LEAKY_RELU},
    {"Sigmoid", BS_MOD_ACT, BS_OP_SIGMOID},
    {"Tanh", BS_MOD_ACT, BS_OP_TANH},
    {"GELU", BS_MOD_ACT, BS_OP_GELU},
    {"SiLU", BS_MOD_ACT, BS_OP_SILU},
    {"Softplus", BS_MOD_ACT, BS_OP_SOFTPLUS},
    {"Softmax", BS_MOD_ACT, BS_OP_SOFTMAX},
    {"LogSoftmax", BS_MOD_ACT, BS_OP_LOG_SOFTMAX},
    {"MSELoss", BS_MOD_LOSS, BS_OP_MSE},
    {"BCELoss", BS_MOD_LOSS, BS_OP_BCE},
    {"BCEWithLogitsLoss", BS_MOD_LOSS, BS_OP_BCE_LOGITS},
    {"CrossEntropyLoss", BS_MOD_LOSS, BS_OP_CROSS_ENTROPY},
};
#define NCLASSES (int)(sizeof classes / sizeof classes[0])

static const nn_class *find_class(const char *name)
{
    if (!strncmp(name, "nn.", 3)) name += 3;
    for (int i = 0; i < NCLASSES; i++)
        if (!strcmp(classes[i].name, name)) return &classes[i];
    return NULL;
}

bool bs_is_nn_class(const char *name)
{
    return find_class(name) || !strcmp(name, "Parameter") || !strcmp(name, "optim.SGD") ||
           !strcmp(name, "optim.Adam") || !strcmp(name, "Module") || !strcmp(name, "amp.GradScaler");
}

int bs_nn_attr(bs_session *s, const bs_expr *e, const char *name, bs_value *out)
{
    (void)s;
    (void)e;
    const nn_class *c = find_class(name);
    memset(out, 0, sizeof *out);
    out->sym = -1;
    out->k = BS_V_BUILTIN;
    if (c) out->str = c->name;
    else if (!strcmp(name, "Parameter")) out->str = "Parameter";
    else if (!strcmp(name, "Module")) out->str = "Module";
    else if (!strcmp(name, "amp.GradScaler")) out->str = "amp.GradScaler";
    else return 1;
    return 0;
}

static bs_value obj_value(bs_hobj *o)
{
    bs_value v = bs_value_of(BS_V_OBJ);
    v.ref = o;
    return v;
}

static int get_kw(const char **kn, bs_value *kv, int nkw, const char *name, bs_value **out)
{
    for (int i = 0; i < nkw; i++)
        if (!strcmp(kn[i], name)) {
            *out = &kv[i];
            return 1;
        }
    *out = NULL;
    return 0;
}

static bool int_of(const bs_value *v, int64_t *out)
{
    if (v->k != BS_V_NUM || !v->is_int) return false;
    *out = (int64_t)v->num;
    return true;
}

/* How a module's parameter starts: a constant (LayerNorm's ones and zeros), N(0, 1) (Embedding),
   or uniform in (-bound, bound) (Linear: bound 1/sqrt(in_features), as PyTorch) */
typedef enum { FILL_CONST, FILL_NORMAL, FILL_UNIFORM } fill_kind;

/* a parameter of shape (rows) when cols is 0, else (rows, cols), labelled `label`; rsym, csym: the
   size variables the sizes were given as (-1: none), so that :run replays the module at other
   sizes (the leaf is a constructor: randn, rand in (-bound, bound), or full) */
static bs_id new_param_sym(bs_session *s, int64_t rows, int64_t cols, fill_kind k, double arg, const char *label,
                           int rsym, int csym)
{
    bs_shape sh;
    memset(&sh, 0, sizeof sh);
    sh.ndim = cols ? 2 : 1;
    sh.d[0] = rows;
    sh.d[1] = cols;
    int64_t n = rows * (cols ? cols : 1);
    double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    if (!d) return BS_NONE;
    for (int64_t i = 0; i < n; i++)
        d[i] = k == FILL_NORMAL ? bs_rand_normal(s->ctx)
             : k == FILL_UNIFORM ? (bs_rand_uniform(s->ctx) * 2 - 1) * arg : arg;
    bs_id id = bs_leaf(s->ctx, d, &sh, bs_ctx_dtype(s->ctx), true);
    free(d);
    if (id >= 0) bs_node_set_label(s->ctx, id, label);
    if (id >= 0 && (rsym >= 0 || csym >= 0)) {
        int8_t sym[BS_MAX_DIMS];
        memcpy(sym, bs_node_get(s->ctx, id)->sym, sizeof sym);
        sym[0] = (int8_t)rsym;
        sym[1] = (int8_t)(cols ? csym : -1);
        bs_leaf_set_init(s->ctx, id,
                         k == FILL_NORMAL ? BS_INIT_RANDN : k == FILL_UNIFORM ? BS_INIT_RAND : BS_INIT_FULL,
                         k == FILL_UNIFORM ? -arg : arg, k == FILL_UNIFORM ? arg : 0, sym, -1);
    }
    return id;
}

/* the params of one group (a tensor, or a list of tensors) as ids */
static int group_ids(bs_session *s, const bs_expr *call, const char *name, bs_value *pl, bs_id *ids, int *n)
{
    bs_value *items;
    if (pl->k == BS_V_LIST || pl->k == BS_V_TUPLE) {
        items = bs_list_items(pl, n);
    } else if (pl->k == BS_V_NODE) {
        items = pl;
        *n = 1;
    } else {
        return bs_fail(s, call->line, call->col, "%s() params must be a list of tensors (model.parameters()) "
                       "or of dicts ({'params': ..., 'lr': ...})", name + 6);
    }
    if (*n > 1024) return bs_fail(s, call->line, call->col, "too many parameters for one optimizer");
    for (int i = 0; i < *n; i++) {
        if (items[i].k != BS_V_NODE)
            return bs_fail(s, call->line, call->col, "optimizer params must be tensors, not %s",
                           bs_type_name(&items[i]));
        ids[i] = items[i].id;
    }
    return 0;
}

/* a group's dict as torch.optim keeps it: the user's keys first ('params' as a list), then the
   optimizer's defaults (the constructor's keywords, else torch's), in torch 1.13's order */
static int group_dict(bs_session *s, const bs_expr *call, bool sgd, bs_value *user, bs_value *params,
                      const char **kn, bs_value *kv, int nk, bs_value *out)
{
    bs_hdict *d = bs_heap_dict(s);
    if (!d) return bs_fail(s, call->line, call->col, "out of memory");
    *out = bs_value_of(BS_V_DICT);
    out->ref = d;
    bs_value key;
    if (!bs_heap_str(s, "params", &key)) return bs_fail(s, call->line, call->col, "out of memory");
    bs_value plist = *params;
    if (plist.k == BS_V_NODE) { /* {'params': w}: torch makes it [w] */
        plist = bs_value_of(BS_V_LIST);
        plist.items = params;
        plist.n = 1;
    }
    if (bs_hdict_set(s, d, &key, &plist, call)) return -1;
    if (user) {
        bs_hdict *u = user->ref;
        for (int i = 0; i < u->n; i++)
            if (!(u->keys[i].k == BS_V_STR && !strcmp(u->keys[i].str, "params")) &&
                bs_hdict_set(s, d, &u->keys[i], &u->vals[i], call))
                return -1;
    }
    static const char *const sgd_keys[] = {"lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize",
                                           "foreach", "differentiable", NULL};
    static const char *const adam_keys[] = {"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach",
                                            "capturable", "differentiable", "fused", NULL};
    for (const char *const *k = sgd ? sgd_keys : adam_keys; *k; k++) {
        bs_value v = bs_value_of(BS_V_BOOL); /* False: maximize, amsgrad, ... */
        if (!strcmp(*k, "foreach")) v = bs_value_of(BS_V_NONE);
        else if (!strcmp(*k, "momentum") || !strcmp(*k, "dampening") || !strcmp(*k, "weight_decay")) v = bs_num_value(0, true);
        else if (!strcmp(*k, "lr")) v = bs_num_value(1e-3, false);
        else if (!strcmp(*k, "eps")) v = bs_num_value(1e-8, false);
        bs_value betas[2] = {bs_num_value(0.9, false), bs_num_value(0.999, false)};
        if (!strcmp(*k, "betas")) {
            v = bs_value_of(BS_V_TUPLE);
            v.items = betas;
            v.n = 2;
        }
        for (int i = 0; i < nk; i++)
            if (!strcmp(kn[i], *k)) v = kv[i];
        if (!bs_heap_str(s, *k, &key)) return bs_fail(s, call->line, call->col, "out of memory");
        if (bs_hdict_find(s, d, &key, call) == -1 && bs_hdict_set(s, d, &key, &v, call)) return -1;
    }
    return 0;
}

/* torch.optim.SGD(params, lr=...) and Adam: params a list of tensors, or of param groups (dicts
   with 'params' and the options that differ). Each group is one of backstep's optimizers; the
   value is the first, with ref a heap list: the group dicts, then the groups' optimizers */
static int new_optimizer(bs_session *s, const bs_expr *call, const char *name, bs_value *pos, int npos,
                         const char **kn, bs_value *kv, int nkw, bs_value *out)
{
    if (npos < 1)
        return bs_fail(s, call->line, call->col, "%s() missing 1 required positional argument: 'params'", name + 6);
    bool sgd = !strcmp(name, "optim.SGD");
    bs_value *pl = &pos[0];
    int ng = 1;
    bs_value *groups = NULL;
    if (pl->k == BS_V_LIST || pl->k == BS_V_TUPLE) {
        int n;
        bs_value *items = bs_list_items(pl, &n);
        if (n && items[0].k == BS_V_DICT) {
            groups = items;
            ng = n;
        }
    }
    if (ng > 64) return bs_fail(s, call->line, call->col, "too many param groups");
    /* lr and the rest as backstep's sgd()/adam() take them; a second positional is lr */
    const char *kn2[32];
    bs_value kv2[32];
    int nk = 0;
    if (npos > 2) return bs_fail(s, call->line, call->col, "%s() takes params and lr positionally; pass the rest by name", name + 6);
    if (npos == 2) {
        kn2[nk] = "lr";
        kv2[nk++] = pos[1];
    }
    for (int i = 0; i < nkw && nk < 16; i++) {
        kn2[nk] = kn[i];
        kv2[nk++] = kv[i];
    }
    bs_hlist *l = bs_heap_list(s, 2 * ng);
    if (!l || !l->items) return bs_fail(s, call->line, call->col, "out of memory");
    static bs_id ids[1024];
    for (int g = 0; g < ng; g++) {
        bs_value *params = pl, *user = NULL;
        const char *gkn[32];
        bs_value gkv[32];
        int gk = nk;
        memcpy(gkn, kn2, sizeof(char *) * (size_t)nk);
        memcpy(gkv, kv2, sizeof(bs_value) * (size_t)nk);
        if (groups) {
            if (groups[g].k != BS_V_DICT)
                return bs_fail(s, call->line, call->col, "param groups must all be dicts ({'params': ...})");
            user = &groups[g];
            bs_hdict *u = user->ref;
            params = NULL;
            for (int i = 0; i < u->n; i++) {
                if (u->keys[i].k != BS_V_STR)
                    return bs_fail(s, call->line, call->col, "a param group's keys are strings");
                const char *k = u->keys[i].str;
                if (!strcmp(k, "params")) {
                    params = &u->vals[i];
                    continue;
                }
                static const char *const known[] = {"lr", "momentum", "dampening", "weight_decay", "nesterov",
                                                    "betas", "eps", NULL};
                int kk = 0;
                while (known[kk] && strcmp(known[kk], k)) kk++;
                if (!known[kk]) continue; /* other keys stay in the group's dict only */
                int j = 0;
                while (j < gk && strcmp(gkn[j], k)) j++;
                if (j == gk) {
                    if (gk == 32) return bs_fail(s, call->line, call->col, "too many options in a param group");
                    gk++;
                }
                gkn[j] = k;
                gkv[j] = u->vals[i];
            }
            if (!params) return bs_fail(s, call->line, call->col, "parameter group didn't specify a value of required optimization parameter params");
        }
        int n = 0;
        if (group_ids(s, call, name, params, ids, &n)) return -1;
        bs_value o = bs_value_of(BS_V_NONE);
        if (bs_call_builtin_v(s, call, sgd ? "sgd" : "adam", NULL, NULL, 0, gkn, gkv, gk, &o)) return -1;
        o.ref = NULL; /* the group's own optimizer: no groups of its own */
        if (bs_opt_set_params(s->ctx, o.opt, ids, n)) return bs_fail_core(s, call->line, call->col, NULL);
        l->items[ng + g] = o;
        if (group_dict(s, call, sgd, user, params, gkn, gkv, gk, &l->items[g])) return -1;
        if (g == 0) *out = o;
    }
    out->ref = l;
    return 0;
}

/* opt.param_groups: the group dicts (a list of them; changing a dict's 'lr' changes the group's) */
int bs_opt_groups(bs_session *s, const bs_value *opt, bs_value *out)
{
    if (!opt->ref) return 1;
    bs_hlist *l = opt->ref;
    *out = bs_value_of(BS_V_LIST);
    out->items = l->items;
    out->n = l->n / 2;
    (void)s;
    return 0;
}

/* before a step: each group's optimizer takes the hyperparameters its dict holds now */
static int sync_conf(bs_session *s, const bs_expr *at, bs_hdict *d, bs_opt *o)
{
    bs_opt_conf c = *bs_opt_conf_of(o);
    for (int i = 0; i < d->n; i++) {
        if (d->keys[i].k != BS_V_STR) continue;
        const char *k = d->keys[i].str;
        bs_value *v = &d->vals[i];
        double x;
        double *slot = !strcmp(k, "lr") ? &c.lr : !strcmp(k, "weight_decay") ? &c.weight_decay
                     : c.kind == BS_OPT_SGD && !strcmp(k, "momentum") ? &c.momentum
                     : c.kind == BS_OPT_SGD && !strcmp(k, "dampening") ? &c.dampening
                     : c.kind == BS_OPT_ADAM && !strcmp(k, "eps") ? &c.eps : NULL;
        if (slot) {
            if (!bs_as_number(s, v, &x, NULL))
                return bs_fail(s, at->line, at->col, "param group '%s' must be a number, not %s", k, bs_type_name(v));
            *slot = x;
        } else if (c.kind == BS_OPT_ADAM && !strcmp(k, "betas")) {
            int n;
            bs_value *b = (v->k == BS_V_TUPLE || v->k == BS_V_LIST) ? bs_list_items(v, &n) : NULL;
            double b1, b2;
            if (!b || n != 2 || !bs_as_number(s, &b[0], &b1, NULL) || !bs_as_number(s, &b[1], &b2, NULL))
                return bs_fail(s, at->line, at->col, "param group 'betas' must be a pair of numbers");
            c.beta1 = b1;
            c.beta2 = b2;
        }
    }
    if (memcmp(&c, bs_opt_conf_of(o), sizeof c) && bs_opt_set_conf(s->ctx, o, &c))
        return bs_fail_core(s, at->line, at->col, NULL);
    return 0;
}

/* opt.step() and opt.zero_grad() over every group: 1 if opt has no groups (backstep's sgd()) */
int bs_opt_each(bs_session *s, const bs_expr *at, const bs_value *opt, bool step)
{
    if (!opt->ref) return 1;
    bs_hlist *l = opt->ref;
    int ng = l->n / 2;
    for (int g = 0; g < ng; g++) {
        bs_opt *o = l->items[ng + g].opt;
        if (!step) {
            bs_opt_zero_grad(s->ctx, o);
            continue;
        }
        if (l->items[g].k == BS_V_DICT && sync_conf(s, at, l->items[g].ref, o)) return -1;
        if (bs_opt_step(s->ctx, o)) return bs_fail_core(s, at->line, at->col, NULL);
    }
    return 0;
}

int bs_nn_new(bs_session *s, const bs_expr *call, const char *name, bs_value *pos, int npos,
              const char **kn, bs_value *kv, int nkw, bs_value *out)
{
    int line = call->line, col = call->col;
    if (!strncmp(name, "optim.", 6)) return new_optimizer(s, call, name, pos, npos, kn, kv, nkw, out);
    if (!strcmp(name, "amp.GradScaler")) return bs_amp_new(s, call, pos, npos, kn, kv, nkw, out);
    if (!strcmp(name, "Module")) return bs_fail(s, line, col, "nn.Module is a base class: class Net(nn.Module): ...");
    if (!strcmp(name, "Parameter")) { /* nn.Parameter(t): a leaf that learns */
        bs_value *rg;
        get_kw(kn, kv, nkw, "requires_grad", &rg);
        if (npos != 1) return bs_fail(s, line, col, "Parameter() takes one tensor");
        bs_id x;
        if (bs_to_node(s, &pos[0], call, &x)) return -1;
        bs_id id = bs_copy_leaf(s->ctx, x, !(rg && rg->k == BS_V_BOOL && !rg->b));
        if (id < 0) return bs_fail_core(s, line, col, NULL);
        *out = bs_node_value(id);
        return 0;
    }
    const nn_class *c = find_class(name);
    if (!c) return bs_fail(s, line, col, "nn.%s is not in backstep", name);
    bs_hobj *o = bs_heap_obj(s, NULL);
    if (!o) return bs_fail(s, line, col, "out of memory");
    o->mod = c->mod;
    o->type = c->name;
    o->op = c->op;
    if (c->op >= 0) o->attr = bs_attr_default((bs_op)c->op);
    *out = obj_value(o);
    switch (c->mod) {
    case BS_MOD_LINEAR: {
        int64_t in, outf;
        if (npos < 2 || !int_of(&pos[0], &in) || !int_of(&pos[1], &outf) || in <= 0 || outf <= 0)
            return bs_fail(s, line, col, "Linear(in_features, out_features, bias=True) takes two positive integers");
        bs_value *bias;
        get_kw(kn, kv, nkw, "bias", &bias);
        if (npos > 2) bias = &pos[2];
        for (int i = 0; i < nkw; i++)
            if (strcmp(kn[i], "bias") && strcmp(kn[i], "dtype") && strcmp(kn[i], "device"))
                return bs_fail(s, line, col, "Linear() got an unexpected keyword argument '%s'", kn[i]);
        double bound = 1.0 / sqrt((double)in);
        int isym = pos[0].k == BS_V_NUM ? pos[0].sym : -1, osym = pos[1].k == BS_V_NUM ? pos[1].sym : -1;
        bs_id w = new_param_sym(s, outf, in, FILL_UNIFORM, bound, "weight", osym, isym);
        if (w < 0) return bs_fail_core(s, line, col, NULL);
        bs_value v = bs_node_value(w);
        if (bs_dict_set(&o->attrs, "weight", &v)) return bs_fail(s, line, col, "out of memory");
        if (!bias || bias->k != BS_V_BOOL || bias->b) {
            bs_id b = new_param_sym(s, outf, 0, FILL_UNIFORM, bound, "bias", osym, -1);
            if (b < 0) return bs_fail_core(s, line, col, NULL);
            v = bs_node_value(b);
            if (bs_dict_set(&o->attrs, "bias", &v)) return bs_fail(s, line, col, "out of memory");
        }
        bs_value nv;
        memset(&nv, 0, sizeof nv);
        nv.k = BS_V_NUM;
        nv.is_int = true;
        nv.sym = -1;
        nv.num = (double)in;
        bs_dict_set(&o->attrs, "in_features", &nv);
        nv.num = (double)outf;
        bs_dict_set(&o->attrs, "out_features", &nv);
        return 0;
    }
    case BS_MOD_LAYERNORM:
    case BS_MOD_EMBEDDING: {
        /* LayerNorm(D, eps=1e-05): weight ones, bias zeros; Embedding(V, D): weight N(0, 1) */
        int64_t a0, a1 = 0;
        bool emb = c->mod == BS_MOD_EMBEDDING;
        if (npos < (emb ? 2 : 1) || !int_of(&pos[0], &a0) || (emb && !int_of(&pos[1], &a1)) || a0 <= 0 || (emb && a1 <= 0))
            return bs_fail(s, line, col, emb ? "Embedding(num_embeddings, embedding_dim) takes two positive integers"
                                             : "LayerNorm(normalized_shape) takes the size of the last dim");
        for (int i = 0; i < nkw; i++) {
            if (!emb && !strcmp(kn[i], "eps") && kv[i].k == BS_V_NUM) o->attr.k = kv[i].num;
            else if (!emb && !strcmp(kn[i], "elementwise_affine") && kv[i].k == BS_V_BOOL && kv[i].b) continue;
            else return bs_fail(s, line, col, "%s() got an unexpected keyword argument '%s'", c->name, kn[i]);
        }
        int s0 = pos[0].k == BS_V_NUM ? pos[0].sym : -1, s1 = emb && pos[1].k == BS_V_NUM ? pos[1].sym : -1;
        bs_id w = emb ? new_param_sym(s, a0, a1, FILL_NORMAL, 0, "weight", s0, s1)
                      : new_param_sym(s, a0, 0, FILL_CONST, 1, "weight", s0, -1);
        if (w < 0) return bs_fail_core(s, line, col, NULL);
        bs_value v = bs_node_value(w);
        if (bs_dict_set(&o->attrs, "weight", &v)) return bs_fail(s, line, col, "out of memory");
        if (!emb) {
            bs_id b = new_param_sym(s, a0, 0, FILL_CONST, 0, "bias", s0, -1);
            if (b < 0) return bs_fail_core(s, line, col, NULL);
            v = bs_node_value(b);
            if (bs_dict_set(&o->attrs, "bias", &v)) return bs_fail(s, line, col, "out of memory");
        }
        return 0;
    }
    case BS_MOD_SEQUENTIAL:
    case BS_MOD_MODULELIST: {
        int n = npos;
        bs_value *items = pos;
        if (c->mod == BS_MOD_MODULELIST && npos == 1 && (pos[0].k == BS_V_LIST || pos[0].k == BS_V_TUPLE))
            items = bs_list_items(&pos[0], &n);
        else if (c->mod == BS_MOD_MODULELIST && npos > 1)
            return bs_fail(s, line, col, "ModuleList() takes one list of modules");
        for (int i = 0; i < n; i++) {
            if (items[i].k != BS_V_OBJ)
                return bs_fail(s, line, col, "%s() takes modules (nn.Linear(...), nn.ReLU(), ...), not a %s",
                               c->name, items[i].k == BS_V_NODE ? "tensor" : "value");
            char key[16];
            snprintf(key, sizeof key, "%d", i);
            if (bs_dict_set(&o->attrs, key, &items[i])) return bs_fail(s, line, col, "out of memory");
        }
        return 0;
    }
    case BS_MOD_DROPOUT: { /* Dropout(p=0.5, inplace=False): p in attr.k */
        o->attr.k = 0.5;
        bs_value *pv = npos > 0 ? &pos[0] : NULL;
        for (int i = 0; i < nkw; i++) {
            if (!strcmp(kn[i], "p")) pv = &kv[i];
            else if (strcmp(kn[i], "inplace"))
                return bs_fail(s, line, col, "Dropout() got an unexpected keyword argument '%s'", kn[i]);
        }
        if (pv && !bs_as_number(s, pv, &o->attr.k, NULL)) return bs_fail(s, line, col, "Dropout(p) takes a probability");
        if (o->attr.k < 0 || o->attr.k > 1)
            return bs_fail(s, line, col, "dropout probability has to be between 0 and 1, but got %g", o->attr.k);
        return 0;
    }
    case BS_MOD_ACT:
    case BS_MOD_LOSS:
    case BS_MOD_IDENTITY:
        for (int i = 0; i < nkw; i++) {
            const char *k = kn[i];
            bs_value *v = &kv[i];
            if (!strcmp(k, "dim") && v->k == BS_V_NUM) o->attr.dim = (int)v->num;
            else if (!strcmp(k, "negative_slope") && v->k == BS_V_NUM) o->attr.k = v->num;
            else if (!strcmp(k, "inplace")) continue;
            else if (!strcmp(k, "reduction") && c->mod == BS_MOD_LOSS) {
                if ((o->reduction = bs_loss_reduction(s, v, call)) < 0) return -1;
            }
            else if (!strcmp(k, "approximate") && v->k == BS_V_STR && (!strcmp(v->str, "none") || !strcmp(v->str, "tanh")))
                o->attr.k = !strcmp(v->str, "tanh") ? BS_GELU_TANH : 0;
            else return bs_fail(s, line, col, "%s() got an unexpected keyword argument '%s'", c->name, k);
        }
        if (npos > 0) {
            if (c->op == BS_OP_SOFTMAX || c->op == BS_OP_LOG_SOFTMAX) {
                if (pos[0].k != BS_V_NUM) return bs_fail(s, line, col, "%s(dim) takes an integer", c->name);
                o->attr.dim = (int)pos[0].num;
            } else if (c->op == BS_OP_LEAKY_RELU && pos[0].k == BS_V_NUM) {
                o->attr.k = pos[0].num;
            } else if (c->mod != BS_MOD_IDENTITY) {
                return bs_fail(s, line, col, "%s() takes no positional arguments here", c->name);
            }
        }
        return 0;
    default: return 0;
    }
}

static int apply_op(bs_session *s, const bs_expr *call, int op, const bs_attr *attr, bs_value *in, int nin,
                    bs_value *out, bool own)
{
    bs_id ids[BS_MAX_INPUTS];
    for (int i = 0; i < nin; i++)
        if (bs_to_node(s, &in[i], call, &ids[i])) return -1;
    bs_id r = bs_apply(s->ctx, (bs_op)op, ids, attr);
    if (r < 0) return bs_fail_core(s, call->op_line, call->op_col, NULL);
    char *t = own ? bs_expr_text(s, call) : NULL;
    if (t) bs_node_set_text(s->ctx, r, t);
    *out = bs_node_value(r);
    return 0;
}

static int nn_call(bs_session *s, const bs_expr *call, bs_hobj *m, bs_value *pos, int npos, bs_value *out,
                   bool own);

int bs_nn_call(bs_session *s, const bs_expr *call, bs_hobj *m, bs_value *pos, int npos, bs_value *out)
{
    bool own = !s->child_name; /* called by name (its call's text is its own), not by a container */
    int32_t prev = bs_enter_module_scope(s, call, m->type);
    int r = nn_call(s, call, m, pos, npos, out, own);
    if (prev >= 0) bs_scope_leave(s->ctx, prev);
    return r;
}

static int nn_call(bs_session *s, const bs_expr *call, bs_hobj *m, bs_value *pos, int npos, bs_value *out,
                   bool own)
{
    int line = call->line, col = call->col;
    switch (m->mod) {
    case BS_MOD_LINEAR: {
        if (npos != 1) return bs_fail(s, line, col, "Linear takes one input");
        bs_value *w = bs_dict_get(&m->attrs, "weight"), *b = bs_dict_get(&m->attrs, "bias");
        if (!w || w->k != BS_V_NODE) return bs_fail(s, line, col, "Linear.weight is not a tensor");
        bs_id x;
        if (bs_to_node(s, &pos[0], call, &x)) return -1;
        bs_id wt = bs_apply1(s->ctx, BS_OP_TRANSPOSE, w->id);
        bs_id y = wt < 0 ? wt : bs_apply2(s->ctx, BS_OP_MATMUL, x, wt);
        if (y >= 0 && b && b->k == BS_V_NODE) y = bs_apply_linear_bias(s->ctx, y, b->id);
        if (y < 0) return bs_fail_core(s, call->op_line, call->op_col, NULL);
        char *t = own ? bs_expr_text(s, call) : NULL;
        if (t) bs_node_set_text(s->ctx, y, t);
        *out = bs_node_value(y);
        return 0;
    }
    case BS_MOD_SEQUENTIAL: {
        if (npos != 1) return bs_fail(s, line, col, "Sequential takes one input");
        bs_value cur = pos[0];
        for (int i = 0; i < m->attrs.n; i++) {
            bs_value next;
            s->child_name = m->attrs.vals[i].k == BS_V_OBJ ? m->attrs.keys[i] : NULL;
            int r = bs_call_value(s, call, &m->attrs.vals[i], &cur, 1, NULL, NULL, 0, &next);
            s->child_name = NULL;
            if (r) return -1;
            cur = next;
        }
        *out = cur;
        return 0;
    }
    case BS_MOD_MODULELIST: return bs_fail(s, line, col, "ModuleList is not callable: iterate over it");
    case BS_MOD_LAYERNORM:
        if (npos != 1) return bs_fail(s, line, col, "LayerNorm takes one input");
        return bs_nn_layer_norm(s, call, &pos[0], bs_dict_get(&m->attrs, "weight"), bs_dict_get(&m->attrs, "bias"),
                                m->attr.k, out);
    case BS_MOD_EMBEDDING: { /* weight[idx]: rows gathered, any shape of idx */
        if (npos != 1) return bs_fail(s, line, col, "Embedding takes one index tensor");
        bs_value *w = bs_dict_get(&m->attrs, "weight");
        if (!w || w->k != BS_V_NODE) return bs_fail(s, line, col, "Embedding.weight is not a tensor");
        return bs_nn_embedding(s, call, &pos[0], w, out);
    }
    case BS_MOD_IDENTITY:
        if (npos != 1) return bs_fail(s, line, col, "Identity takes one input");
        *out = pos[0];
        return 0;
    case BS_MOD_DROPOUT:
        if (npos != 1) return bs_fail(s, line, col, "Dropout takes one input");
        return bs_nn_dropout(s, call, &pos[0], m->attr.k, !m->eval_mode, out);
    case BS_MOD_ACT:
        if (npos != 1) return bs_fail(s, line, col, "%s takes one input", m->type);
        return apply_op(s, call, m->op, &m->attr, pos, 1, out, own);
    case BS_MOD_LOSS:
        if (npos != 2) return bs_fail(s, line, col, "%s takes (input, target)", m->type);
        if (apply_op(s, call, m->op, &m->attr, pos, 2, out, own)) return -1;
        if (m->reduction == BS_REDUCE_SUM) {
            bs_id r = out->id;
            if (bs_loss_sum(s, call, &r)) return -1;
            *out = bs_node_value(r);
        }
        return 0;
    default: return bs_fail(s, line, col, "this module is not callable");
    }
}

bool bs_is_module(const bs_hobj *o)
{
    if (o->mod != BS_MOD_USER) return true;
    for (const bs_hclass *c = o->cls; c; c = c->base)
        if (c->module) return true;
    return false;
}

static bool is_module_obj(const bs_value *v) { return v->k == BS_V_OBJ && bs_is_module(v->ref); }

int bs_nn_params(bs_session *s, bs_hobj *m, const char *prefix, bs_hlist *names, bs_hlist *params)
{
    for (int i = 0; i < m->attrs.n; i++) {
        bs_value *v = &m->attrs.vals[i];
        char full[256];
        snprintf(full, sizeof full, "%s%s", prefix, m->attrs.keys[i]);
        if (v->k == BS_V_NODE) {
            const bs_node *n = bs_node_get(s->ctx, v->id);
            if (!n || !n->is_leaf || !n->requires_grad) continue;
            bool seen = false; /* a parameter shared by two modules is listed once, as in torch */
            for (int j = 0; j < params->n; j++) seen |= params->items[j].id == v->id;
            if (seen) continue;
            bs_value nm;
            if (!bs_heap_str(s, full, &nm) || !bs_list_push(names, &nm) || !bs_list_push(params, v))
                return bs_fail(s, 0, 0, "out of memory");
        } else if (is_module_obj(v)) {
            char sub[260];
            snprintf(sub, sizeof sub, "%s.", full);
            if (bs_nn_params(s, v->ref, sub, names, params)) return -1;
        }
    }
    return 0;
}

void bs_nn_relabel(bs_session *s, const bs_value *v, const char *prefix)
{
    if (!is_module_obj(v)) return;
    bs_hlist names = {0}, params = {0};
    char pre[200];
    snprintf(pre, sizeof pre, "%s.", prefix);
    if (bs_nn_params(s, v->ref, pre, &names, &params) == 0)
        for (int i = 0; i < params.n; i++)
            if (params.items[i].k == BS_V_NODE && names.items[i].k == BS_V_STR)
                bs_node_set_label(s->ctx, params.items[i].id, names.items[i].str);
    free(names.items);
    free(params.items);
}

/* model.state_dict(): {name: param} in named_parameters() order (the params themselves, as torch's
   share their storage); model.load_state_dict(sd): each param takes sd[name]'s values in place */
int bs_nn_state(bs_session *s, const bs_expr *call, bs_hobj *m, bool load, bs_value *pos, int npos, bs_value *out)
{
    int line = call->line, col = call->col;
    bs_hlist *names = bs_heap_list(s, 0), *params = bs_heap_list(s, 0);
    if (!names || !params) return bs_fail(s, line, col, "out of memory");
    if (bs_nn_params(s, m, "", names, params)) return -1;
    const char *type = m->cls ? m->cls->name : m->type;
    if (!load) {
        if (npos) return bs_fail(s, line, col, "state_dict() takes no arguments here");
        bs_hdict *d = bs_heap_dict(s);
        if (!d) return bs_fail(s, line, col, "out of memory");
        for (int i = 0; i < names->n; i++)
            if (bs_hdict_set(s, d, &names->items[i], &params->items[i], call)) return -1;
        *out = bs_value_of(BS_V_DICT);
        out->ref = d;
        return 0;
    }
    if (npos != 1 || pos[0].k != BS_V_DICT)
        return bs_fail(s, line, col, "load_state_dict() takes a dict of tensors (model.state_dict())");
    bs_hdict *d = pos[0].ref;
    /* torch's check first: every key matched, both ways */
    for (int i = 0; i < names->n; i++)
        if (bs_hdict_find(s, d, &names->items[i], call) < 0)
            return bs_fail(s, line, col, "Error(s) in loading state_dict for %s: Missing key(s) in state_dict: \"%s\".",
                           type, names->items[i].str);
    for (int i = 0; i < d->n; i++) {
        bool found = false;
        for (int j = 0; j < names->n && !found; j++)
            found = d->keys[i].k == BS_V_STR && !strcmp(d->keys[i].str, names->items[j].str);
        if (!found)
            return bs_fail(s, line, col, "Error(s) in loading state_dict for %s: Unexpected key(s) in state_dict: %s.",
                           type, bs_repr_value(s, &d->keys[i]));
    }
    for (int i = 0; i < names->n; i++) {
        bs_value v = d->vals[bs_hdict_find(s, d, &names->items[i], call)];
        bs_tensor t;
        if (bs_to_tensor(s, &v, call, &t)) return -1;
        const bs_node *p = bs_node_get(s->ctx, params->items[i].id);
        if (!bs_shape_eq(&t.shape, &p->value.shape)) {
            char a[64], b[64];
            return bs_fail(s, line, col, "Error(s) in loading state_dict for %s: size mismatch for %s: copying a param "
                           "with shape %s from checkpoint, the shape in current model is %s.", type,
                           names->items[i].str, bs_shape_str(&t.shape, a, sizeof a), bs_shape_str(&p->value.shape, b, sizeof b));
        }
        bool was = bs_ctx_no_grad(s->ctx);
        bs_ctx_set_no_grad(s->ctx, true);
        bs_status st = bs_update_inplace(s->ctx, params->items[i].id, &t);
        bs_ctx_set_no_grad(s->ctx, was);
        if (st) return bs_fail_core(s, line, col, NULL);
    }
    bs_heap_str(s, "<All keys matched successfully>", out);
    return 0;
}

void bs_nn_set_training(bs_hobj *m, bool training)
{
    m->eval_mode = !training;
    for (int i = 0; i < m->attrs.n; i++)
        if (m->attrs.vals[i].k == BS_V_OBJ) bs_nn_set_training(m->attrs.vals[i].ref, training);
}

/* nn.LayerNorm's forward and F.layer_norm: layernorm(x) over the last dim, then * weight and
   + bias as ops of their own (either may be absent or None), so the stepper shows each */
int bs_nn_layer_norm(bs_session *s, const bs_expr *call, bs_value *xv, const bs_value *w, const bs_value *b,
                     double eps, bs_value *out)
{
    bs_id x;
    if (bs_to_node(s, xv, call, &x)) return -1;
    bs_attr a = bs_attr_default(BS_OP_LAYERNORM);
    a.k = eps;
    bs_id y = bs_apply(s->ctx, BS_OP_LAYERNORM, (bs_id[]){x, BS_NONE, BS_NONE}, &a);
    if (y >= 0 && w && w->k == BS_V_NODE) y = bs_apply2(s->ctx, BS_OP_MUL, y, w->id);
    if (y >= 0 && b && b->k == BS_V_NODE) y = bs_apply2(s->ctx, BS_OP_ADD, y, b->id);
    if (y < 0) return bs_fail_core(s, call->op_line, call->op_col, NULL);
    *out = bs_node_value(y);
    return 0;
}

int bs_nn_dropout(bs_session *s, const bs_expr *call, bs_value *x, double p, bool training, bs_value *out)
{
    if (!training || p == 0) {
        *out = *x;
        return 0;
    }
    bs_id xi;
    if (bs_to_node(s, x, call, &xi)) return -1;
    const bs_tensor *t = &bs_node_get(s->ctx, xi)->value;
    int64_t n = bs_tensor_numel(t);
    double *d = bs_arena_alloc(&s->arena, sizeof(double) * (size_t)(n ? n : 1));
    if (!d) return bs_fail(s, call->line, call->col, "out of memory");
    for (int64_t i = 0; i < n; i++) d[i] = p >= 1 || bs_rand_uniform(s->ctx) < p ? 0.0 : 1.0 / (1.0 - p);
    bs_id mask = bs_leaf(s->ctx, d, &t->shape, t->dtype == BS_I64 ? bs_ctx_dtype(s->ctx) : t->dtype, false);
    if (mask >= 0) bs_node_set_label(s->ctx, mask, "dropout_mask");
    bs_id y = mask < 0 ? mask : bs_apply2(s->ctx, BS_OP_MUL, xi, mask);
    if (y < 0) return bs_fail_core(s, call->line, call->col, NULL);
    *out = bs_node_value(y);
    return 0;
}

/* nn.Embedding's forward and F.embedding(idx, weight): weight's rows that idx picks, as
   index_select of idx flattened, reshaped back to idx's shape + (D,). The reshape keeps idx's
   size variables where idx is a constructor leaf made with them (zeros(N, S, dtype='i64')), so
   that :run replays it at other sizes. */
int bs_nn_embedding(bs_session *s, const bs_expr *call, bs_value *idxv, const bs_value *w, bs_value *out)
{
    int line = call->line, col = call->col;
    bs_id idx, wid;
    bs_value wv = *w;
    if (bs_to_node(s, idxv, call, &idx) || bs_to_node(s, &wv, call, &wid)) return -1;
    const bs_node *in = bs_node_get(s->ctx, idx);
    if (in->value.dtype != BS_I64)
        return bs_fail(s, line, col, "Expected tensor for argument #1 'indices' to have an integer type");
    if (bs_node_get(s->ctx, wid)->value.shape.ndim != 2)
        return bs_fail(s, line, col, "'weight' must be 2-D");
    bs_shape ish = in->value.shape;
    int8_t isym[BS_MAX_DIMS];
    for (int i = 0; i < BS_MAX_DIMS; i++) isym[i] = in->op == BS_OP_LEAF && i < ish.ndim ? in->sym[i] : -1;
    bs_id flat = idx;
    if (ish.ndim != 1) {
        bs_attr ra = bs_attr_default(BS_OP_RESHAPE);
        ra.shape.ndim = 1;
        ra.shape.d[0] = bs_shape_numel(&ish);
        for (int i = 0; i < BS_MAX_DIMS; i++) ra.shape_sym[i] = -1;
        flat = bs_apply(s->ctx, BS_OP_RESHAPE, (bs_id[]){idx, BS_NONE, BS_NONE}, &ra);
    }
    bs_id y = flat < 0 ? flat : bs_index_select(s->ctx, wid, 0, flat);
    if (y >= 0 && ish.ndim != 1) {
        if (ish.ndim + 1 > BS_MAX_DIMS) return bs_fail(s, line, col, "indices of at most %d dims", BS_MAX_DIMS - 1);
        bs_attr ra = bs_attr_default(BS_OP_RESHAPE);
        ra.shape = ish;
        ra.shape.ndim = ish.ndim + 1;
        ra.shape.d[ish.ndim] = bs_node_get(s->ctx, wid)->value.shape.d[1];
        for (int i = 0; i < BS_MAX_DIMS; i++) ra.shape_sym[i] = i < ish.ndim ? isym[i] : -1;
        y = bs_apply(s->ctx, BS_OP_RESHAPE, (bs_id[]){y, BS_NONE, BS_NONE}, &ra);
    }
    if (y < 0) return bs_fail_core(s, call->op_line, call->op_col, NULL);
    *out = bs_node_value(y);
    return 0;
}
