/* viz/ascii.c: the graph drawn as text for terminals, SSH sessions and transcripts: ranks as
 * columns (leaves left, root right), one line per node, edges routed with box-drawing lines. */
#include "viz_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== The layered layout ====
 * rank: sources sit one rank left of their first consumer, everything else one right of its
 * furthest input; an edge spanning several ranks gets a dummy "node" (a straight line) in each
 * rank it crosses; order within a rank by barycentres; rows by averaging the left neighbours. */

typedef struct {
    int rank;           /* column */
    int order;          /* position in its column */
    int row;            /* text row (even) */
    int view;           /* index in v->nodes, -1 for a dummy */
    char *label;        /* malloc'd UTF-8 label ("" for dummies) */
    int width;          /* display width of label */
} a_node;

typedef struct {
    int from, to;       /* a_node indexes, adjacent ranks */
} a_seg;

typedef struct {
    a_node *n;
    int nn, capn;
    a_seg *s;
    int ns, caps;
    bool oom;
} a_graph;

static int a_add_node(a_graph *g, int rank, int view, char *label)
{
    if (g->nn == g->capn) {
        int cap = g->capn ? 2 * g->capn : 64;
        a_node *p = realloc(g->n, (size_t)cap * sizeof *p);
        if (!p) {
            g->oom = true;
            free(label);
            return -1;
        }
        g->n = p;
        g->capn = cap;
    }
    a_node *n = &g->n[g->nn];
    memset(n, 0, sizeof *n);
    n->rank = rank;
    n->view = view;
    n->label = label;
    int w = 0;
    for (const unsigned char *p = (const unsigned char *)(label ? label : ""); *p; p++)
        if ((*p & 0xC0) != 0x80)
            w++;
    n->width = w;
    return g->nn++;
}

static void a_add_seg(a_graph *g, int from, int to)
{
    if (from < 0 || to < 0)
        return;
    if (g->ns == g->caps) {
        int cap = g->caps ? 2 * g->caps : 64;
        a_seg *p = realloc(g->s, (size_t)cap * sizeof *p);
        if (!p) {
            g->oom = true;
            return;
        }
        g->s = p;
        g->caps = cap;
    }
    g->s[g->ns].from = from;
    g->s[g->ns].to = to;
    g->ns++;
}

static char *label_of(const bs_view_node *vn, unsigned flags, bool brief)
{
    char buf[256];
    const char *open = "[", *close = "]";
    if (vn->kind == BS_VN_PARAM)
        open = "{", close = "}";
    else if (vn->kind == BS_VN_INPUT || vn->kind == BS_VN_CONST)
        open = "(", close = ")";
    if (vn->kind == BS_VN_GROUP) { /* a collapsed group: [[name  N nodes]] */
        bool val = !brief && *vn->value && strncmp(vn->value, "in ", 3);
        snprintf(buf, sizeof buf, "[[%s%s%s%s \xc2\xb7 %s%s]]", vn->flags & BS_VNF_CURRENT ? "*" : "",
                 vn->title, val ? " " : "", val ? vn->value : "", vn->tag,
                 vn->flags & BS_VNF_CURRENT ? "*" : "");
        return strdup(buf);
    }
    if (vn->flags & BS_VNF_CURRENT)
        open = vn->kind == BS_VN_OP ? "[*" : vn->kind == BS_VN_PARAM ? "{*" : "(*",
        close = vn->kind == BS_VN_OP ? "*]" : vn->kind == BS_VN_PARAM ? "*}" : "*)";
    size_t u = (size_t)snprintf(buf, sizeof buf, "%s%s", open, vn->title);
    if (!brief && vn->kind != BS_VN_CONST) {
        const char *tag = vn->flags & (BS_VNF_DETACHED | BS_VNF_NO_GRAD) ? vn->tag : "";
        u += (size_t)snprintf(buf + u, sizeof buf - u, "%s%s %s", *tag ? " " : "", tag,
                              vn->flags & BS_VNF_PENDING ? "\xc2\xb7" : vn->value);
        if ((flags & BS_ASCII_GRADS) && *vn->grad) /* "grad X", or "so far X": g~X */
            snprintf(buf + u, sizeof buf - u, " g%s%s", vn->flags & BS_VNF_PARTIAL ? "~" : "=",
                     vn->grad + (vn->flags & BS_VNF_PARTIAL ? 7 : 5));
    }
    u = strlen(buf);
    snprintf(buf + u, sizeof buf - u, "%s", close);
    return strdup(buf);
}

static int cmp_key_idx(const void *a, const void *b)
{
    const double *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1];
}

/* ==== The canvas: cells hold a character or line directions ==== */
enum { L_UP = 1, L_DOWN = 2, L_LEFT = 4, L_RIGHT = 8 };

typedef struct {
    int w, h;
    uint32_t *ch;       /* codepoint, 0 = none */
    uint8_t *line;      /* L_* bits */
    uint8_t *cross;     /* inside a vertical track (not its ends): a horizontal here crosses it */
} canvas;

static void cv_line(canvas *c, int x, int y, unsigned bits)
{
    if (x >= 0 && y >= 0 && x < c->w && y < c->h)
        c->line[(size_t)y * (size_t)c->w + (size_t)x] |= (uint8_t)bits;
}

static void cv_hline(canvas *c, int x0, int x1, int y)
{
    if (x0 > x1) {
        int t = x0;
        x0 = x1;
        x1 = t;
    }
    for (int x = x0; x <= x1; x++)
        cv_line(c, x, y, (x > x0 ? L_LEFT : 0) | (x < x1 ? L_RIGHT : 0));
}

static void cv_vline(canvas *c, int x, int y0, int y1)
{
    if (y0 > y1) {
        int t = y0;
        y0 = y1;
        y1 = t;
    }
    for (int y = y0; y <= y1; y++) {
        cv_line(c, x, y, (y > y0 ? L_UP : 0) | (y < y1 ? L_DOWN : 0));
        if (y > y0 && y < y1 && x >= 0 && x < c->w)
            c->cross[(size_t)y * (size_t)c->w + (size_t)x] = 1;
    }
}

static void cv_text(canvas *c, int x, int y, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p && x < c->w) {
        uint32_t cp = *p++;
        if (cp >= 0xF0) {
            cp = (cp & 7) << 18 | (uint32_t)(p[0] & 63) << 12 | (uint32_t)(p[1] & 63) << 6 | (p[2] & 63);
            p += 3;
        } else if (cp >= 0xE0) {
            cp = (cp & 15) << 12 | (uint32_t)(p[0] & 63) << 6 | (p[1] & 63);
            p += 2;
        } else if (cp >= 0xC0) {
            cp = (cp & 31) << 6 | (p[0] & 63);
            p += 1;
        }
        c->ch[(size_t)y * (size_t)c->w + (size_t)x++] = cp;
    }
}

static uint32_t line_char(unsigned bits, bool plain)
{
    /* indexed by L_UP | L_DOWN | L_LEFT | L_RIGHT */
    static const uint32_t box[16] = {
        ' ',    0x2502, 0x2502, 0x2502,  /* -, U, D, UD */
        0x2500, 0x2518, 0x2510, 0x2524,  /* L, UL, DL, UDL */
        0x2500, 0x2514, 0x250C, 0x251C,  /* R, UR, DR, UDR */
        0x2500, 0x2534, 0x252C, 0x253C}; /* LR, ULR, DLR, UDLR */
    static const char ascii[16] = {' ', '|', '|', '|', '-', '\'', '.', '+',
                                   '-', '\'', '.', '+', '-', '+', '+', '+'};
    return plain ? (uint32_t)ascii[bits & 15] : box[bits & 15];
}

static void put_utf8(char **o, uint32_t cp)
{
    char *p = *o;
    if (cp < 0x80)
        *p++ = (char)cp;
    else if (cp < 0x800) {
        *p++ = (char)(0xC0 | cp >> 6);
        *p++ = (char)(0x80 | (cp & 63));
    } else if (cp < 0x10000) {
        *p++ = (char)(0xE0 | cp >> 12);
        *p++ = (char)(0x80 | (cp >> 6 & 63));
        *p++ = (char)(0x80 | (cp & 63));
    } else {
        *p++ = (char)(0xF0 | cp >> 18);
        *p++ = (char)(0x80 | (cp >> 12 & 63));
        *p++ = (char)(0x80 | (cp >> 6 & 63));
        *p++ = (char)(0x80 | (cp & 63));
    }
    *o = p;
}

/* ==== Drawing ==== */

static char *draw(const bs_view *v, unsigned flags, bool brief)
{
    bool plain = flags & BS_ASCII_PLAIN;
    a_graph g = {0};
    char *out = NULL;
    int *rank = calloc((size_t)(v->nnodes + 1), sizeof *rank);
    int *anode = calloc((size_t)(v->nnodes + 1), sizeof *anode);
    bool *has_in = calloc((size_t)(v->nnodes + 1), sizeof *has_in);
    if (!rank || !anode || !has_in)
        goto done;

    /* ranks: longest path from the sources (edges go from lower to higher view index) */
    for (int k = 0; k < v->nedges; k++)
        has_in[v->edges[k].to] = true;
    for (int k = 0; k < v->nedges; k++) {   /* edges are ordered by `to` */
        const bs_view_edge *e = &v->edges[k];
        if (rank[e->from] + 1 > rank[e->to])
            rank[e->to] = rank[e->from] + 1;
    }
    /* pull sources right, next to their first consumer */
    for (int i = 0; i < v->nnodes; i++) {
        if (has_in[i])
            continue;
        int best = -1;
        for (int k = 0; k < v->nedges; k++)
            if (v->edges[k].from == i && (best < 0 || rank[v->edges[k].to] - 1 < best))
                best = rank[v->edges[k].to] - 1;
        if (best > rank[i])
            rank[i] = best;
    }
    int nranks = 0;
    for (int i = 0; i < v->nnodes; i++) {
        anode[i] = a_add_node(&g, rank[i], i, label_of(&v->nodes[i], flags, brief));
        if (anode[i] >= 0 && !g.n[anode[i]].label)
            g.oom = true;
        if (rank[i] + 1 > nranks)
            nranks = rank[i] + 1;
    }
    for (int k = 0; k < v->nedges && !g.oom; k++) {
        const bs_view_edge *e = &v->edges[k];
        int prev = anode[e->from];
        for (int r = rank[e->from] + 1; r < rank[e->to]; r++) {
            int d = a_add_node(&g, r, -1, strdup(""));
            a_add_seg(&g, prev, d);
            prev = d;
        }
        a_add_seg(&g, prev, anode[e->to]);
    }
    if (g.oom)
        goto done;

    /* order within ranks: start in creation order, then barycentre sweeps */
    int *cnt = calloc((size_t)(nranks + 1), sizeof *cnt);
    double *key = malloc(sizeof(double) * 2 * (size_t)(g.nn + 1));
    double *bsum = calloc((size_t)(g.nn + 1), sizeof *bsum);
    int *bn = calloc((size_t)(g.nn + 1), sizeof *bn);
    if (!cnt || !key || !bsum || !bn) {
        free(cnt);
        free(key);
        free(bsum);
        free(bn);
        goto done;
    }
    for (int i = 0; i < g.nn; i++)
        g.n[i].order = cnt[g.n[i].rank]++;
    for (int sweep = 0; sweep < 8; sweep++) {
        bool down = sweep % 2 == 0;   /* left to right: place by left neighbours */
        memset(bsum, 0, sizeof(double) * (size_t)g.nn);
        memset(bn, 0, sizeof(int) * (size_t)g.nn);
        for (int s = 0; s < g.ns; s++) {
            int a = g.s[s].from, b = g.s[s].to;
            if (down) {
                bsum[b] += g.n[a].order;
                bn[b]++;
            } else {
                bsum[a] += g.n[b].order;
                bn[a]++;
            }
        }
        for (int r = 0; r < nranks; r++) {
            int m = 0;
            for (int i = 0; i < g.nn; i++)
                if (g.n[i].rank == r) {
                    key[2 * m] = bn[i] ? bsum[i] / bn[i] : g.n[i].order;
                    key[2 * m + 1] = i;
                    m++;
                }
            qsort(key, (size_t)m, 2 * sizeof(double), cmp_key_idx);
            for (int j = 0; j < m; j++)
                g.n[(int)key[2 * j + 1]].order = j;
        }
    }

    /* rows: left to right, each node wants the average row of its left neighbours; keep order */
    int maxrow = 0;
    for (int r = 0; r < nranks; r++) {
        int m = 0;
        for (int i = 0; i < g.nn; i++)
            if (g.n[i].rank == r) {
                key[2 * g.n[i].order] = 0;
                key[2 * g.n[i].order + 1] = i;
                m++;
            }
        memset(bsum, 0, sizeof(double) * (size_t)g.nn);
        memset(bn, 0, sizeof(int) * (size_t)g.nn);
        for (int s = 0; s < g.ns; s++)
            if (g.n[g.s[s].to].rank == r) {
                bsum[g.s[s].to] += g.n[g.s[s].from].row;
                bn[g.s[s].to]++;
            }
        int next = 0;
        for (int j = 0; j < m; j++) {
            a_node *n = &g.n[(int)key[2 * j + 1]];
            int want = bn[n - g.n] ? 2 * (int)lround(bsum[n - g.n] / bn[n - g.n] / 2.0) : next;
            n->row = want > next ? want : next;
            next = n->row + 2;
            if (n->row > maxrow)
                maxrow = n->row;
        }
    }

    /* columns: width of the widest label; gaps hold one vertical track per bending segment */
    int *colw = calloc((size_t)(nranks + 1), sizeof *colw);
    int *colx = calloc((size_t)(nranks + 1), sizeof *colx);
    int *ntrack = calloc((size_t)(nranks + 1), sizeof *ntrack);
    int *track = malloc(sizeof(int) * (size_t)(g.ns + 1));
    if (!colw || !colx || !ntrack || !track)
        goto done2;
    for (int i = 0; i < g.nn; i++)
        if (g.n[i].width > colw[g.n[i].rank])
            colw[g.n[i].rank] = g.n[i].width;
    for (int i = 0; i < g.nn; i++)
        if (g.n[i].view < 0 && colw[g.n[i].rank] == 0)
            colw[g.n[i].rank] = 1;
    /* Track order inside a gap: a segment that leaves from row R must turn before one that
       arrives at row R (otherwise their horizontal pieces would overlap). Kahn's order on that
       constraint; a cycle is broken at the lowest index. */
    for (int s = 0; s < g.ns; s++)
        track[s] = -1;
    for (int r = 0; r + 1 < nranks; r++) {
        int t = 0;
        for (;;) {
            int pick = -1;
            for (int s = 0; s < g.ns && pick < 0; s++) {
                const a_node *a = &g.n[g.s[s].from], *b = &g.n[g.s[s].to];
                if (track[s] >= 0 || a->rank != r || a->row == b->row)
                    continue;
                bool blocked = false;   /* some unplaced segment leaves from the row we enter */
                for (int q = 0; q < g.ns && !blocked; q++) {
                    const a_node *qa = &g.n[g.s[q].from], *qb = &g.n[g.s[q].to];
                    if (q != s && track[q] < 0 && qa->rank == r && qa->row != qb->row &&
                        qa->row == b->row && qa != a)
                        blocked = true;
                }
                if (!blocked)
                    pick = s;
            }
            if (pick < 0)   /* a cycle (or done): take the first unplaced */
                for (int s = 0; s < g.ns && pick < 0; s++) {
                    const a_node *a = &g.n[g.s[s].from], *b = &g.n[g.s[s].to];
                    if (track[s] < 0 && a->rank == r && a->row != b->row)
                        pick = s;
                }
            if (pick < 0)
                break;
            /* segments from the same node and to the same row share a track */
            int same = -1;
            for (int q = 0; q < g.ns; q++)
                if (track[q] >= 0 && g.s[q].from == g.s[pick].from &&
                    g.n[g.s[q].to].row == g.n[g.s[pick].to].row)
                    same = track[q];
            track[pick] = same >= 0 ? same : t++;
        }
        ntrack[r] = t;
    }
    int x = 0;
    for (int r = 0; r < nranks; r++) {
        colx[r] = x;
        x += colw[r] + (r + 1 < nranks ? ntrack[r] + 4 : 0);
    }
    canvas cv = {x > 0 ? x : 1, maxrow + 1, NULL, NULL, NULL};
    cv.ch = calloc((size_t)cv.w * (size_t)cv.h, sizeof *cv.ch);
    cv.line = calloc((size_t)cv.w * (size_t)cv.h, 1);
    cv.cross = calloc((size_t)cv.w * (size_t)cv.h, 1);
    if (!cv.ch || !cv.line || !cv.cross) {
        free(cv.ch);
        free(cv.line);
        free(cv.cross);
        goto done2;
    }
    /* segments */
    for (int s = 0; s < g.ns; s++) {
        const a_node *a = &g.n[g.s[s].from], *b = &g.n[g.s[s].to];
        int x0 = a->view < 0 ? colx[a->rank] : colx[a->rank] + a->width;
        int gap = colx[a->rank] + colw[a->rank];
        int x1 = colx[b->rank] - 1;
        if (a->view < 0)   /* a dummy is a line across its whole column */
            cv_hline(&cv, colx[a->rank], gap, a->row);
        if (a->row == b->row) {
            cv_hline(&cv, x0, x1, a->row);
        } else {
            int tx = gap + 2 + track[s];
            cv_hline(&cv, x0, tx, a->row);
            cv_vline(&cv, tx, a->row, b->row);
            cv_hline(&cv, tx, x1, b->row);
        }
        if (b->view >= 0)
            cv.ch[(size_t)b->row * (size_t)cv.w + (size_t)x1] = '>';
        else
            cv_hline(&cv, colx[b->rank], colx[b->rank] + colw[b->rank], b->row);
    }
    /* Where a track joins a line that already carries another edge into the same target, the
       junction becomes an arrow (▼ ▲) showing the way it flows: otherwise a reader could follow
       that line backwards up the track to the wrong source's other targets. */
    for (int s = 0; s < g.ns; s++) {
        const a_node *a = &g.n[g.s[s].from], *b = &g.n[g.s[s].to];
        if (a->row == b->row)
            continue;
        int tx = colx[a->rank] + colw[a->rank] + 2 + track[s];
        size_t at = (size_t)b->row * (size_t)cv.w + (size_t)tx;
        if (cv.line[at] & L_LEFT)
            cv.ch[at] = plain ? (a->row < b->row ? 'v' : '^') : (a->row < b->row ? 0x25BC : 0x25B2);
    }
    for (int i = 0; i < g.nn; i++)
        if (g.n[i].view >= 0)
            cv_text(&cv, colx[g.n[i].rank], g.n[i].row, g.n[i].label);

    /* to text: trailing spaces trimmed */
    size_t cap = (size_t)cv.h * ((size_t)cv.w * 4 + 1) + 1;
    out = malloc(cap);
    if (out) {
        char *o = out;
        for (int y = 0; y < cv.h; y++) {
            char *start = o, *last = o;
            for (int xx = 0; xx < cv.w; xx++) {
                size_t at = (size_t)y * (size_t)cv.w + (size_t)xx;
                unsigned bits = cv.line[at];
                if (cv.cross[at] && (bits & (L_LEFT | L_RIGHT)))
                    bits = L_UP | L_DOWN;   /* a crossing, not a junction: the track wins */
                uint32_t cp = cv.ch[at] ? cv.ch[at] : bits ? line_char(bits, plain) : ' ';
                if (plain && cp >= 0x80)
                    cp = cp == 0x2026 ? '~' : cp == 0xB7 ? '.' : '?';
                put_utf8(&o, cp);
                if (cp != ' ')
                    last = o;
            }
            o = last > start ? last : start;
            *o++ = '\n';
        }
        *o = 0;
    }
    free(cv.ch);
    free(cv.line);
    free(cv.cross);
done2:
    free(colw);
    free(colx);
    free(ntrack);
    free(track);
    free(cnt);
    free(key);
    free(bsum);
    free(bn);
done:
    for (int i = 0; i < g.nn; i++)
        free(g.n[i].label);
    free(g.n);
    free(g.s);
    free(rank);
    free(anode);
    free(has_in);
    return out;
}

static int text_width(const char *s)
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

/* what the drawing's track assignment costs, roughly: per rank, the square of the edges crossing
   it (each edge crosses the ranks between its ends) */
/* measured: 301 boxes all fed by one input (9.3e6) draw in 0.5 s, 602 of them (3.7e7) take
   minutes */
#define ASCII_MAX_WORK 1.5e7
static double ascii_work(const bs_view *v)
{
    int n = v->nnodes ? v->nnodes : 1;
    int *rank = calloc((size_t)n, sizeof *rank);
    long *cross = calloc((size_t)n + 2, sizeof *cross);
    if (!rank || !cross) {
        free(rank);
        free(cross);
        return 1e300;
    }
    for (int k = 0; k < v->nedges; k++) {
        const bs_view_edge *e = &v->edges[k];
        if (e->from < e->to && rank[e->to] < rank[e->from] + 1)
            rank[e->to] = rank[e->from] + 1;
    }
    for (int k = 0; k < v->nedges; k++) {
        const bs_view_edge *e = &v->edges[k];
        int a = rank[e->from], b = rank[e->to];
        if (a > b) { int t = a; a = b; b = t; }
        cross[a]++;
        cross[b + 1]--;
    }
    double w = 0;
    long run = 0;
    for (int r = 0; r < n; r++) {
        run += cross[r];
        w += (double)run * (double)run;
    }
    free(rank);
    free(cross);
    return w;
}

static bool has_group(const bs_view *v)
{
    for (int k = 0; k < v->nnodes; k++)
        if (v->nodes[k].kind == BS_VN_GROUP)
            return true;
    return false;
}

char *bs_viz_ascii_view(const bs_view *v, unsigned flags, int width)
{
    if (v->nnodes == 0)
        return strdup("(the graph is empty)\n");
    /* too wide for `width`: drop the grads, then the values too */
    char *pic = draw(v, flags, false);
    if (pic && width > 0 && text_width(pic) > width && (flags & BS_ASCII_GRADS)) {
        char *shorter = draw(v, flags & ~(unsigned)BS_ASCII_GRADS, false);
        if (shorter) {
            free(pic);
            pic = shorter;
            flags &= ~(unsigned)BS_ASCII_GRADS;
        }
    }
    if (pic && width > 0 && text_width(pic) > width) {
        char *brief = draw(v, flags, true);
        if (brief) {
            free(pic);
            pic = brief;
            flags &= ~(unsigned)BS_ASCII_GRADS;
        }
    }
    if (!pic)
        return NULL;
    /* the stepper's edge labels, then a legend */
    size_t extra = 256 + strlen(v->caption);
    for (int k = 0; k < v->nedges; k++)
        extra += strlen(v->edges[k].label) + 64 + 2 * 96;
    char *out = malloc(strlen(pic) + extra);
    if (!out) {
        free(pic);
        return NULL;
    }
    char *o = out + sprintf(out, "%s", pic);
    free(pic);
    for (int k = 0; k < v->nedges; k++) {
        const bs_view_edge *e = &v->edges[k];
        if (!*e->label)
            continue;
        const bs_view_node *a = &v->nodes[e->from], *b = &v->nodes[e->to];
        o += sprintf(o, "  %s %s %s: %s\n", *a->name ? a->name : a->title,
                     flags & BS_ASCII_PLAIN ? "->" : "\xe2\x86\x92", *b->name ? b->name : b->title,
                     e->label);
    }
    if (*v->caption)
        o += sprintf(o, "%s\n", v->caption);
    if (v->freed)
        o += sprintf(o, "(backward() freed the saved tensors: retain_graph=True keeps them)\n");
    o += sprintf(o, "[op]  {param}  (leaf)%s%s%s\n", has_group(v) ? "  [[group]]" : "",
                 flags & BS_ASCII_GRADS ? v->stepping ? "  g=grad  g~grad so far" : "  g=grad" : "",
                 v->stepping ? "  [*current*]  \xc2\xb7 not reached" : "");
    if (flags & BS_ASCII_PLAIN) {   /* the legend's own non-ASCII */
        for (char *p = out; *p; p++)
            if ((unsigned char)*p == 0xC2 && (unsigned char)p[1] == 0xB7) {
                p[0] = ' ';
                p[1] = '.';
            }
    }
    return out;
}

char *bs_viz_ascii(const bs_ctx *c, bs_id root, const bs_view_state *st, unsigned flags, int width,
                   char *err, size_t len)
{
    bs_view *v = bs_view_build(c, root, st, (flags & BS_ASCII_GRADS) ? BS_VIEW_GRADS : 0, err, len);
    if (!v)
        return NULL;
    if (v->nnodes > BS_VIZ_MAX_ASCII) {
        viz_fail(BS_ERR_VALUE, err, len, "the graph has %d nodes, more than a terminal can show "
                 "readably (%d): :graph NAME --ascii draws a part", v->nnodes, BS_VIZ_MAX_ASCII);
        bs_view_free(v);
        return NULL;
    }
    char *s = bs_viz_ascii_view(v, flags, width);
    bs_view_free(v);
    if (!s)
        viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
    return s;
}

/* every line cut to at most width columns, a cut line ending in '>' (plain) or '…' */
static char *cut_lines(char *s, int width, bool plain, bool *cut)
{
    size_t n = strlen(s);
    char *out = malloc(n + 64);
    if (!out)
        return NULL;
    char *o = out;
    int col = 0;
    bool skipping = false;
    for (const char *p = s; *p; p++) {
        if (*p == '\n') {
            *o++ = '\n';
            col = 0;
            skipping = false;
            continue;
        }
        if (skipping)
            continue;
        bool cont = ((unsigned char)*p & 0xC0) == 0x80;
        if (!cont && col == width - 1) {
            /* is there more on this line? */
            const char *q = p;
            int more = 0;
            while (*q && *q != '\n') {
                if (((unsigned char)*q & 0xC0) != 0x80)
                    more++;
                q++;
            }
            if (more > 1) {
                if (plain)
                    *o++ = '>';
                else {
                    memcpy(o, "\xe2\x80\xa6", 3);
                    o += 3;
                }
                *cut = true;
                skipping = true;
                continue;
            }
        }
        *o++ = *p;
        if (!cont)
            col++;
    }
    *o = 0;
    return out;
}

char *bs_viz_ascii_opts(const bs_ctx *c, const bs_view_opts *o, const bs_view_state *st,
                        unsigned flags, int width, char *err, size_t len)
{
    unsigned vf = (flags & BS_ASCII_GRADS) ? BS_VIEW_GRADS : 0;
    bs_view *v = bs_view_build_opts(c, o, st, vf, err, len);
    if (!v)
        return NULL;
    bs_view_opts all = *o;
    all.collapse = BS_COLLAPSE_ALL;
    char *s = NULL;
    if (v->nnodes <= BS_VIZ_MAX_ASCII && ascii_work(v) <= ASCII_MAX_WORK)
        s = bs_viz_ascii_view(v, flags, width);
    /* too large or too wide: collapse every group (what is open by name stays open) */
    if ((!s || (width > 0 && text_width(s) > width)) && o->collapse != BS_COLLAPSE_ALL) {
        bs_view *w = bs_view_build_opts(c, &all, st, vf, err, len);
        if (w && w->nnodes < v->nnodes) {
            /* a box fed from far away on every rank costs the drawing a line per rank: as the
               window does, refuse what would take long (601 boxes all fed by one input: minutes) */
            bool fits = w->nnodes <= BS_VIZ_MAX_ASCII && ascii_work(w) <= ASCII_MAX_WORK;
            char *t = fits ? bs_viz_ascii_view(w, flags, width) : NULL;
            if (t) {
                free(s);
                s = t;
                bs_view_free(v);
                v = w;
                w = NULL;
            }
        }
        bs_view_free(w);
    }
    if (!s && (v->nnodes > BS_VIZ_MAX_ASCII || ascii_work(v) > ASCII_MAX_WORK)) {
        viz_fail(BS_ERR_VALUE, err, len, "the graph has %d boxes even collapsed (and %s), more "
                 "than a terminal can show readably: :graph NAME --ascii draws a part", v->nnodes,
                 v->nnodes > BS_VIZ_MAX_ASCII ? "that is over 1000" : "its edges cross many ranks");
        bs_view_free(v);
        return NULL;
    }
    bs_view_free(v);
    if (!s) {
        viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
        return NULL;
    }
    if (width > 0 && text_width(s) > width) {
        bool cut = false;
        char *t = cut_lines(s, width, flags & BS_ASCII_PLAIN, &cut);
        free(s);
        if (!t) {
            viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
            return NULL;
        }
        s = t;
        if (cut) {
            size_t k = strlen(s);
            char *u = realloc(s, k + 160);
            if (u) {
                s = u;
                snprintf(s + k, 160, "(lines cut at %d columns)\n", width);
            }
        }
    }
    return s;
}
