/* tests/viz/test_window.c: the SDL2 window under Xvfb (started here when there is no DISPLAY;
 * skipped when there is neither). A tape built through core's API is shown, screenshots are read
 * back and checked: not blank, one region of the param colour per param, the op colour per op;
 * one more statement changes the picture and relayouts once (in a big graph it is drawn at once
 * with a quick placement first, no box over another, then laid out as a full layout would); a
 * backward pass and a stepping highlight change it without a relayout; clicks and the stepper keys
 * come back as events. */
#define VT_WITH_PNG_READER 1
#include <SDL2/SDL.h>

#include "viz_test.h"
#include "viz_int.h"

static char tmpdir[64];

static bool shot(bs_window *w, const char *name, vt_image *im)
{
    char path[160], err[256];
    snprintf(path, sizeof path, "%s/%s.png", tmpdir, name);
    bs_status st = bs_window_screenshot(w, path, err, sizeof err);
    CHECK(st == BS_OK, "screenshot: %s", err);
    bool ok = st == BS_OK && vt_png_read(path, im);
    CHECK(ok, "screenshot %s is not a PNG we can read", path);
    return ok;
}

static long diff_pixels(const vt_image *a, const vt_image *b)
{
    if (a->w != b->w || a->h != b->h)
        return (long)a->w * a->h;
    long d = 0;
    for (size_t i = 0; i < (size_t)a->w * (size_t)a->h * 3; i += 3)
        d += memcmp(a->rgb + i, b->rgb + i, 3) != 0;
    return d;
}

/* regions of a node colour in the graph area (between the status bars, left of any panel) */
static int regions(const vt_image *im, bs_rgb c, int *cx, int *cy, int max)
{
    return vt_regions(im, c, 2, 150, 0, 40, im->w, im->h - 34, cx, cy, max);
}

static int count_kind(const bs_view *v, bs_vnode_kind k, unsigned without)
{
    int n = 0;
    for (int i = 0; i < v->nnodes; i++)
        n += v->nodes[i].kind == k && !(v->nodes[i].flags & without);
    return n;
}

/* a quick placement: every box inside the bounding box, none over another */
static void check_quick(const bs_layout *ql)
{
    if (!ql)
        return;
    bool inside = true;
    for (int i = 0; i < ql->nnodes; i++) {
        const bs_layout_node *p = &ql->nodes[i];
        inside &= p->x - p->w / 2 >= -0.01f && p->x + p->w / 2 <= ql->width + 0.01f &&
                  p->y - p->h / 2 >= -0.01f && p->y + p->h / 2 <= ql->height + 0.01f;
        for (int j = 0; j < i; j++) {
            const bs_layout_node *q = &ql->nodes[j];
            CHECK(fabsf(p->x - q->x) >= (p->w + q->w) / 2 || fabsf(p->y - q->y) >= (p->h + q->h) / 2,
                  "quick placement: node %d's box over node %d's", i, j);
        }
    }
    CHECK(inside, "quick placement: a node outside the bounding box");
}

/* the window's layout is the same as a full layout of the same view (after a quick placement) */
static void check_full(bs_window *w, const bs_ctx *c, int i)
{
    char err[256];
    bool quick;
    const bs_layout *ql = viz_window_layout(w, &quick);
    bs_view *v = bs_view_build(c, BS_NONE, NULL, BS_VIEW_ALL, err, sizeof err);
    /* an aspect that picks the window's direction (its area's is the window's own business) */
    const double aspects[] = {1280.0 / 738, 0.5, 1, 2, 3, 5, 10, 0.2, 0.1};
    double aspect = aspects[0];
    for (int k = 0; v && ql && k < (int)(sizeof aspects / sizeof aspects[0]); k++)
        if (bs_viz_prefer_tb(v, aspects[k]) == ql->tb) {
            aspect = aspects[k];
            break;
        }
    bs_layout *full = v && ql ? bs_viz_layout_ex(v, aspect, false, err, sizeof err) : NULL;
    CHECK(full && full->tb == ql->tb && full->nnodes == ql->nnodes && full->nedges == ql->nedges,
          "statement %d: a full layout to compare: %s", i, err);
    if (full && full->nnodes == ql->nnodes && full->nedges == ql->nedges) {
        float d = fabsf(full->width - ql->width) + fabsf(full->height - ql->height);
        for (int k = 0; k < full->nnodes; k++)
            d += fabsf(full->nodes[k].x - ql->nodes[k].x) + fabsf(full->nodes[k].y - ql->nodes[k].y);
        for (int k = 0; k < full->nedges; k++) {
            CHECK(full->edges[k].npts == ql->edges[k].npts, "statement %d: edge %d's route", i, k);
            for (int j = 0; j < 2 * full->edges[k].npts && full->edges[k].npts == ql->edges[k].npts; j++)
                d += fabsf(full->edges[k].pts[j] - ql->edges[k].pts[j]);
        }
        CHECK(d < 0.01f, "statement %d: the settled layout differs from a full one by %g", i, (double)d);
    }
    bs_layout_free(full);
    bs_view_free(v);
}

/* statements appended one by one to a 120-node MLP (two use its first input again, a leaf and
   an op using it come last): drawn at
   once with a quick placement (no Graphviz; sources repeated far from where they are drawn
   included), no box over another, the new part in the picture; each then settles into exactly
   one Graphviz layout at the next idle pump, the same as a full layout */
static void test_appends(bs_window *w)
{
    char err[256], path[160];
    bs_ctx *c = bs_ctx_new();
    bs_id root = vt_build_mlp(c, 120, false);
    CHECK(bs_window_update(w, c, BS_NONE, NULL, err, sizeof err) == BS_OK, "update: %s", err);
    bs_window_pump(w, 0, NULL);
    int quick_n = 0, reps = 0;
    for (int i = 0; i < 8; i++) {
        vt_image before = {0}, now = {0};
        bool shots = i == 0 || i == 6;
        if (shots)
            shot(w, "append-before", &before);
        if (i == 6) { /* a new leaf and a node using it and the root */
            bs_id b = vt_scalar(c, "bias", 0.5, true);
            root = bs_apply2(c, BS_OP_ADD, root, b);
        } else if (i == 3 || i == 4) /* the first input again, far from where it is drawn */
            root = bs_apply2(c, BS_OP_MUL, root, 0);
        else
            root = bs_apply1(c, BS_OP_TANH, root);
        int before_n = bs_window_layout_count(w);
        CHECK(bs_window_update(w, c, BS_NONE, NULL, err, sizeof err) == BS_OK, "update: %s", err);
        bool quick = false;
        const bs_layout *l = viz_window_layout(w, &quick);
        if (quick) {
            quick_n++;
            CHECK(bs_window_layout_count(w) == before_n, "a quick placement is no Graphviz layout");
            check_quick(l);
            bs_view *v = bs_view_build(c, BS_NONE, NULL, BS_VIEW_ALL, err, sizeof err);
            reps += v && v->nrepeats > 0;
            bs_view_free(v);
        }
        bs_window_pump(w, 0, NULL);   /* draws it */
        if (shots && quick) {
            snprintf(path, sizeof path, "%s/append-quick.png", tmpdir);
            CHECK(viz_window_screenshot_now(w, path, err, sizeof err) == BS_OK, "screenshot: %s", err);
            CHECK(vt_png_read(path, &now), "quick screenshot unreadable");
            CHECK(diff_pixels(&before, &now) > 100, "statement %d: the quick frame shows nothing new", i);
        }
        free(before.rgb);
        free(now.rgb);
        for (int p = 0; p < 8 && bs_window_layout_count(w) == before_n; p++)
            bs_window_pump(w, 0, NULL);
        CHECK(bs_window_layout_count(w) == before_n + 1, "statement %d: %d layouts, want one", i,
              bs_window_layout_count(w) - before_n);
        viz_window_layout(w, &quick);
        CHECK(!quick, "statement %d did not settle", i);
        check_full(w, c, i);
    }
    printf("appends: %d of 8 placed at once, %d with repeats\n", quick_n, reps);
    CHECK(quick_n >= 6, "only %d of 8 appends placed at once", quick_n);
    CHECK(reps > 0, "no quick placement with repeated sources was tried");
    bs_ctx_free(c);
}

static void push_key(SDL_Keycode k)
{
    SDL_Event e;
    memset(&e, 0, sizeof e);
    e.type = SDL_KEYDOWN;
    e.key.keysym.sym = k;
    e.key.state = SDL_PRESSED;
    SDL_PushEvent(&e);
}

static void push_click(int x, int y)
{
    SDL_Event e;
    memset(&e, 0, sizeof e);
    e.type = SDL_MOUSEBUTTONDOWN;
    e.button.button = SDL_BUTTON_LEFT;
    e.button.state = SDL_PRESSED;
    e.button.x = x;
    e.button.y = y;
    SDL_PushEvent(&e);
    e.type = SDL_MOUSEBUTTONUP;
    e.button.state = SDL_RELEASED;
    SDL_PushEvent(&e);
}

/* pump until an event arrives (or 2 s pass) */
static bs_window_event next_event(bs_window *w)
{
    bs_window_event ev = {BS_WEV_NONE, BS_NONE};
    double t0 = vt_now_ms();
    while (vt_now_ms() - t0 < 2000)
        if (bs_window_pump(w, 10, &ev))
            break;
    return ev;
}

/* the largest region of colour c in the graph area: its centre and its top edge above the centre */
static bool biggest_region(const vt_image *im, bs_rgb c, int *x, int *y, int *top)
{
    int cx[64], cy[64];
    int n = regions(im, c, cx, cy, 64);
    if (n <= 0)
        return false;
    /* regions() reports centres; take the one whose column of colour is longest */
    int best = -1, best_len = 0;
    for (int k = 0; k < n; k++) {
        int len = 0, yy = cy[k];
        while (yy > 40 && abs(im->rgb[3 * ((size_t)(yy - 1) * im->w + cx[k])] - c.r) <= 2)
            yy--, len++;
        if (len > best_len) {
            best_len = len;
            best = k;
        }
    }
    if (best < 0)
        return false;
    *x = cx[best];
    *y = cy[best];
    *top = cy[best] - best_len;
    return true;
}

/* the topmost row of colour c in the graph area (an open group's frame): the middle of its run */
static bool frame_top(const vt_image *im, bs_rgb c, int *x, int *top)
{
    for (int yy = 40; yy < im->h - 34; yy++) {
        int x0 = -1, x1 = -1;
        for (int xx = 0; xx < im->w; xx++) {
            const unsigned char *p = im->rgb + 3 * ((size_t)yy * im->w + xx);
            if (abs(p[0] - c.r) <= 2 && abs(p[1] - c.g) <= 2 && abs(p[2] - c.b) <= 2) {
                if (x0 < 0)
                    x0 = xx;
                x1 = xx;
            }
        }
        if (x1 - x0 > 20) {
            *x = (x0 + x1) / 2;
            *top = yy;
            return true;
        }
    }
    return false;
}

/* a click at (x, y) reports an event of this kind about this group */
static void click_expect(bs_window *w, int x, int y, bs_window_event_kind kind, const char *group)
{
    push_click(x, y);
    bs_window_event ev = next_event(w);
    CHECK(ev.kind == kind, "a click at (%d, %d): event %d, want %d", x, y, ev.kind, kind);
    CHECK(!strcmp(ev.group, group), "the group clicked is '%s', want %s", ev.group, group);
}

/* a click on a collapsed group asks to open it; a click on an open group's title asks to close it */
static void test_group_clicks(bs_window *w, const bs_theme *t)
{
    char err[256];
    bs_ctx *c = bs_ctx_new();
    bs_id L = vt_build_calls(c, 20);
    bs_view_opts o;
    bs_view_opts_init(&o);
    o.root = L;
    o.collapse = BS_COLLAPSE_ALL;
    CHECK(bs_window_update_opts(w, c, &o, NULL, err, sizeof err) == BS_OK, "update: %s", err);
    bs_window_fit(w);
    bs_window_pump(w, 0, NULL);
    vt_image im = {0};
    int x, y, top;
    if (shot(w, "collapsed", &im) && biggest_region(&im, t->group_fill, &x, &y, &top)) {
        click_expect(w, x, y, BS_WEV_EXPAND, "neuron()");
    } else
        CHECK(false, "no collapsed group drawn");
    free(im.rgb);
    im.rgb = NULL;

    const char *ex[] = {"neuron()"};
    o.expand = ex;
    o.nexpand = 1;
    CHECK(bs_window_update_opts(w, c, &o, NULL, err, sizeof err) == BS_OK, "update: %s", err);
    bs_window_fit(w);
    bs_window_pump(w, 0, NULL);
    if (shot(w, "expanded", &im) && frame_top(&im, t->cluster_fill, &x, &top)) {
        click_expect(w, x, top + 2, BS_WEV_COLLAPSE, "neuron()"); /* the frame's title band */
    } else
        CHECK(false, "no open group's frame drawn");
    free(im.rgb);
    bs_ctx_free(c);
}

int main(void)
{
    char why[256], err[256];
    if (!bs_window_available(why, sizeof why) || !bs_viz_have_graphviz(why, sizeof why)) {
        fprintf(stderr, "skipped: %s\n", why);
        return 77;
    }
    int offscreen = vt_display();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bs_window_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    const bs_theme *t = bs_theme_get();

    bs_window *w = bs_window_open(err, sizeof err);
    if (!w && offscreen) {
        fprintf(stderr, "skipped: %s\n", err);
        return 77;
    }
    CHECK(w, "open: %s", err);
    if (!w)
        return 1;
    printf("renderer: %s\n", bs_window_renderer(w));

    /* an empty window first */
    vt_image empty = {0}, a = {0}, b = {0}, c2 = {0}, d = {0}, e = {0};
    bs_window_pump(w, 0, NULL);
    shot(w, "empty", &empty);

    bs_ctx *c = bs_ctx_new();
    CHECK(bs_window_update(w, c, BS_NONE, NULL, err, sizeof err) == BS_OK, "empty tape: %s", err);
    bs_window_pump(w, 0, NULL);
    vt_net n = vt_build_221(c, false);
    CHECK(bs_window_update(w, c, n.L, NULL, err, sizeof err) == BS_OK, "update: %s", err);
    CHECK(bs_window_layout_count(w) == 2, "one layout for the empty tape, one for L");
    bs_window_pump(w, 0, NULL);
    if (!shot(w, "first", &a))
        return 1;
    bs_view *v = bs_view_build(c, n.L, NULL, BS_VIEW_ALL, err, sizeof err);

    /* not blank: the background is not everything, and the picture has many colours */
    long bg = vt_count_color(&a, t->background, 0);
    CHECK(bg < (long)a.w * a.h * 97 / 100, "the window is blank (%ld of %d pixels background)", bg,
          a.w * a.h);
    CHECK(diff_pixels(&empty, &a) > 5000, "the graph did not appear");
    /* node count by colour: one region per param, per op (the root has its own colour) */
    int cx[64], cy[64];
    int params = regions(&a, t->param_fill, cx, cy, 64);
    int ops = regions(&a, t->op_fill, NULL, NULL, 0);
    int roots = regions(&a, t->root_fill, NULL, NULL, 0);
    int want_ops = count_kind(v, BS_VN_OP, BS_VNF_ROOT);
    CHECK(params == n.nparams, "%d param-coloured regions, want %d", params, n.nparams);
    CHECK(ops == want_ops, "%d op-coloured regions, want %d", ops, want_ops);
    CHECK(roots == 1, "%d root regions", roots);
    CHECK(vt_count_color(&a, t->ink, 40) > 200, "no text drawn");

    /* one more statement: the picture changes, one more op, one more layout (a small graph is
       laid out at once: no quick placement) */
    bs_id L2 = vt_name(c, "L2", bs_apply2(c, BS_OP_MUL, n.L, n.L));
    CHECK(bs_window_update(w, c, L2, NULL, err, sizeof err) == BS_OK, "update: %s", err);
    CHECK(bs_window_layout_count(w) == 3, "a new node relayouts");
    bs_window_pump(w, 0, NULL);
    shot(w, "second", &b);
    CHECK(diff_pixels(&a, &b) > 1000, "the screenshot did not change after a statement");
    int ops2 = regions(&b, t->op_fill, NULL, NULL, 0);
    CHECK(ops2 == want_ops + 1, "%d op regions after adding one, want %d", ops2, want_ops + 1);

    /* a backward pass: grads appear, edges take gradient colours, no relayout */
    CHECK(bs_backward(c, L2, NULL, true) == BS_OK, "backward: %s", bs_errmsg(c));
    CHECK(bs_window_update(w, c, L2, NULL, err, sizeof err) == BS_OK, "update: %s", err);
    CHECK(bs_window_layout_count(w) == 3, "values alone must not relayout");
    bs_window_pump(w, 0, NULL);
    shot(w, "grads", &c2);
    CHECK(diff_pixels(&b, &c2) > 200, "grads did not show");
    CHECK(vt_count_color(&c2, t->grad_ink, 30) > vt_count_color(&b, t->grad_ink, 30) + 50,
          "no grad text");

    /* stepping: the current node is highlighted, pending nodes greyed, no relayout */
    bs_view_state st;
    bs_view_state_init(&st);
    st.stepping = true;
    st.current = n.z3;
    for (bs_id i = 0; i < n.z3; i++)
        bs_view_state_set_step(&st, i, BS_VSTEP_PENDING);
    bs_view_state_label_edge(&st, n.z3, 1, "VJP -0.3705");
    CHECK(bs_window_update(w, c, L2, &st, err, sizeof err) == BS_OK, "update: %s", err);
    /* stepping starts with one relayout (room for the VJP labels, placed by Graphviz) */
    CHECK(bs_window_layout_count(w) == 4, "stepping must relayout once, for the labels' room");
    bs_window_pump(w, 0, NULL);
    shot(w, "step", &d);
    CHECK(vt_count_color(&d, t->current_border, 2) > 100, "no current-step highlight");
    int pending = 0;
    for (int k = 0; k < v->nnodes; k++)
        pending += v->nodes[k].id < n.z3 && v->nodes[k].kind != BS_VN_CONST;
    CHECK(regions(&d, t->param_fill, NULL, NULL, 0) == 0, "params (all before z3) are greyed");
    CHECK(regions(&d, t->pending_fill, NULL, NULL, 0) == pending, "%d greyed regions, want %d",
          regions(&d, t->pending_fill, NULL, NULL, 0), pending);
    CHECK(vt_count_color(&d, t->edge_label_fill, 2) > 100, "no edge label box");
    {   /* the next step moves the highlight and the labels: no new layout */
        bs_view_state s2 = st;
        s2.current = n.z3 - 1;
        CHECK(bs_window_update(w, c, L2, &s2, err, sizeof err) == BS_OK, "update: %s", err);
        CHECK(bs_window_layout_count(w) == 4, "a step must not relayout");
        CHECK(bs_window_update(w, c, L2, &st, err, sizeof err) == BS_OK, "update: %s", err);
    }

    /* events: keys come back to the caller, a click selects a node and opens details */
    while (bs_window_pump(w, 0, NULL))
        ;
    push_key(SDLK_n);
    push_key(SDLK_SPACE);
    push_key(SDLK_b);
    push_key(SDLK_f);
    CHECK(next_event(w).kind == BS_WEV_NEXT, "n is next");
    CHECK(next_event(w).kind == BS_WEV_NEXT, "space is next");
    CHECK(next_event(w).kind == BS_WEV_BACK, "b is back");
    CHECK(next_event(w).kind == BS_WEV_FINISH, "f is finish");
    bs_view_state_clear(&st);
    CHECK(bs_window_update(w, c, L2, NULL, err, sizeof err) == BS_OK, "update: %s", err);
    bs_window_pump(w, 0, NULL);
    vt_image f0 = {0};
    shot(w, "before-click", &f0);
    int pc = regions(&f0, t->param_fill, cx, cy, 64);
    CHECK(pc == n.nparams, "%d params before the click", pc);
    if (pc > 0) {
        push_click(cx[0], cy[0]);
        bs_window_event ev = next_event(w);
        CHECK(ev.kind == BS_WEV_CLICK, "a click on a param is an event (got %d)", ev.kind);
        const bs_node *nd = ev.node >= 0 ? bs_node_get(c, ev.node) : NULL;
        CHECK(nd && nd->is_param, "the clicked node %d is a param", ev.node);
        bs_window_pump(w, 0, NULL);
        shot(w, "details", &e);
        CHECK(vt_count_color(&e, t->selected_border, 2) > 50, "the selection is drawn");
        CHECK(vt_count_color(&e, t->panel, 0) > 100000, "the details panel is open");
        bs_window_select(w, BS_NONE);
    }

    test_group_clicks(w, t);

    /* the loss-curve panel */
    double loss[40];
    for (int i = 0; i < 40; i++)
        loss[i] = 0.7 * (1.0 / (1 + i * 0.3)) + 0.05;
    CHECK(bs_window_plot(w, loss, 40, "loss", err, sizeof err) == BS_OK, "plot: %s", err);
    vt_image p = {0};
    shot(w, "plot", &p);
    CHECK(vt_count_color(&p, t->plot_line, 30) > 200, "no loss curve");
    CHECK(bs_window_plot(w, NULL, 0, NULL, err, sizeof err) == BS_OK, "hide plot");

    /* closing the window reports an event */
    SDL_Event q;
    memset(&q, 0, sizeof q);
    q.type = SDL_QUIT;
    SDL_PushEvent(&q);
    CHECK(next_event(w).kind == BS_WEV_CLOSE, "closing the window is an event");
    CHECK(bs_window_screenshot(NULL, "/tmp/x.png", err, sizeof err) == BS_ERR_ARG, "no window");

    bs_view_free(v);
    bs_window_close(w);
    /* a window can be opened again after closing */
    w = bs_window_open(err, sizeof err);
    CHECK(w, "reopen: %s", err);
    if (w)
        test_appends(w);
    bs_window_close(w);
    bs_ctx_free(c);
    free(empty.rgb);
    free(a.rgb);
    free(b.rgb);
    free(c2.rgb);
    free(d.rgb);
    free(e.rgb);
    free(f0.rgb);
    free(p.rgb);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (!vt_failures && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    if (vt_failures)
        fprintf(stderr, "%d checks failed (screenshots kept in %s)\n", vt_failures, tmpdir);
    return vt_failures ? 1 : 0;
}
