/* tests/viz/test_export.c: :export's files. Each format is produced; the .dot re-parses with
 * Graphviz's own `dot` and holds the tape's nodes and edges; the .svg is well-formed XML (expat)
 * holding every node's title and value and an element id n<tape index> per node; .png and .pdf
 * have their magic and a non-trivial size; two exports of the same session, and of a session
 * rebuilt from scratch, are byte-identical. Usage: test_export DOT_PROGRAM */
#include <expat.h>

#include "viz_test.h"

static char tmpdir[64];

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long k = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)k + 1);
    if (d && fread(d, 1, (size_t)k, f) != (size_t)k) {
        free(d);
        d = NULL;
    }
    fclose(f);
    if (d)
        d[k] = 0;
    *n = (size_t)k;
    return d;
}

static bool same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *da = slurp(a, &na), *db = slurp(b, &nb);
    bool same = da && db && na == nb && !memcmp(da, db, na);
    free(da);
    free(db);
    return same;
}

/* ==== SVG through expat: collect text content and element ids ==== */

typedef struct {
    char *text;         /* every <text> element's content, one per line */
    size_t n, cap;
    char ids[65536];    /* " id1 id2 ... " */
    size_t nids;
    int depth_text;
} svg_info;

static void sv_add(svg_info *s, const char *p, size_t k)
{
    if (s->n + k + 2 > s->cap) {
        s->cap = (s->n + k + 2) * 2;
        s->text = realloc(s->text, s->cap);
    }
    memcpy(s->text + s->n, p, k);
    s->n += k;
    s->text[s->n] = 0;
}

static void XMLCALL sv_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    svg_info *s = ud;
    if (!strcmp(name, "text"))
        s->depth_text++;
    for (int i = 0; atts[i]; i += 2)
        if (!strcmp(atts[i], "id") && s->nids + strlen(atts[i + 1]) + 3 < sizeof s->ids)
            s->nids += (size_t)snprintf(s->ids + s->nids, sizeof s->ids - s->nids, " %s ", atts[i + 1]);
}

static void XMLCALL sv_end(void *ud, const XML_Char *name)
{
    svg_info *s = ud;
    if (!strcmp(name, "text")) {
        s->depth_text--;
        sv_add(s, "\n", 1);
    }
}

static void XMLCALL sv_chars(void *ud, const XML_Char *p, int k)
{
    svg_info *s = ud;
    if (s->depth_text > 0)
        sv_add(s, p, (size_t)k);
}

static void check_svg(const char *path, const bs_view *v)
{
    size_t n;
    char *d = slurp(path, &n);
    CHECK(d, "read %s", path);
    if (!d)
        return;
    svg_info s = {0};
    sv_add(&s, "\n", 1);
    XML_Parser p = XML_ParserCreate("UTF-8");
    XML_SetUserData(p, &s);
    XML_SetElementHandler(p, sv_start, sv_end);
    XML_SetCharacterDataHandler(p, sv_chars);
    int ok = XML_Parse(p, d, (int)n, 1);
    CHECK(ok == XML_STATUS_OK, "svg is not well-formed XML: %s at line %lu",
          XML_ErrorString(XML_GetErrorCode(p)), (unsigned long)XML_GetCurrentLineNumber(p));
    XML_ParserFree(p);
    for (int k = 0; k < v->nnodes; k++) {
        const bs_view_node *vn = &v->nodes[k];
        char want[200], id[32];
        snprintf(want, sizeof want, "\n%s\n", vn->title);   /* a whole <text> element */
        CHECK(s.text && strstr(s.text, want), "svg lacks the label '%s'", vn->title);
        if (vn->kind != BS_VN_CONST) {
            snprintf(want, sizeof want, "\n%s\n", vn->value);
            CHECK(strstr(s.text, want), "svg lacks the value '%s' of %s", vn->value, vn->title);
        }
        if (*vn->grad) {
            snprintf(want, sizeof want, "\n%s\n", vn->grad);
            CHECK(strstr(s.text, want), "svg lacks '%s' of %s", vn->grad, vn->title);
        }
        snprintf(id, sizeof id, " n%d ", vn->id);
        CHECK(strstr(s.ids, id), "svg has no element id n%d", vn->id);
    }
    free(s.text);
    free(d);
}

/* ==== DOT through Graphviz's dot ==== */

static void check_dot(const char *dot_prog, const char *path, const bs_ctx *c, const bs_view *v)
{
    /* dot -Tcanon re-parses and writes the graph back; count what it wrote */
    char out[128], cmd[512];
    snprintf(out, sizeof out, "%s/canon.gv", tmpdir);
    snprintf(cmd, sizeof cmd, "'%s' -Tcanon -o '%s' '%s' 2>'%s/dot.err'", dot_prog, out, path, tmpdir);
    int rc = system(cmd);
    CHECK(rc == 0, "dot could not read %s (status %d)", path, rc);
    char errp[128];
    snprintf(errp, sizeof errp, "%s/dot.err", tmpdir);
    size_t ne;
    char *errs = slurp(errp, &ne);
    CHECK(errs && ne == 0, "dot complained: %s", errs ? errs : "?");
    free(errs);
    size_t n;
    char *canon = slurp(out, &n);
    CHECK(canon, "no canon output");
    if (!canon)
        return;
    /* every node n<id> and every edge n<a> -> n<b>, as many times as the tape has it */
    for (int k = 0; k < v->nnodes; k++) {
        char want[32];
        snprintf(want, sizeof want, "\tn%d\t", v->nodes[k].id);
        CHECK(strstr(canon, want), "node n%d missing after re-parse", v->nodes[k].id);
    }
    for (bs_id i = 0; i < bs_tape_len(c); i++) {
        const bs_node *nd = bs_node_get(c, i);
        if (bs_view_find(v, i) < 0)
            continue;
        for (int s = 0; s < nd->nin; s++) {
            if (bs_view_find(v, nd->in[s]) < 0)
                continue;
            char want[64];
            snprintf(want, sizeof want, "\tn%d -> n%d\t", nd->in[s], i);
            int have = 0, need = 0;
            for (const char *p = canon; (p = strstr(p, want)); p++)
                have++;
            for (int t = 0; t < nd->nin; t++)
                need += nd->in[t] == nd->in[s];
            CHECK(have == need, "edge n%d -> n%d: %d in the dot, %d on the tape", nd->in[s], i, have,
                  need);
        }
    }
    char *rankdir = strstr(canon, "rankdir=LR");
    CHECK(rankdir, "left to right");
    free(canon);
}

static void check_magic(const char *path, const char *magic, size_t min)
{
    size_t n;
    char *d = slurp(path, &n);
    CHECK(d && n >= min, "%s: %zu bytes", path, d ? n : 0);
    CHECK(d && n > strlen(magic) && !memcmp(d, magic, strlen(magic)), "%s: bad magic", path);
    if (d && !strcmp(magic, "\x89PNG\r\n\x1a\n") && n > 24) {
        const unsigned char *u = (const unsigned char *)d;
        uint32_t w = (uint32_t)u[16] << 24 | (uint32_t)u[17] << 16 | (uint32_t)u[18] << 8 | u[19];
        uint32_t h = (uint32_t)u[20] << 24 | (uint32_t)u[21] << 16 | (uint32_t)u[22] << 8 | u[23];
        CHECK(w > 200 && h > 100, "png is %ux%u", w, h);
    }
    if (d && !strcmp(magic, "%PDF"))
        CHECK(strstr(d + n - 64 > d ? d + n - 64 : d, "%%EOF"), "pdf does not end with %%%%EOF");
    free(d);
}

/* one session: the 2-2-1 network with a tensor, a detached copy and an unnamed constant */
static bs_ctx *session(vt_net *n, bool backward)
{
    bs_ctx *c = bs_ctx_new();
    *n = vt_build_221(c, false);
    bs_id two = bs_scalar(c, 2.0, BS_F64);
    vt_name(c, "L2", bs_apply2(c, BS_OP_MUL, two, n->L));
    double d[6] = {0.5, -1, 0.25, 2, -0.75, 1.5};
    bs_shape s = {2, {2, 3}};
    bs_id W = bs_leaf(c, d, &s, BS_F64, true);
    bs_node_set_label(c, W, "W");
    vt_name(c, "t", bs_apply1(c, BS_OP_SUM, vt_name(c, "tw", bs_apply1(c, BS_OP_TANH, W))));
    bs_id det = bs_copy_leaf(c, n->z1, false);
    bs_node_set_label(c, det, "z1d");
    if (backward && bs_backward(c, n->L, NULL, true) != BS_OK)
        fprintf(stderr, "backward: %s\n", bs_errmsg(c));
    return c;
}

int main(int argc, char **argv)
{
    const char *dot_prog = argc > 1 ? argv[1] : "dot";
    char why[256];
    if (!bs_viz_have_graphviz(why, sizeof why)) {
        fprintf(stderr, "skipped: %s\n", why);
        return 77;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bs_export_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    static const char *ext[] = {"dot", "svg", "png", "pdf"};
    char err[256], a[160], b[160], r[160];
    vt_net n, n2;
    bs_ctx *c = session(&n, true);

    for (int grads = 0; grads < 2; grads++)
        for (int whole = 0; whole < 2; whole++) {
            bs_id root = whole ? BS_NONE : n.L;
            bs_view *v = bs_view_build(c, root, NULL, grads ? BS_VIEW_GRADS : 0, err, sizeof err);
            for (int e = 0; e < 4; e++) {
                snprintf(a, sizeof a, "%s/g%d%d.%s", tmpdir, grads, whole, ext[e]);
                snprintf(b, sizeof b, "%s/again%d%d.%s", tmpdir, grads, whole, ext[e]);
                double t0 = vt_now_ms();
                bs_status st = bs_viz_export(c, a, root, grads, NULL, err, sizeof err);
                CHECK(st == BS_OK, "export %s: %s", a, err);
                if (e == 3)
                    sleep(1);   /* a PDF stamped with the time would now differ */
                CHECK(bs_viz_export(c, b, root, grads, NULL, err, sizeof err) == BS_OK, "%s", err);
                CHECK(same_file(a, b), "two exports of %s differ", a);
                if (grads && whole)
                    printf("export .%s: %.1f ms\n", ext[e], vt_now_ms() - t0);
            }
            snprintf(a, sizeof a, "%s/g%d%d.dot", tmpdir, grads, whole);
            check_dot(dot_prog, a, c, v);
            snprintf(a, sizeof a, "%s/g%d%d.svg", tmpdir, grads, whole);
            check_svg(a, v);
            snprintf(a, sizeof a, "%s/g%d%d.png", tmpdir, grads, whole);
            check_magic(a, "\x89PNG\r\n\x1a\n", 4000);
            snprintf(a, sizeof a, "%s/g%d%d.pdf", tmpdir, grads, whole);
            check_magic(a, "%PDF", 2000);
            bs_view_free(v);
        }

    /* the same session typed again from scratch: byte-identical files */
    bs_ctx *c2 = session(&n2, true);
    for (int e = 0; e < 4; e++) {
        snprintf(a, sizeof a, "%s/g11.%s", tmpdir, ext[e]);
        snprintf(r, sizeof r, "%s/rebuilt.%s", tmpdir, ext[e]);
        CHECK(bs_viz_export(c2, r, BS_NONE, true, NULL, err, sizeof err) == BS_OK, "%s", err);
        CHECK(same_file(a, r), "a rebuilt session exports a different .%s", ext[e]);
    }

    /* a stepping state shows in the export: the current node and the labelled edge */
    bs_view_state st;
    bs_view_state_init(&st);
    st.stepping = true;
    st.current = n.z3;
    bs_view_state_label_edge(&st, n.z3, 1, "VJP -0.3705");
    snprintf(a, sizeof a, "%s/step.svg", tmpdir);
    CHECK(bs_viz_export(c, a, n.L, true, &st, err, sizeof err) == BS_OK, "%s", err);
    size_t len;
    char *svg = slurp(a, &len);
    char cur[8];
    CHECK(svg && strstr(svg, ">VJP &#45;0.3705<"), "the edge label is in the svg");
    CHECK(svg && strstr(svg, bs_rgb_hex(bs_theme_get()->current_border, cur)), "current colour");
    free(svg);
    bs_view_state_clear(&st);

    /* errors */
    CHECK(bs_viz_export(c, "/tmp/graph.jpg", n.L, false, NULL, err, sizeof err) == BS_ERR_ARG &&
              strstr(err, ".svg"),
          "unknown extension: %s", err);
    CHECK(bs_viz_export(c, "/nonexistent/dir/g.svg", n.L, false, NULL, err, sizeof err) ==
              BS_ERR_VALUE && strstr(err, "/nonexistent/dir/g.svg"),
          "unwritable: %s", err);
    CHECK(bs_viz_export(c, "/nonexistent/dir/g.dot", n.L, false, NULL, err, sizeof err) ==
              BS_ERR_VALUE, "unwritable dot: %s", err);
    CHECK(bs_viz_export(c, a, 100000, false, NULL, err, sizeof err) == BS_ERR_ARG, "bad root");

    /* a 1,000-node graph exports too */
    bs_ctx *big = bs_ctx_new();
    bs_id last = vt_build_mlp(big, 1000, false);
    snprintf(a, sizeof a, "%s/big.svg", tmpdir);
    double t0 = vt_now_ms();
    CHECK(bs_viz_export(big, a, last, false, NULL, err, sizeof err) == BS_OK, "%s", err);
    printf("export of %d nodes to svg: %.0f ms\n", bs_tape_len(big), vt_now_ms() - t0);
    bs_ctx_free(big);

    bs_ctx_free(c);
    bs_ctx_free(c2);
    snprintf(a, sizeof a, "rm -rf '%s'", tmpdir);
    if (!vt_failures && system(a) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    if (vt_failures)
        fprintf(stderr, "%d checks failed (files kept in %s)\n", vt_failures, tmpdir);
    return vt_failures ? 1 : 0;
}
