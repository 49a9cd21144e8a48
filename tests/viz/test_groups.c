/* tests/viz/test_groups.c: groups of the view (bs_view_opts): a function called 100 times is one
 * box "neuron() × 100" when collapsed; opening it (--expand) shows its members in a cluster, and
 * closing it again gives back the same view (structure hash); --down draws what depends on a node;
 * the terminal drawing never passes its width; with Graphviz, no stepping label's room (where dot
 * put it) meets a node's box, and the direction follows the area's shape. */
#include <math.h>

#include "viz_test.h"
#include "viz_int.h"

static int find_group(const bs_view *v, const char *name)
{
    for (int k = 0; k < v->nnodes; k++)
        if (v->nodes[k].kind == BS_VN_GROUP && !strcmp(v->nodes[k].group, name))
            return k;
    return -1;
}

static void test_collapse_expand(void)
{
    char err[256];
    bs_ctx *c = bs_ctx_new();
    bs_id L = vt_build_calls(c, 100);
    bs_view_opts o;
    bs_view_opts_init(&o);
    o.root = L;
    bs_view *all = bs_view_build(c, L, NULL, 0, err, sizeof err);
    bs_view *v = bs_view_build_opts(c, &o, NULL, 0, err, sizeof err);
    CHECK(all && v, "build: %s", err);
    if (!all || !v)
        return;
    CHECK(all->nnodes > BS_VIEW_AUTO_NODES, "the test graph is big (%d nodes)", all->nnodes);
    CHECK(v->nnodes <= 10, "collapsed: %d boxes", v->nnodes);
    int g = find_group(v, "neuron()");
    CHECK(g >= 0, "no neuron() box");
    if (g >= 0) {
        CHECK(!strcmp(v->nodes[g].title, "neuron() \xc3\x97 100"), "title '%s'", v->nodes[g].title);
        CHECK(v->nodes[g].members == 300, "neuron() holds %d nodes, want 300", v->nodes[g].members);
    }
    CHECK(find_group(v, "params of neuron()") >= 0, "the 200 params are not one box");
    int total = v->hidden - v->nrepeats; /* x is drawn again beside the far calls */
    for (int k = 0; k < v->nnodes; k++)
        total += v->nodes[k].kind != BS_VN_GROUP;
    CHECK(total == all->nnodes - all->nrepeats, "boxes stand for %d nodes, the graph has %d", total,
          all->nnodes - all->nrepeats);

    /* open it: the calls' members in one cluster, nothing called neuron() collapsed */
    const char *ex[] = {"neuron()"};
    bs_view_opts oe = o;
    oe.expand = ex;
    oe.nexpand = 1;
    bs_view *open = bs_view_build_opts(c, &oe, NULL, 0, err, sizeof err);
    CHECK(open != NULL, "build: %s", err);
    if (open) {
        CHECK(find_group(open, "neuron()") < 0, "neuron() still collapsed");
        CHECK(open->nclusters == 1 && !strcmp(open->clusters[0].title, "neuron() \xc3\x97 100"),
              "%d clusters", open->nclusters);
        int inside = 0;
        for (int k = 0; k < open->nnodes; k++)
            inside += open->nodes[k].cluster == 0;
        CHECK(inside == 300, "%d nodes in the cluster, want 300 (mul, add, tanh per call)", inside);
        CHECK(bs_view_has_group(open, "neuron()"), "the open group is still known by name");
        /* and closed again: the same view as before */
        bs_view *closed = bs_view_build_opts(c, &o, NULL, 0, err, sizeof err);
        CHECK(closed && closed->structure == v->structure, "collapse after expand differs");
        bs_view_free(closed);
    }
    bs_view_free(open);

    /* --down: what depends on x is every call and the sum, not the params */
    bs_view_opts od;
    bs_view_opts_init(&od);
    od.root = 0; /* x */
    od.down = true;
    od.collapse = BS_COLLAPSE_NONE;
    bs_view *down = bs_view_build_opts(c, &od, NULL, 0, err, sizeof err);
    CHECK(down != NULL, "build: %s", err);
    if (down) {
        int params = 0;
        for (int k = 0; k < down->nnodes; k++)
            params += down->nodes[k].kind == BS_VN_PARAM;
        CHECK(params == 0, "%d params depend on x", params);
        CHECK(bs_view_find(down, L) >= 0 && down->nnodes - down->nrepeats == 1 + 100 * 3 + 99,
              "--down has %d nodes", down->nnodes - down->nrepeats);
    }
    bs_view_free(down);
    bs_view_free(all);
    bs_view_free(v);
    bs_ctx_free(c);
}

static int max_line(const char *s)
{
    int w = 0, best = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n') {
            best = w > best ? w : best;
            w = 0;
        } else if ((*p & 0xC0) != 0x80)
            w++;
    }
    return w > best ? w : best;
}

static void test_ascii_width(void)
{
    char err[256];
    bs_ctx *c = bs_ctx_new();
    bs_id r = vt_build_mlp(c, 200, true);
    bs_view_opts o;
    bs_view_opts_init(&o);
    o.root = r;
    o.collapse = BS_COLLAPSE_NONE;
    char *wide = bs_viz_ascii_opts(c, &o, NULL, BS_ASCII_GRADS, 0, err, sizeof err);
    CHECK(wide && max_line(wide) > 120, "the unlimited drawing is %d wide", wide ? max_line(wide) : -1);
    static const int widths[] = {40, 80, 120};
    for (int i = 0; i < 3; i++) {
        for (int plain = 0; plain < 2; plain++) {
            char *t = bs_viz_ascii_opts(c, &o, NULL, BS_ASCII_GRADS | (plain ? BS_ASCII_PLAIN : 0),
                                        widths[i], err, sizeof err);
            CHECK(t != NULL, "ascii: %s", err);
            if (t) {
                CHECK(max_line(t) <= widths[i], "width %d: a line of %d columns", widths[i], max_line(t));
                CHECK(strstr(t, "[op]") != NULL, "no legend at width %d", widths[i]);
            }
            free(t);
        }
    }
    free(wide);
    bs_ctx_free(c);
}

static bool overlap(float ax, float ay, float aw, float ah, float bx, float by, float bw, float bh)
{
    return fabsf(ax - bx) * 2 < aw + bw && fabsf(ay - by) * 2 < ah + bh;
}

static void test_labels_and_direction(void)
{
    char err[256];
    bs_ctx *c = bs_ctx_new();
    vt_net n = vt_build_221(c, true);
    bs_view_state st;
    bs_view_state_init(&st);
    CHECK(bs_view_state_begin(&st, c, n.L) == BS_OK, "begin");
    bs_view *v = bs_view_build(c, n.L, &st, BS_VIEW_GRADS, err, sizeof err);
    CHECK(v && v->stepping, "build: %s", err);
    const bs_theme *t = bs_theme_get();
    for (int tb = 0; v && tb < 2; tb++) {
        bs_layout *l = bs_viz_layout_ex(v, tb ? 0.2 : 5.0, true, err, sizeof err);
        CHECK(l != NULL, "layout: %s", err);
        if (!l)
            continue;
        CHECK(l->labels, "no label room");
        int labelled = 0;
        for (int k = 0; k < v->nedges; k++) {
            const bs_view_edge *e = &v->edges[k];
            if (e->slot < 0 || (e->flags & BS_VEF_NO_GRAD))
                continue;
            labelled++;
            const char *room = (v->nodes[e->from].flags & BS_VNF_TENSOR) ? VIZ_LABEL_TENSOR : VIZ_LABEL_SCALAR;
            float lw = viz_text_width(room, (float)t->small_font_size);
            float lh = (float)t->small_font_size * 1.2f;
            for (int j = 0; j < v->nnodes; j++) {
                const bs_layout_node *ln = &l->nodes[j];
                CHECK(!overlap(l->edges[k].lx, l->edges[k].ly, lw, lh, ln->x, ln->y, ln->w, ln->h),
                      "%s: label of edge %d at (%.0f, %.0f) meets node %d", tb ? "TB" : "LR", k,
                      l->edges[k].lx, l->edges[k].ly, v->nodes[j].id);
            }
        }
        CHECK(labelled > 5, "only %d labelled edges", labelled);
        bs_layout_free(l);
    }
    /* a long chain: left to right in a wide area, top to bottom in a tall one */
    bs_ctx *c2 = bs_ctx_new();
    bs_id r = vt_scalar(c2, "a", 0.5, true);
    for (int i = 0; i < 30; i++)
        r = bs_apply1(c2, BS_OP_TANH, r);
    bs_view *chain = bs_view_build(c2, r, NULL, 0, err, sizeof err);
    CHECK(chain && !bs_viz_prefer_tb(chain, 1.6), "a chain in a wide window is LR");
    CHECK(chain && bs_viz_prefer_tb(chain, 0.3), "a chain in a tall window is TB");
    bs_layout *lt = chain ? bs_viz_layout_ex(chain, 0.3, false, err, sizeof err) : NULL;
    CHECK(lt && lt->tb && lt->height > lt->width, "the TB layout is tall");
    bs_layout_free(lt);
    bs_view_free(chain);
    bs_ctx_free(c2);
    bs_view_free(v);
    bs_view_state_clear(&st);
    bs_ctx_free(c);
}

/* a script where one input feeds every statement (a_i = tanh(a_{i-1} * x + w * k)): x and w are
   drawn again beside each use, so no edge skips ranks and the layout stays cheap; the copies
   stand for the same tape nodes and bs_view_find still gives the first drawing */
static void test_repeats(void)
{
    char err[256];
    bs_ctx *c = bs_ctx_new();
    bs_id x = vt_scalar(c, "x", 0.5, true), w = vt_scalar(c, "w", 0.1, true);
    bs_id a = bs_apply2(c, BS_OP_MUL, x, w);
    int steps = 60;
    for (int i = 1; i < steps; i++) {
        bs_id k = vt_scalar(c, NULL, (double)(i % 7), false);
        a = bs_apply1(c, BS_OP_TANH, bs_apply2(c, BS_OP_ADD, bs_apply2(c, BS_OP_MUL, a, x),
                                               bs_apply2(c, BS_OP_MUL, w, k)));
    }
    vt_name(c, "L", a);
    bs_view *v = bs_view_build(c, a, NULL, 0, err, sizeof err);
    CHECK(v != NULL, "build: %s", err);
    if (!v) {
        bs_ctx_free(c);
        return;
    }
    int first = v->nnodes - v->nrepeats;
    CHECK(first == bs_tape_len(c), "%d nodes drawn once, the tape has %d", first, bs_tape_len(c));
    CHECK(v->nrepeats >= 2 * (steps - 2), "x and w are repeated %d times", v->nrepeats);
    CHECK(bs_view_find(v, x) >= 0 && bs_view_find(v, x) < first, "x is found at its first drawing");
    int *uses = calloc((size_t)v->nnodes, sizeof *uses);
    for (int k = 0; uses && k < v->nedges; k++)
        uses[v->edges[k].from]++;
    for (int k = first; uses && k < v->nnodes; k++) {
        const bs_view_node *r = &v->nodes[k];
        CHECK(r->flags & BS_VNF_REPEAT, "node %d is not marked as a repeat", k);
        CHECK(r->repeats >= 0 && r->repeats < first && v->nodes[r->repeats].id == r->id &&
              (r->id == x || r->id == w), "repeat %d stands for node %d", k, r->id);
        CHECK(uses[k] == 1, "repeat %d feeds %d nodes", k, uses[k]);
    }
    free(uses);
    long cost = bs_viz_layout_cost(v);
    CHECK(cost <= 2L * v->nnodes, "layout cost %ld for %d nodes (long edges left)", cost, v->nnodes);
    char why[256];
    if (bs_viz_have_graphviz(why, sizeof why)) {
        bs_layout *l = bs_viz_layout_ex(v, 1.6, false, err, sizeof err);
        CHECK(l != NULL, "layout: %s", err);
        bs_layout_free(l);
    }
    bs_view_free(v);
    bs_ctx_free(c);
}

int main(void)
{
    test_collapse_expand();
    test_repeats();
    test_ascii_width();
    char why[256];
    if (bs_viz_have_graphviz(why, sizeof why))
        test_labels_and_direction();
    else
        printf("no Graphviz: the layout checks are skipped (%s)\n", why);
    if (vt_failures)
        fprintf(stderr, "%d checks failed\n", vt_failures);
    return vt_failures ? 1 : 0;
}
