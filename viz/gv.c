/* viz/gv.c: Graphviz through libcgraph and libgvc: the view model as a cgraph graph (rankdir=LR,
 * node ids n<tape index>), laid out with dot for the window, and exported as .dot .svg .png .pdf. */
#include "viz_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* how the export being written looks (bs_viz_export_ex sets it for one call) */
static bs_export_style gv_style = {true, BS_BG_THEME};

bs_status bs_viz_export(const bs_ctx *c, const char *path, bs_id root, bool grads,
                        const bs_view_state *st, char *err, size_t len)
{
    if (root != BS_NONE && (root < 0 || root >= bs_tape_len(c)))
        return viz_fail(BS_ERR_ARG, err, len, "no node %d on the tape", root);
    bs_view *v = bs_view_build(c, root, st, (grads ? BS_VIEW_GRADS : 0) | BS_VIEW_HEATMAPS, err, len);
    if (!v)
        return BS_ERR_NOMEM;
    bs_status s = bs_viz_export_view(v, path, err, len);
    bs_view_free(v);
    return s;
}

/* Which direction gives the bigger drawing in an area of this aspect: ranks (longest path) and
   the widest rank estimate the box both ways; the one that can be zoomed larger wins. */
bool bs_viz_prefer_tb(const bs_view *v, double aspect)
{
    if (!(aspect > 0) || v->nnodes < 2)
        return false;
    int n = v->nnodes;
    int *rank = calloc((size_t)n, sizeof *rank), *per = calloc((size_t)n + 1, sizeof *per);
    if (!rank || !per) {
        free(rank);
        free(per);
        return false;
    }
    for (int k = 0; k < v->nedges; k++) { /* edges by consumer, nodes in tape order */
        const bs_view_edge *e = &v->edges[k];
        if (e->from < e->to && rank[e->to] < rank[e->from] + 1)
            rank[e->to] = rank[e->from] + 1;
    }
    int ranks = 0, widest = 0;
    double sw = 0, sh = 0;
    for (int k = 0; k < n; k++) {
        if (rank[k] + 1 > ranks)
            ranks = rank[k] + 1;
        if (++per[rank[k]] > widest)
            widest = per[rank[k]];
        sw += v->nodes[k].width;
        sh += v->nodes[k].height;
    }
    free(rank);
    free(per);
    double w = sw / n, h = sh / n, rs = 0.3 * 72, ns = 0.2 * 72;
    double lr_w = ranks * (w + rs), lr_h = widest * (h + ns);
    double tb_w = widest * (w + ns), tb_h = ranks * (h + rs);
    /* zoom that fits: min(area_w / w, area_h / h) with area_w = aspect * area_h */
    double z_lr = fmin(aspect / lr_w, 1 / lr_h), z_tb = fmin(aspect / tb_w, 1 / tb_h);
    return z_tb > z_lr * 1.15; /* LR unless TB is clearly better */
}

bs_status bs_viz_export_ex(const bs_ctx *c, const char *path, const bs_view_opts *o, bool grads,
                           const bs_view_state *st, bs_export_style style, char *err, size_t len)
{
    bs_view *v = bs_view_build_opts(c, o, st, (grads ? BS_VIEW_GRADS : 0) | BS_VIEW_HEATMAPS, err, len);
    if (!v)
        return BS_ERR_NOMEM;
    bs_export_style keep = gv_style;
    gv_style = style;
    bs_status s = bs_viz_export_view(v, path, err, len);
    gv_style = keep;
    bs_view_free(v);
    return s;
}

#ifndef BS_HAVE_GRAPHVIZ

/* ==== Without Graphviz: every entry point says what to install ==== */

bool bs_viz_have_graphviz(char *why, size_t len)
{
    viz_fail(BS_ERR_UNSUPPORTED, why, len, BS_NO_GRAPHVIZ_MSG);
    return false;
}

bs_status bs_viz_export_view(const bs_view *v, const char *path, char *err, size_t len)
{
    return viz_fail(BS_ERR_UNSUPPORTED, err, len, BS_NO_GRAPHVIZ_MSG);
}

bs_status bs_viz_export_at(const bs_view *v, const bs_layout *l, const char *path, char *err,
                           size_t len)
{
    return viz_fail(BS_ERR_UNSUPPORTED, err, len, BS_NO_GRAPHVIZ_MSG);
}

char *bs_viz_dot(const bs_view *v, char *err, size_t len)
{
    viz_fail(BS_ERR_UNSUPPORTED, err, len, BS_NO_GRAPHVIZ_MSG);
    return NULL;
}

bs_layout *bs_viz_layout(const bs_view *v, char *err, size_t len)
{
    viz_fail(BS_ERR_UNSUPPORTED, err, len, BS_NO_GRAPHVIZ_MSG);
    return NULL;
}

bs_layout *bs_viz_layout_ex(const bs_view *v, double aspect, bool labels, char *err, size_t len)
{
    (void)aspect;
    (void)labels;
    return bs_viz_layout(v, err, len);
}

void bs_layout_free(bs_layout *l)
{
    (void)l;
}

#else

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

/* ==== The Graphviz context and its messages ==== */

static GVC_t *gvc;
static char gv_msg[256];

/* Graphviz reports through agerr; keep the last message instead of letting it print */
static int gv_err_handler(char *msg)
{
    size_t n = strlen(gv_msg);
    if (n + 1 < sizeof gv_msg)
        snprintf(gv_msg + n, sizeof gv_msg - n, "%s", msg);
    return 0;
}

static GVC_t *gv_context(char *err, size_t len)
{
    if (!gvc) {
        agseterr(AGERR);
        agseterrf(gv_err_handler);
        gvc = gvContext();
        if (!gvc)
            viz_fail(BS_ERR_UNSUPPORTED, err, len, "Graphviz could not start (gvContext failed)");
    }
    gv_msg[0] = 0;
    return gvc;
}

/* the last Graphviz message on one line, or a default */
static const char *gv_last(const char *dflt)
{
    size_t n = strlen(gv_msg);
    while (n && (gv_msg[n - 1] == '\n' || gv_msg[n - 1] == ' '))
        gv_msg[--n] = 0;
    for (char *p = gv_msg; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return n ? gv_msg : dflt;
}

bool bs_viz_have_graphviz(char *why, size_t len)
{
    if (why && len)
        why[0] = 0;
    return true;
}

/* ==== Building the graph ==== */

typedef enum { GV_EXPORT, GV_WINDOW } gv_mode;

typedef struct {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t k)
{
    if (b->oom)
        return;
    if (b->n + k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + k + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, k);
    b->n += k;
    b->s[b->n] = 0;
}

static void sb_cat(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0)
        sb_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

/* text escaped for an HTML-like label */
static void sb_html(sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': sb_cat(b, "&amp;"); break;
        case '<': sb_cat(b, "&lt;"); break;
        case '>': sb_cat(b, "&gt;"); break;
        case '"': sb_cat(b, "&quot;"); break;
        default: sb_put(b, s, 1);
        }
    }
}

static void sb_heat(sbuf *b, const bs_heat *h)
{
    char hex[8];
    int cell = (int)lroundf(viz_heat_cell(h));
    if (cell < 3)
        cell = 3;
    sb_cat(b, "<TABLE BORDER=\"1\" CELLBORDER=\"0\" CELLSPACING=\"0\" CELLPADDING=\"0\" COLOR=\"");
    sb_cat(b, bs_rgb_hex(bs_theme_get()->ink_muted, hex));
    sb_cat(b, "\">");
    for (int i = 0; i < h->rows; i++) {
        sb_cat(b, "<TR>");
        for (int j = 0; j < h->cols; j++)
            sb_printf(b, "<TD FIXEDSIZE=\"TRUE\" WIDTH=\"%d\" HEIGHT=\"%d\" BGCOLOR=\"%s\"></TD>", cell,
                      cell, bs_rgb_hex(viz_heat_color(h, h->v[i * h->cols + j]), hex));
        sb_cat(b, "</TR>");
    }
    sb_cat(b, "</TABLE>");
}

/* the HTML-like label of a node for exports: title, shape and tag, value, grad, heatmaps */
static void node_label(sbuf *b, const bs_view_node *vn)
{
    const bs_theme *t = bs_theme_get();
    char hex[8];
    bool pending = vn->flags & BS_VNF_PENDING;
    sb_cat(b, "<TABLE BORDER=\"0\" CELLBORDER=\"0\" CELLSPACING=\"0\" CELLPADDING=\"1\"><TR><TD>");
    sb_cat(b, "<TABLE BORDER=\"0\" CELLBORDER=\"0\" CELLSPACING=\"0\" CELLPADDING=\"1\">");
    sb_printf(b, "<TR><TD><FONT COLOR=\"%s\"><B>", bs_rgb_hex(vn->ink, hex));
    sb_html(b, vn->title);
    sb_cat(b, "</B></FONT></TD></TR>");
    char line2[128];
    snprintf(line2, sizeof line2, "%s%s%s", vn->shape, *vn->shape && *vn->tag ? "  " : "", vn->tag);
    if (*line2) {
        sb_printf(b, "<TR><TD><FONT POINT-SIZE=\"%g\" COLOR=\"%s\">", t->small_font_size,
                  bs_rgb_hex(pending ? t->pending_ink : t->ink_muted, hex));
        sb_html(b, line2);
        sb_cat(b, "</FONT></TD></TR>");
    }
    sb_printf(b, "<TR><TD><FONT POINT-SIZE=\"%g\" COLOR=\"%s\">", t->small_font_size,
              bs_rgb_hex(pending ? t->pending_ink : t->value_ink, hex));
    sb_html(b, vn->value);
    sb_cat(b, "</FONT></TD></TR>");
    if (*vn->grad) {
        sb_printf(b, "<TR><TD><FONT POINT-SIZE=\"%g\" COLOR=\"%s\">", t->small_font_size,
                  bs_rgb_hex(t->grad_ink, hex));
        sb_html(b, vn->grad);
        sb_cat(b, "</FONT></TD></TR>");
    }
    sb_cat(b, "</TABLE></TD>");
    if (vn->heat) {
        sb_cat(b, "<TD>");
        sb_heat(b, vn->heat);
        sb_cat(b, "</TD>");
    }
    if (vn->gheat) {
        sb_cat(b, "<TD>");
        sb_heat(b, vn->gheat);
        sb_cat(b, "</TD>");
    }
    sb_cat(b, "</TR></TABLE>");
}

static void set(void *obj, const char *name, const char *value)
{
    agsafeset(obj, (char *)name, (char *)value, "");
}

static void set_html(Agraph_t *g, void *obj, const char *name, const char *html)
{
    char *h = agstrdup_html(g, (char *)html);
    agsafeset(obj, (char *)name, h, "");
    agstrfree(g, h);
}

static void setf(void *obj, const char *name, double v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.4g", v);
    set(obj, name, buf);
}

/* height of the caption band above a pinned graph, points */
#define GV_CAPTION_H 28.0
/* the narrowest a pinned graph is drawn, points: room for a caption line */
#define GV_CAPTION_MIN_W 560.0

static void setpt(void *obj, const char *name, double x, double y)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.2f,%.2f", x, y);
    set(obj, name, buf);
}

/* Pin a built export graph where layout l put everything (graph coordinates: y grows upwards,
 * the caption band on top), for neato -n2 ("nop2"), which draws what it is given. */
static bool gv_pin(Agraph_t *g, const bs_view *v, const bs_layout *l, Agnode_t **nodes,
                   Agedge_t **edges)
{
    const bs_theme *t = bs_theme_get();
    char hex[8];
    double W = l->width > GV_CAPTION_MIN_W ? l->width : GV_CAPTION_MIN_W;
    double H = l->height + GV_CAPTION_H;
    char bb[96];
    snprintf(bb, sizeof bb, "0,0,%.2f,%.2f", W, H);
    agsafeset(g, "bb", bb, "");
    for (int k = 0; k < v->nnodes; k++) {
        const bs_layout_node *ln = &l->nodes[k];
        setpt(nodes[k], "pos", ln->x, l->height - ln->y);
        setf(nodes[k], "width", ln->w / 72.0);
        setf(nodes[k], "height", ln->h / 72.0);
        set(nodes[k], "fixedsize", "true");
    }
    sbuf b = {0};
    for (int k = 0; k < v->nedges; k++) {
        const bs_layout_edge *le = &l->edges[k];
        char pt[64];
        b.n = 0;
        if (le->arrow) {
            snprintf(pt, sizeof pt, "e,%.2f,%.2f", le->ax, l->height - le->ay);
            sb_cat(&b, pt);
        }
        for (int i = 0; i < le->npts; i++) {
            snprintf(pt, sizeof pt, "%s%.2f,%.2f", b.n ? " " : "", le->pts[2 * i],
                     l->height - le->pts[2 * i + 1]);
            sb_cat(&b, pt);
        }
        if (b.oom)
            break;
        set(edges[k], "pos", b.s ? b.s : "");
        if (*v->edges[k].label)
            setpt(edges[k], "lp", le->lx, l->height - le->ly);
    }
    bool ok = !b.oom;
    free(b.s);
    /* the caption: a box of fixed size, so its text never moves the graph */
    Agnode_t *cap = agnode(g, "caption", 1);
    if (!cap)
        return false;
    set(cap, "id", "caption");
    set(cap, "shape", "plaintext");
    set(cap, "style", "");
    set(cap, "fixedsize", "true");
    set(cap, "label", v->caption ? v->caption : "");
    set(cap, "fontcolor", bs_rgb_hex(t->ink, hex));
    setpt(cap, "pos", W / 2, l->height + GV_CAPTION_H / 2);
    setf(cap, "width", W / 72.0);
    setf(cap, "height", GV_CAPTION_H / 72.0);
    return ok;
}

/* Build the cgraph graph of a view. Export mode: HTML labels sized by Graphviz, edge labels, the
 * caption as the graph's label (or, with pin, every node and edge where pin put it).
 * Window mode: empty fixed-size nodes with the view's sizes (the window draws the insides).
 * edges[k] receives the Agedge of v->edges[k]. */

/* the Graphviz name of nodes[k]: "n<id>", the tape's id (exports keep it); a repeat of a far-used
   source "n<id>r<k>" */
static void gv_node_name(const bs_view *v, int k, char *buf, size_t len)
{
    if (v->nodes[k].flags & BS_VNF_REPEAT)
        snprintf(buf, len, "n%dr%d", v->nodes[k].id, k);
    else
        snprintf(buf, len, "n%d", v->nodes[k].id);
}

static Agraph_t *gv_build(const bs_view *v, gv_mode mode, const bs_layout *pin, Agedge_t **edges,
                          bool tb, bool labels, Agraph_t **subs, char *err, size_t len)
{
    const bs_theme *t = bs_theme_get();
    char hex[8], name[32];
    Agraph_t *g = agopen("backstep", Agdirected, NULL);
    if (!g) {
        viz_fail(BS_ERR_NOMEM, err, len, "Graphviz: %s", gv_last("cannot create a graph"));
        return NULL;
    }
    /* graph attributes (declared once, before nodes, so every object has them) */
    agattr(g, AGRAPH, "rankdir", tb ? "TB" : "LR");
    agattr(g, AGRAPH, "nodesep", "0.2");
    agattr(g, AGRAPH, "ranksep", "0.3");
    /* dot's network simplex placement grows far faster than the graph (a 300-node graph with
       one widely shared input: over 100 s); past a few dozen nodes its effort is bounded */
    if (v->nnodes > BS_VIZ_TUNE_NODES) {
        agattr(g, AGRAPH, "nslimit", "1");
        agattr(g, AGRAPH, "mclimit", "0.5");
    }
    agattr(g, AGRAPH, "bgcolor", mode == GV_EXPORT && gv_style.background == BS_BG_WHITE ? "#ffffff"
                                 : mode == GV_EXPORT && gv_style.background == BS_BG_TRANSPARENT ? "transparent"
                                 : bs_rgb_hex(t->background, hex));
    agattr(g, AGRAPH, "pad", "0.2");
    agattr(g, AGRAPH, "fontname", "DejaVu Sans");
    agattr(g, AGNODE, "fontname", "DejaVu Sans");
    agattr(g, AGEDGE, "fontname", "DejaVu Sans");
    char fs[16];
    snprintf(fs, sizeof fs, "%g", t->font_size);
    agattr(g, AGNODE, "fontsize", fs);
    agattr(g, AGNODE, "shape", "box");
    agattr(g, AGNODE, "style", "rounded,filled");
    agattr(g, AGNODE, "penwidth", "1.5");
    agattr(g, AGEDGE, "arrowsize", "0.7");
    agattr(g, AGEDGE, "penwidth", "1.5");
    if (mode == GV_WINDOW) {
        agattr(g, AGNODE, "fixedsize", "true");
        agattr(g, AGNODE, "label", "");
        agattr(g, AGNODE, "margin", "0");
    } else {
        agattr(g, AGNODE, "margin", "0.1,0.05");
        snprintf(fs, sizeof fs, "%g", t->small_font_size);
        agattr(g, AGEDGE, "fontsize", fs);
    }

    sbuf b = {0};
    Agnode_t **nodes = calloc((size_t)(v->nnodes ? v->nnodes : 1), sizeof *nodes);
    if (!nodes) {
        agclose(g);
        viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
        return NULL;
    }
    /* open groups: clusters (a parent's subgraph holds its children's) */
    Agraph_t *sub_local[64];
    Agraph_t **sg = subs ? subs : v->nclusters <= 64 ? sub_local : NULL;
    if (v->nclusters && !sg) {
        free(nodes);
        agclose(g);
        viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
        return NULL;
    }
    for (int k = 0; k < v->nclusters; k++) {
        const bs_view_cluster *cl = &v->clusters[k];
        snprintf(name, sizeof name, "cluster_%d", k);
        Agraph_t *parent = cl->parent >= 0 && cl->parent < k ? sg[cl->parent] : g;
        sg[k] = agsubg(parent, name, 1);
        agsafeset(sg[k], "label", (char *)cl->title, "");
        agsafeset(sg[k], "labeljust", "l", "");
        agsafeset(sg[k], "style", "rounded,filled", "");
        agsafeset(sg[k], "fillcolor", bs_rgb_hex(t->cluster_fill, hex), "");
        agsafeset(sg[k], "color", bs_rgb_hex(t->cluster_border, hex), "");
        agsafeset(sg[k], "fontcolor", bs_rgb_hex(t->group_border, hex), "");
        snprintf(fs, sizeof fs, "%g", t->small_font_size);
        agsafeset(sg[k], "fontsize", fs, "");
        agsafeset(sg[k], "margin", "10", "");
    }
    for (int k = 0; k < v->nnodes; k++) {
        const bs_view_node *vn = &v->nodes[k];
        gv_node_name(v, k, name, sizeof name);
        Agnode_t *n = agnode(g, name, 1);
        nodes[k] = n;
        if (vn->cluster >= 0 && vn->cluster < v->nclusters)
            agsubnode(sg[vn->cluster], n, 1);
        if (vn->kind == BS_VN_GROUP)
            set(n, "peripheries", "2");
        set(n, "id", name);
        if (vn->kind == BS_VN_CONST)
            set(n, "shape", "ellipse");
        if (mode == GV_WINDOW) {
            setf(n, "width", vn->width / 72.0);
            setf(n, "height", vn->height / 72.0);
            continue;
        }
        set(n, "fillcolor", bs_rgb_hex(vn->fill, hex));
        set(n, "color", bs_rgb_hex(vn->border, hex));
        if (vn->flags & BS_VNF_CURRENT)
            set(n, "penwidth", "4");
        else if (vn->flags & (BS_VNF_SELECTED | BS_VNF_ROOT) || vn->kind == BS_VN_PARAM)
            set(n, "penwidth", "2.5");
        if (vn->flags & (BS_VNF_DETACHED | BS_VNF_NO_GRAD))
            set(n, "style", vn->kind == BS_VN_CONST ? "filled,dashed" : "rounded,filled,dashed");
        else if (vn->kind == BS_VN_CONST)
            set(n, "style", "filled");
        if (vn->kind == BS_VN_CONST) {
            char small[16];
            snprintf(small, sizeof small, "%g", t->small_font_size);
            set(n, "fontsize", small);
            set(n, "label", vn->title);
            set(n, "fontcolor", bs_rgb_hex(vn->ink, hex));
            set(n, "margin", "0.04,0.02");
            set(n, "height", "0.3");
            set(n, "width", "0.4");
        } else {
            b.n = 0;
            node_label(&b, vn);
            if (b.oom)
                goto nomem;
            set_html(g, n, "label", b.s);
        }
    }
    for (int k = 0; k < v->nedges; k++) {
        const bs_view_edge *e = &v->edges[k];
        Agedge_t *ed = agedge(g, nodes[e->from], nodes[e->to], NULL, 1);
        edges[k] = ed;
        if (mode == GV_WINDOW) {
            /* room for the stepper's label on every edge a VJP can travel, placed by dot */
            if (labels && e->slot >= 0 && !(e->flags & BS_VEF_NO_GRAD)) {
                set(ed, "label", (v->nodes[e->from].flags & BS_VNF_TENSOR) ? VIZ_LABEL_TENSOR
                                                                            : VIZ_LABEL_SCALAR);
                snprintf(fs, sizeof fs, "%g", t->small_font_size);
                set(ed, "fontsize", fs);
            }
            continue;
        }
        set(ed, "color", bs_rgb_hex(e->color, hex));
        setf(ed, "penwidth", e->width);
        if (e->flags & BS_VEF_COPY) {
            set(ed, "style", "dashed");
            set(ed, "arrowhead", "empty");
        }
        if (*e->label) {
            set(ed, "label", e->label);
            set(ed, "fontcolor", bs_rgb_hex(t->grad_ink, hex));
        }
    }
    if (mode == GV_EXPORT && pin) {
        if (!gv_pin(g, v, pin, nodes, edges))
            goto nomem;
    } else if (mode == GV_EXPORT && gv_style.legend) {
        /* the caption (stepping) and a legend: what the colours mean */
        b.n = 0;
        sb_cat(&b, "<TABLE BORDER=\"0\" CELLSPACING=\"4\" CELLPADDING=\"2\">");
        if (v->caption && *v->caption) {
            sb_cat(&b, "<TR><TD COLSPAN=\"12\" ALIGN=\"LEFT\">");
            sb_html(&b, v->caption);
            sb_cat(&b, "</TD></TR>");
        }
        sb_printf(&b, "<TR><TD><FONT POINT-SIZE=\"%g\">boxes:</FONT></TD>", t->small_font_size);
        const struct { bs_rgb fill, border; const char *what; } kinds[] = {
            {t->op_fill, t->op_border, "op"}, {t->param_fill, t->param_border, "param"},
            {t->input_fill, t->input_border, "input"}, {t->group_fill, t->group_border, "group"},
            {t->root_fill, t->root_border, "root"}};
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            char h2[8];
            sb_printf(&b, "<TD BGCOLOR=\"%s\" COLOR=\"%s\" BORDER=\"1\"><FONT POINT-SIZE=\"%g\">%s</FONT></TD>",
                      bs_rgb_hex(kinds[k].fill, hex), bs_rgb_hex(kinds[k].border, h2),
                      t->small_font_size, kinds[k].what);
        }
        sb_printf(&b, "<TD><FONT POINT-SIZE=\"%g\">  edges by |grad|:</FONT></TD>", t->small_font_size);
        const double mags[3] = {t->grad_vanish, 1, t->grad_explode};
        const char *mw[3] = {"vanishing", "1", "exploding"};
        for (int k = 0; k < 3; k++)
            sb_printf(&b, "<TD><FONT POINT-SIZE=\"%g\" COLOR=\"%s\"><B>\xe2\x94\x81\xe2\x94\x81 %s</B></FONT></TD>",
                      t->small_font_size, bs_rgb_hex(bs_theme_grad_color(mags[k]), hex), mw[k]);
        sb_printf(&b, "<TD><FONT POINT-SIZE=\"%g\" COLOR=\"%s\">\xe2\x95\x8c\xe2\x95\x8c copy (no grad)</FONT></TD></TR></TABLE>",
                  t->small_font_size, bs_rgb_hex(t->edge_copy, hex));
        if (b.oom)
            goto nomem;
        set_html(g, g, "label", b.s);
        agsafeset(g, "labelloc", v->caption && *v->caption ? "t" : "b", "");
        agsafeset(g, "labeljust", "l", "");
        agsafeset(g, "fontcolor", bs_rgb_hex(t->ink, hex), "");
    } else if (mode == GV_EXPORT && v->caption && *v->caption) {
        agsafeset(g, "label", (char *)v->caption, "");
        agsafeset(g, "labelloc", "t", "");
        agsafeset(g, "labeljust", "l", "");
        agsafeset(g, "fontcolor", bs_rgb_hex(t->ink, hex), "");
    }
    free(nodes);
    free(b.s);
    return g;
nomem:
    free(nodes);
    free(b.s);
    agclose(g);
    viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
    return NULL;
}

/* ==== DOT text ==== */

static char *gv_dot(const bs_view *v, const bs_layout *pin, char *err, size_t len);

char *bs_viz_dot(const bs_view *v, char *err, size_t len)
{
    return gv_dot(v, NULL, err, len);
}

static char *gv_dot(const bs_view *v, const bs_layout *pin, char *err, size_t len)
{
    if (!gv_context(err, len))
        return NULL;
    Agedge_t **edges = calloc((size_t)(v->nedges ? v->nedges : 1), sizeof *edges);
    if (!edges) {
        viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
        return NULL;
    }
    Agraph_t *g = gv_build(v, GV_EXPORT, pin, edges, false, false, NULL, err, len);
    free(edges);
    if (!g)
        return NULL;
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!f || agwrite(g, f) != 0) {
        if (f)
            fclose(f);
        free(text);
        agclose(g);
        viz_fail(BS_ERR_NOMEM, err, len, "Graphviz: %s", gv_last("cannot write DOT"));
        return NULL;
    }
    fclose(f);
    agclose(g);
    return text;
}

/* ==== Export ==== */

static const char *ext_of(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    return dot && (!slash || dot > slash) ? dot + 1 : "";
}

static bs_status write_file(const char *path, const char *data, size_t n, char *err, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return viz_fail(BS_ERR_VALUE, err, len, "cannot write %s: %s", path, strerror(errno));
    size_t w = fwrite(data, 1, n, f);
    int e = errno;
    if (fclose(f) != 0 || w != n)
        return viz_fail(BS_ERR_VALUE, err, len, "cannot write %s: %s", path, strerror(e ? e : EIO));
    return BS_OK;
}

/* cairo stamps PDFs with the time; make it fixed so exports are reproducible */
static void pdf_fix_dates(char *data, size_t n)
{
    static const char *keys[] = {"/CreationDate (D:", "/ModDate (D:"};
    for (size_t k = 0; k < 2; k++) {
        size_t kl = strlen(keys[k]);
        for (size_t i = 0; i + kl + 14 <= n; i++)
            if (!memcmp(data + i, keys[k], kl)) {
                memcpy(data + i + kl, "20000101000000", 14);
                break;
            }
    }
}

static bool too_costly(const bs_view *v, const char *where, const char *instead, char *err, size_t len)
{
    long cost = v->nnodes > BS_VIZ_MAX_LAYOUT ? LONG_MAX : bs_viz_layout_cost(v);
    if (cost <= BS_VIZ_MAX_COST) return false;
    if (v->nnodes > BS_VIZ_MAX_LAYOUT)
        viz_fail(BS_ERR_VALUE, err, len, "the graph has %d nodes, more than %s lays out in "
                 "reasonable time (%d): %s", v->nnodes, where, BS_VIZ_MAX_LAYOUT, instead);
    else
        viz_fail(BS_ERR_VALUE, err, len, "the graph has %d nodes and one value feeds nodes "
                 "%ld ranks away in all (a value used far from where it was made), more than %s "
                 "lays out in reasonable time: %s", v->nnodes, cost - v->nnodes, where, instead);
    return true;
}

static bs_status gv_export(const bs_view *v, const bs_layout *pin, const char *path, char *err,
                           size_t len);

bs_status bs_viz_export_view(const bs_view *v, const char *path, char *err, size_t len)
{
    return gv_export(v, NULL, path, err, len);
}

bs_status bs_viz_export_at(const bs_view *v, const bs_layout *l, const char *path, char *err,
                           size_t len)
{
    if (!l || l->structure != v->structure || l->nnodes != v->nnodes || l->nedges != v->nedges)
        return viz_fail(BS_ERR_ARG, err, len, "the layout was made for another graph");
    return gv_export(v, l, path, err, len);
}

static bs_status gv_export(const bs_view *v, const bs_layout *pin, const char *path, char *err,
                           size_t len)
{
    const char *ext = ext_of(path);
    const char *fmt = NULL;
    bool dot = !strcasecmp(ext, "dot") || !strcasecmp(ext, "gv");
    if (!strcasecmp(ext, "svg"))
        fmt = "svg";
    else if (!strcasecmp(ext, "png"))
        fmt = "png";
    else if (!strcasecmp(ext, "pdf"))
        fmt = "pdf";
    else if (!dot)
        return viz_fail(BS_ERR_ARG, err, len,
                        "cannot tell the format of '%s': use .dot, .svg, .png or .pdf", path);
    if (!gv_context(err, len))
        return BS_ERR_UNSUPPORTED;
    if (!dot && too_costly(v, "Graphviz", "export a part (:export FILE NAME), or write .dot "
                           "and lay it out with dot yourself", err, len))
        return BS_ERR_VALUE;
    if (dot) {
        char *text = gv_dot(v, pin, err, len);
        if (!text)
            return BS_ERR_NOMEM;
        bs_status st = write_file(path, text, strlen(text), err, len);
        free(text);
        return st;
    }
    Agedge_t **edges = calloc((size_t)(v->nedges ? v->nedges : 1), sizeof *edges);
    if (!edges)
        return viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
    Agraph_t *g = gv_build(v, GV_EXPORT, pin, edges, false, false, NULL, err, len);
    free(edges);
    if (!g)
        return BS_ERR_NOMEM;
    if (!strcmp(fmt, "png"))
        agsafeset(g, "dpi", "120", "");
    bs_status st = BS_OK;
    /* pinned: neato -n2 takes every position and route as given */
    if (gvLayout(gvc, g, pin ? "nop2" : "dot") != 0) {
        st = viz_fail(BS_ERR_VALUE, err, len, "Graphviz layout failed: %s", gv_last("dot failed"));
    } else {
        char *data = NULL;
        unsigned int n = 0;
        if (gvRenderData(gvc, g, fmt, &data, &n) != 0 || !data) {
            st = viz_fail(BS_ERR_UNSUPPORTED, err, len, "Graphviz cannot render %s: %s", fmt,
                          gv_last("no renderer for it (is the cairo plugin installed?)"));
        } else {
            if (!strcmp(fmt, "pdf"))
                pdf_fix_dates(data, n);
            st = write_file(path, data, n, err, len);
        }
        if (data)
            gvFreeRenderData(data);
        gvFreeLayout(gvc, g);
    }
    agclose(g);
    return st;
}

/* ==== Layout for the window ==== */

void bs_layout_free(bs_layout *l)
{
    if (!l)
        return;
    for (int k = 0; k < l->nedges; k++)
        free(l->edges[k].pts);
    free(l->nodes);
    free(l->edges);
    free(l->clusters);
    free(l);
}

/* the point at parameter t of the cubic Bézier p0..p3 */
static void bezier_at(const float *p, float t, float *x, float *y)
{
    float u = 1 - t;
    float a = u * u * u, b = 3 * u * u * t, c = 3 * u * t * t, d = t * t * t;
    *x = a * p[0] + b * p[2] + c * p[4] + d * p[6];
    *y = a * p[1] + b * p[3] + c * p[5] + d * p[7];
}

bs_layout *bs_viz_layout(const bs_view *v, char *err, size_t len)
{
    return bs_viz_layout_ex(v, 0, false, err, len);
}

bs_layout *bs_viz_layout_ex(const bs_view *v, double aspect, bool labels, char *err, size_t len)
{
    if (!gv_context(err, len))
        return NULL;
    bool tb = aspect > 0 && bs_viz_prefer_tb(v, aspect);
    if (too_costly(v, "the window", ":graph NAME draws a part", err, len))
        return NULL;
    bs_layout *l = calloc(1, sizeof *l);
    Agedge_t **edges = calloc((size_t)(v->nedges ? v->nedges : 1), sizeof *edges);
    if (l) {
        l->nodes = calloc((size_t)(v->nnodes ? v->nnodes : 1), sizeof *l->nodes);
        l->edges = calloc((size_t)(v->nedges ? v->nedges : 1), sizeof *l->edges);
    }
    if (!l || !edges || !l->nodes || !l->edges) {
        free(edges);
        bs_layout_free(l);
        viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
        return NULL;
    }
    l->nnodes = v->nnodes;
    l->structure = v->structure;
    l->tb = tb;
    l->labels = labels;
    Agraph_t **subs = calloc((size_t)(v->nclusters ? v->nclusters : 1), sizeof *subs);
    l->clusters = calloc((size_t)(v->nclusters ? v->nclusters : 1), sizeof *l->clusters);
    if (!subs || !l->clusters) {
        free(subs);
        free(edges);
        bs_layout_free(l);
        viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
        return NULL;
    }
    Agraph_t *g = gv_build(v, GV_WINDOW, NULL, edges, tb, labels, subs, err, len);
    if (!g) {
        free(subs);
        free(edges);
        bs_layout_free(l);
        return NULL;
    }
    if (gvLayout(gvc, g, "dot") != 0) {
        viz_fail(BS_ERR_VALUE, err, len, "Graphviz layout failed: %s", gv_last("dot failed"));
        agclose(g);
        free(subs);
        free(edges);
        bs_layout_free(l);
        return NULL;
    }
    boxf bb = GD_bb(g);
    float x0 = (float)bb.LL.x, y1 = (float)bb.UR.y;
    l->width = (float)(bb.UR.x - bb.LL.x);
    l->height = (float)(bb.UR.y - bb.LL.y);
    l->nclusters = v->nclusters;
    for (int k = 0; k < v->nclusters; k++) {
        boxf cb = GD_bb(subs[k]);
        bs_layout_node *lc = &l->clusters[k];
        lc->x = (float)((cb.LL.x + cb.UR.x) / 2) - x0;
        lc->y = y1 - (float)((cb.LL.y + cb.UR.y) / 2);
        lc->w = (float)(cb.UR.x - cb.LL.x);
        lc->h = (float)(cb.UR.y - cb.LL.y);
    }
    free(subs);
    char name[32];
    for (int k = 0; k < v->nnodes; k++) {
        gv_node_name(v, k, name, sizeof name);
        Agnode_t *n = agnode(g, name, 0);
        bs_layout_node *ln = &l->nodes[k];
        ln->x = (float)ND_coord(n).x - x0;
        ln->y = y1 - (float)ND_coord(n).y;
        ln->w = (float)(ND_width(n) * 72.0);
        ln->h = (float)(ND_height(n) * 72.0);
    }
    bool oom = false;
    for (int k = 0; k < v->nedges; k++) {
        bs_layout_edge *le = &l->edges[k];
        l->nedges = k + 1;
        splines *sp = ED_spl(edges[k]);
        if (!sp || sp->size < 1 || sp->list[0].size < 4) {
            /* no route (should not happen with dot): a straight line between centres */
            const bs_layout_node *a = &l->nodes[v->edges[k].from], *b = &l->nodes[v->edges[k].to];
            le->pts = malloc(8 * sizeof(float));
            if (!le->pts) {
                oom = true;
                break;
            }
            float pts[8] = {a->x, a->y, (2 * a->x + b->x) / 3, (2 * a->y + b->y) / 3,
                            (a->x + 2 * b->x) / 3, (a->y + 2 * b->y) / 3, b->x, b->y};
            memcpy(le->pts, pts, sizeof pts);
            le->npts = 4;
        } else {
            bezier *bz = &sp->list[0];
            le->npts = bz->size;
            le->pts = malloc((size_t)bz->size * 2 * sizeof(float));
            if (!le->pts) {
                oom = true;
                break;
            }
            for (int i = 0; i < bz->size; i++) {
                le->pts[2 * i] = (float)bz->list[i].x - x0;
                le->pts[2 * i + 1] = y1 - (float)bz->list[i].y;
            }
            if (bz->eflag) {
                le->arrow = true;
                le->ax = (float)bz->ep.x - x0;
                le->ay = y1 - (float)bz->ep.y;
            }
        }
        /* label anchor: where dot put the label (off every node), else 40% along the curve
           from its tail, nearer the input the VJP goes to */
        textlabel_t *tl = ED_label(edges[k]);
        if (tl && tl->set) {
            le->lx = (float)tl->pos.x - x0;
            le->ly = y1 - (float)tl->pos.y;
        } else {
            int segs = (le->npts - 1) / 3;
            float along = 0.4f * (float)segs;
            int seg = (int)along < segs ? (int)along : segs - 1;
            bezier_at(le->pts + 6 * seg, along - (float)seg, &le->lx, &le->ly);
        }
    }
    gvFreeLayout(gvc, g);
    agclose(g);
    free(edges);
    if (oom) {
        bs_layout_free(l);
        viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
        return NULL;
    }
    return l;
}

#endif

#ifdef BS_VIZ_MODULE
/* ==== The module's table (viz/viz_mod.h): libbsgv.so ==== */
#include "viz_mod.h"

const bs_gv_api *bs_gv_module(void)
{
    static const bs_gv_api api = {BS_GV_ABI, sizeof api, bs_viz_export, bs_viz_export_at,
                                  bs_viz_export_ex, bs_viz_export_view, bs_viz_dot,
                                  bs_viz_have_graphviz, bs_viz_layout, bs_viz_layout_ex,
                                  bs_viz_prefer_tb, bs_layout_free};
    return &api;
}
#endif
