/* repl/stepper.c: stepping the backward pass node by node (:step :next :back :finish :abort), the
 * explanation of a grad (:explain), forward-mode stepping (:jvp) and slide frames (:export --steps).
 * Everything here reads the engine's step records (bs_backward_next); there is no second backprop. */
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "repl_int.h"
static void bs_stepper_free(bs_session *s);

static int bs_cmd_step(bs_session *s, const bs_stmt *st);
static int bs_cmd_next(bs_session *s, const bs_stmt *st);
static int bs_cmd_back(bs_session *s, const bs_stmt *st);
static int bs_cmd_finish(bs_session *s, const bs_stmt *st);
static int bs_cmd_abort(bs_session *s, const bs_stmt *st);
static int bs_cmd_jvp(bs_session *s, const bs_stmt *st);
static int bs_cmd_jacobian(bs_session *s, const bs_stmt *st);
static int bs_cmd_explain(bs_session *s, const bs_stmt *st);

struct bs_stepper {
    bs_id root;
    double *seed;            /* owned copy, or NULL for the implicit 1 */
    bs_shape seed_shape;
    bool retain;
    bs_bwd *it;
    bs_grad_snapshot *snap;  /* grads before :step, for :abort and :back */
    int done, total;
    bs_view_state view;
    char *hist;              /* the backward() call this pass equals, for :save (NULL: none) */
};

/* ==== Printing one step ==== */

static void num(bs_session *s, char *b, size_t n, double v)
{
    bs_fmt_num(b, n, v, s->o.precision, false);
}

/* a node as the learner knows it: its name, or its expression (never an internal id) */
static const char *name_of(bs_session *s, bs_id id, char *b, size_t n)
{
    return bs_node_expr(s->ctx, id, 40, b, n);
}

/* a name inside d.../d...: parenthesised when it is an expression ("d(v1 * h1)") */
static const char *dname(bs_session *s, bs_id id, char *b, size_t n)
{
    char t[76];
    name_of(s, id, t, sizeof t);
    if (t[strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'.")])
        snprintf(b, n, "(%s)", t);
    else
        snprintf(b, n, "%s", t);
    return b;
}

static void tensor_brief(bs_session *s, const bs_tensor *t, char *b, size_t n)
{
    if (bs_tensor_numel(t) == 1) {
        num(s, b, n, t->data[0]);
        return;
    }
    char sh[48], pv[160];
    bs_preview(t, s->o.precision < 4 ? s->o.precision : 4, pv, sizeof pv);
    snprintf(b, n, "%s %s", bs_shape_str(&t->shape, sh, sizeof sh), pv);
}

/* the stepped node as its step line names it: "z1 = w11 * x1 + b1", or its expression */
static const char *step_head(bs_session *s, bs_id id, char *b, size_t len)
{
    const bs_node *n = bs_node_get(s->ctx, id);
    char plain[64], scope[128] = "";
    name_of(s, id, plain, sizeof plain);
    if (n->scope) { /* the module or function call that made it: "fc1 (Linear) " */
        bs_scope_path(s, n->scope, scope, sizeof scope - 1);
        strcat(scope, " ");
    }
    if (n->label && n->text)
        snprintf(b, len, "%s%s = %s", scope, plain, n->text);
    else
        snprintf(b, len, "%s%s", scope, n->text ? n->text : plain);
    return b;
}

/* A checkpoint's forward ran again before this step: which one, from what, how much. Its inputs
   are the values its nodes read from outside it. */
static void print_recompute(bs_session *s, const bs_recompute_info *r)
{
    FILE *f = s->out;
    char from[256] = "", nm[64];
    size_t at = 0;
    int nfrom = 0;
    for (bs_id i = r->lo; i <= r->hi; i++) {
        const bs_node *n = bs_node_get(s->ctx, i);
        for (int k = 0; k < n->nin; k++) {
            bs_id x = n->in[k];
            const bs_node *xn = bs_node_get(s->ctx, x);
            if ((x >= r->lo && x <= r->hi) || xn->is_param || xn->is_number) continue;
            bool dup = false; /* listed already: an earlier node of the checkpoint read it too */
            for (bs_id j = r->lo; j < i && !dup; j++)
                for (int m = 0; m < bs_node_get(s->ctx, j)->nin; m++) dup |= bs_node_get(s->ctx, j)->in[m] == x;
            for (int m = 0; m < k; m++) dup |= n->in[m] == x;
            if (dup) continue;
            if (at < sizeof from)
                at += (size_t)snprintf(from + at, sizeof from - at, "%s%s", nfrom ? ", " : "", name_of(s, x, nm, sizeof nm));
            nfrom++;
        }
    }
    fprintf(f, "recompute  %s: backward reached it, so its forward runs again from %s (kept): %d op node%s "
               "made anew, %.0f FLOPs; %s\n",
            bs_scope_name(s->ctx, r->scope), nfrom ? from : "its params", r->nodes, r->nodes == 1 ? "" : "s",
            r->flops, r->same ? "the values equal the forward's" : "THE VALUES DIFFER FROM THE FORWARD'S");
}

static void print_step(bs_session *s, const bs_step *st, bs_id root)
{
    FILE *f = s->out;
    const bs_node *n = bs_node_get(s->ctx, st->node);
    char rn[80], nn[80], b1[200], b2[200], d1[1024], d2[1024];
    if (st->recompute.scope) print_recompute(s, &st->recompute);
    dname(s, root, rn, sizeof rn);
    dname(s, st->node, nn, sizeof nn);
    char head[160];
    step_head(s, st->node, head, sizeof head);
    tensor_brief(s, &st->upstream, b1, sizeof b1);
    fprintf(f, "step %d/%d  %-28s upstream d%s/d%s = %s\n", st->index, st->total, head, rn, nn, b1);
    if (n->is_cast)
        fprintf(f, "  op to(%s) (ToCopyBackward0), output %s\n", bs_dtype_name(n->value.dtype),
                bs_shape_str(&n->value.shape, b2, sizeof b2));
    else if (bs_tensor_numel(&n->value) > 1 || bs_ops[n->op].kind == BS_K_MAT)
        fprintf(f, "  op %s, output %s\n", bs_ops[n->op].name, bs_shape_str(&n->value.shape, b2, sizeof b2));
    for (int k = 0; k < st->nin; k++) {
        const bs_step_input *in = &st->in[k];
        const bs_node *x = bs_node_get(s->ctx, in->input);
        char xn[64], dx[80];
        name_of(s, in->input, xn, sizeof xn);
        dname(s, in->input, dx, sizeof dx);
        if (!in->gets_grad) {
            fprintf(f, "  %-6s %s\n", xn,
                    !bs_ops[n->op].deriv[k] ? "(not differentiable: no gradient flows here)"
                                            : "(does not require grad: no VJP computed)");
            continue;
        }
        /* local dOUT/dIN = FORMULA = WITH NUMBERS = VALUE, the value being the formula's own */
        bs_deriv_render(s->ctx, st->node, k, false, s->o.precision, d1, sizeof d1);
        if (n->is_cast) /* the gradient comes back in the input's dtype */
            snprintf(d1, sizeof d1, "d%s = G.to(%s.dtype)", xn, xn);
        bool scalar_local = in->local_ok && bs_tensor_numel(&in->local) == 1;
        if (in->local_ok) tensor_brief(s, &in->local, b1, sizeof b1);
        if (!bs_deriv_is_rule(n->op, k) && in->local_ok) {
            double lv;
            if (scalar_local && bs_deriv_eval(s->ctx, st->node, k, &lv)) num(s, b1, sizeof b1, lv);
            if (scalar_local && !bs_deriv_is_const(s->ctx, st->node, k)) {
                bs_deriv_render(s->ctx, st->node, k, true, s->o.precision, d2, sizeof d2);
                if (strcmp(d2, b1))
                    fprintf(f, "  %-6s local d%s/d%s = %s = %s = %s\n", xn, nn, dx, d1, d2, b1);
                else
                    fprintf(f, "  %-6s local d%s/d%s = %s = %s\n", xn, nn, dx, d1, b1);
            } else if (strcmp(d1, b1)) {
                fprintf(f, "  %-6s local d%s/d%s = %s = %s\n", xn, nn, dx, d1, b1);
            } else {
                fprintf(f, "  %-6s local d%s/d%s = %s\n", xn, nn, dx, d1);
            }
        } else if (!bs_deriv_is_rule(n->op, k)) {
            fprintf(f, "  %-6s local d%s/d%s = %s (each element's; %s)\n", xn, nn, dx, d1,
                    bs_ops[n->op].kind == BS_K_EW ? "the VJP sums over the broadcast dims"
                                                  : "the VJP spreads G back over what was reduced");
        } else {
            char sh[48];
            fprintf(f, "  %-6s VJP rule %s   (%s is %s)\n", xn, d1, xn, bs_shape_str(&x->value.shape, sh, sizeof sh));
        }
        tensor_brief(s, &in->vjp, b2, sizeof b2);
        char up[200];
        tensor_brief(s, &st->upstream, up, sizeof up);
        if (scalar_local && bs_tensor_numel(&st->upstream) == 1)
            fprintf(f, "         VJP -> %s.grad += %s x %s = %s", dx, up, b1, b2);
        else if (in->local_bcast)
            fprintf(f, "         VJP -> %s.grad += %s (upstream x local, summed over the broadcast dims)",
                    dx, b2);
        else
            fprintf(f, "         VJP -> %s.grad += %s", dx, b2);
        /* the running total after this contribution, as the engine recorded it */
        tensor_brief(s, &in->after, b1, sizeof b1);
        if (in->accumulated)
            fprintf(f, "   (a second path: d%s/d%s is now %s)\n", rn, dx, b1);
        else
            fprintf(f, "   d%s/d%s = %s\n", rn, dx, b1);
        /* a VJP entry that is 0 in the input's dtype but not in exact arithmetic: marked */
        int64_t uf = bs_step_underflow(s->ctx, st, k);
        if (uf > 0)
            fprintf(f, "         ! underflow: %lld of %lld entries of this VJP are 0 in %s, nonzero in exact "
                       "arithmetic (:underflow)\n", (long long)uf, (long long)bs_tensor_numel(&x->value),
                    bs_dtype_name(x->value.dtype));
    }
}

/* does a backward pass from root reach target (through inputs that require grad)? */
static bool pass_reaches(bs_session *s, bs_id root, bs_id target)
{
    const bs_node *t = bs_node_get(s->ctx, target), *r = bs_node_get(s->ctx, root);
    if (!t || !r || target > root || !t->requires_grad || !r->requires_grad) return false;
    if (target == root) return true;
    bool *on = calloc((size_t)root + 1, sizeof *on);
    if (!on) return false;
    bs_tape_walk(s->ctx, root, BS_WALK_GRAD, on);
    bool hit = on[target];
    free(on);
    return hit;
}

/* ==== Window state ==== */

static void view_update(bs_session *s, const bs_step *st)
{
    bs_stepper *p = s->step;
    bs_view_state *v = &p->view;
    bs_view_state_clear_labels(v);
    int32_t len = bs_tape_len(s->ctx);
    v->stepping = true;
    for (bs_id i = 0; i <= p->root && i < len; i++) {
        const bs_node *n = bs_node_get(s->ctx, i);
        uint8_t cur = i < v->nstep ? v->step[i] : BS_VSTEP_NONE;
        if (cur == BS_VSTEP_CURRENT) cur = BS_VSTEP_DONE;
        bs_pass_state ps = bs_backward_state(s->ctx, i);
        if (cur == BS_VSTEP_NONE && ps != BS_PASS_OFF) cur = BS_VSTEP_PENDING;
        /* leaves are done once a gradient reached them */
        if (n->is_leaf && ps == BS_PASS_REACHED) cur = BS_VSTEP_DONE;
        if (cur != BS_VSTEP_NONE) bs_view_state_set_step(v, i, cur);
    }
    if (st) {
        /* the step's node current, its input edges labelled with their VJPs in the graph's number
           format (viz's step move) */
        v->current = BS_NONE;
        bs_view_state_step(v, st);
        /* a VJP that underflowed in the input's dtype: marked on its edge, as the terminal marks it */
        for (int k = 0; k < st->nin; k++) {
            int64_t uf = bs_step_underflow(s->ctx, st, k);
            for (int j = 0; uf > 0 && j < v->nlabels; j++)
                if (v->labels[j].to == st->node && v->labels[j].slot == k) {
                    char t[128];
                    snprintf(t, sizeof t, "%.60s  ! %lld underflowed to 0", v->labels[j].text, (long long)uf);
                    bs_view_state_label_edge(v, st->node, k, t);
                }
        }
        char head[160], rn[80], nn[80], up[64];
        step_head(s, st->node, head, sizeof head);
        tensor_brief(s, &st->upstream, up, sizeof up);
        snprintf(v->caption, sizeof v->caption, "step %d/%d  %.90s   upstream d%.24s/d%.24s = %.24s", st->index,
                 st->total, head, dname(s, p->root, rn, sizeof rn), dname(s, st->node, nn, sizeof nn), up);
    } else {
        v->current = BS_NONE;
        char rn[80];
        snprintf(v->caption, sizeof v->caption, "before the first step of the backward pass from %s",
                 name_of(s, p->root, rn, sizeof rn));
    }
}

const bs_view_state *bs_stepper_view(bs_session *s) { return s->step ? &s->step->view : NULL; }

/* ==== Lifecycle ==== */

static void stepper_release(bs_session *s)
{
    bs_stepper *p = s->step;
    if (!p) return;
    bs_view_state_clear(&p->view);
    free(p->seed);
    free(p->hist);
    free(p);
    s->step = NULL;
}

static void bs_stepper_free(bs_session *s)
{
    bs_stepper *p = s->step;
    if (!p) return;
    if (p->it) bs_backward_abort(p->it);
    if (p->snap) bs_grad_snapshot_restore(s->ctx, p->snap);
    stepper_release(s);
}

static bs_bwd *begin_pass(bs_session *s, bs_stepper *p)
{
    bs_tensor seed = {bs_node_get(s->ctx, p->root)->value.dtype, p->seed_shape, p->seed};
    return bs_backward_begin(s->ctx, p->root, p->seed ? &seed : NULL, p->retain, true);
}

/* advance one step; prints it unless quiet_step. 1 stepped, 0 done, -1 error */
static int advance(bs_session *s, const bs_stmt *st, bool print)
{
    bs_stepper *p = s->step;
    bs_step rec;
    int r = bs_backward_next(p->it, &rec);
    if (r < 0) return bs_fail_core(s, st ? st->line : 0, st ? st->col : 0, NULL);
    if (r == 0) return 0;
    p->done++;
    p->total = rec.total;
    view_update(s, &rec);
    if (print && !s->o.quiet) print_step(s, &rec, p->root);
    return 1;
}

static void finish_pass(bs_session *s, bool print)
{
    bs_stepper *p = s->step;
    bs_backward_end(p->it);
    p->it = NULL;
    bs_pass_record(s, p->root);
    bs_grad_snapshot_free(p->snap);
    p->snap = NULL;
    if (p->hist) bs_hist_add(s, p->hist); /* :save records what the grads now are */
    if (print && !s->o.quiet) {
        char rn[64];
        fprintf(s->out, "backward from %s finished after %d step%s: every grad now equals %s.backward()'s\n",
                name_of(s, p->root, rn, sizeof rn), p->total, p->total == 1 ? "" : "s", rn);
    }
    stepper_release(s);
}

/* parse "seed=EXPR" and "retain_graph=True" among a command's words */
static int step_options(bs_session *s, const bs_stmt *st, const char **name, bs_value *seed,
                        const bs_expr **seed_e, bool *retain)
{
    *name = NULL;
    seed->k = BS_V_NONE;
    *retain = false;
    for (int i = 0; i < st->cmd.argc; i++) {
        const bs_word *w = &st->cmd.argv[i];
        if (!strncmp(w->text, "seed=", 5)) {
            bs_parse_error pe;
            bs_expr *e = bs_parse_expr(w->text + 5, w->line, &s->arena, &pe);
            if (!e) return bs_fail(s, w->line, w->col + 5 + pe.col - 1, "seed: %s", pe.msg);
            const char *saved = s->src;
            s->src = w->text + 5;
            int r = bs_eval_expr(s, e, seed);
            s->src = saved;
            if (r) return -1;
            *seed_e = e;
        } else if (!strcmp(w->text, "retain_graph=True") || !strcmp(w->text, "retain_graph=False")) {
            *retain = w->text[13] == 'T';
        } else if (strchr(w->text, '=') || w->text[0] == '-') {
            return bs_fail(s, w->line, w->col, "unknown option %s (seed=..., retain_graph=True)", w->text);
        } else if (!*name) {
            *name = w->text;
        } else {
            return bs_fail(s, w->line, w->col, "one name at a time");
        }
    }
    return 0;
}

/* "L.backward(gradient=..., retain_graph=True)": the statement a finished pass equals, so that
   :save writes what it did; NULL when the root has no name to call it by */
static char *pass_statement(bs_session *s, const bs_stmt *st, bs_id root, bool retain)
{
    const char *name = bs_node_get(s->ctx, root)->label, *seed = NULL;
    for (int i = 0; i < st->cmd.argc; i++)
        if (!strncmp(st->cmd.argv[i].text, "seed=", 5)) seed = st->cmd.argv[i].text + 5;
    bs_name *nm = name ? bs_name_find(s, name) : NULL;
    if (!nm || nm->kind != BS_NAME_NODE || nm->id != root) return NULL;
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s.backward(%s%s%s%s)", name, seed ? "gradient=" : "",
                     seed ? seed : "", seed && retain ? ", " : "", retain ? "retain_graph=True" : "");
    return n > 0 && (size_t)n < sizeof buf ? strdup(buf) : NULL;
}

static int bs_cmd_step(bs_session *s, const bs_stmt *st)
{
    if (s->step)
        return bs_fail(s, st->line, st->col,
                       "already stepping (step %d/%d): :next, :finish or :abort first",
                       s->step->done, s->step->total);
    const char *name;
    bs_value seedv;
    const bs_expr *seede = NULL;
    bool retain;
    if (step_options(s, st, &name, &seedv, &seede, &retain)) return -1;
    bs_id root;
    if (bs_cmd_node(s, st, name, &root)) return -1;
    bs_stepper *p = calloc(1, sizeof *p);
    if (!p) return bs_fail(s, st->line, st->col, "out of memory");
    p->root = root;
    p->retain = retain;
    bs_view_state_init(&p->view);
    if (seedv.k != BS_V_NONE) {
        bs_tensor t;
        if (bs_to_tensor(s, &seedv, seede, &t)) {
            free(p);
            return -1;
        }
        int64_t n = bs_tensor_numel(&t);
        p->seed = malloc((size_t)(n ? n : 1) * sizeof(double));
        if (!p->seed) {
            free(p);
            return bs_fail(s, st->line, st->col, "out of memory");
        }
        memcpy(p->seed, t.data, (size_t)n * sizeof(double));
        p->seed_shape = t.shape;
    }
    p->snap = bs_grad_snapshot_take(s->ctx);
    if (!p->snap) {
        free(p->seed);
        free(p);
        return bs_fail(s, st->line, st->col, "out of memory");
    }
    p->it = begin_pass(s, p);
    if (!p->it) {
        bs_grad_snapshot_free(p->snap);
        free(p->seed);
        free(p);
        return bs_fail_core(s, st->line, st->col, NULL);
    }
    s->step = p;
    p->hist = pass_statement(s, st, root, retain);
    char rn[64];
    name_of(s, root, rn, sizeof rn);
    int r = advance(s, st, true);
    if (r < 0) {
        bs_stepper_free(s);
        return -1;
    }
    if (r == 0) {
        if (!s->o.quiet) fprintf(s->out, "%s is a leaf: backward only sets %s.grad (no steps)\n", rn, rn);
        finish_pass(s, false);
        return 0;
    }
    if (p->total > 1 && s->o.interactive)
        fputs("(Enter or :next for the next node, :back, :finish, :abort)\n", s->out);
    return 0;
}

static int need_stepper(bs_session *s, const bs_stmt *st)
{
    if (s->step) return 0;
    return bs_fail(s, st ? st->line : 0, st ? st->col : 0, "not stepping: start with :step [name]");
}

static int next_k(bs_session *s, const bs_stmt *st, int k)
{
    for (int i = 0; i < k; i++) {
        int r = advance(s, st, true);
        if (r < 0) return -1;
        if (r == 0) {
            finish_pass(s, true);
            return 0;
        }
    }
    if (s->step && s->step->done == s->step->total && !s->o.quiet && st)
        fputs("(that was the last node: Enter or :finish completes the pass)\n", s->out);
    return 0;
}

static int bs_cmd_next(bs_session *s, const bs_stmt *st)
{
    if (need_stepper(s, st)) return -1;
    int k = 1;
    if (st && st->cmd.argc > 0) {
        char *end;
        errno = 0;
        long long v = strtoll(st->cmd.argv[0].text, &end, 10);
        if (*end || v < 1 || st->cmd.argc > 1)
            return bs_fail(s, st->cmd.argv[0].line, st->cmd.argv[0].col,
                           ":next takes one positive whole count (:next 4)");
        k = v > INT_MAX || errno == ERANGE ? INT_MAX : (int)v; /* past the end: to the end */
    }
    return next_k(s, st, k);
}

static int bs_cmd_back(bs_session *s, const bs_stmt *st)
{
    if (need_stepper(s, st)) return -1;
    bs_stepper *p = s->step;
    long long k = 1;
    if (st && st->cmd.argc > 0) {
        char *end;
        errno = 0;
        k = strtoll(st->cmd.argv[0].text, &end, 10);
        if (*end || k < 1 || st->cmd.argc > 1)
            return bs_fail(s, st->cmd.argv[0].line, st->cmd.argv[0].col,
                           ":back takes one positive whole count (:back 2)");
    }
    if (p->done - 1 < 1) return bs_fail(s, st ? st->line : 0, st ? st->col : 0, "already at the first step");
    int target = k >= p->done ? 1 : p->done - (int)k; /* past the start: to the first step */
    /* re-run from the start up to the previous step */
    bs_backward_abort(p->it);
    p->it = NULL;
    bs_grad_snapshot *again = bs_grad_snapshot_take(s->ctx);
    bs_grad_snapshot_restore(s->ctx, p->snap);
    p->snap = again ? bs_grad_snapshot_take(s->ctx) : NULL;
    bs_grad_snapshot_free(again);
    if (!p->snap) {
        stepper_release(s);
        return bs_fail(s, 0, 0, "out of memory");
    }
    p->it = begin_pass(s, p);
    if (!p->it) {
        bs_stepper_free(s);
        return bs_fail_core(s, st ? st->line : 0, st ? st->col : 0, NULL);
    }
    p->done = 0;
    bs_view_state_clear(&p->view);
    for (int i = 0; i < target; i++)
        if (advance(s, st, i == target - 1) <= 0) return -1;
    return 0;
}

static int bs_cmd_finish(bs_session *s, const bs_stmt *st)
{
    if (need_stepper(s, st)) return -1;
    int r;
    while ((r = advance(s, st, false)) > 0) {}
    if (r < 0) return -1;
    finish_pass(s, true);
    return 0;
}

static int bs_cmd_abort(bs_session *s, const bs_stmt *st)
{
    if (need_stepper(s, st)) return -1;
    bs_stepper_free(s);
    if (!s->o.quiet) fputs("stepping stopped; every grad is as it was before :step\n", s->out);
    return 0;
}

void bs_stepper_key(bs_session *s, bs_window_event_kind k)
{
    if (!s->step) return;
    bs_error e = {0};
    bs_error *saved = s->e;
    s->e = &e;
    if (k == BS_WEV_NEXT)
        next_k(s, NULL, 1);
    else if (k == BS_WEV_BACK)
        bs_cmd_back(s, NULL);
    else if (k == BS_WEV_FINISH)
        bs_cmd_finish(s, NULL);
    if (e.msg[0]) fprintf(s->out, "%s\n", e.msg);
    s->e = saved;
}

/* ==== :explain ==== */

static int bs_cmd_explain(bs_session *s, const bs_stmt *st)
{
    if (st->cmd.argc < 1) return bs_fail(s, st->line, st->col, "usage: :explain NAME [from=ROOT]");
    const bs_word *w = &st->cmd.argv[0];
    bs_id target, root = BS_NONE;
    if (bs_lookup_node(s, w->text, w->line, w->col, &target)) return -1;
    for (int i = 1; i < st->cmd.argc; i++) {
        const bs_word *o = &st->cmd.argv[i];
        if (!strncmp(o->text, "from=", 5)) {
            if (bs_lookup_node(s, o->text + 5, o->line, o->col + 5, &root)) return -1;
        } else {
            return bs_fail(s, o->line, o->col, "unknown option %s (from=ROOT)", o->text);
        }
    }
    if (s->step) return bs_fail(s, st->line, st->col, "finish or abort the stepper first");
    const bs_node *tn = bs_node_get(s->ctx, target);
    char tnm[64], rn[64], b1[200], b2[200];
    name_of(s, target, tnm, sizeof tnm);
    if (!tn->requires_grad) {
        fprintf(s->out, "%s does not require grad: no gradient flows into it\n", tnm);
        return 0;
    }
    bool picked = root == BS_NONE;
    if (picked) {
        /* the newest backward pass that reached the target */
        for (int i = s->npass - 1; i >= 0 && root == BS_NONE; i--)
            if (pass_reaches(s, s->pass_root[i], target)) root = s->pass_root[i];
        if (root == BS_NONE) {
            fprintf(s->out, "no backward pass has reached %s yet%s: run L.backward() or :step L "
                            "for a loss L that depends on it, or pick one with :explain %s from=L\n",
                    tnm, s->npass ? " (the passes so far did not depend on it)" : "", w->text);
            return 0;
        }
    }
    name_of(s, root, rn, sizeof rn);
    if (target > root) return bs_fail(s, w->line, w->col, "%s was made after %s: %s does not depend on it", tnm, rn, rn);
    int32_t len = bs_tape_len(s->ctx);
    bs_id *parent = malloc((size_t)len * sizeof *parent);
    if (!parent) return bs_fail(s, st->line, st->col, "out of memory");
    for (int32_t i = 0; i < len; i++) parent[i] = BS_NONE;
    bs_grad_snapshot *snap = bs_grad_snapshot_take(s->ctx);
    bs_bwd *it = snap ? bs_backward_replay_begin(s->ctx, root, NULL) : NULL;
    if (!it) {
        if (snap) bs_grad_snapshot_restore(s->ctx, snap);
        free(parent);
        return bs_fail_core(s, st->line, st->col, "explain");
    }
    FILE *f = s->out;
    char drn[80], dtn[80];
    dname(s, root, drn, sizeof drn);
    dname(s, target, dtn, sizeof dtn);
    if (picked)
        fprintf(f, "d%s/d%s, assembled by the last backward pass that reached %s (from %s):\n", drn,
                dtn, tnm, rn);
    else
        fprintf(f, "d%s/d%s, assembled by the backward pass from %s:\n", drn, dtn, rn);
    int count = 0;
    bs_step rec;
    double total = 0;
    bool scalar = bs_tensor_numel(&tn->value) == 1;
    while (bs_backward_next(it, &rec) > 0) {
        for (int k = 0; k < rec.nin; k++) {
            if (!rec.in[k].gets_grad) continue;
            bs_id x = rec.in[k].input;
            if (parent[x] == BS_NONE) parent[x] = rec.node;
            if (x != target) continue;
            count++;
            /* the path: consumer, its first consumer, ... up to the root */
            char path[512] = "";
            size_t o = 0;
            for (bs_id y = rec.node; y != BS_NONE && o < sizeof path - 80; y = parent[y]) {
                char nm[64];
                o += (size_t)snprintf(path + o, sizeof path - o, "%s%s", o ? " <- " : "",
                                      name_of(s, y, nm, sizeof nm));
                if (y == root) break;
            }
            tensor_brief(s, &rec.upstream, b1, sizeof b1);
            tensor_brief(s, &rec.in[k].vjp, b2, sizeof b2);
            char d[256];
            bs_deriv_render(s->ctx, rec.node, k, false, s->o.precision, d, sizeof d);
            fprintf(f, "  %d. via %s: upstream %s, local %s -> %s\n", count, path, b1, d, b2);
            fprintf(f, "     path: %s <- %s\n", tnm, path);
            if (scalar) total += rec.in[k].vjp.data[0];
        }
    }
    bs_backward_abort(it);
    bs_grad_snapshot_restore(s->ctx, snap);
    free(parent);
    if (!count) {
        fprintf(f, "  no path: %s does not depend on %s\n", rn, tnm);
        return 0;
    }
    if (scalar) {
        num(s, b1, sizeof b1, total);
        fprintf(f, "  sum over %d path%s: d%s/d%s = %s", count, count == 1 ? "" : "s", drn, dtn, b1);
        if (tn->grad.data) {
            num(s, b2, sizeof b2, tn->grad.data[0]);
            fprintf(f, "   (%s.grad holds %s%s)", tnm, b2,
                    tn->grad.data[0] != total ? ": it also holds earlier backward passes" : "");
        }
        fputc('\n', f);
    }
    return 0;
}

/* ==== :jvp (forward mode) ==== */

typedef struct {
    bs_session *s;
    bs_id wrt, target;
    int steps;
    double result;
    bool have;
} jvp_ud;

static void jvp_visit(void *ud, bs_id node, const bs_tensor *t)
{
    jvp_ud *j = ud;
    bs_session *s = j->s;
    if (node > j->target) return;
    char nm[64], wn[64], dn[80], dw[80], b[200];
    const bs_node *n = bs_node_get(s->ctx, node);
    name_of(s, node, nm, sizeof nm);
    name_of(s, j->wrt, wn, sizeof wn);
    dname(s, node, dn, sizeof dn);
    dname(s, j->wrt, dw, sizeof dw);
    tensor_brief(s, t, b, sizeof b);
    if (node == j->wrt) {
        fprintf(s->out, "seed       d%s/d%s = %s\n", dw, dw, b);
        return;
    }
    j->steps++;
    char head[160];
    if (n->label && n->text)
        snprintf(head, sizeof head, "%s = %s", nm, n->text);
    else
        snprintf(head, sizeof head, "%s", n->text ? n->text : nm);
    fprintf(s->out, "step %-4d  %-28s tangent d%s/d%s = %s\n", j->steps, head, dn, dw, b);
    if (node == j->target && bs_tensor_numel(t) == 1) {
        j->result = t->data[0];
        j->have = true;
    }
}

/* the arguments of :jvp and :jacobian, NAME wrt=X, resolved to nodes (NAME may be left out: the
   default root) */
static int name_wrt(bs_session *s, const bs_stmt *st, const char *usage, const char *why, const char **name,
                    const char **wrt, const bs_word **ww, bs_id *out, bs_id *x)
{
    *name = *wrt = NULL;
    *ww = NULL;
    for (int i = 0; i < st->cmd.argc; i++) {
        const bs_word *w = &st->cmd.argv[i];
        if (!strncmp(w->text, "wrt=", 4)) {
            *wrt = w->text + 4;
            *ww = w;
        } else if (!*name) {
            *name = w->text;
        } else {
            return bs_fail(s, w->line, w->col, "usage: %s", usage);
        }
    }
    if (!*wrt) return bs_fail(s, st->line, st->col, "usage: %s (%s)", usage, why);
    if (bs_cmd_node(s, st, *name, out)) return -1;
    return bs_lookup_node(s, *wrt, (*ww)->line, (*ww)->col + 4, x);
}

static int bs_cmd_jvp(bs_session *s, const bs_stmt *st)
{
    const char *name, *wrt;
    const bs_word *ww;
    bs_id target, x;
    if (name_wrt(s, st, ":jvp NAME wrt=X", "the input to perturb", &name, &wrt, &ww, &target, &x)) return -1;
    if (x > target) return bs_fail(s, ww->line, ww->col, "%s was made after the output: nothing depends on it", wrt);
    const bs_node *xn = bs_node_get(s->ctx, x);
    if (!xn->requires_grad) return bs_fail(s, ww->line, ww->col, "%s does not require grad: no tangent flows from it", wrt);
    char tn[64];
    name_of(s, target, tn, sizeof tn);
    fprintf(s->out, "forward mode: push a tangent from %s through every node to %s%s\n", wrt, tn,
            bs_tensor_numel(&xn->value) > 1 ? " (direction: all ones)" : "");
    jvp_ud j = {s, x, target, 0, 0, false};
    if (bs_jvp(s->ctx, x, NULL, target, jvp_visit, &j)) return bs_fail_core(s, st->line, st->col, "jvp");
    if (j.have) {
        char b[64];
        num(s, b, sizeof b, j.result);
        char dt[80];
        fprintf(s->out, "d%s/d%s = %s after %d forward step%s.\n", dname(s, target, dt, sizeof dt), wrt, b,
                j.steps, j.steps == 1 ? "" : "s");
    }
    /* the comparison a lesson wants: how many passes each order needs for the whole Jacobian */
    long long inputs = 0, outputs = (long long)bs_tensor_numel(&bs_node_get(s->ctx, target)->value);
    /* the params the output depends on, not every param of the session */
    bool *dep = calloc((size_t)(target + 1), sizeof *dep);
    if (!dep) return bs_fail(s, st->line, st->col, "out of memory");
    bs_tape_walk(s->ctx, target, 0, dep);
    for (bs_id i = 0; i <= target; i++)
        if (dep[i] && bs_node_get(s->ctx, i)->is_param) inputs += (long long)bs_tensor_numel(&bs_node_get(s->ctx, i)->value);
    free(dep);
    fprintf(s->out, "Forward mode carries one input direction per pass: all %lld param entries need %lld "
                    "pass%s. Reverse mode carries one output entry per pass: %s's %lld entr%s need %lld.\n",
            inputs, inputs, inputs == 1 ? "" : "es", tn, outputs, outputs == 1 ? "y" : "ies", outputs);
    return 0;
}

/* ==== :jacobian ====
 * :jacobian OUT wrt=X builds the whole Jacobian dOUT/dX, one forward-mode pass per entry of X
 * (column j is the tangent of OUT when X's tangent is the j-th unit vector), prints it with its
 * shape and bytes beside the VJP's, and checks that upstream @ J is what a backward pass hands X
 * (upstream: ones of OUT's shape, the seed backward() uses for a scalar). Small sizes only: that
 * J grows as |OUT| x |X| is the point. */

#define JAC_MAX_ENTRIES 4096

typedef struct {
    bs_id out;
    double *col;     /* OUT's tangent, numel(OUT) */
    bool have;
} jac_ud;

static void jac_visit(void *ud, bs_id node, const bs_tensor *t)
{
    jac_ud *j = ud;
    if (node != j->out) return;
    memcpy(j->col, t->data, (size_t)bs_tensor_numel(t) * sizeof(double));
    j->have = true;
}

static int bs_cmd_jacobian(bs_session *s, const bs_stmt *st)
{
    const char *name, *wrt;
    const bs_word *ww;
    bs_id out, x;
    if (name_wrt(s, st, ":jacobian OUT wrt=X", "the input the Jacobian is taken in", &name, &wrt, &ww, &out, &x))
        return -1;
    if (s->step) return bs_fail(s, st->line, st->col, "finish or abort the stepper first (:finish, :abort)");
    const bs_node *on = bs_node_get(s->ctx, out), *xn = bs_node_get(s->ctx, x);
    if (x > out) return bs_fail(s, ww->line, ww->col, "%s was made after %s: nothing in it depends on %s", wrt, name ? name : "the output", wrt);
    if (!xn->requires_grad) return bs_fail(s, ww->line, ww->col, "%s does not require grad: it has no Jacobian here", wrt);
    if (!on->requires_grad) return bs_fail(s, st->line, st->col, "the output does not require grad: nothing to differentiate");
    int64_t m = bs_tensor_numel(&on->value), n = bs_tensor_numel(&xn->value);
    size_t esz = bs_dtype_size(on->value.dtype);
    char osh[48], xsh[48], on_[64], xn_[64];
    bs_shape_str(&on->value.shape, osh, sizeof osh);
    bs_shape_str(&xn->value.shape, xsh, sizeof xsh);
    name_of(s, out, on_, sizeof on_);
    name_of(s, x, xn_, sizeof xn_);
    if (m * n > JAC_MAX_ENTRIES)
        return bs_fail(s, st->line, st->col,
                       "the Jacobian d%s/d%s has %lld x %lld = %lld entries (%.3g MB in %s): too big to "
                       "build here (at most %d). That is why autograd never builds it: a VJP needs "
                       "only %lld numbers", on_, xn_, (long long)m, (long long)n, (long long)(m * n),
                       (double)(m * n) * (double)esz / 1e6, bs_dtype_name(on->value.dtype), JAC_MAX_ENTRIES,
                       (long long)n);
    double *J = calloc((size_t)(m * n), sizeof *J), *col = calloc((size_t)m, sizeof *col);
    double *dir = calloc((size_t)n, sizeof *dir), *vjp = calloc((size_t)n, sizeof *vjp);
    double *uj = calloc((size_t)n, sizeof *uj), *ones = malloc((size_t)m * sizeof *ones);
    int rc = 0;
    if (!J || !col || !dir || !vjp || !uj || !ones) {
        rc = bs_fail(s, st->line, st->col, "out of memory");
        goto out;
    }
    /* J, one column per forward pass */
    for (int64_t j = 0; j < n; j++) {
        memset(dir, 0, (size_t)n * sizeof *dir);
        dir[j] = 1;
        bs_tensor d = {BS_F64, xn->value.shape, dir};
        jac_ud ud = {out, col, false};
        if (bs_jvp(s->ctx, x, &d, out, jac_visit, &ud)) {
            rc = bs_fail_core(s, st->line, st->col, "jacobian");
            goto out;
        }
        for (int64_t i = 0; i < m; i++) J[i * n + j] = ud.have ? col[i] : 0;
    }
    /* the VJP a backward pass computes, on a copy of the grads */
    for (int64_t i = 0; i < m; i++) ones[i] = 1;
    bs_grad_snapshot *snap = bs_grad_snapshot_take(s->ctx);
    if (!snap) {
        rc = bs_fail(s, st->line, st->col, "out of memory");
        goto out;
    }
    bs_zero_grad_all(s->ctx);
    bs_tensor seed = {on->value.dtype, on->value.shape, ones};
    /* a replay of the pass: it runs on a graph an earlier backward() freed too, and keeps it */
    bs_status bst = BS_OK;
    bs_bwd *it = bs_backward_replay_begin(s->ctx, out, m == 1 ? NULL : &seed);
    if (!it) bst = bs_errcode(s->ctx);
    int r = 1;
    while (it && (r = bs_backward_next(it, NULL)) > 0) {}
    if (it && r < 0) {
        bst = bs_errcode(s->ctx);
        bs_backward_abort(it);
    } else if (it) {
        bs_backward_end(it);
    }
    const bs_node *xa = bs_node_get(s->ctx, x);
    bool reached = !bst && xa->grad.data;
    if (reached) memcpy(vjp, xa->grad.data, (size_t)n * sizeof *vjp);
    bs_grad_snapshot_restore(s->ctx, snap);
    if (bst) {
        rc = bs_fail_core(s, st->line, st->col, "jacobian");
        goto out;
    }
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < m; i++) uj[j] += ones[i] * J[i * n + j];
    double worst = 0;
    for (int64_t j = 0; j < n; j++) {
        double d = fabs(uj[j] - vjp[j]) / fmax(1.0, fabs(vjp[j]));
        if (d > worst) worst = d;
    }
    FILE *f = s->out;
    fprintf(f, "J = d%s/d%s: %lld x %lld, %lld numbers, %lld bytes in %s (%lld forward pass%s)\n", on_, xn_,
            (long long)m, (long long)n, (long long)(m * n), (long long)((size_t)(m * n) * esz),
            bs_dtype_name(on->value.dtype), (long long)n, n == 1 ? "" : "es");
    bs_shape js = {2, {m, n}};
    bs_tensor jt = {BS_F64, js, J};
    bs_print_tensor(s, f, &jt, false, s->o.precision);
    fputc('\n', f);
    bs_tensor ut = {BS_F64, xn->value.shape, uj}, vt = {BS_F64, xn->value.shape, vjp};
    if (m == 1)
        fprintf(f, "upstream @ J, upstream = 1 (%s.backward()), shaped as %s %s:\n", on_, xn_, xsh);
    else
        fprintf(f, "upstream @ J, upstream = ones%s (%s.backward(ones_like(%s))), shaped as %s:\n", osh, on_,
                on_, xn_);
    bs_print_tensor(s, f, &ut, false, s->o.precision);
    fputc('\n', f);
    fprintf(f, "the VJP backward() hands %s: %lld number%s, %lld bytes, and J is never made:\n", xn_,
            (long long)n, n == 1 ? "" : "s", (long long)((size_t)n * bs_dtype_size(xn->value.dtype)));
    if (reached) {
        bs_print_tensor(s, f, &vt, false, s->o.precision);
        fputc('\n', f);
    } else {
        fprintf(f, "None (no gradient reaches %s)\n", xn_);
    }
    char wb[32];
    snprintf(wb, sizeof wb, "%.3g", worst);
    fprintf(f, "upstream @ J %s the VJP (largest difference %s)\n", worst <= 1e-12 ? "equals" : "differs from", wb);
out:
    free(J);
    free(col);
    free(dir);
    free(vjp);
    free(uj);
    free(ones);
    return rc;
}

/* ==== :export DIR --steps ==== */

/* one frame: the view as the stepper's state shows it now, where the frames' layout put it (the
   layout is made from the first frame, so that no node ever moves) */
static int export_frame(bs_session *s, const bs_stmt *st, const bs_view_state *vs, bs_id root,
                        bs_layout **lay, const char *path)
{
    char err[256];
    bs_view *v = bs_view_build(s->ctx, root, vs, BS_VIEW_GRADS | BS_VIEW_HEATMAPS, err, sizeof err);
    if (!v) return bs_fail(s, st->line, st->col, "%s", err);
    if (!*lay) *lay = bs_viz_layout(v, err, sizeof err);
    bs_status rc = *lay ? bs_viz_export_at(v, *lay, path, err, sizeof err) : BS_ERR_VALUE;
    bs_view_free(v);
    return rc ? bs_fail(s, st->line, st->col, "%s", err) : 0;
}

/* The frames replay one pass from fresh grads: every grad to None first (restored afterwards),
   so each frame shows what this pass has accumulated so far and the last one each grad once,
   whatever earlier passes (or a :finish) left in .grad. */
int bs_stepper_export_frames(bs_session *s, const bs_stmt *st, const char *dir, bs_id root,
                             const char *ext)
{
    if (s->step) return bs_fail(s, st->line, st->col, "finish or abort the stepper first");
    if (mkdir(dir, 0777) && errno != EEXIST)
        return bs_fail(s, st->line, st->col, "cannot create %s: %s", dir, strerror(errno));
    bs_grad_snapshot *snap = bs_grad_snapshot_take(s->ctx);
    if (!snap) return bs_fail(s, st->line, st->col, "out of memory");
    for (bs_id i = 0; i < bs_tape_len(s->ctx); i++) bs_zero_grad(s->ctx, i);
    bs_bwd *it = bs_backward_replay_begin(s->ctx, root, NULL);
    if (!it) {
        bs_grad_snapshot_restore(s->ctx, snap);
        return bs_fail_core(s, st->line, st->col, "export");
    }
    /* a temporary stepper so that the view state is built the same way as :step's */
    bs_stepper tmp = {0};
    tmp.root = root;
    bs_view_state_init(&tmp.view);
    s->step = &tmp;
    bs_layout *lay = NULL;
    int frames = 0, rc = 0;
    bs_step rec;
    char path[1024];
    view_update(s, NULL);
    snprintf(path, sizeof path, "%s/step-000.%s", dir, ext);
    if (!(rc = export_frame(s, st, &tmp.view, root, &lay, path))) frames++;
    while (!rc && bs_backward_next(it, &rec) > 0) {
        view_update(s, &rec);
        snprintf(path, sizeof path, "%s/step-%03d.%s", dir, rec.index, ext);
        if (!(rc = export_frame(s, st, &tmp.view, root, &lay, path))) frames++;
    }
    s->step = NULL;
    bs_layout_free(lay);
    bs_view_state_clear(&tmp.view);
    bs_backward_abort(it);
    bs_grad_snapshot_restore(s->ctx, snap);
    if (!rc && !s->o.quiet)
        fprintf(s->out, "wrote %d frames to %s/ (step-000 is before the first step; one layout, "
                        "the grads of this one pass as they accumulate)\n", frames, dir);
    return rc;
}

/* ==== The set ==== */

static const bs_command stepper_cmds[] = {
    {"step", bs_cmd_step, "step [name] [seed=...]", "step the backward pass node by node from name"},
    {"next", bs_cmd_next, "next [k]", "advance the stepper k nodes (Enter = 1)"},
    {"back", bs_cmd_back, "back", "go back one step"},
    {"finish", bs_cmd_finish, "finish", "run the pass to the end (grads equal backward()'s)"},
    {"abort", bs_cmd_abort, "abort", "stop stepping; grads return to what they were"},
    {"explain", bs_cmd_explain, "explain NAME [from=L]", "how NAME.grad was assembled by the last backward pass that reached it (or the pass from L): each contribution and its path"},
    {"jvp", bs_cmd_jvp, "jvp NAME wrt=X", "step a forward-mode pass (tangents) from X to NAME"},
    {"jacobian", bs_cmd_jacobian, "jacobian OUT wrt=X", "the whole Jacobian dOUT/dX (small sizes), its shape and bytes beside the VJP's, and upstream @ J checked against what backward() hands X"},
    {NULL, NULL, NULL, NULL},
};

const bs_command_set bs_stepper_commands = {
    .title = "Stepping",
    .cmds = stepper_cmds,
    .session_reset = bs_stepper_free,
    .session_free = bs_stepper_free,
};
