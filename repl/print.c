/* repl/print.c: how values look: --quiet's exact forms (numbers, nested lists, None) and the
 * readable PyTorch-like form with shape, grad_fn and grad. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl_int.h"

void bs_fmt_num(char *buf, size_t len, double v, int prec, bool is_int)
{
    if (isnan(v))
        snprintf(buf, len, "nan");
    else if (isinf(v))
        snprintf(buf, len, v < 0 ? "-inf" : "inf");
    else if (is_int && fabs(v) < 9.2e18)
        snprintf(buf, len, "%lld", (long long)v);
    else
        snprintf(buf, len, "%.*g", prec, v == 0 ? 0.0 * (signbit(v) ? -1 : 1) : v);
}

/* ==== Quiet: nested lists ==== */

static void quiet_rec(FILE *f, const bs_tensor *t, int dim, int64_t *off, int prec)
{
    char b[64];
    if (dim == t->shape.ndim) {
        bs_fmt_num(b, sizeof b, t->data[*off], prec, t->dtype == BS_I64);
        fputs(b, f);
        (*off)++;
        return;
    }
    fputc('[', f);
    for (int64_t i = 0; i < t->shape.d[dim]; i++) {
        if (i) fputs(", ", f);
        quiet_rec(f, t, dim + 1, off, prec);
    }
    fputc(']', f);
}

/* a mask (torch.bool) in the quiet form: nested lists of True / False */
static void quiet_mask(FILE *f, const bs_tensor *t, int dim, int64_t *off)
{
    if (dim == t->shape.ndim) {
        fputs(t->data[(*off)++] != 0 ? "True" : "False", f);
        return;
    }
    fputc('[', f);
    for (int64_t i = 0; i < t->shape.d[dim]; i++) {
        if (i) fputs(", ", f);
        quiet_mask(f, t, dim + 1, off);
    }
    fputc(']', f);
}

/* ==== Readable: aligned columns ==== */

/* like PyTorch, a float that prints as an integer keeps a '.' ("2." not "2") */
static void pretty_num(char *b, size_t n, const bs_tensor *t, double v, int prec)
{
    bs_fmt_num(b, n, v, prec, t->dtype == BS_I64);
    if (t->dtype != BS_I64 && !strpbrk(b, ".en") && strlen(b) + 2 < n) strcat(b, ".");
}

static void pretty_sep(FILE *f, const bs_tensor *t, int dim, int indent)
{
    fputc(',', f);
    if (dim == t->shape.ndim - 1)
        fputc(' ', f);
    else
        fprintf(f, "%s%*s", dim < t->shape.ndim - 2 ? "\n\n" : "\n", indent + dim + 1, "");
}

/* one dim at a time; very long dims show their first and last 3 entries around "..." */
static void pretty_rec(FILE *f, const bs_tensor *t, int dim, int64_t base, int prec, int width,
                       int indent, bool cut)
{
    char b[64];
    if (dim == t->shape.ndim) {
        pretty_num(b, sizeof b, t, t->data[base], prec);
        fprintf(f, "%*s", width, b);
        return;
    }
    int64_t n = t->shape.d[dim], inner = 1;
    for (int k = dim + 1; k < t->shape.ndim; k++) inner *= t->shape.d[k];
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) {
        if (i) pretty_sep(f, t, dim, indent);
        if (cut && n > 6 && i == 3) {
            fputs("...", f);
            pretty_sep(f, t, dim, indent);
            i = n - 3;
        }
        pretty_rec(f, t, dim + 1, base + i * inner, prec, width, indent, cut);
    }
    fputc(']', f);
}

void bs_print_tensor(bs_session *s, FILE *f, const bs_tensor *t, bool quiet, int prec)
{
    (void)s;
    int64_t n = bs_tensor_numel(t);
    char b[64];
    if (t->shape.ndim == 0) {
        bs_fmt_num(b, sizeof b, n ? t->data[0] : 0, prec, t->dtype == BS_I64);
        fputs(b, f);
        return;
    }
    int64_t off = 0;
    if (n == 0 && t->shape.ndim > 1) {
        /* as PyTorch prints an empty tensor; nested lists only while there are few of them
           (zeros(4294967296, 0) would be 2^32 of them) */
        int64_t lists = 1;
        for (int k = 0; k < t->shape.ndim && t->shape.d[k] && lists <= 10000; k++) lists *= t->shape.d[k];
        if (!quiet || lists > 10000) {
            fputs("tensor([], size=(", f);
            for (int k = 0; k < t->shape.ndim; k++) fprintf(f, "%s%lld", k ? ", " : "", (long long)t->shape.d[k]);
            fputs("))", f);
            return;
        }
    }
    if (quiet) {
        quiet_rec(f, t, 0, &off, prec);
        return;
    }
    int width = 1;
    for (int64_t i = 0; i < n; i++) {
        pretty_num(b, sizeof b, t, t->data[i], prec);
        int w = (int)strlen(b);
        if (w > width) width = w;
    }
    fputs("tensor(", f);
    pretty_rec(f, t, 0, 0, prec, width, 7, n > 1000);
    fputc(')', f);
}

char *bs_preview(const bs_tensor *t, int prec, char *buf, size_t len)
{
    int64_t n = bs_tensor_numel(t);
    char num[64];
    if (!t->data) {
        snprintf(buf, len, "None");
        return buf;
    }
    if (t->shape.ndim == 0 || n == 1) {
        bs_fmt_num(buf, len, t->data[0], prec, t->dtype == BS_I64);
        return buf;
    }
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int64_t i = 0; i < n && i < 4 && o < len; i++) {
        bs_fmt_num(num, sizeof num, t->data[i], prec, t->dtype == BS_I64);
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", num);
    }
    if (o < len) snprintf(buf + o, len - o, "%s]", n > 4 ? ", ..." : "");
    return buf;
}

static void print_shape(FILE *f, const bs_shape *sh, bool quiet)
{
    fputs(quiet ? "[" : "(", f);
    for (int i = 0; i < sh->ndim; i++) fprintf(f, "%s%lld", i ? ", " : "", (long long)sh->d[i]);
    if (!quiet && sh->ndim == 1) fputc(',', f);
    fputs(quiet ? "]" : ")", f);
}

static void print_list(bs_session *s, FILE *f, const bs_value *v);
static void print_module(bs_session *s, FILE *f, const bs_hobj *o, int indent);
#define print_inline bs_print_inline

void bs_print_inline(bs_session *s, FILE *f, const bs_value *v)
{
    bool quiet = s->o.quiet;
    int prec = s->o.precision;
    char b[64];
    switch (v->k) {
    case BS_V_VOID: break;
    case BS_V_NONE: fputs("None", f); break;
    case BS_V_NUM:
        bs_fmt_num(b, sizeof b, v->num, prec, v->is_int);
        fputs(b, f);
        break;
    case BS_V_BOOL: fputs(v->b ? "True" : "False", f); break;
    case BS_V_STR: fputs(v->str, f); break;
    case BS_V_NODE:
    case BS_V_TMP: {
        const bs_tensor *t = v->k == BS_V_NODE ? &bs_node_get(s->ctx, v->id)->value : &v->tmp;
        int64_t off = 0;
        if (bs_is_mask(s, v)) quiet_mask(f, t, 0, &off);
        else bs_print_tensor(s, f, t, true, prec);
        break;
    }
    case BS_V_LIST:
    case BS_V_TUPLE:
        if (v->str) fputs(bs_str_value(s, v), f); /* d.keys() */
        else print_list(s, f, v);
        break;
    case BS_V_SHAPE: print_shape(f, &v->shape, quiet); break;
    case BS_V_OPT: {
        const bs_opt_conf *c = bs_opt_conf_of(v->opt);
        if (c->kind == BS_OPT_SGD)
            fprintf(f, "sgd(lr=%g, momentum=%g)", c->lr, c->momentum);
        else
            fprintf(f, "adam(lr=%g, betas=(%g, %g), eps=%g)", c->lr, c->beta1, c->beta2, c->eps);
        break;
    }
    case BS_V_DIM: fprintf(f, "dim(%lld)", (long long)v->num); break;
    case BS_V_GRADFN: fprintf(f, "<%s>", v->str); break;
    case BS_V_MODULE: fprintf(f, "<module '%s'>", v->str); break;
    case BS_V_FUNC:
    case BS_V_CLASS:
    case BS_V_RANGE: fputs(bs_str_value(s, v), f); break;
    case BS_V_OBJ: print_module(s, f, v->ref, 0); break;
    case BS_V_BOUND: fprintf(f, "<bound method %s>", ((bs_hfunc *)v->ref2)->def->def.name); break;
    case BS_V_BUILTIN: fprintf(f, "<built-in %s>", v->str); break;
    case BS_V_SUPER: fputs("<super>", f); break;
    case BS_V_DICT:
    case BS_V_EXC: fputs(bs_str_value(s, v), f); break;
    }
}

/* a module as torch prints it: Linear(in_features=2, out_features=1, bias=True), and a container
   with its children indented, "(0): ..." */
static void print_module(bs_session *s, FILE *f, const bs_hobj *o, int indent)
{
    const char *type = o->cls ? o->cls->name : o->type;
    if (o->mod == BS_MOD_LINEAR) {
        bs_value *in = bs_dict_get((bs_dict *)&o->attrs, "in_features");
        bs_value *out = bs_dict_get((bs_dict *)&o->attrs, "out_features");
        fprintf(f, "Linear(in_features=%lld, out_features=%lld, bias=%s)", in ? (long long)in->num : 0LL,
                out ? (long long)out->num : 0LL, bs_dict_get((bs_dict *)&o->attrs, "bias") ? "True" : "False");
        return;
    }
    if (o->mod == BS_MOD_LAYERNORM || o->mod == BS_MOD_EMBEDDING) {
        bs_value *w = bs_dict_get((bs_dict *)&o->attrs, "weight");
        const bs_node *n = w && w->k == BS_V_NODE ? bs_node_get(s->ctx, w->id) : NULL;
        if (o->mod == BS_MOD_EMBEDDING)
            fprintf(f, "Embedding(%lld, %lld)", n ? (long long)n->value.shape.d[0] : 0LL, n ? (long long)n->value.shape.d[1] : 0LL);
        else
            fprintf(f, "LayerNorm((%lld,), eps=%g, elementwise_affine=True)", n ? (long long)n->value.shape.d[0] : 0LL, o->attr.k);
        return;
    }
    if (o->mod == BS_MOD_ACT && (o->op == BS_OP_SOFTMAX || o->op == BS_OP_LOG_SOFTMAX)) {
        fprintf(f, "%s(dim=%d)", type, o->attr.dim);
        return;
    }
    if (o->mod == BS_MOD_DROPOUT) {
        char p[40];
        fprintf(f, "Dropout(p=%s, inplace=False)", bs_float_repr(o->attr.k, p, sizeof p));
        return;
    }
    if (o->mod == BS_MOD_ACT && o->op == BS_OP_LEAKY_RELU) {
        fprintf(f, "%s(negative_slope=%g)", type, o->attr.k);
        return;
    }
    int nchild = 0;
    for (int i = 0; i < o->attrs.n; i++) nchild += o->attrs.vals[i].k == BS_V_OBJ;
    if (!nchild) {
        fprintf(f, "%s()", type);
        return;
    }
    fprintf(f, "%s(\n", type);
    for (int i = 0; i < o->attrs.n; i++) {
        if (o->attrs.vals[i].k != BS_V_OBJ) continue;
        fprintf(f, "%*s(%s): ", indent + 2, "", o->attrs.keys[i]);
        print_module(s, f, o->attrs.vals[i].ref, indent + 2);
        fputc('\n', f);
    }
    fprintf(f, "%*s)", indent, "");
}

static void print_list(bs_session *s, FILE *f, const bs_value *v)
{
    int n;
    const bs_value *items = bs_list_items(v, &n);
    fputc(v->k == BS_V_LIST ? '[' : '(', f);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        if (items[i].k == BS_V_STR) fprintf(f, "'%s'", items[i].str);
        else print_inline(s, f, &items[i]);
    }
    if (v->k == BS_V_TUPLE && n == 1) fputc(',', f);
    fputc(v->k == BS_V_LIST ? ']' : ')', f);
}

void bs_print_value(bs_session *s, FILE *f, const bs_value *v)
{
    if (v->k == BS_V_VOID) return;
    if (s->o.quiet || (v->k != BS_V_NODE && v->k != BS_V_TMP)) {
        print_inline(s, f, v);
        fputc('\n', f);
        return;
    }
    /* readable form */
    int prec = s->o.precision;
    const bs_tensor *t = v->k == BS_V_NODE ? &bs_node_get(s->ctx, v->id)->value : &v->tmp;
    const bs_node *n = v->k == BS_V_NODE ? bs_node_get(s->ctx, v->id) : NULL;
    if (bs_is_mask(s, v)) { /* as torch prints it: tensor([ True, False]) */
        fputs(bs_str_value(s, v), f);
        fputs("  shape=", f);
        print_shape(f, &t->shape, false);
        fputs(" bool\n", f);
        return;
    }
    bs_print_tensor(s, f, t, false, prec);
    if (t->shape.ndim == 0) {
        /* a scalar prints as a number, like Python; its grad follows when known */
        bs_tensor g;
        int gs = n ? bs_grad_get(s, v->id, &g) : BS_GRAD_NONE;
        if (gs > 0) {
            char b[64], note[48];
            bs_fmt_num(b, sizeof b, g.data[0], prec, false);
            fprintf(f, "    grad=%s%s%s", b, gs == BS_GRAD_PARTIAL ? " " : "",
                    gs == BS_GRAD_PARTIAL ? bs_grad_note(s, note, sizeof note) : "");
        }
        fputc('\n', f);
        return;
    }
    fputs("  shape=", f);
    print_shape(f, &t->shape, false);
    if (t->dtype != BS_F64) fprintf(f, " %s", bs_dtype_name(t->dtype));
    if (n && !n->is_leaf && n->op != BS_OP_LEAF) fprintf(f, " grad_fn=<%s>", bs_node_grad_fn(s->ctx, v->id));
    if (n && n->requires_grad && n->is_leaf) fputs(" requires_grad=True", f);
    fputc('\n', f);
    bs_tensor g;
    int gs = n ? bs_grad_get(s, v->id, &g) : BS_GRAD_NONE;
    if (gs > 0) {
        char note[48];
        fputs("grad: ", f);
        bs_print_tensor(s, f, &g, false, prec);
        if (gs == BS_GRAD_PARTIAL) fprintf(f, "  %s", bs_grad_note(s, note, sizeof note));
        fputc('\n', f);
    }
}

/* ==== The gradient as every surface shows it ==== */

int bs_grad_get(bs_session *s, bs_id id, bs_tensor *out)
{
    const bs_node *n = bs_node_get(s->ctx, id);
    if (!n || bs_grad_now(s->ctx, id, NULL) == BS_GRAD_NONE) return BS_GRAD_NONE;
    int64_t numel = bs_tensor_numel(&n->value);
    double *d = bs_arena_alloc(&s->arena, (size_t)(numel ? numel : 1) * sizeof(double));
    if (!d) return -1;
    *out = (bs_tensor){n->value.dtype, n->value.shape, d};
    return (int)bs_grad_now(s->ctx, id, d);
}

char *bs_grad_note(bs_session *s, char *buf, size_t len)
{
    int k, total;
    buf[0] = 0;
    if (s->step && bs_backward_progress(s->ctx, NULL, &k, &total))
        snprintf(buf, len, "(partial: step %d/%d)", k, total);
    return buf;
}

/* ==== A node in full (:show, and a click in the window) ==== */

/* What node id keeps for backward, as "self=x, other=x" into buf, and its bytes, each tensor
 * once (x * x keeps one tensor under two names). seen (NULL: none) marks the storages counted by
 * nodes listed before: those are tagged "(counted above)"; then this node's are marked. *fresh
 * and *fresh_bytes (may be NULL) get the count and bytes of the tensors not counted before. */
/* snprintf(buf + *at, len - *at, "%s", t) for a t of tl bytes, *at counting what it would have
   written: the same bytes and the same truncation, without the format machinery (:mem formats a
   row per node of the tape) */
static void put_str(char *buf, size_t len, size_t *at, const char *t, size_t tl)
{
    if (*at < len) {
        size_t room = len - *at - 1, k = tl < room ? tl : room;
        memcpy(buf + *at, t, k);
        buf[*at + k] = 0;
    }
    *at += tl;
}

size_t bs_mem_saves_of(bs_session *s, const bs_saved_tensor *sv, int k, bool all, bool *seen, int *fresh,
                       size_t *fresh_bytes, char *buf, size_t len)
{
    int nnew = 0;
    size_t bytes = 0, nbytes = 0, at = 0;
    if (buf && len) buf[0] = 0;
    for (int j = 0; j < k; j++) {
        /* a tensor a checkpoint made inside itself is not kept: backward makes it again */
        bool dup = sv[j].recomputed && !all, above = sv[j].slot < 0 && seen && seen[sv[j].tensor];
        for (int i = 0; i < j; i++)
            dup |= sv[i].tensor == sv[j].tensor && sv[i].slot == sv[j].slot;
        if (!dup) bytes += sv[j].bytes;
        if (!dup && !above) {
            nbytes += sv[j].bytes;
            nnew++;
        }
        if (!buf || at >= len) continue; /* the text is full (or not wanted) */
        char nm[96], sh[64];
        size_t nl = 0;
        if (sv[j].slot >= 0) { /* a buffer the op made for backward, no node of the graph */
            snprintf(nm, sizeof nm, "%s %s", bs_shape_str(&sv[j].shape, sh, sizeof sh),
                     bs_dtype_name(sv[j].dtype));
            nl = strlen(nm);
        } else {
            bs_node_name(s->ctx, sv[j].value, nm, sizeof nm);
            nl = strlen(nm);
            if (sv[j].tensor != sv[j].value) { /* a view: the storage is another node's */
                snprintf(nm + nl, sizeof nm - nl, " (a view of %s)",
                         bs_node_name(s->ctx, sv[j].tensor, sh, sizeof sh));
                nl = strlen(nm);
            }
        }
        if (j) put_str(buf, len, &at, ", ", 2);
        put_str(buf, len, &at, sv[j].role, strlen(sv[j].role));
        put_str(buf, len, &at, "=", 1);
        put_str(buf, len, &at, nm, nl);
        const char *tag = sv[j].recomputed && !all ? " (not kept: checkpoint)" : above ? " (counted above)" : "";
        put_str(buf, len, &at, tag, strlen(tag));
    }
    if (seen)
        for (int j = 0; j < k; j++)
            if (sv[j].slot < 0 && (!sv[j].recomputed || all)) seen[sv[j].tensor] = true;
    if (fresh) *fresh = nnew;
    if (fresh_bytes) *fresh_bytes = nbytes;
    return bytes;
}

size_t bs_mem_node_saves(bs_session *s, bs_id id, bool all, bool *seen, int *fresh, size_t *fresh_bytes,
                             char *buf, size_t len)
{
    bs_saved_tensor sv[BS_MAX_SAVED];
    int k = bs_node_saved(s->ctx, id, sv);
    return bs_mem_saves_of(s, sv, k, all, seen, fresh, fresh_bytes, buf, len);
}

static const char *node_kind(const bs_node *n)
{
    if (n->op != BS_OP_LEAF) return n->requires_grad ? "op" : "op (no grad)";
    if (n->is_param) return "param (leaf, requires grad)";
    if (n->init == BS_INIT_COPY) return "detached copy (leaf)";
    return "constant (leaf)";
}

void bs_show_node(bs_session *s, FILE *f, bs_id id)
{
    const bs_node *n = bs_node_get(s->ctx, id);
    if (!n) return;
    char nm[96], sh[64];
    int prec = s->o.precision;
    fprintf(f, "%s  (node #%d, %s)\n", bs_node_name(s->ctx, id, nm, sizeof nm), (int)id, node_kind(n));
    if (n->text) fprintf(f, "  expression  %s\n", n->text);
    if (n->op != BS_OP_LEAF) {
        fprintf(f, "  op          %s (%s), grad_fn %s\n", bs_ops[n->op].name, bs_ops[n->op].symbol,
                n->requires_grad ? bs_node_grad_fn(s->ctx, id) : "None");
        for (int i = 0; i < n->nin; i++) {
            const bs_node *x = bs_node_get(s->ctx, n->in[i]);
            fprintf(f, "  input %d     %s %s\n", i + 1, bs_node_name(s->ctx, n->in[i], nm, sizeof nm),
                    bs_shape_str(&x->value.shape, sh, sizeof sh));
        }
    }
    fprintf(f, "  shape       %s  %s  requires_grad=%s\n", bs_shape_str(&n->value.shape, sh, sizeof sh),
            bs_dtype_name(n->value.dtype), n->requires_grad ? "True" : "False");
    fputs("  value       ", f);
    bs_print_tensor(s, f, &n->value, false, prec);
    fputs("\n  grad        ", f);
    bs_tensor g;
    int gs = bs_grad_get(s, id, &g);
    if (gs > 0)
        bs_print_tensor(s, f, &g, false, prec);
    else
        fputs(gs < 0 ? "(out of memory)" : "None", f);
    if (gs == BS_GRAD_PARTIAL) {
        char note[48];
        fprintf(f, "  %s", bs_grad_note(s, note, sizeof note));
    }
    fputc('\n', f);
    if (n->op != BS_OP_LEAF) {
        bs_shape in[BS_MAX_INPUTS];
        for (int i = 0; i < n->nin; i++) in[i] = bs_node_get(s->ctx, n->in[i])->value.shape;
        char sv[512];
        size_t saved = bs_mem_node_saves(s, id, false, NULL, NULL, NULL, sv, sizeof sv);
        double fl = bs_ops[n->op].flops(in, &n->value.shape, &n->attr);
        fprintf(f, "  saved       %s%s%zu bytes for backward%s\n", sv, *sv ? ": " : "", saved,
                bs_node_freed(s->ctx, id) && saved ? " (freed by backward(); retain_graph=True keeps them)" : "");
        fprintf(f, "  forward     %.0f FLOPs\n", fl);
        char d[1024], x[96], dx[100];
        for (int i = 0; i < n->nin; i++)
            if (bs_ops[n->op].deriv[i]) {
                /* the same formula the stepper prints, with the same names */
                bs_node_expr(s->ctx, n->in[i], 40, x, sizeof x);
                snprintf(dx, sizeof dx, x[strspn(x, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'.")] ? "d(%s)" : "d%s", x);
                fprintf(f, "  d/%-10s = %s\n", dx, bs_deriv_render(s->ctx, id, i, false, prec, d, sizeof d));
            }
    }
}
