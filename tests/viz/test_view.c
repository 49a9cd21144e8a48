/* tests/viz/test_view.c: the view model against the tape it is built from (nodes a root depends
 * on by an independent search, kinds, titles, previews against the node values, state flags,
 * stepping state, structure hash), the theme against assets/theme.conf read here, and the
 * messages of builds without Graphviz or SDL. Usage: test_view ASSETS_THEME_CONF */
#include <math.h>

#include "viz_test.h"

/* ==== Oracles ==== */

static void deps(const bs_ctx *c, bs_id id, char *mark)
{
    if (mark[id])
        return;
    mark[id] = 1;
    const bs_node *n = bs_node_get(c, id);
    for (int i = 0; i < n->nin; i++)
        deps(c, n->in[i], mark);
}

static const bs_view_node *find(const bs_view *v, bs_id id)
{
    int k = bs_view_find(v, id);
    return k < 0 ? NULL : &v->nodes[k];
}

static bool same_rgb(bs_rgb a, bs_rgb b)
{
    return a.r == b.r && a.g == b.g && a.b == b.b;
}

/* ==== Tests ==== */

static void test_nodes_and_edges(void)
{
    bs_ctx *c = bs_ctx_new();
    vt_net n = vt_build_221(c, false);
    bs_id two = bs_scalar(c, 2.0, BS_F64);
    bs_id extra = bs_apply2(c, BS_OP_MUL, two, n.L);
    char err[256];

    /* whole tape */
    bs_view *v = bs_view_build(c, BS_NONE, NULL, 0, err, sizeof err);
    CHECK(v, "%s", err);
    if (!v)
        return;
    CHECK(v->nnodes == bs_tape_len(c), "%d nodes for a tape of %d", v->nnodes, bs_tape_len(c));
    int nin = 0;
    for (bs_id i = 0; i < bs_tape_len(c); i++)
        nin += bs_node_get(c, i)->nin;
    CHECK(v->nedges == nin, "%d edges, tape has %d inputs", v->nedges, nin);
    for (int k = 0; k < v->nedges; k++) {
        const bs_view_edge *e = &v->edges[k];
        const bs_node *to = bs_node_get(c, v->nodes[e->to].id);
        CHECK(e->slot >= 0 && e->slot < to->nin && to->in[e->slot] == v->nodes[e->from].id,
              "edge %d does not match the tape", k);
    }
    for (int k = 1; k < v->nnodes; k++)
        CHECK(v->nodes[k - 1].id < v->nodes[k].id, "nodes not in tape order");
    bs_view_free(v);

    /* a root: exactly what it depends on */
    bs_id roots[] = {n.z1, n.h2, n.L, extra, n.x1};
    for (size_t r = 0; r < sizeof roots / sizeof roots[0]; r++) {
        char *mark = calloc((size_t)bs_tape_len(c), 1);
        deps(c, roots[r], mark);
        v = bs_view_build(c, roots[r], NULL, 0, err, sizeof err);
        CHECK(v, "%s", err);
        int want = 0;
        for (bs_id i = 0; i < bs_tape_len(c); i++) {
            want += mark[i];
            CHECK((bs_view_find(v, i) >= 0) == (mark[i] != 0), "root %d: node %d %s", roots[r], i,
                  mark[i] ? "missing" : "should not be drawn");
        }
        CHECK(v->nnodes == want, "root %d: %d nodes, want %d", roots[r], v->nnodes, want);
        CHECK(find(v, roots[r]) && (find(v, roots[r])->flags & BS_VNF_ROOT), "root flag");
        free(mark);
        bs_view_free(v);
    }

    /* bad root */
    v = bs_view_build(c, bs_tape_len(c) + 5, NULL, 0, err, sizeof err);
    CHECK(!v && strstr(err, "no node"), "bad root gave '%s'", v ? "a view" : err);
    bs_view_free(v);

    /* kinds and titles */
    v = bs_view_build(c, BS_NONE, NULL, 0, err, sizeof err);
    CHECK(find(v, n.w11)->kind == BS_VN_PARAM, "w11 is a param");
    CHECK(find(v, n.x1)->kind == BS_VN_INPUT, "x1 is a leaf that does not learn");
    CHECK(find(v, two)->kind == BS_VN_CONST, "an unnamed scalar constant is drawn small");
    CHECK(find(v, n.z1)->kind == BS_VN_OP, "z1 is an op");
    for (int k = 0; k < v->nnodes; k++) {
        const bs_view_node *vn = &v->nodes[k];
        const bs_node *nd = bs_node_get(c, vn->id);
        char want[128];
        if (vn->kind == BS_VN_OP) {
            if (nd->label)
                snprintf(want, sizeof want, "%s = %s", nd->label, bs_ops[nd->op].symbol);
            else
                snprintf(want, sizeof want, "%s", bs_ops[nd->op].symbol);
            CHECK(!strcmp(vn->title, want), "title '%s', want '%s'", vn->title, want);
            CHECK(!strcmp(vn->op, bs_ops[nd->op].symbol), "op symbol");
        } else if (nd->label)
            CHECK(!strcmp(vn->title, nd->label), "leaf title '%s', want '%s'", vn->title, nd->label);
        /* value previews of scalars: 4 significant digits of the node's value */
        snprintf(want, sizeof want, "%.4g", nd->value.data[0]);
        if (nd->value.data[0] == 0)
            snprintf(want, sizeof want, "0");
        CHECK(!strcmp(vn->value, want), "node %d value '%s', want '%s'", vn->id, vn->value, want);
        CHECK(!*vn->grad && !(vn->flags & BS_VNF_GRAD), "no grad before backward");
        CHECK(vn->width > 0 && vn->height > 0, "layout size");
    }
    CHECK(!strcmp(find(v, n.L)->value, "0.4629"), "L = %s, the reference says 0.4629",
          find(v, n.L)->value);
    bs_view_free(v);
    bs_ctx_free(c);
}

static void test_grads_and_hash(void)
{
    bs_ctx *c = bs_ctx_new();
    vt_net n = vt_build_221(c, false);
    char err[256];
    bs_view *before = bs_view_build(c, n.L, NULL, BS_VIEW_ALL, err, sizeof err);
    CHECK(bs_backward(c, n.L, NULL, false) == BS_OK, "backward: %s", bs_errmsg(c));
    bs_view *after = bs_view_build(c, n.L, NULL, BS_VIEW_ALL, err, sizeof err);
    bs_view *nograds = bs_view_build(c, n.L, NULL, 0, err, sizeof err);
    CHECK(before && after && nograds, "%s", err);
    if (!before || !after || !nograds)
        return;
    CHECK(before->structure == after->structure, "a backward pass must not change the layout");
    for (int k = 0; k < after->nnodes; k++) {
        const bs_view_node *vn = &after->nodes[k];
        const bs_node *nd = bs_node_get(c, vn->id);
        CHECK(((vn->flags & BS_VNF_GRAD) != 0) == (nd->grad.data != NULL), "grad flag of %d", vn->id);
        CHECK(((vn->flags & BS_VNF_FREED) != 0) == bs_node_freed(c, vn->id), "freed flag of %d", vn->id);
        if (nd->grad.data) {
            char want[64];
            snprintf(want, sizeof want, "grad %.4g", nd->grad.data[0]);
            if (nd->grad.data[0] == 0)
                snprintf(want, sizeof want, "grad 0");
            CHECK(!strcmp(vn->grad, want), "node %d grad '%s', want '%s'", vn->id, vn->grad, want);
            CHECK(fabs(vn->gmag - fabs(nd->grad.data[0])) < 1e-12, "gmag");
        }
        CHECK(!*nograds->nodes[k].grad, "grads hidden without BS_VIEW_GRADS");
    }
    /* the reference's dL/dz3 = yhat - y = -0.3705 */
    CHECK(!strcmp(find(after, n.z3)->grad, "grad -0.3705"), "dL/dz3 shown as '%s'",
          find(after, n.z3)->grad);
    /* edges: coloured by the grad of the input they feed, known now for params */
    for (int k = 0; k < after->nedges; k++) {
        const bs_view_edge *e = &after->edges[k];
        const bs_view_node *src = &after->nodes[e->from];
        if (src->flags & BS_VNF_GRAD)
            CHECK(same_rgb(e->color, bs_theme_grad_color(src->gmag)), "edge colour by |grad|");
        else
            CHECK(isnan(e->gmag), "no magnitude without a grad");
    }
    /* a value change (in place, as an optimizer step does) keeps the structure */
    double v031 = 0.31;
    bs_shape sc0 = {0, {0}};
    bs_tensor t031 = {BS_F64, sc0, &v031};
    bs_ctx_set_no_grad(c, true);
    CHECK(bs_update_inplace(c, n.w11, &t031) == BS_OK, "update w11: %s", bs_errmsg(c));
    bs_ctx_set_no_grad(c, false);
    bs_view *stepped = bs_view_build(c, n.L, NULL, BS_VIEW_ALL, err, sizeof err);
    CHECK(stepped->structure == after->structure, "value change relayouts");
    CHECK(!strcmp(find(stepped, n.w11)->value, "0.31"), "new value shown");
    /* a new node, or a new name, changes it */
    bs_id L2 = bs_apply2(c, BS_OP_MUL, n.L, n.L);
    bs_view *grown = bs_view_build(c, BS_NONE, NULL, BS_VIEW_ALL, err, sizeof err);
    bs_view *whole = bs_view_build(c, BS_NONE, NULL, BS_VIEW_ALL, err, sizeof err);
    CHECK(grown->structure == whole->structure, "the hash is a function of the tape");
    bs_node_set_label(c, L2, "L2");
    bs_view *named = bs_view_build(c, BS_NONE, NULL, BS_VIEW_ALL, err, sizeof err);
    CHECK(named->structure != grown->structure, "naming a node changes its box");
    bs_view *rooted = bs_view_build(c, L2, NULL, BS_VIEW_ALL, err, sizeof err);
    CHECK(rooted->structure != named->structure, "another root, another layout");
    /* x * x: two edges from one node */
    int xx = 0;
    for (int k = 0; k < rooted->nedges; k++)
        xx += rooted->nodes[rooted->edges[k].to].id == L2;
    CHECK(xx == 2, "L * L has two edges into it, got %d", xx);
    bs_view_free(before);
    bs_view_free(after);
    bs_view_free(nograds);
    bs_view_free(stepped);
    bs_view_free(grown);
    bs_view_free(whole);
    bs_view_free(named);
    bs_view_free(rooted);
    bs_ctx_free(c);
}

static void test_states(void)
{
    const bs_theme *t = bs_theme_get();
    bs_ctx *c = bs_ctx_new();
    vt_net n = vt_build_221(c, false);
    char err[256];

    /* rebinding a name: the old node shows name' (bs_node_rebind counts rebindings, as the
       REPL's assignment calls it) */
    bs_id z1b = bs_apply2(c, BS_OP_MUL, n.z1, n.x1);
    bs_node_rebind(c, n.z1, z1b, "z1");
    /* detach and no_grad */
    bs_id d = bs_copy_leaf(c, n.z2, false);
    bs_node_set_label(c, d, "d");
    bs_ctx_set_no_grad(c, true);
    bs_id ng = vt_name(c, "ng", bs_apply2(c, BS_OP_ADD, n.w11, n.w12));
    bs_ctx_set_no_grad(c, false);
    bs_view *v = bs_view_build(c, BS_NONE, NULL, 0, err, sizeof err);
    CHECK(!strcmp(find(v, n.z1)->name, "z1'") && (find(v, n.z1)->flags & BS_VNF_REBOUND),
          "rebound z1 shows as '%s'", find(v, n.z1)->name);
    CHECK(!strcmp(find(v, z1b)->name, "z1") && !(find(v, z1b)->flags & BS_VNF_REBOUND), "new z1");
    CHECK(find(v, d)->flags & BS_VNF_DETACHED, "detached flag");
    CHECK(find(v, d)->kind == BS_VN_INPUT, "a detached copy is a leaf that does not learn");
    int copy = 0;
    for (int k = 0; k < v->nedges; k++)
        if (v->edges[k].flags & BS_VEF_COPY) {
            copy++;
            CHECK(v->nodes[v->edges[k].from].id == n.z2 && v->nodes[v->edges[k].to].id == d,
                  "the copy edge goes from z2 to d");
        }
    CHECK(copy == 1, "one copy edge, got %d", copy);
    CHECK(find(v, ng)->flags & BS_VNF_NO_GRAD, "no_grad flag");
    CHECK(same_rgb(find(v, ng)->border, t->detached_border), "no_grad border colour");
    bs_view_free(v);

    /* stepping: current, done, pending, edge labels, selection */
    bs_view_state st;
    bs_view_state_init(&st);
    st.stepping = true;
    st.current = n.z3;
    st.selected = n.w11;
    for (bs_id i = 0; i <= n.L; i++)
        CHECK(bs_view_state_set_step(&st, i, i > n.z3 ? BS_VSTEP_DONE : BS_VSTEP_PENDING) == BS_OK,
              "set_step");
    CHECK(bs_view_state_set_step(&st, -3, BS_VSTEP_DONE) == BS_ERR_ARG, "negative id");
    bs_view_state_label_edge(&st, n.z3, 1, "VJP -0.3705");
    bs_view_state_label_edge(&st, n.z3, 1, "VJP -0.37");  /* replaces */
    CHECK(st.nlabels == 1, "a label replaces the old one on the same edge");
    CHECK(bs_backward(c, n.L, NULL, true) == BS_OK, "backward: %s", bs_errmsg(c));
    v = bs_view_build(c, n.L, &st, BS_VIEW_ALL, err, sizeof err);
    const bs_view_node *cur = find(v, n.z3), *done = find(v, n.yhat), *pend = find(v, n.w11);
    CHECK(cur->flags & BS_VNF_CURRENT, "current");
    CHECK(same_rgb(cur->border, t->current_border), "current border colour");
    CHECK((done->flags & BS_VNF_DONE) && *done->grad, "done nodes show their grads");
    /* a pending node shows the grad it has now (what w11.grad gives: here an earlier pass's) */
    CHECK((pend->flags & BS_VNF_PENDING) && !strncmp(pend->grad, "grad ", 5) &&
              !(pend->flags & BS_VNF_PARTIAL), "pending nodes show their grad as of now");
    CHECK(same_rgb(pend->fill, t->pending_fill), "pending nodes are greyed");
    CHECK(pend->flags & BS_VNF_SELECTED, "selected");
    int labelled = 0;
    for (int k = 0; k < v->nedges; k++) {
        const bs_view_edge *e = &v->edges[k];
        if (*e->label) {
            labelled++;
            CHECK(v->nodes[e->to].id == n.z3 && e->slot == 1 && !strcmp(e->label, "VJP -0.37") &&
                      (e->flags & BS_VEF_STEP) && same_rgb(e->color, t->edge_step),
                  "the labelled edge");
            CHECK(v->nodes[e->from].id == n.b3, "z3's input 1 is b3");
        }
    }
    CHECK(labelled == 1, "%d labelled edges", labelled);
    bs_view *plain = bs_view_build(c, n.L, NULL, BS_VIEW_ALL, err, sizeof err);
    CHECK(plain->structure == v->structure, "highlights do not change the layout");
    bs_view_free(plain);
    bs_view_free(v);
    bs_view_state_clear_labels(&st);
    CHECK(st.nlabels == 0, "labels cleared");
    bs_view_state_clear(&st);
    CHECK(st.step == NULL && st.current == BS_NONE && !st.stepping, "state cleared");
    bs_ctx_free(c);
}

/* the stepper's moves against core's backward iterator: begin marks exactly the nodes the pass
   visits, each step makes its record's node current with its VJPs on the edges */
static void test_stepper_moves(void)
{
    bs_ctx *c = bs_ctx_new();
    vt_net n = vt_build_221(c, false);
    bs_view_state st;
    bs_view_state_init(&st);
    CHECK(bs_view_state_begin(&st, c, 999) == BS_ERR_ARG, "bad root");
    CHECK(bs_view_state_begin(&st, c, n.L) == BS_OK, "begin");
    char *mark = calloc((size_t)bs_tape_len(c), 1);
    deps(c, n.L, mark);
    int pending = 0;
    for (bs_id i = 0; i < bs_tape_len(c); i++) {
        bool want = mark[i] && bs_node_get(c, i)->requires_grad;
        bool got = i < st.nstep && st.step[i] == BS_VSTEP_PENDING;
        CHECK(want == got, "node %d pending is %d, want %d", i, got, want);
        pending += got;
    }
    bs_bwd *b = bs_backward_begin(c, n.L, NULL, false, true);
    CHECK(b, "backward_begin: %s", bs_errmsg(c));
    bs_step s;
    bs_id prev = BS_NONE;
    int steps = 0;
    while (b && bs_backward_next(b, &s) == 1) {
        steps++;
        CHECK(bs_view_state_step(&st, &s) == BS_OK, "step");
        CHECK(st.current == s.node && st.step[s.node] == BS_VSTEP_CURRENT, "current");
        if (prev != BS_NONE)
            CHECK(st.step[prev] == BS_VSTEP_DONE, "the previous node is done");
        int want = 0;
        for (int k = 0; k < s.nin; k++) {
            if (!s.in[k].gets_grad)
                continue;
            want++;
            char text[64];
            snprintf(text, sizeof text, "VJP %.4g", s.in[k].vjp.data[0]);
            bool found = false;
            for (int l = 0; l < st.nlabels; l++)
                found |= st.labels[l].to == s.node && st.labels[l].slot == k &&
                         !strcmp(st.labels[l].text, text);
            CHECK(found, "step %d: edge %d labelled '%s'", steps, k, text);
        }
        CHECK(st.nlabels == want, "%d labels, want %d", st.nlabels, want);
        prev = s.node;
    }
    if (b)
        bs_backward_end(b);
    bs_view_state_finish(&st);
    int left = 0;
    for (int32_t i = 0; i < st.nstep; i++)
        left += st.step[i] == BS_VSTEP_PENDING || st.step[i] == BS_VSTEP_CURRENT;
    CHECK(left == 0 && st.current == BS_NONE && st.nlabels == 0, "finish");
    /* every visited node was pending at the start, and every pending node gets visited (leaves
       are visited too when they require grad: the iterator reports them as steps or not) */
    CHECK(steps > 0 && steps <= pending, "%d steps for %d pending nodes", steps, pending);
    free(mark);
    bs_view_state_clear(&st);
    bs_ctx_free(c);
}

static void test_tensors(void)
{
    bs_ctx *c = bs_ctx_new();
    double d6[6] = {0.1, -0.2, 0.3, 0.4, -0.5, 0.6};
    bs_shape s23 = {2, {2, 3}};
    bs_id W = bs_leaf(c, d6, &s23, BS_F64, true);
    bs_node_set_label(c, W, "W");
    double *big = malloc(40 * 40 * sizeof *big);
    for (int i = 0; i < 1600; i++)
        big[i] = (i % 7) - 3 + (i == 1234 ? 50 : 0);
    bs_shape s40 = {2, {40, 40}};
    bs_id B = bs_leaf(c, big, &s40, BS_F64, false);
    char err[256];
    bs_view *v = bs_view_build(c, BS_NONE, NULL, BS_VIEW_ALL, err, sizeof err);
    const bs_view_node *w = find(v, W), *b = find(v, B);
    CHECK(w->flags & BS_VNF_TENSOR, "tensor flag");
    CHECK(!strcmp(w->shape, "(2, 3)"), "shape '%s'", w->shape);
    CHECK(strstr(w->value, "0.1") == w->value + 1 && w->value[0] == '[', "preview '%s'", w->value);
    CHECK(w->heat && w->heat->rows == 2 && w->heat->cols == 3, "heat grid of a (2, 3)");
    for (int i = 0; i < 6 && w->heat; i++)
        CHECK(fabsf(w->heat->v[i] - (float)d6[i]) < 1e-6f, "heat cell %d", i);
    CHECK(w->heat && fabsf(w->heat->absmax - 0.6f) < 1e-6f, "absmax");
    CHECK(!w->gheat, "no grad heatmap before backward");
    CHECK(b->heat && b->heat->rows == BS_HEAT_MAX && b->heat->cols == BS_HEAT_MAX, "sampled down");
    CHECK(b->heat && fabsf(b->heat->absmax - (float)(1234 % 7 - 3 + 50)) < 1e-4f,
          "absmax over every element, not just the samples");
    bs_view *nomap = bs_view_build(c, BS_NONE, NULL, 0, err, sizeof err);
    CHECK(!find(nomap, W)->heat, "heatmaps only when asked");
    bs_view_free(nomap);
    bs_view_free(v);
    free(big);
    bs_ctx_free(c);
}

/* the compiled-in theme is assets/theme.conf: read the file here and compare every colour */
static void test_theme(const char *conf)
{
    const bs_theme *t = bs_theme_get();
    FILE *f = fopen(conf, "r");
    CHECK(f, "cannot open %s", conf);
    if (!f)
        return;
    char line[256];
    int colours = 0;
    while (fgets(line, sizeof line, f)) {
        char key[64];
        unsigned rgb;
        if (sscanf(line, " %63[a-z_] = #%6x", key, &rgb) != 2)
            continue;
        colours++;
        bs_rgb want = {(uint8_t)(rgb >> 16), (uint8_t)(rgb >> 8), (uint8_t)rgb};
        bs_rgb got = {0, 0, 0};
#define X_C(k) if (!strcmp(key, #k)) got = t->k;
#define X_N(k)
#define X(k, kind) X_##kind(k)
        BS_THEME_KEYS(X)
#undef X
#undef X_C
#undef X_N
        CHECK(same_rgb(got, want), "theme %s is not the file's", key);
    }
    fclose(f);
    CHECK(colours >= 30, "only %d colours in %s", colours, conf);
    CHECK(same_rgb(bs_theme_grad_color(t->grad_vanish), t->grad_small), "vanishing colour");
    CHECK(same_rgb(bs_theme_grad_color(t->grad_vanish / 100), t->grad_small), "below vanishing");
    CHECK(same_rgb(bs_theme_grad_color(1.0), t->grad_mid), "healthy colour");
    CHECK(same_rgb(bs_theme_grad_color(t->grad_explode * 10), t->grad_big), "exploding colour");
    CHECK(same_rgb(bs_theme_grad_color(NAN), t->edge), "unknown");

    /* a theme file at run time: one key changes, a bad line is reported with its number */
    char path[] = "/tmp/bs_theme_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    FILE *o = fdopen(fd, "w");
    fprintf(o, "# projector\nop_fill = #102030   # darker\n");
    fclose(o);
    char err[256];
    bs_rgb old_param = t->param_fill;
    CHECK(bs_theme_load(path, err, sizeof err) == BS_OK, "%s", err);
    CHECK(t->op_fill.r == 0x10 && t->op_fill.g == 0x20 && t->op_fill.b == 0x30, "op_fill loaded");
    CHECK(same_rgb(t->param_fill, old_param), "other keys keep their value");
    o = fopen(path, "w");
    fprintf(o, "op_fill = #ffffff\n\nno_such_key = #000000\n");
    fclose(o);
    CHECK(bs_theme_load(path, err, sizeof err) == BS_ERR_VALUE && strstr(err, ":3:") &&
              strstr(err, "no_such_key"),
          "bad key message '%s'", err);
    CHECK(t->op_fill.r == 0x10, "a failed load changes nothing");
    o = fopen(path, "w");
    fprintf(o, "op_fill = blue\n");
    fclose(o);
    CHECK(bs_theme_load(path, err, sizeof err) == BS_ERR_VALUE && strstr(err, ":1:"), "'%s'", err);
    CHECK(bs_theme_load("/nonexistent/theme.conf", err, sizeof err) == BS_ERR_VALUE, "missing");
    unlink(path);
}

/* builds without Graphviz or SDL keep the API and say what to install; no display is a note */
static void test_missing_parts(void)
{
    bs_ctx *c = bs_ctx_new();
    vt_net n = vt_build_221(c, false);
    char why[256], err[256];
    bool gv = bs_viz_have_graphviz(why, sizeof why);
    bs_status st = bs_viz_export(c, "/tmp/bs_view_test.svg", n.L, false, NULL, err, sizeof err);
    if (gv)
        CHECK(st == BS_OK, "export: %s", err);
    else
        CHECK(st == BS_ERR_UNSUPPORTED && strstr(err, "install libgraphviz-dev"), "'%s'", err);
    unlink("/tmp/bs_view_test.svg");
    CHECK(bs_viz_export(c, "/tmp/x.jpeg", n.L, false, NULL, err, sizeof err) ==
              (gv ? BS_ERR_ARG : BS_ERR_UNSUPPORTED),
          "unknown extension: %s", err);
    bool sdl = bs_window_available(why, sizeof why);
    if (!sdl)
        CHECK(strstr(why, "install libsdl2-dev"), "'%s'", why);
    /* no display: NULL and a reason, no crash, nothing printed */
    unsetenv("DISPLAY");
    unsetenv("WAYLAND_DISPLAY");
    unsetenv("SDL_VIDEODRIVER");
    bs_window *w = bs_window_open(err, sizeof err);
    CHECK(!w, "a window without a display");
    CHECK(strstr(err, sdl ? "display" : "SDL2"), "reason '%s'", err);
    bs_window_close(w);
    /* the ASCII drawing works in every build */
    char *a = bs_viz_ascii(c, n.L, NULL, 0, 0, err, sizeof err);
    CHECK(a && strstr(a, "L = bce"), "ascii");
    free(a);
    bs_ctx_free(c);
}

int main(int argc, char **argv)
{
    test_nodes_and_edges();
    test_grads_and_hash();
    test_states();
    test_stepper_moves();
    test_tensors();
    if (argc > 1)
        test_theme(argv[1]);
    test_missing_parts();
    if (vt_failures)
        fprintf(stderr, "%d checks failed\n", vt_failures);
    return vt_failures ? 1 : 0;
}
