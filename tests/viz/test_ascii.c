/* tests/viz/test_ascii.c: the terminal drawing, read back. Every node of graphs with unique names
 * is drawn as "[title]" / "{title}" / "(title)"; following the lines of the picture rightwards
 * from each node (through junctions, across crossings) must reach exactly the nodes the tape says
 * it feeds (an arrow ▼ ▲ where a track joins a shared line is passed only in its direction).
 * Checked in box-drawing and plain ASCII, on the 2-2-1 network and a 200-node graph. */
#include "viz_test.h"

/* ==== The picture as a grid of code points ==== */

typedef struct {
    int w, h;
    uint32_t *c;
} grid;

static uint32_t at(const grid *g, int x, int y)
{
    return x >= 0 && y >= 0 && x < g->w && y < g->h ? g->c[y * g->w + x] : ' ';
}

static grid parse_grid(const char *s)
{
    grid g = {0, 0, NULL};
    int w = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '\n') {
            g.h++;
            g.w = w > g.w ? w : g.w;
            w = 0;
        } else if ((*p & 0xC0) != 0x80)
            w++;
    }
    g.c = calloc((size_t)(g.w * g.h + 1), sizeof *g.c);
    int x = 0, y = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        uint32_t cp = *p++;
        if (cp == '\n') {
            for (; x < g.w; x++)
                g.c[y * g.w + x] = ' ';
            y++;
            x = 0;
            continue;
        }
        if (cp >= 0xE0) {
            cp = (cp & 15) << 12 | (uint32_t)(p[0] & 63) << 6 | (p[1] & 63);
            p += 2;
        } else if (cp >= 0xC0) {
            cp = (cp & 31) << 6 | (p[0] & 63);
            p += 1;
        }
        g.c[y * g.w + x++] = cp;
    }
    return g;
}

/* line connections of a character: up, down, left, right */
enum { U = 1, D = 2, L = 4, R = 8 };
static unsigned conn(uint32_t ch)
{
    switch (ch) {
    case 0x2500: case '-': return L | R;
    case 0x2502: case '|': return U | D;
    case 0x250C: return D | R;
    case 0x2510: return D | L;
    case 0x2514: return U | R;
    case 0x2518: return U | L;
    case 0x251C: return U | D | R;
    case 0x2524: return U | D | L;
    case 0x252C: return D | L | R;
    case 0x2534: return U | L | R;
    case 0x253C: case '+': return U | D | L | R;
    case '.': return D | L | R;      /* plain corners: down and sideways */
    case '\'': return U | L | R;     /* up and sideways */
    case '>': return L;              /* an arrow into the node on its right */
    default: return 0;
    }
}

/* ==== Labels: where each node's text starts ==== */

typedef struct {
    int x, y, end;      /* first and one-past-last column */
    char title[96];
} label;

static int find_labels(const grid *g, label *out, int max)
{
    int n = 0;
    for (int y = 0; y < g->h; y++)
        for (int x = 0; x < g->w; x++) {
            uint32_t ch = at(g, x, y);
            uint32_t close = ch == '[' ? ']' : ch == '{' ? '}' : ch == '(' ? ')' : 0;
            if (!close || (x > 0 && conn(at(g, x - 1, y)) != L && at(g, x - 1, y) != ' '))
                continue;
            int depth = 0, e = x;
            for (; e < g->w; e++) {
                uint32_t c2 = at(g, e, y);
                if (c2 == ch)
                    depth++;
                else if (c2 == close && --depth == 0)
                    break;
            }
            if (e >= g->w || n >= max)
                continue;
            label *l = &out[n++];
            l->x = x;
            l->y = y;
            l->end = e + 1;
            int k = 0, b0 = x + 1, b1 = e;
            if (e - x >= 3 && at(g, b0, y) == '*' && at(g, b1 - 1, y) == '*')
                b0++, b1--;   /* the current-step marks: "[*title*]" */
            for (int i = b0; i < b1 && k < (int)sizeof l->title - 1; i++) {
                uint32_t c2 = at(g, i, y);
                l->title[k++] = c2 < 0x80 ? (char)c2 : '?';
            }
            l->title[k] = 0;
            x = e;
        }
    return n;
}

static int label_at(const label *ls, int n, int x, int y)
{
    for (int i = 0; i < n; i++)
        if (ls[i].y == y && ls[i].x == x)
            return i;
    return -1;
}

/* Follow the lines from the cell right of label `from`: move right, up or down along
 * connections, never left; across a crossing ("─│─") keep going straight. Marks every label an
 * arrow reaches. */
static void follow(const grid *g, const label *ls, int n, int from, bool *reached)
{
    size_t cells = (size_t)g->w * (size_t)g->h;
    unsigned char *seen = calloc(cells * 4, 1);   /* per cell and direction of travel */
    int *stack = malloc(sizeof(int) * 3 * cells * 4 + 16);
    int top = 0;
    stack[top++] = ls[from].end;
    stack[top++] = ls[from].y;
    stack[top++] = R;
    while (top) {
        unsigned dir = (unsigned)stack[--top];
        int y = stack[--top], x = stack[--top];
        uint32_t ch = at(g, x, y);
        if (ch == '>') {
            int t = label_at(ls, n, x + 1, y);
            if (t >= 0)
                reached[t] = true;
            continue;
        }
        if (ch == 0x25BC || ch == 'v' || ch == 0x25B2 || ch == '^') {
            /* a track flowing into a shared line: from the line or from the track, go on right */
            bool down = ch == 0x25BC || ch == 'v';
            if (dir == R || (down && dir == D) || (!down && dir == U))
                stack[top++] = x + 1, stack[top++] = y, stack[top++] = R;
            continue;
        }
        unsigned cn = conn(ch);
        if (!cn)
            continue;
        int di = dir == R ? 0 : dir == U ? 1 : 2;
        size_t key = ((size_t)y * (size_t)g->w + (size_t)x) * 4 + (size_t)di;
        if (seen[key])
            continue;
        seen[key] = 1;
        /* entering moving right needs a left connection; a vertical bar entered sideways is a
           crossing: jump over it */
        if (dir == R && !(cn & L)) {
            if ((cn & (U | D)) == (U | D) && conn(at(g, x + 1, y)) & L) {
                stack[top++] = x + 1, stack[top++] = y, stack[top++] = R;
            }
            continue;
        }
        if ((dir == U && !(cn & D)) || (dir == D && !(cn & U)))
            continue;
        if (cn & R)
            stack[top++] = x + 1, stack[top++] = y, stack[top++] = R;
        if (cn & U && dir != D)
            stack[top++] = x, stack[top++] = y - 1, stack[top++] = U;
        if (cn & D && dir != U)
            stack[top++] = x, stack[top++] = y + 1, stack[top++] = D;
    }
    free(seen);
    free(stack);
}

/* ==== The check ==== */

static void check_drawing(bs_ctx *c, bs_id root, unsigned flags, const char *what)
{
    char err[256];
    /* width 1 forces the brief labels: just the titles */
    char *pic = bs_viz_ascii(c, root, NULL, flags, 1, err, sizeof err);
    CHECK(pic, "%s: %s", what, err);
    if (!pic)
        return;
    bs_view *v = bs_view_build(c, root, NULL, 0, err, sizeof err);
    if (flags & BS_ASCII_PLAIN)
        for (const unsigned char *p = (const unsigned char *)pic; *p; p++)
            CHECK(*p < 0x80, "%s: plain drawing has byte 0x%02x", what, *p);
    /* the picture part: up to the legend line */
    char *legend = strstr(pic, "[op]");
    CHECK(legend, "%s: legend", what);
    if (legend)
        *legend = 0;
    grid g = parse_grid(pic);
    label *ls = calloc((size_t)v->nnodes * 2 + 8, sizeof *ls);
    int nl = find_labels(&g, ls, v->nnodes * 2 + 8);
    CHECK(nl == v->nnodes, "%s: %d labels for %d nodes", what, nl, v->nnodes);
    /* each view node is one label, by title */
    int *lab = malloc(sizeof(int) * (size_t)v->nnodes);
    for (int k = 0; k < v->nnodes; k++) {
        lab[k] = -1;
        for (int i = 0; i < nl; i++)
            if (!strcmp(ls[i].title, v->nodes[k].title))
                lab[k] = i;
        CHECK(lab[k] >= 0, "%s: node '%s' not drawn", what, v->nodes[k].title);
    }
    /* follow the lines from every node */
    bool *reached = malloc((size_t)nl);
    int edges_checked = 0;
    for (int k = 0; k < v->nnodes; k++) {
        if (lab[k] < 0)
            continue;
        memset(reached, 0, (size_t)nl);
        follow(&g, ls, nl, lab[k], reached);
        for (int j = 0; j < v->nnodes; j++) {
            if (lab[j] < 0)
                continue;
            bool want = false;
            for (int e = 0; e < v->nedges; e++)
                if (v->edges[e].from == k && v->edges[e].to == j)
                    want = true;
            edges_checked += want;
            CHECK(reached[lab[j]] == want, "%s: %s -> %s is %s in the drawing", what,
                  v->nodes[k].title, v->nodes[j].title, want ? "missing" : "wrongly present");
        }
    }
    CHECK(edges_checked > 0, "%s: no edges", what);
    if (vt_failures)
        fprintf(stderr, "%s:\n%s\n", what, pic);
    free(reached);
    free(lab);
    free(ls);
    free(g.c);
    bs_view_free(v);
    free(pic);
}

int main(void)
{
    bs_ctx *c = bs_ctx_new();
    vt_net n = vt_build_221(c, true);
    check_drawing(c, n.L, 0, "2-2-1 box drawing");
    check_drawing(c, n.L, BS_ASCII_PLAIN, "2-2-1 plain");
    check_drawing(c, n.h1, 0, "h1 only");

    /* full labels: values and grads are in the text */
    char err[256];
    CHECK(bs_backward(c, n.L, NULL, true) == BS_OK, "backward: %s", bs_errmsg(c));
    char *pic = bs_viz_ascii(c, n.L, NULL, BS_ASCII_GRADS, 0, err, sizeof err);
    CHECK(pic && strstr(pic, "[L = bce 0.4629 g=1]"), "the loss with value and grad:\n%s", pic ? pic : "");
    CHECK(pic && strstr(pic, "{w11 0.3 g="), "a param with its grad");
    free(pic);

    /* stepping: current marked, pending values hidden, edge labels listed */
    bs_view_state st;
    bs_view_state_init(&st);
    st.stepping = true;
    st.current = n.yhat;
    for (bs_id i = 0; i < n.yhat; i++)
        bs_view_state_set_step(&st, i, BS_VSTEP_PENDING);
    bs_view_state_label_edge(&st, n.L, 0, "VJP -1.589");
    pic = bs_viz_ascii(c, n.L, &st, BS_ASCII_GRADS, 0, err, sizeof err);
    CHECK(pic && strstr(pic, "[*yhat = sigmoid"), "current node marked:\n%s", pic ? pic : "");
    CHECK(pic && strstr(pic, "yhat \xe2\x86\x92 L: VJP -1.589"), "edge label listed");
    CHECK(pic && strstr(pic, "{w11 \xc2\xb7 g="), "pending value hidden, its grad (w11.grad) shown:\n%s",
          pic ? pic : "");
    free(pic);
    bs_view_state_clear(&st);

    /* an empty tape */
    bs_ctx *e = bs_ctx_new();
    pic = bs_viz_ascii(e, BS_NONE, NULL, 0, 0, err, sizeof err);
    CHECK(pic && strstr(pic, "empty"), "empty graph");
    free(pic);
    bs_ctx_free(e);
    bs_ctx_free(c);

    /* a bigger graph with long edges, fan-in and fan-out */
    c = bs_ctx_new();
    bs_id last = vt_build_mlp(c, 200, true);
    check_drawing(c, last, 0, "200-node box drawing");
    check_drawing(c, BS_NONE, BS_ASCII_PLAIN, "200-node plain");
    bs_ctx_free(c);

    if (vt_failures)
        fprintf(stderr, "%d checks failed\n", vt_failures);
    return vt_failures ? 1 : 0;
}
