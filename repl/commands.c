/* repl/commands.c: two command sets, inspecting (help, vars, show, check, mem, underflow) and the
 * session (precision, dtype, reset, save, load, history, quit), and the reference written from
 * every table. The other sets: stepper.c (stepping), viewer.c (the graph), run.c (replay),
 * lesson.c (lessons); cmdtab.c dispatches. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lesson.h"
#include "repl_int.h"

/* ==== :help ==== */

static void help_op(bs_session *s, const bs_op_info *op)
{
    FILE *f = s->out;
    char buf[1024]; /* a template: gelu's two forms run past 300 characters */
    fprintf(f, "%s\n", op->help);
    fprintf(f, "  graph symbol %s, PyTorch's backward node %s\n", op->symbol, op->grad_fn);
    const char *in[2] = {"a", "b"};
    for (int i = 0; i < op->arity; i++) {
        if (!op->deriv[i]) {
            fprintf(f, "  input %s: not differentiable\n", in[i]);
            continue;
        }
        bs_deriv_render_generic(op->id, i, buf, sizeof buf);
        bool rule = bs_deriv_is_rule(op->id, i);
        if (!rule)
            fprintf(f, "  local derivative d out/d %s = %s\n", in[i], buf);
        else
            fprintf(f, "  VJP rule (G = upstream gradient): %s\n", buf);
        if (!rule)
            fprintf(f, "  VJP: %s.grad += upstream * (d out/d %s)%s\n", in[i], in[i],
                    op->kind == BS_K_EW && op->arity == 2 ? ", summed over broadcast dims" : "");
    }
}

static int cmd_help(bs_session *s, const bs_stmt *st)
{
    FILE *f = s->out;
    const bs_word *w = bs_cmd_positional(st, 0);
    if (w) {
        const char *t = w->text[0] == ':' ? w->text + 1 : w->text;
        const bs_command *c = bs_command_find(t, false);
        if (c && (w->text[0] == ':' || !bs_is_builtin(t))) {
            fprintf(f, ":%s\n  %s\n", c->usage, c->help);
            return 0;
        }
        const bs_op_info *op = bs_op_by_name(t);
        if (op) {
            help_op(s, op);
            return 0;
        }
        const char *h = bs_builtin_help(t);
        if (h) {
            fprintf(f, "%s\n", h);
            return 0;
        }
        if (!strcmp(t, "ops") || !strcmp(t, "functions")) {
            for (int i = 0; i < BS_OP_COUNT; i++) fprintf(f, "  %s\n", bs_ops[i].help);
            return 0;
        }
        for (const char *const *a = bs_tensor_attrs(); *a; a++) {
            size_t n = strlen(t);
            if (!strncmp(*a, t, n) && ((*a)[n] == 0 || (*a)[n] == '(')) {
                fprintf(f, "x.%s: a tensor attribute or method, as in PyTorch (see :help for the list)\n", *a);
                return 0;
            }
        }
        return bs_fail(s, w->line, w->col, "no help for '%s' (try :help)", w->text);
    }
    fprintf(f, "backstep %s: type expressions in PyTorch's vocabulary; every result is a node on "
               "the tape.\n\n", BS_VERSION);
    fprintf(f, "Statements:  name = expr    expr    with no_grad: stmt    a; b    # comment\n");
    fprintf(f, "Operators:   + - * / ** @  (NumPy broadcasting), unary -, x.T\n\n");
    fprintf(f, "Functions (:help NAME shows the local derivative and VJP):\n ");
    int col = 1;
    for (int i = 0; i < BS_OP_COUNT; i++) {
        int n = (int)strlen(bs_ops[i].name) + 1;
        if (col + n > 78) {
            fputs("\n ", f);
            col = 1;
        }
        fprintf(f, " %s", bs_ops[i].name);
        col += n;
    }
    fputs("\n\nConstructors and tools:\n ", f);
    col = 1;
    const char *more[] = {"param", "tensor", "randn", "rand", "zeros", "ones", "eye", "arange",
                          "zeros_like", "ones_like", "randn_like", "seed", "dim", "sgd", "adam",
                          "zero_grad", "detach", "print", NULL};
    for (int i = 0; more[i]; i++) {
        fprintf(f, " %s", more[i]);
        col += (int)strlen(more[i]) + 1;
    }
    fputs("\n\nTensor attributes and methods:\n ", f);
    col = 1;
    for (const char *const *a = bs_tensor_attrs(); *a && col < 400; a++) {
        if (strchr(*a, '(') && bs_op_by_name(*a) == NULL) {
            char nm[32];
            snprintf(nm, sizeof nm, "%s", *a);
            char *p = strchr(nm, '(');
            if (p) *p = 0;
            if (bs_op_by_name(nm)) continue;
        }
        int n = (int)strlen(*a) + 1;
        if (col + n > 78) {
            fputs("\n ", f);
            col = 1;
        }
        fprintf(f, " %s", *a);
        col += n;
    }
    fputs("\n\nCommands:\n", f);
    for (int k = 0; k < bs_command_set_count(); k++) {
        const bs_command_set *cs = bs_command_set_at(k);
        fprintf(f, " %s\n", cs->title);
        for (const bs_command *c = cs->cmds; c->name; c++) fprintf(f, "  :%s\n      %s\n", c->usage, c->help);
    }
    fputs("\nWhere backstep differs from PyTorch: every node keeps its .grad (as if retain_grad() "
          "was called),\nnumbers default to f64, max(x, dim=k) returns values only, and "
          "zero_grad() sets grads to None.\n", f);
    return 0;
}

/* ==== :vars, :show, :mem ==== */

static int cmd_vars(bs_session *s, const bs_stmt *st)
{
    (void)st;
    bs_name *list[4096];
    int n = bs_names_sorted(s, list, 4096);
    FILE *f = s->out;
    if (!n) {
        fputs("(no names yet)\n", f);
        return 0;
    }
    int prec = s->o.precision < 4 ? s->o.precision : 4;
    fprintf(f, "%-12s %-10s %-10s %-26s %s\n", "name", "shape", "kind", "value", "grad");
    for (int i = 0; i < n; i++) {
        bs_name *nm = list[i];
        char shape[64] = "", val[128] = "", grad[128] = "", kind[16] = "";
        switch (nm->kind) {
        case BS_NAME_NODE: {
            const bs_node *node = bs_node_get(s->ctx, nm->id);
            bs_shape_str(&node->value.shape, shape, sizeof shape);
            bs_preview(&node->value, prec, val, sizeof val);
            bs_tensor g;
            int gs = bs_grad_get(s, nm->id, &g);
            if (gs < 0) return bs_fail(s, st->line, st->col, "out of memory");
            if (gs != BS_GRAD_NONE)
                bs_preview(&g, prec, grad, sizeof grad);
            else
                snprintf(grad, sizeof grad, "%s", node->requires_grad ? "None" : "-");
            if (gs == BS_GRAD_PARTIAL) {
                char note[48];
                size_t k = strlen(grad);
                snprintf(grad + k, sizeof grad - k, " %s", bs_grad_note(s, note, sizeof note));
            }
            snprintf(kind, sizeof kind, "%s", node->is_param ? "param" : node->op == BS_OP_LEAF ? "leaf" : bs_ops[node->op].name);
            break;
        }
        case BS_NAME_VALUE: {
            if (nm->val.k == BS_V_NUM || nm->val.k == BS_V_BOOL) { /* a number: a constant of the graph */
                snprintf(shape, sizeof shape, "()");
                snprintf(kind, sizeof kind, "number");
                if (nm->val.k == BS_V_BOOL) snprintf(val, sizeof val, "%s", nm->val.b ? "True" : "False");
                else bs_fmt_num(val, sizeof val, nm->val.num, prec, nm->val.is_int);
                snprintf(grad, sizeof grad, "-");
                break;
            }
            char *t = bs_str_value(s, &nm->val);
            snprintf(val, sizeof val, "%.60s", t ? t : "");
            snprintf(kind, sizeof kind, "%s", nm->val.k == BS_V_FUNC ? "function" : nm->val.k == BS_V_CLASS ? "class"
                     : nm->val.k == BS_V_OBJ ? "module" : nm->val.k == BS_V_LIST ? "list" : nm->val.k == BS_V_STR ? "str"
                     : nm->val.k == BS_V_NUM ? "number" : "value");
            char *nl = strchr(val, '\n');
            if (nl) snprintf(nl, sizeof val - (size_t)(nl - val), "...");
            break;
        }
        case BS_NAME_DIM:
            snprintf(kind, sizeof kind, "dim");
            snprintf(val, sizeof val, "%lld", (long long)bs_dim_value(s->ctx, nm->dim));
            break;
        case BS_NAME_OPT:
            snprintf(kind, sizeof kind, "optimizer");
            snprintf(val, sizeof val, "%s", bs_opt_conf_of(nm->opt)->kind == BS_OPT_SGD ? "sgd" : "adam");
            break;
        case BS_NAME_NONE:
            snprintf(val, sizeof val, "None");
            break;
        case BS_NAME_MODULE:
            snprintf(kind, sizeof kind, "module");
            snprintf(val, sizeof val, "%s", nm->module);
            break;
        }
        fprintf(f, "%-12s %-10s %-10s %-26s %s\n", nm->name, shape, kind, val, grad);
    }
    return 0;
}

static int cmd_show(bs_session *s, const bs_stmt *st)
{
    const bs_word *w = bs_cmd_positional(st, 0);
    if (!w) return bs_cmd_usage(s, st, ":show NAME");
    bs_id id;
    if (bs_lookup_node(s, w->text, w->line, w->col, &id)) {
        bs_name *nm = bs_name_find(s, w->text);
        if (nm && nm->kind == BS_NAME_DIM) {
            s->e->msg[0] = 0;
            fprintf(s->out, "%s = dim(%lld): a size variable\n", w->text, (long long)bs_dim_value(s->ctx, nm->dim));
            return 0;
        }
        return -1;
    }
    bs_show_node(s, s->out, id);
    if (bs_session_window(s)) bs_window_select(bs_session_window(s), id);
    return 0;
}

/* :mem [name]: what every node (or every node `name` depends on) keeps for backward, as PyTorch
 * keeps it (bs_node_saved: the op table says which tensors), each tensor counted once in the total
 * however many nodes keep it. Nodes a backward() without retain_graph freed keep nothing. */
static int cmd_mem(bs_session *s, const bs_stmt *st)
{
    for (int i = 0; i < st->cmd.argc; i++) /* :mem S=128,256,512: at other sizes */
        if (strchr(st->cmd.argv[i].text, '=')) return bs_cmd_mem_sizes(s, st);
    const bs_word *w = bs_cmd_positional(st, 0);
    bs_id root = BS_NONE;
    if (w && bs_lookup_node(s, w->text, w->line, w->col, &root)) return -1;
    FILE *f = s->out;
    int32_t len = bs_tape_len(s->ctx);
    /* storages counted so far: by live nodes, and by freed ones (for the released figure) */
    bool *seen = calloc((size_t)len + 1, 1), *gone = calloc((size_t)len + 1, 1);
    bool *want = calloc((size_t)len + 1, 1);
    if (!seen || !gone || !want) {
        free(seen);
        free(gone);
        free(want);
        return bs_fail(s, st->line, st->col, "out of memory");
    }
    if (root != BS_NONE) bs_tape_walk(s->ctx, root, 0, want); /* the nodes root depends on */
    size_t total = 0, values = 0, freed_bytes = 0;
    int tensors = 0, freed = 0;
    int wide = 24; /* the name column fits the longest name listed ("matmul in model.0 (Linear)") */
    /* what each node saves, asked once: 0 for most nodes of a big graph (adds, leaves) */
    unsigned char *nsv = calloc((size_t)len + 1, 1);
    if (!nsv) {
        free(seen);
        free(gone);
        free(want);
        return bs_fail(s, st->line, st->col, "out of memory");
    }
    for (bs_id i = 0; i < len; i++) {
        bs_saved_tensor sv[BS_MAX_SAVED];
        char nm[64];
        if (root != BS_NONE && !want[i]) continue;
        nsv[i] = (unsigned char)bs_node_saved(s->ctx, i, sv);
        if (nsv[i]) {
            size_t w = strlen(bs_node_name(s->ctx, i, nm, sizeof nm));
            if ((int)w > wide) wide = (int)w;
        }
    }
    fprintf(f, "%-*s %-14s %-10s %11s  %s\n", wide, "node", "op", "shape", "saved bytes", "saves");
    for (bs_id i = 0; i < len; i++) {
        const bs_node *n = bs_node_get(s->ctx, i);
        values += (size_t)bs_shape_numel(&n->value.shape) * bs_dtype_size(n->value.dtype);
        if (!nsv[i]) continue;
        bs_saved_tensor sv[BS_MAX_SAVED];
        int k = bs_node_saved(s->ctx, i, sv);
        char what[512], nm[64], sh[48];
        int fresh = 0;
        size_t nb = 0;
        /* a freed node is listed with what it kept, counted apart as released */
        bool nfreed = bs_node_freed(s->ctx, i);
        size_t b = bs_mem_saves_of(s, sv, k, false, nfreed ? gone : seen, &fresh, &nb, what, sizeof what);
        if (nfreed) {
            freed++;
            freed_bytes += nb;
        } else {
            total += nb;
            tensors += fresh;
        }
        /* the row: "%-*s %-14s %-10s %11zu  %s%s\n", put together by hand (a row per node) */
        char row[64 + 1 + 64 + 1 + 48 + 1 + 24 + 2 + 512 + 16];
        size_t at = 0, l;
        l = strlen(bs_node_name(s->ctx, i, nm, sizeof nm));
        memcpy(row + at, nm, l);
        at += l;
        for (; l < (size_t)wide; l++) row[at++] = ' ';
        row[at++] = ' ';
        const char *op = bs_ops[n->op].name;
        l = strlen(op);
        if (l > 63) l = 63;
        memcpy(row + at, op, l);
        at += l;
        for (; l < 14; l++) row[at++] = ' ';
        row[at++] = ' ';
        const char *shs = n->value.shape.ndim == 0 ? "()" : bs_shape_str(&n->value.shape, sh, sizeof sh);
        l = strlen(shs);
        memcpy(row + at, shs, l);
        at += l;
        for (; l < 10; l++) row[at++] = ' ';
        row[at++] = ' ';
        char num[24];
        size_t v = nfreed ? 0 : b, nd = 0;
        do {
            num[nd++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        for (size_t p = nd; p < 11; p++) row[at++] = ' ';
        while (nd) row[at++] = num[--nd];
        row[at++] = ' ';
        row[at++] = ' ';
        l = strlen(what);
        memcpy(row + at, what, l);
        at += l;
        if (nfreed) {
            memcpy(row + at, "  (freed)", 9);
            at += 9;
        }
        row[at++] = '\n';
        fwrite(row, 1, at, f);
    }
    fprintf(f, "activation memory saved for backward: %zu bytes in %d tensor%s, each counted once; "
               "all values on the tape: %zu bytes in %d nodes\n",
            total, tensors, tensors == 1 ? "" : "s", values, (int)len);
    if (freed)
        fprintf(f, "%d node%s freed by backward() without retain_graph=True: the %zu bytes %s "
                   "saved are released and not counted\n",
                freed, freed == 1 ? " was" : "s were", freed_bytes, freed == 1 ? "it" : "they");
    /* checkpoints: the same graph's figure had they kept everything, in the same run */
    size_t all = 0;
    int nall = 0, nckpt = 0;
    memset(seen, 0, (size_t)len + 1);
    for (bs_id i = 0; i < len; i++) {
        bs_saved_tensor sv[BS_MAX_SAVED];
        if (!nsv[i] || bs_node_freed(s->ctx, i)) continue;
        int k = bs_node_saved(s->ctx, i, sv);
        for (int j = 0; j < k; j++) nckpt += sv[j].recomputed;
        int fresh = 0;
        size_t nb = 0;
        if (k) bs_mem_saves_of(s, sv, k, true, seen, &fresh, &nb, NULL, 0);
        all += nb;
        nall += fresh;
    }
    if (nckpt)
        fprintf(f, "checkpoints keep only what they read from outside: without them this graph would save "
                   "%zu bytes in %d tensors, %.2fx as much; backward makes the %zu bytes again\n",
                all, nall, total ? (double)all / (double)total : 0.0, all - total);
    free(seen);
    free(gone);
    free(want);
    free(nsv);
    return 0;
}

/* ==== :check ==== */

static int cmd_check(bs_session *s, const bs_stmt *st)
{
    const bs_word *w = bs_cmd_positional(st, 0);
    bs_id root;
    if (bs_cmd_node(s, st, w ? w->text : NULL, &root)) return -1;
    bs_gradcheck_result res[256];
    int n = bs_gradcheck(s->ctx, root, 1e-6, res, 256);
    if (n < 0) return bs_fail_core(s, st->line, st->col, "check");
    FILE *f = s->out;
    int bad = 0;
    char nm[64];
    fprintf(f, "gradcheck of %s: central differences (eps 1e-6, f64) against backprop\n",
            bs_node_name(s->ctx, root, nm, sizeof nm));
    for (int i = 0; i < n && i < 256; i++) {
        bool ok = res[i].max_abs_err <= 1e-5 + 1e-4 * fabs(res[i].numeric);
        bad += !ok;
        fprintf(f, "  %-12s max |analytic - numeric| = %.3g  (analytic %.6g, numeric %.6g)  %s\n",
                bs_node_name(s->ctx, res[i].param, nm, sizeof nm), res[i].max_abs_err,
                res[i].analytic, res[i].numeric, ok ? "ok" : "MISMATCH");
    }
    if (!n) fputs("  (no param reaches it)\n", f);
    fprintf(f, "%d param%s checked, %d mismatch%s\n", n, n == 1 ? "" : "s", bad, bad == 1 ? "" : "es");
    return 0;
}

/* ==== :precision :dtype :reset :history :quit ==== */

static int cmd_precision(bs_session *s, const bs_stmt *st)
{
    const bs_word *w = bs_cmd_positional(st, 0);
    if (!w) {
        fprintf(s->out, "%d\n", s->o.precision);
        return 0;
    }
    char *end;
    long p = strtol(w->text, &end, 10);
    if (*end || p < 1 || p > 17) return bs_fail(s, w->line, w->col, "precision must be 1 to 17");
    s->o.precision = (int)p;
    return 0;
}

static int cmd_dtype(bs_session *s, const bs_stmt *st)
{
    const bs_word *w = bs_cmd_positional(st, 0);
    if (!w) {
        fprintf(s->out, "%s\n", bs_dtype_name(bs_ctx_dtype(s->ctx)));
        return 0;
    }
    bs_dtype t;
    if (!bs_dtype_parse(w->text, &t) || t == BS_I64)
        return bs_fail(s, w->line, w->col, "dtype must be f64, f32, f16 or bf16");
    bs_ctx_set_dtype(s->ctx, t);
    return 0;
}

static int cmd_reset(bs_session *s, const bs_stmt *st)
{
    (void)st;
    bs_session_reset(s);
    return 0;
}

static int cmd_history(bs_session *s, const bs_stmt *st)
{
    (void)st;
    for (int i = 0; i < s->nhist; i++) fprintf(s->out, "%4d  %s\n", i + 1, s->hist[i]);
    return 0;
}

static int cmd_quit(bs_session *s, const bs_stmt *st)
{
    (void)st;
    s->quit = true;
    return 0;
}

/* ==== :save :load ==== */

static int cmd_save(bs_session *s, const bs_stmt *st)
{
    const bs_word *w = bs_cmd_positional(st, 0);
    if (!w || bs_cmd_positional(st, 1)) return bs_cmd_usage(s, st, ":save FILE");
    FILE *f = fopen(w->text, "w");
    if (!f) return bs_fail(s, w->line, w->col, "cannot write %s: %s", w->text, strerror(errno));
    fprintf(f, "# backstep session: `backstep %s` or `:load %s` rebuilds it\n", w->text, w->text);
    for (int i = 0; i < s->nhist; i++) fprintf(f, "%s\n", s->hist[i]);
    if (fclose(f)) return bs_fail(s, w->line, w->col, "cannot write %s: %s", w->text, strerror(errno));
    fprintf(s->o.quiet ? stderr : s->out, "saved %d statement%s to %s\n", s->nhist, s->nhist == 1 ? "" : "s", w->text);
    return 0;
}

char *bs_read_text(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    struct stat sb;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        snprintf(err, errlen, "cannot read %s: it is a directory", path);
        return NULL;
    }
    if (fstat(fileno(f), &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISFIFO(sb.st_mode)) {
        fclose(f);
        snprintf(err, errlen, "cannot read %s: not a regular file", path);
        return NULL;
    }
    size_t cap = 4096, n = 0, r;
    char *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n > max) break;
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    bool bad = buf && ferror(f);
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "cannot read %s: out of memory", path);
        return NULL;
    }
    if (bad || n > max) {
        char mb[32];
        if (bad) snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        else snprintf(err, errlen, "cannot read %s: larger than %s", path, bs_bytes_str((double)max, mb, sizeof mb));
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (memchr(buf, 0, n)) {
        snprintf(err, errlen, "cannot read %s: it holds a NUL byte (not a text file)", path);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

void bs_session_script_begin(bs_session *s, const char *path)
{
    char *real = realpath(path, NULL);
    if (s->nload < BS_LOAD_MAX_DEPTH) s->load[s->nload++] = real ? real : strdup("");
    else free(real);
}

void bs_session_script_end(bs_session *s)
{
    if (s->nload > 0) free(s->load[--s->nload]);
}

#define LOAD_MAX_BYTES ((size_t)64 << 20)

static int cmd_load(bs_session *s, const bs_stmt *st)
{
    const bs_word *w = bs_cmd_positional(st, 0);
    if (!w || bs_cmd_positional(st, 1)) return bs_cmd_usage(s, st, ":load FILE");
    /* a script that loads itself, directly or through others, is an error, not a recursion */
    char *real = realpath(w->text, NULL);
    for (int i = 0; real && i < s->nload; i++)
        if (!strcmp(s->load[i], real)) {
            free(real);
            return bs_fail(s, w->line, w->col, ":load %s: the file is already being loaded (a script "
                           "that loads itself, directly or through another)", w->text);
        }
    if (s->nload == BS_LOAD_MAX_DEPTH) {
        free(real);
        return bs_fail(s, w->line, w->col, ":load %s: scripts nested more than %d deep", w->text,
                       BS_LOAD_MAX_DEPTH);
    }
    char msg[600];
    size_t len;
    char *buf = bs_read_text(w->text, LOAD_MAX_BYTES, &len, msg, sizeof msg);
    if (!buf) {
        free(real);
        return bs_fail(s, w->line, w->col, "%s", msg);
    }
    const char *text = len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3) ? buf + 3 : buf; /* a BOM */
    /* evaluate with our own error record, then report it with the file's position */
    char path[512];
    snprintf(path, sizeof path, "%s", w->text);
    int wl = w->line, wc = w->col;
    bs_error *outer = s->e;
    const char *outer_src = s->src;
    bs_arena saved_arena = s->arena;
    s->arena = (bs_arena)BS_ARENA_INIT;
    free(real);
    bs_session_script_begin(s, path);
    bs_error inner;
    bs_session_window_hold(s);
    int rc = bs_session_eval(s, text, 1, &inner);
    /* no redraw here: the statement that ran :load redraws once it is done (after the tape is
       compacted, so the window's ids stay the tape's) */
    bs_session_window_unhold(s);
    bs_session_script_end(s);
    bs_arena_free(&s->arena);
    s->arena = saved_arena;
    s->e = outer;
    s->src = outer_src;
    free(buf);
    if (rc < 0) return bs_fail(s, wl, wc, "%s:%d:%d: %s", path, inner.line, inner.col, inner.msg);
    return 0;
}

/* ==== :underflow ====
 * :underflow [NAME] [from=L]: the last backward pass (or the pass from L) recomputed in exact
 * arithmetic beside the dtypes it ran in (core/underflow.c): per node of f32/f16/bf16, how many
 * gradient entries are 0 in the dtype but nonzero exactly. NAME: that node only. */
static int cmd_underflow(bs_session *s, const bs_stmt *st)
{
    bs_id root = BS_NONE, only = BS_NONE;
    for (int i = 0; i < st->cmd.argc; i++) {
        const bs_word *w = &st->cmd.argv[i];
        if (!strncmp(w->text, "from=", 5)) {
            if (bs_lookup_node(s, w->text + 5, w->line, w->col + 5, &root)) return -1;
        } else if (only == BS_NONE && strncmp(w->text, "--", 2)) {
            if (bs_lookup_node(s, w->text, w->line, w->col, &only)) return -1;
        } else {
            return bs_cmd_usage(s, st, ":underflow [NAME] [from=L]");
        }
    }
    if (root == BS_NONE && s->npass > 0) root = s->pass_root[s->npass - 1];
    if (root == BS_NONE)
        return bs_fail(s, st->line, st->col, ":underflow reads a backward pass: run L.backward() first (or :underflow from=L)");
    int cap = bs_tape_len(s->ctx);
    bs_underflow_row *rows = calloc((size_t)(cap ? cap : 1), sizeof *rows);
    if (!rows) return bs_fail(s, st->line, st->col, "out of memory");
    int n = bs_underflow(s->ctx, root, rows, cap);
    if (n < 0) {
        free(rows);
        return bs_fail_core(s, st->line, st->col, NULL);
    }
    FILE *f = s->out;
    char rn[64], nm[64], big[40];
    bs_node_name(s->ctx, root, rn, sizeof rn);
    int64_t total = 0, under = 0;
    int shown = 0, nodes = 0;
    for (int i = 0; i < n; i++) {
        if (only != BS_NONE && rows[i].node != only) continue;
        if (!shown++) {
            fprintf(f, "underflow in the backward pass from %s: gradient entries that are 0 in their dtype "
                       "but not in exact arithmetic\n", rn);
            fprintf(f, "%-24s %-5s %8s %8s %11s  %s\n", "node", "dtype", "entries", "zero", "underflowed",
                    "largest lost");
        }
        bs_node_name(s->ctx, rows[i].node, nm, sizeof nm);
        snprintf(big, sizeof big, "%.3g", rows[i].largest_lost);
        fprintf(f, "%-24s %-5s %8lld %8lld %11lld  %s\n", nm, bs_dtype_name(rows[i].dtype),
                (long long)rows[i].numel, (long long)rows[i].zero, (long long)rows[i].underflowed,
                rows[i].underflowed ? big : "-");
        total += rows[i].numel;
        under += rows[i].underflowed;
        nodes += rows[i].underflowed > 0;
    }
    free(rows);
    if (!shown) {
        if (only != BS_NONE) {
            bs_node_name(s->ctx, only, nm, sizeof nm);
            fprintf(f, "%s: not a low-precision node of the pass from %s (float64 does not underflow here)\n", nm, rn);
        } else {
            fprintf(f, "the pass from %s ran in float64 only: nothing underflows (make tensors f16 or bf16: "
                       "x.half(), :dtype f16)\n", rn);
        }
        return 0;
    }
    if (under)
        fprintf(f, "%lld of %lld gradient entries underflowed to zero, in %d node%s (loss scaling keeps them: "
                   "scaler.scale(L).backward())\n", (long long)under, (long long)total, nodes, nodes == 1 ? "" : "s");
    else
        fprintf(f, "none of %lld gradient entries underflowed to zero\n", (long long)total);
    return 0;
}

/* ==== The sets ==== */

static const bs_command inspect_cmds[] = {
    {"help", cmd_help, "help [topic]", "commands, functions, an op's local derivative (:help sigmoid)"},
    {"vars", cmd_vars, "vars", "every name: shape, kind, value and grad previews"},
    {"show", cmd_show, "show NAME", "one node in full: op, inputs, value, grad, saved bytes"},
    {"check", cmd_check, "check [name]", "gradient check of every param by central differences"},
    {"mem", cmd_mem, "mem [name] [DIM=a,b,...]", "activation memory: the tensors each node saves for backward, as PyTorch saves them for that requires-grad pattern, each counted once in the total; nodes freed by backward() count nothing. With sizes (:mem S=128,256,512): the total at each size without running, a fit c0 + c1*S + c2*S^2, and the tensors that grow as S^2"},
    {"underflow", cmd_underflow, "underflow [NAME] [from=L]", "gradient entries that underflowed to zero in a low-precision dtype (0 in f16/bf16/f32, nonzero in exact arithmetic), per node of the last backward pass"},
    {NULL, NULL, NULL, NULL},
};

const bs_command_set bs_inspect_commands = {.title = "Inspecting", .cmds = inspect_cmds};

static const bs_command session_cmds[] = {
    {"precision", cmd_precision, "precision [n]", "significant digits in printed numbers"},
    {"dtype", cmd_dtype, "dtype [f64|f32|f16|bf16]", "dtype of new float leaves"},
    {"reset", cmd_reset, "reset", "forget every name and the whole tape"},
    {"save", cmd_save, "save FILE", "write a script that rebuilds this session"},
    {"load", cmd_load, "load FILE", "run a script in this session"},
    {"history", cmd_history, "history", "the statements this session ran"},
    {"quit", cmd_quit, "quit", "leave (Ctrl-D too)"},
    {NULL, NULL, NULL, NULL},
};

const bs_command_set bs_session_commands = {.title = "The session", .cmds = session_cmds};

/* ==== :lesson (the runner is lesson.c, on the public session API alone) ==== */

static int cmd_lesson(bs_session *s, const bs_stmt *st)
{
    const bs_word *w = bs_cmd_positional(st, 0);
    if (!w) return bs_lesson_list(s, s->out) < 0 ? bs_fail(s, st->line, st->col, "cannot list the lessons") : 0;
    int r = bs_lesson_run(s, w->text, stdin, s->out);
    if (r < 0) return bs_fail(s, w->line, w->col, "the lesson stopped (see above)");
    if (r == 2) s->quit = true; /* :quit typed inside the lesson */
    return 0;
}

static const bs_command lesson_cmds[] = {
    {"lesson", cmd_lesson, "lesson [name]", "list the lessons, or start one"},
    {NULL, NULL, NULL, NULL},
};

const bs_command_set bs_lesson_commands = {.title = "Lessons", .cmds = lesson_cmds};

/* ==== The reference (docs/reference.md) ====
 * Written from the tables themselves (the op table, the builtins, the commands), so the document
 * cannot say something the program does not do; tests/repl/test_docs.py keeps the committed file
 * equal to this output. */

static void md_cell(FILE *f, const char *t)
{
    for (; *t; t++) {
        if (*t == '|') fputs("\\|", f);
        else fputc(*t, f);
    }
}

static void md_builtin(void *ud, const char *name, bool is_func)
{
    (void)is_func;
    FILE *f = ud;
    const char *h = bs_builtin_help(name);
    if (!h || bs_op_by_name(name)) return;
    fputs("| `", f);
    size_t k = strcspn(h, ":");
    fprintf(f, "%.*s` | ", (int)k, h);
    md_cell(f, h[k] ? h + k + 1 + (h[k + 1] == ' ') : "");
    fputs(" |\n", f);
}

void bs_reference_markdown(FILE *f)
{
    fprintf(f, "# backstep %s: reference\n\n", BS_VERSION);
    fputs("This file is written by `backstep --reference` from the op table (`core/ops.def`), the\n"
          "builtins and the command table; a test keeps it equal to that output. The language itself\n"
          "(statements, printing, the step line, PyTorch as written) is in [language.md](language.md).\n\n", f);
    fputs("## Ops\n\nEach op is one node on the tape with its own VJP. `a`, `b` are the inputs, `out` the\n"
          "output; in matrix rules `A`, `B` are the inputs, `Y` the output and `G` the upstream\n"
          "gradient. The stepper prints these formulas with your names and numbers put in.\n\n", f);
    fputs("| op | what it computes | PyTorch's backward node | local derivative or VJP rule |\n"
          "|---|---|---|---|\n", f);
    for (int i = 0; i < BS_OP_COUNT; i++) {
        const bs_op_info *op = &bs_ops[i];
        size_t k = strcspn(op->help, ":");
        fprintf(f, "| `%.*s` | ", (int)k, op->help);
        md_cell(f, op->help[k] ? op->help + k + 1 + (op->help[k + 1] == ' ') : "");
        fprintf(f, " | `%s` | ", op->grad_fn);
        const char *in[2] = {"a", "b"};
        for (int j = 0; j < op->arity; j++) {
            char buf[1024];
            if (j) fputs("<br>", f);
            if (!op->deriv[j]) {
                fprintf(f, "%s: not differentiable", in[j]);
                continue;
            }
            bs_deriv_render_generic(op->id, j, buf, sizeof buf);
            if (bs_deriv_is_rule(op->id, j)) {
                fputc('`', f);
                md_cell(f, buf);
                fputc('`', f);
            } else {
                fprintf(f, "d out/d %s = `", in[j]);
                md_cell(f, buf);
                fputc('`', f);
            }
        }
        fputs(" |\n", f);
    }
    fputs("\n## Other functions\n\n| call | what it does |\n|---|---|\n", f);
    bs_builtins_each(md_builtin, f);
    fputs("\n## Commands\n", f);
    for (int k = 0; k < bs_command_set_count(); k++) {
        const bs_command_set *cs = bs_command_set_at(k);
        fprintf(f, "\n### %s\n\n| command | what it does |\n|---|---|\n", cs->title);
        for (const bs_command *c = cs->cmds; c->name; c++) {
            fprintf(f, "| `:%s` | ", c->usage);
            md_cell(f, c->help);
            fputs(" |\n", f);
        }
    }
}
