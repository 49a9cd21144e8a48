/* viz/view.c: the view model every renderer reads: which nodes and edges of the tape to draw,
 * their labels, previews, heatmaps, stepping state and colours from the theme (assets/theme.conf). */
#include "viz_int.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "theme_conf.h" /* generated from assets/theme.conf: static const char bs_theme_text[] */

/* ==== Errors ==== */

bs_status viz_fail(bs_status st, char *err, size_t len, const char *fmt, ...)
{
    if (err && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* ==== The theme ==== */

static bs_theme theme;
static bool theme_ready;

typedef struct {
    const char *key;
    char kind;      /* 'C' colour, 'N' number */
    size_t off;
} theme_key;

#define THEME_KEY(key, kind) {#key, #kind[0], offsetof(bs_theme, key)},
static const theme_key theme_keys[] = {BS_THEME_KEYS(THEME_KEY)};
#undef THEME_KEY
#define THEME_NKEYS (sizeof theme_keys / sizeof theme_keys[0])

/* Parse theme text ("key = #rrggbb" / "key = number" lines) into *t. strict: every key must be
 * known. Returns BS_OK or BS_ERR_VALUE with "name:line: message". */
static bs_status theme_parse(const char *text, const char *name, bs_theme *t, char *err, size_t len)
{
    int lineno = 0;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        char line[256];
        lineno++;
        if (n >= sizeof line)
            return viz_fail(BS_ERR_VALUE, err, len, "%s:%d: line too long", name, lineno);
        memcpy(line, p, n);
        line[n] = 0;
        p += n + (eol ? 1 : 0);
        /* `key = value`, then nothing or a comment; a line starting with '#' is a comment */
        const char *s = line;
        while (*s == ' ' || *s == '\t' || *s == '\r')
            s++;
        if (!*s || *s == '#')
            continue;
        char key[64], val[64];
        int used = 0;
        if (sscanf(s, "%63[a-z_0-9] = %63s%n", key, val, &used) != 2 || used == 0)
            return viz_fail(BS_ERR_VALUE, err, len, "%s:%d: expected `key = value`", name, lineno);
        const char *rest = s + used;
        while (*rest == ' ' || *rest == '\t' || *rest == '\r')
            rest++;
        if (*rest && *rest != '#')
            return viz_fail(BS_ERR_VALUE, err, len, "%s:%d: unexpected text after the value", name,
                            lineno);
        const theme_key *k = NULL;
        for (size_t i = 0; i < THEME_NKEYS; i++)
            if (!strcmp(theme_keys[i].key, key))
                k = &theme_keys[i];
        if (!k)
            return viz_fail(BS_ERR_VALUE, err, len, "%s:%d: unknown theme key '%s'", name, lineno, key);
        char *end;
        if (k->kind == 'C') {
            unsigned long rgb = val[0] == '#' ? strtoul(val + 1, &end, 16) : 0;
            if (val[0] != '#' || strlen(val) != 7 || *end)
                return viz_fail(BS_ERR_VALUE, err, len, "%s:%d: '%s' wants a colour #rrggbb", name,
                                lineno, key);
            bs_rgb *c = (bs_rgb *)((char *)t + k->off);
            c->r = (uint8_t)(rgb >> 16);
            c->g = (uint8_t)(rgb >> 8);
            c->b = (uint8_t)rgb;
        } else {
            double d = strtod(val, &end);
            if (*end || !(d > 0))
                return viz_fail(BS_ERR_VALUE, err, len, "%s:%d: '%s' wants a positive number", name,
                                lineno, key);
            *(double *)((char *)t + k->off) = d;
        }
    }
    return BS_OK;
}

static char theme_env_err[512]; /* why $BACKSTEP_THEME was not used, or "" */
static char theme_name[256] = "default"; /* what bs_theme_name() says */

static void theme_init(void)
{
    if (theme_ready)
        return;
    theme_ready = true;
    memset(&theme, 0, sizeof theme);
    theme.grad_vanish = 1e-4;
    theme.grad_explode = 1e2;
    theme.font_size = 14;
    theme.small_font_size = 11;
    theme.ink.r = theme.ink.g = theme.ink.b = 0;
    theme.background.r = theme.background.g = theme.background.b = 255;
    /* the compiled-in theme is checked by the tests; a broken one leaves the defaults above */
    theme_parse(bs_theme_text, "assets/theme.conf", &theme, NULL, 0);
    const char *env = getenv("BACKSTEP_THEME");
    if (env && *env && bs_theme_load(env, theme_env_err, sizeof theme_env_err) != BS_OK && !theme_env_err[0])
        snprintf(theme_env_err, sizeof theme_env_err, "cannot use theme %s", env);
    else if (env && *env && !theme_env_err[0])
        snprintf(theme_name, sizeof theme_name, "%s (from $BACKSTEP_THEME)", env);
}

const char *bs_theme_env_error(void)
{
    theme_init();
    return theme_env_err[0] ? theme_env_err : NULL;
}

const bs_theme *bs_theme_get(void)
{
    theme_init();
    return &theme;
}

#define THEME_MAX_BYTES ((size_t)1 << 20)

bs_status bs_theme_load(const char *path, char *err, size_t len)
{
    theme_init();
    FILE *f = fopen(path, "r");
    if (!f)
        return viz_fail(BS_ERR_VALUE, err, len, "cannot read theme %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && !S_ISREG(sb.st_mode)) {
        fclose(f);
        return viz_fail(BS_ERR_VALUE, err, len, "cannot read theme %s: %s", path,
                        S_ISDIR(sb.st_mode) ? "it is a directory" : "not a regular file");
    }
    char *text = NULL;
    size_t n = 0, cap = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF) {
        if (n >= THEME_MAX_BYTES || ch == 0) {
            free(text);
            fclose(f);
            return viz_fail(BS_ERR_VALUE, err, len, "cannot read theme %s: %s", path,
                            ch == 0 ? "it holds a NUL byte (not a text file)" : "larger than 1 MiB");
        }
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 4096;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                return viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
            }
            text = t;
        }
        text[n++] = (char)ch;
    }
    fclose(f);
    if (!text)
        return BS_OK;
    text[n] = 0;
    bs_theme t = theme;
    bs_status st = theme_parse(text, path, &t, err, len);
    free(text);
    if (st == BS_OK)
        theme = t;
    return st;
}

/* the projector theme: the default with bigger type, a white ground and darker, thicker ink */
static const char projector_text[] =
    "background = #ffffff\n"
    "panel = #eeeeee\n"
    "ink = #000000\n"
    "ink_muted = #3c4248\n"
    "value_ink = #002a80\n"
    "grad_ink = #a00000\n"
    "op_border = #1d46b0\n"
    "param_border = #8a4f00\n"
    "input_border = #2f3842\n"
    "edge = #40464e\n"
    "pending_ink = #5c636b\n"
    "font_size = 18\n"
    "small_font_size = 14\n";

bs_status bs_theme_use(const char *name, char *err, size_t len)
{
    theme_init();
    bs_theme t;
    memset(&t, 0, sizeof t);
    if (!strcmp(name, "default") || !strcmp(name, "projector")) {
        t = theme;
        if (theme_parse(bs_theme_text, "assets/theme.conf", &t, err, len) != BS_OK)
            return BS_ERR_VALUE;
        if (!strcmp(name, "projector") &&
            theme_parse(projector_text, "projector", &t, err, len) != BS_OK)
            return BS_ERR_VALUE;
        theme = t;
        snprintf(theme_name, sizeof theme_name, "%s", name);
        return BS_OK;
    }
    bs_status st = bs_theme_load(name, err, len);
    if (st == BS_OK)
        snprintf(theme_name, sizeof theme_name, "%s", name);
    return st;
}

const char *bs_theme_name(void)
{
    theme_init();
    return theme_name;
}

bs_rgb viz_mix(bs_rgb a, bs_rgb b, double t)
{
    if (!(t > 0))
        t = 0;
    if (t > 1)
        t = 1;
    bs_rgb r = {(uint8_t)lround(a.r + (b.r - a.r) * t), (uint8_t)lround(a.g + (b.g - a.g) * t),
                (uint8_t)lround(a.b + (b.b - a.b) * t)};
    return r;
}

/* log scale: vanish .. 1 maps grad_small -> grad_mid, 1 .. explode maps grad_mid -> grad_big */
bs_rgb bs_theme_grad_color(double m)
{
    const bs_theme *t = bs_theme_get();
    if (isnan(m))
        return t->edge;
    if (isinf(m))
        return t->grad_big;
    double l = log10(m > 1e-300 ? m : 1e-300);
    double lo = log10(t->grad_vanish), hi = log10(t->grad_explode);
    if (l <= 0)
        return lo < 0 ? viz_mix(t->grad_small, t->grad_mid, (l - lo) / -lo) : t->grad_mid;
    return hi > 0 ? viz_mix(t->grad_mid, t->grad_big, l / hi) : t->grad_big;
}

char *bs_rgb_hex(bs_rgb c, char buf[8])
{
    snprintf(buf, 8, "#%02x%02x%02x", c.r, c.g, c.b);
    return buf;
}

bs_rgb viz_heat_color(const bs_heat *h, float v)
{
    const bs_theme *t = bs_theme_get();
    if (isnan(v))
        return t->ink_muted;
    if (!(h->absmax > 0))
        return t->heat_zero;
    double x = v / h->absmax;
    return x < 0 ? viz_mix(t->heat_zero, t->heat_neg, -x) : viz_mix(t->heat_zero, t->heat_pos, x);
}

/* ==== Stepping state ==== */

void bs_view_state_init(bs_view_state *s)
{
    memset(s, 0, sizeof *s);
    s->current = BS_NONE;
    s->selected = BS_NONE;
}

void bs_view_state_clear(bs_view_state *s)
{
    free(s->step);
    free(s->labels);
    bs_view_state_init(s);
}

bs_status bs_view_state_set_step(bs_view_state *s, bs_id node, bs_vstep st)
{
    if (node < 0)
        return BS_ERR_ARG;
    if (node >= s->nstep) {
        int32_t n = s->nstep ? s->nstep : 64;
        while (n <= node)
            n *= 2;
        uint8_t *p = realloc(s->step, (size_t)n);
        if (!p)
            return BS_ERR_NOMEM;
        memset(p + s->nstep, BS_VSTEP_NONE, (size_t)(n - s->nstep));
        s->step = p;
        s->nstep = n;
    }
    s->step[node] = (uint8_t)st;
    return BS_OK;
}

bs_status bs_view_state_label_edge(bs_view_state *s, bs_id to, int slot, const char *text)
{
    if (to < 0 || slot < 0 || slot >= BS_MAX_INPUTS)
        return BS_ERR_ARG;
    bs_view_edge_label *l = NULL;
    for (int i = 0; i < s->nlabels; i++)
        if (s->labels[i].to == to && s->labels[i].slot == slot)
            l = &s->labels[i];
    if (!l) {
        if (s->nlabels == s->caplabels) {
            int n = s->caplabels ? s->caplabels * 2 : 8;
            bs_view_edge_label *p = realloc(s->labels, (size_t)n * sizeof *p);
            if (!p)
                return BS_ERR_NOMEM;
            s->labels = p;
            s->caplabels = n;
        }
        l = &s->labels[s->nlabels++];
        l->to = to;
        l->slot = slot;
    }
    snprintf(l->text, sizeof l->text, "%s", text ? text : "");
    return BS_OK;
}

void bs_view_state_clear_labels(bs_view_state *s)
{
    s->nlabels = 0;
}

bs_status bs_view_state_begin(bs_view_state *s, const bs_ctx *c, bs_id root)
{
    int32_t n = bs_tape_len(c);
    if (root < 0 || root >= n)
        return BS_ERR_ARG;
    s->stepping = true;
    s->current = BS_NONE;
    s->nlabels = 0;
    if (s->step)
        memset(s->step, BS_VSTEP_NONE, (size_t)s->nstep);
    /* what the pass reaches: root and the nodes a gradient flows to */
    bool *on = calloc((size_t)root + 1, sizeof *on);
    if (!on)
        return BS_ERR_NOMEM;
    bs_tape_walk(c, root, BS_WALK_GRAD, on);
    bs_status st = BS_OK;
    for (bs_id i = root; i >= 0 && !st; i--)
        if (on[i])
            st = bs_view_state_set_step(s, i, BS_VSTEP_PENDING);
    free(on);
    return st;
}

bs_status bs_view_state_step(bs_view_state *s, const bs_step *step)
{
    if (s->current != BS_NONE && bs_view_state_set_step(s, s->current, BS_VSTEP_DONE) != BS_OK)
        return BS_ERR_NOMEM;
    s->stepping = true;
    s->current = step->node;
    s->nlabels = 0;
    if (bs_view_state_set_step(s, step->node, BS_VSTEP_CURRENT) != BS_OK)
        return BS_ERR_NOMEM;
    for (int k = 0; k < step->nin; k++) {
        const bs_step_input *in = &step->in[k];
        if (!in->gets_grad || !in->vjp.data)
            continue;
        char text[64], pv[40];
        int64_t numel = bs_tensor_numel(&in->vjp);
        if (numel == 1)
            viz_num(in->vjp.data[0], pv, sizeof pv);
        else {
            size_t used = 0;
            char num[32];
            pv[used++] = '[';
            for (int64_t i = 0; i < numel && i < 2; i++) {
                char one[32]; /* the graph's one number format: 4 significant digits */
                snprintf(num, sizeof num, "%s%s", viz_num(in->vjp.data[i], one, sizeof one),
                         i + 1 < numel ? ", " : "");
                size_t kk = strlen(num);
                memcpy(pv + used, num, kk);
                used += kk;
            }
            if (numel > 2) {
                memcpy(pv + used, "\xe2\x80\xa6", 3);
                used += 3;
            }
            pv[used++] = ']';
            pv[used] = 0;
        }
        snprintf(text, sizeof text, "VJP %s", pv);
        if (bs_view_state_label_edge(s, step->node, k, text) != BS_OK)
            return BS_ERR_NOMEM;
    }
    return BS_OK;
}

void bs_view_state_finish(bs_view_state *s)
{
    for (int32_t i = 0; i < s->nstep; i++)
        if (s->step[i] == BS_VSTEP_PENDING || s->step[i] == BS_VSTEP_CURRENT)
            s->step[i] = BS_VSTEP_DONE;
    s->current = BS_NONE;
    s->nlabels = 0;
}

static bs_vstep state_of(const bs_view_state *st, bs_id id)
{
    if (!st || !st->stepping)
        return BS_VSTEP_NONE;
    if (id == st->current)
        return BS_VSTEP_CURRENT;
    return id < st->nstep && st->step ? (bs_vstep)st->step[id] : BS_VSTEP_NONE;
}

static const char *edge_label_of(const bs_view_state *st, bs_id to, int slot)
{
    if (!st)
        return NULL;
    for (int i = 0; i < st->nlabels; i++)
        if (st->labels[i].to == to && st->labels[i].slot == slot)
            return st->labels[i].text;
    return NULL;
}

/* ==== Memory of a view ==== */

void *viz_alloc(bs_view *v, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct bs_view_mem *m = v->mem;
    if (!m || m->cap - m->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        m = malloc(sizeof *m + cap);
        if (!m)
            return NULL;
        m->next = v->mem;
        m->used = 0;
        m->cap = cap;
        v->mem = m;
    }
    void *p = m->buf + m->used;
    m->used += n;
    memset(p, 0, n);
    return p;
}

char *viz_strdup(bs_view *v, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = viz_alloc(v, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

char *viz_strfmt(bs_view *v, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return viz_strdup(v, buf);
}

void bs_view_free(bs_view *v)
{
    if (!v)
        return;
    struct bs_view_mem *m = v->mem;
    while (m) {
        struct bs_view_mem *next = m->next;
        free(m);
        m = next;
    }
    free(v->nodes);
    free(v->edges);
    free(v);
}

int bs_view_find(const bs_view *v, bs_id id)
{
    int lo = 0, hi = v->nnodes - v->nrepeats - 1;  /* nodes are sorted by id, then repeats */
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (v->nodes[mid].id == id)
            return mid;
        if (v->nodes[mid].id < id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* ==== Text and numbers ==== */

/* DejaVu Sans advance widths in em, by character class (close enough for sizing boxes) */
static float char_em(unsigned ch)
{
    if (ch >= '0' && ch <= '9')
        return 0.636f;
    if (ch >= 'A' && ch <= 'Z')
        return ch == 'I' ? 0.295f : (ch == 'M' || ch == 'W') ? 0.86f : 0.70f;
    switch (ch) {
    case 'i': case 'l': case 'j': return 0.278f;
    case 'f': case 't': return 0.36f;
    case 'r': return 0.41f;
    case 'm': return 0.974f;
    case 'w': return 0.818f;
    case ' ': case '.': case ',': case ':': case ';': case '\'': case '!': case '|': return 0.318f;
    case '-': return 0.361f;
    case '(': case ')': case '[': case ']': case '{': case '}': return 0.39f;
    case '=': case '+': case '<': case '>': case '#': case '~': return 0.838f;
    case '*': return 0.5f;
    case '/': case '\\': return 0.337f;
    case '_': return 0.5f;
    case '@': return 1.0f;
    default: return ch >= 0x80 ? 0.8f : 0.6f;
    }
}

float viz_text_width(const char *s, float size)
{
    float w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue;          /* a UTF-8 continuation byte */
        if (*p >= 0xE0)
            w += 1.0f;         /* '…', '∇' and friends */
        else
            w += char_em(*p);
    }
    return w * size;
}

char *viz_num(double v, char *buf, size_t len)
{
    if (isnan(v))
        snprintf(buf, len, "nan");
    else if (isinf(v))
        snprintf(buf, len, v > 0 ? "inf" : "-inf");
    else if (v == 0)
        snprintf(buf, len, "0");
    else
        snprintf(buf, len, "%.4g", v);
    return buf;
}

/* preview of a tensor's data: "[0.1, 0.2, 0.3, …]" within about max bytes (viz_num's 4
   significant digits per element, as scalars, edge labels and the stepper's captions) */
static void preview(const bs_tensor *t, char *buf, size_t max)
{
    int64_t n = bs_tensor_numel(t);
    char num[32];
    if (t->shape.ndim == 0 || n == 1) {
        viz_num(t->data[0], buf, max);
        return;
    }
    size_t used = 0;
    buf[used++] = '[';
    for (int64_t i = 0; i < n; i++) {
        viz_num(t->data[i], num, sizeof num); /* one format for every number the graph shows */
        size_t k = strlen(num);
        if (used + k + 6 > max || i == 4) {
            memcpy(buf + used, "\xe2\x80\xa6", 3);   /* … */
            used += 3;
            break;
        }
        memcpy(buf + used, num, k);
        used += k;
        if (i + 1 < n) {
            memcpy(buf + used, ", ", 2);
            used += 2;
        }
    }
    buf[used++] = ']';
    buf[used] = 0;
}

/* the widest value preview we reserve room for, per kind of node */
#define VIZ_SCALAR_RESERVE "-0.00000"
#define VIZ_TENSOR_RESERVE "[-0.0000, -0.0000, …]"

/* ==== Heatmaps ==== */

void viz_heat_grid(const bs_shape *s, int *rows, int *cols)
{
    int64_t r = 1, c = 1;
    if (s->ndim == 1)
        c = s->d[0];
    else if (s->ndim >= 2) {
        c = s->d[s->ndim - 1];
        for (int i = 0; i < s->ndim - 1; i++)
            r *= s->d[i];
    }
    *rows = (int)(r < BS_HEAT_MAX ? r : BS_HEAT_MAX);
    *cols = (int)(c < BS_HEAT_MAX ? c : BS_HEAT_MAX);
    if (*rows < 1)
        *rows = 1;
    if (*cols < 1)
        *cols = 1;
}

float viz_heat_cell(const bs_heat *h)
{
    int m = h->rows > h->cols ? h->rows : h->cols;
    float cell = 44.0f / (float)m;
    return cell > 12 ? 12 : cell < 3 ? 3 : cell;
}

static bs_heat *heat_of(bs_view *v, const bs_tensor *t)
{
    bs_heat *h = viz_alloc(v, sizeof *h);
    if (!h)
        return NULL;
    viz_heat_grid(&t->shape, &h->rows, &h->cols);
    int64_t n = bs_tensor_numel(t), c = t->shape.ndim ? t->shape.d[t->shape.ndim - 1] : 1;
    int64_t r = c ? n / c : 0;
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(t->data[i]) > m)
            m = fabs(t->data[i]);
    h->absmax = (float)m;
    for (int i = 0; i < h->rows; i++)
        for (int j = 0; j < h->cols; j++) {
            int64_t si = (int64_t)i * r / h->rows, sj = (int64_t)j * c / h->cols;
            h->v[i * h->cols + j] = (float)t->data[si * c + sj];
        }
    return h;
}

static double mean_abs(const bs_tensor *t)
{
    int64_t n = bs_tensor_numel(t);
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += fabs(t->data[i]);
    return n ? s / (double)n : NAN;
}

/* ==== Building the view ==== */

static const char *leaf_word(const bs_node *n)
{
    switch (n->init) {
    case BS_INIT_RANDN: return "randn";
    case BS_INIT_RAND: return "rand";
    case BS_INIT_ZEROS: return "zeros";
    case BS_INIT_ONES: return "ones";
    case BS_INIT_EYE: return "eye";
    case BS_INIT_ARANGE: return "arange";
    case BS_INIT_FULL: return "full";
    case BS_INIT_COPY: return n->requires_grad ? "param" : "detach";
    default: return n->requires_grad ? "param" : "tensor";
    }
}

/* ==== Details ==== */

typedef struct {
    char *buf;
    size_t len, used;
} tbuf;

static void tput(tbuf *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void tput(tbuf *t, const char *fmt, ...)
{
    if (t->used + 1 >= t->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->buf + t->used, t->len - t->used, fmt, ap);
    va_end(ap);
    if (k > 0)
        t->used += (size_t)k;
    if (t->used >= t->len)
        t->used = t->len - 1;
}

/* matrix text for details: up to 6 x 6 entries */
static void matrix_text(const bs_tensor *t, char *buf, size_t len)
{
    int64_t n = bs_tensor_numel(t);
    tbuf b = {buf, len, 0};
    char num[32];
    buf[0] = 0;
    if (t->shape.ndim == 0 || n == 1) {
        tput(&b, "  %s", viz_num(t->data[0], num, sizeof num));
        return;
    }
    int64_t c = t->shape.d[t->shape.ndim - 1], r = n / c;
    for (int64_t i = 0; i < r && i < 6; i++) {
        tput(&b, "  ");
        for (int64_t j = 0; j < c && j < 6; j++)
            tput(&b, "%9s", viz_num(t->data[i * c + j], num, sizeof num));
        if (c > 6)
            tput(&b, "  \xe2\x80\xa6");
        if (i + 1 < r && i + 1 < 6)
            tput(&b, "\n");
    }
    if (r > 6)
        tput(&b, "\n  \xe2\x80\xa6 (%lld rows)", (long long)r);
}

static const char *detail_text(bs_view *v, const bs_ctx *c, const bs_node *n, const char *title,
                               const char *shape, const bs_tensor *g, bool partial)
{
    char buf[4096], mat[1536], nm[64];
    tbuf b = {buf, sizeof buf, 0};
    buf[0] = 0;
    tput(&b, "%s   (node %d)\n", title, n->id);
    if (n->text && *n->text)
        tput(&b, "%s\n", n->text);
    if (!n->is_leaf && n->op >= 0 && n->op < BS_OP_COUNT) {
        tput(&b, "op %s (%s)  inputs:", bs_ops[n->op].name, bs_ops[n->op].grad_fn);
        for (int i = 0; i < n->nin; i++)
            tput(&b, " %s", bs_node_name(c, n->in[i], nm, sizeof nm));
        tput(&b, "\n");
    } else
        tput(&b, "leaf (%s)\n", leaf_word(n));
    tput(&b, "shape %s %s%s%s%s%s\n", *shape ? shape : "()", bs_dtype_name(n->value.dtype),
         n->requires_grad ? "  requires_grad" : "", n->in_no_grad ? "  no_grad" : "",
         bs_node_freed(c, n->id) ? "  freed" : "",
         n->is_leaf && n->init == BS_INIT_COPY && !n->requires_grad ? "  detached" : "");
    matrix_text(&n->value, mat, sizeof mat);
    tput(&b, "value\n%s\n", mat);
    if (g->data) {
        matrix_text(g, mat, sizeof mat);
        tput(&b, partial ? "grad so far (the pass is still adding to it)\n%s" : "grad\n%s", mat);
    } else
        tput(&b, "grad  None");
    return viz_strdup(v, buf);
}

/* one tape node as a view node: kind, state, texts, colours, layout size */
static bool fill_node(bs_view *v, const bs_ctx *c, bs_id i, bs_view_node *vn, const bs_view_state *st,
                      unsigned flags, bs_id root)
{
    const bs_theme *th = bs_theme_get();
    float fs = (float)th->font_size, sfs = (float)th->small_font_size;
    char name[96], title[160], shape[64], val[96], grad[112];
    double *gbuf = NULL; /* a partial grad being previewed */
    const bs_node *nd = bs_node_get(c, i);
    int64_t numel = bs_tensor_numel(&nd->value);
    vn->id = i;
    vn->gmag = NAN;

    /* kind */
    if (!nd->is_leaf)
        vn->kind = BS_VN_OP;
    else if (nd->requires_grad)
        vn->kind = BS_VN_PARAM;
    else if (!nd->label && numel == 1 && nd->value.shape.ndim == 0 && nd->init == BS_INIT_DATA)
        vn->kind = BS_VN_CONST;
    else
        vn->kind = BS_VN_INPUT;

    /* state flags */
    unsigned f = 0;
    if (nd->requires_grad)
        f |= BS_VNF_REQ_GRAD;
    if (i == root)
        f |= BS_VNF_ROOT;
    if (nd->is_leaf && nd->init == BS_INIT_COPY && !nd->requires_grad)
        f |= BS_VNF_DETACHED;
    if (nd->in_no_grad)
        f |= BS_VNF_NO_GRAD;
    if (bs_node_freed(c, i))
        f |= BS_VNF_FREED;
    if (nd->label && nd->rebound > 0)
        f |= BS_VNF_REBOUND;
    if (numel > 1)
        f |= BS_VNF_TENSOR;
    if (st && st->selected == i)
        f |= BS_VNF_SELECTED;
    bs_vstep vs = state_of(st, i);
    if (vs == BS_VSTEP_CURRENT)
        f |= BS_VNF_CURRENT;
    else if (vs == BS_VSTEP_DONE)
        f |= BS_VNF_DONE;
    else if (vs == BS_VSTEP_PENDING)
        f |= BS_VNF_PENDING;
    /* the grad as of now: while a pass is in progress, what it has accumulated so far */
    free(gbuf);
    gbuf = NULL;
    bs_tensor g = {nd->value.dtype, nd->value.shape, NULL};
    bs_grad_state gs = bs_grad_now(c, i, NULL);
    if (gs == BS_GRAD_PARTIAL) {
        gbuf = malloc((size_t)(numel ? numel : 1) * sizeof *gbuf);
        if (!gbuf)
            goto fail;
        bs_grad_now(c, i, gbuf);
        g.data = gbuf;
        f |= BS_VNF_PARTIAL;
    } else if (gs == BS_GRAD_FINAL) {
        g.data = nd->grad.data;
    }
    bool show_grad = (flags & BS_VIEW_GRADS) && g.data;
    if (show_grad)
        f |= BS_VNF_GRAD;
    vn->flags = f;

    /* texts */
    name[0] = 0;
    if (nd->label) {
        int primes = nd->rebound > 4 ? 4 : nd->rebound;
        snprintf(name, sizeof name, "%s%.*s", nd->label, primes, "''''");
    }
    const char *sym = !nd->is_leaf && nd->op >= 0 && nd->op < BS_OP_COUNT ? bs_ops[nd->op].symbol : "";
    if (vn->kind == BS_VN_OP)
        snprintf(title, sizeof title, *name ? "%s = %s" : "%s%s", name, sym);
    else if (vn->kind == BS_VN_CONST)
        viz_num(nd->value.data[0], title, sizeof title);
    else
        snprintf(title, sizeof title, "%s", *name ? name : leaf_word(nd));
    if (nd->value.shape.ndim > 0)
        bs_shape_str(&nd->value.shape, shape, sizeof shape);
    else
        shape[0] = 0;
    preview(&nd->value, val, 22);
    grad[0] = 0;
    if (show_grad) {
        const char *word = (f & BS_VNF_PARTIAL) ? "so far " : "grad ";
        size_t wl = strlen(word);
        preview(&g, grad + wl, 22);
        memcpy(grad, word, wl);
    }
    const char *tag = "";
    /* freed saved tensors are said once for the whole graph (bs_view.freed), not per node */
    if (f & BS_VNF_DETACHED)
        tag = "detached";
    else if (f & BS_VNF_NO_GRAD)
        tag = "no_grad";
    else if (vn->kind == BS_VN_PARAM)
        tag = "param";
    vn->name = viz_strdup(v, name);
    vn->op = viz_strdup(v, sym);
    vn->title = viz_strdup(v, title);
    vn->shape = viz_strdup(v, shape);
    vn->value = viz_strdup(v, val);
    vn->grad = viz_strdup(v, grad);
    vn->tag = tag;
    vn->detail = (flags & BS_VIEW_DETAILS)
                     ? detail_text(v, c, nd, title, shape, &g, (f & BS_VNF_PARTIAL) != 0) : "";
    if (!vn->name || !vn->op || !vn->title || !vn->shape || !vn->value || !vn->grad || !vn->detail)
        goto fail;
    if (g.data)
        vn->gmag = mean_abs(&g);
    if ((flags & BS_VIEW_HEATMAPS) && numel > 1) {
        vn->heat = heat_of(v, &nd->value);
        if (show_grad)
            vn->gheat = heat_of(v, &g);
        if (!vn->heat || (show_grad && !vn->gheat))
            goto fail;
    }

    /* colours */
    switch (vn->kind) {
    case BS_VN_OP: vn->fill = th->op_fill; vn->border = th->op_border; break;
    case BS_VN_PARAM: vn->fill = th->param_fill; vn->border = th->param_border; break;
    case BS_VN_INPUT: vn->fill = th->input_fill; vn->border = th->input_border; break;
    case BS_VN_CONST: vn->fill = th->const_fill; vn->border = th->const_border; break;
    case BS_VN_GROUP: vn->fill = th->group_fill; vn->border = th->group_border; break;
    }
    vn->ink = th->ink;
    if (f & BS_VNF_ROOT) {
        vn->fill = th->root_fill;
        vn->border = th->root_border;
    }
    if (f & (BS_VNF_DETACHED | BS_VNF_NO_GRAD))
        vn->border = th->detached_border;
    if (f & BS_VNF_REBOUND)
        vn->ink = th->rebound_ink;
    if (f & BS_VNF_PENDING) {
        vn->fill = th->pending_fill;
        vn->border = th->pending_border;
        vn->ink = th->pending_ink;
    }
    if (f & BS_VNF_SELECTED)
        vn->border = th->selected_border;
    if (f & BS_VNF_CURRENT)
        vn->border = th->current_border;

    /* layout size: from structural text only (title, shape, tags that can appear, reserved
       room for value and grad previews), so values and grads never move the layout */
    if (vn->kind == BS_VN_CONST) {
        vn->width = viz_text_width(title, sfs) + 2 * VIZ_PAD;
        vn->height = sfs * VIZ_LINE + VIZ_PAD;
        if (vn->width < vn->height * 1.4f)
            vn->width = vn->height * 1.4f;
    } else {
        char line2[128];
        snprintf(line2, sizeof line2, "%s%s%s", shape, *shape ? "  " : "",
                 vn->kind == BS_VN_OP ? "no_grad" : vn->kind == BS_VN_PARAM ? "param" : "detached");
        float w = viz_text_width(title, fs) * 1.1f;   /* the title is bold */
        float w2 = viz_text_width(line2, sfs);
        const char *reserve = numel > 1 ? VIZ_TENSOR_RESERVE : VIZ_SCALAR_RESERVE;
        float w3 = viz_text_width(reserve, sfs);
        bool grad_line = (flags & BS_VIEW_GRADS) && nd->requires_grad;
        float w4 = grad_line ? viz_text_width("so far ", sfs) + w3 : 0; /* or "grad " */
        if (w2 > w) w = w2;
        if (w3 > w) w = w3;
        if (w4 > w) w = w4;
        int lines = 2 + (grad_line ? 1 : 0);
        float h = fs * VIZ_LINE + (float)lines * sfs * VIZ_LINE;
        if ((flags & BS_VIEW_HEATMAPS) && numel > 1) {
            bs_heat g;
            viz_heat_grid(&nd->value.shape, &g.rows, &g.cols);
            float cell = viz_heat_cell(&g);
            float hw = cell * (float)g.cols, hh = cell * (float)g.rows;
            int maps = grad_line ? 2 : 1;
            w += VIZ_HEAT_GAP + (float)maps * hw + (float)(maps - 1) * VIZ_HEAT_GAP;
            if (hh > h)
                h = hh;
        }
        vn->width = w + 2 * VIZ_PAD;
        vn->height = h + 2 * VIZ_PAD;
    }
    vn->text = nd->text ? viz_strdup(v, nd->text) : "";
    if (!vn->text)
        goto fail;
    vn->group = "";
    vn->members = 1;
    vn->cluster = -1;
    vn->repeats = -1;
    free(gbuf);
    return true;
fail:
    free(gbuf);
    return false;
}

void bs_view_opts_init(bs_view_opts *o)
{
    memset(o, 0, sizeof *o);
    o->root = BS_NONE;
    o->collapse = BS_COLLAPSE_AUTO;
}

bs_view *bs_view_build(const bs_ctx *c, bs_id root, const bs_view_state *st, unsigned flags,
                       char *err, size_t len)
{
    bs_view_opts o;
    bs_view_opts_init(&o);
    o.root = root;
    o.collapse = BS_COLLAPSE_NONE;
    return bs_view_build_opts(c, &o, st, flags, err, len);
}

bool bs_view_has_group(const bs_view *v, const char *name)
{
    for (int k = 0; k < v->nnodes; k++)
        if (v->nodes[k].kind == BS_VN_GROUP && !strcmp(v->nodes[k].group, name))
            return true;
    for (int k = 0; k < v->nclusters; k++)
        if (!strcmp(v->clusters[k].name, name))
            return true;
    return false;
}

/* a set of 64-bit keys (edges between boxes, inputs of a box) */
typedef struct {
    uint64_t *k;
    size_t cap, n;
} kset;

static int kset_add(kset *s, uint64_t key) /* 1 new, 0 present, -1 out of memory */
{
    key++; /* 0 marks an empty slot */
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        uint64_t *k = calloc(cap, sizeof *k);
        if (!k)
            return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->k[i]) {
                size_t h = (size_t)((s->k[i] * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
                while (k[h])
                    h = (h + 1) & (cap - 1);
                k[h] = s->k[i];
            }
        free(s->k);
        s->k = k;
        s->cap = cap;
    }
    size_t h = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (s->cap - 1);
    while (s->k[h]) {
        if (s->k[h] == key)
            return 0;
        h = (h + 1) & (s->cap - 1);
    }
    s->k[h] = key;
    s->n++;
    return 1;
}

static int edge_cmp(const void *a, const void *b)
{
    const bs_view_edge *x = a, *y = b;
    if (x->to != y->to)
        return x->to < y->to ? -1 : 1;
    if (x->slot != y->slot)
        return (x->slot > y->slot) - (x->slot < y->slot);
    return (x->from > y->from) - (x->from < y->from);
}

/* a collapsed group's box: its name, size, inputs/outputs/params, state from its members */
static bool fill_group(bs_view *v, const viz_group *g, bs_view_node *vn, const bs_view_node *out,
                       int nin, int nout, unsigned agg, unsigned flags)
{
    const bs_theme *th = bs_theme_get();
    float fs = (float)th->font_size, sfs = (float)th->small_font_size;
    char title[200], line2[128], val[128];
    vn->kind = BS_VN_GROUP;
    vn->id = g->last;
    vn->members = g->nmem;
    vn->repeats = -1;
    if ((g->kind == VG_SCOPE || (g->kind == VG_CHAIN && !g->ctor)) && g->ncalls > 1)
        snprintf(title, sizeof title, "%s \xc3\x97 %d", g->title, g->ncalls);
    else if (g->kind == VG_LEAVES && !strcmp(g->name, "unused leaves"))
        snprintf(title, sizeof title, "%d unused leaves", g->nmem);
    else if (g->kind == VG_LEAVES)
        snprintf(title, sizeof title, "%d %s", g->nmem, g->param ? "params" : "inputs");
    else
        snprintf(title, sizeof title, "%s", g->title);
    if (g->kind == VG_LEAVES)
        snprintf(line2, sizeof line2, "leaves");
    else if (g->nparams)
        snprintf(line2, sizeof line2, "%d nodes \xc2\xb7 %d param%s", g->nmem, g->nparams,
                 g->nparams == 1 ? "" : "s");
    else
        snprintf(line2, sizeof line2, "%d nodes", g->nmem);
    bool one_out = (g->kind == VG_CHAIN && g->ncalls <= 1) ||
                   (g->kind == VG_SCOPE && g->ncalls == 1 && nout == 1);
    if (one_out && out)
        snprintf(val, sizeof val, "%s", out->value);
    else
        snprintf(val, sizeof val, "in %d \xc2\xb7 out %d", nin, nout);
    vn->name = viz_strdup(v, g->kind == VG_CHAIN && out ? out->name : "");
    vn->op = "";
    vn->title = viz_strdup(v, title);
    vn->text = "";
    vn->shape = "";
    vn->tag = viz_strdup(v, line2);
    vn->value = viz_strdup(v, val);
    vn->grad = viz_strdup(v, one_out && out ? out->grad : "");
    vn->group = viz_strdup(v, g->name);
    vn->detail = (flags & BS_VIEW_DETAILS)
                     ? viz_strfmt(v, "%s\ngroup of %d nodes (%s)\n%s\ninputs from %d nodes, "
                                     "outputs %d\nclick it or :graph --expand '%s' to open it",
                                  title, g->nmem, g->kind == VG_SCOPE ? "a module or function call"
                                  : g->kind == VG_CHAIN ? (g->ctor ? "a leaf and what built it"
                                                                    : "a statement's steps")
                                                        : "leaves", line2, nin, nout, g->name)
                     : "";
    if (!vn->name || !vn->title || !vn->tag || !vn->value || !vn->grad || !vn->group || !vn->detail)
        return false;
    vn->gmag = one_out && out ? out->gmag : NAN;
    vn->flags = agg & (BS_VNF_REQ_GRAD | BS_VNF_ROOT | BS_VNF_CURRENT | BS_VNF_SELECTED |
                       BS_VNF_FREED | BS_VNF_TENSOR);
    if (one_out && out)
        vn->flags |= out->flags & (BS_VNF_GRAD | BS_VNF_PARTIAL);
    if ((agg & BS_VNF_PENDING) && !(agg & (BS_VNF_DONE | BS_VNF_CURRENT)))
        vn->flags |= BS_VNF_PENDING;
    else if (agg & BS_VNF_DONE)
        vn->flags |= BS_VNF_DONE;
    vn->fill = th->group_fill;
    vn->border = th->group_border;
    vn->ink = th->ink;
    if (vn->flags & BS_VNF_ROOT)
        vn->border = th->root_border;
    if (vn->flags & BS_VNF_PENDING) {
        vn->fill = th->pending_fill;
        vn->border = th->pending_border;
        vn->ink = th->pending_ink;
    }
    if (vn->flags & BS_VNF_SELECTED)
        vn->border = th->selected_border;
    if (vn->flags & BS_VNF_CURRENT)
        vn->border = th->current_border;
    /* size from the structural text: title, counts, reserved room for a value */
    float w = viz_text_width(title, fs) * 1.1f, w2 = viz_text_width(line2, sfs);
    float w3 = viz_text_width("in 00000 \xc2\xb7 out 00000", sfs);
    float w4 = viz_text_width(VIZ_SCALAR_RESERVE, sfs) + viz_text_width("so far ", sfs);
    if (w2 > w) w = w2;
    if (w3 > w) w = w3;
    if (w4 > w) w = w4;
    bool grad_line = (flags & BS_VIEW_GRADS) && (agg & BS_VNF_REQ_GRAD);
    int lines = 2 + (grad_line ? 1 : 0);
    vn->width = w + 2 * VIZ_PAD + 8;
    vn->height = fs * VIZ_LINE + (float)lines * sfs * VIZ_LINE + 2 * VIZ_PAD + 6;
    return true;
}

static void edge_style(bs_view_edge *e, const bs_view_node *src, const bs_view_node *dst,
                       unsigned flags)
{
    const bs_theme *th = bs_theme_get();
    if (e->slot < 0) {
        /* a copy: no gradient flows */
    } else if (!(src->flags & BS_VNF_REQ_GRAD)) {
        e->flags |= BS_VEF_NO_GRAD;
        e->width = 1.2f;
    } else if ((flags & BS_VIEW_GRADS) && (src->flags & BS_VNF_GRAD)) {
        e->gmag = src->gmag;
        e->color = bs_theme_grad_color(e->gmag);
        e->width = 2.5f;
    }
    if (dst->flags & BS_VNF_PENDING) {
        e->flags |= BS_VEF_PENDING;
        e->color = th->pending_border;
    }
    if (*e->label) {
        e->flags |= BS_VEF_STEP;
        e->color = th->edge_step;
        e->width = 3.0f;
    }
}

/* is i the leaf of a closed constructor chain (drawn as itself, the chain folded into it)? */
static bool leaf_box(const viz_groups *G, int32_t i)
{
    if (viz_group_shown(G, i) || G->gid[i] < 0)
        return false;
    const viz_group *g = &G->g[G->gid[i]];
    return g->kind == VG_CHAIN && g->ctor && g->anchor == i;
}

/* Where dot ranks each node, roughly: as late as its consumers allow (network simplex pulls a
   node that only leaves feed up to its first use), sinks on the last rank of the longest path.
   Nodes are in tape order and edges by consumer, so two passes make it. */
static void view_ranks(const bs_view *v, int *rank, int *minc)
{
    int n = v->nnodes, last = 0;
    for (int k = 0; k < v->nedges; k++) { /* the longest path: the last rank */
        const bs_view_edge *e = &v->edges[k];
        if (rank[e->to] < rank[e->from] + 1) rank[e->to] = rank[e->from] + 1;
        if (rank[e->to] > last) last = rank[e->to];
    }
    for (int i = 0; i < n; i++) minc[i] = INT_MAX;
    int k = v->nedges - 1;
    for (int i = n - 1; i >= 0; i--) {
        rank[i] = minc[i] == INT_MAX ? last : minc[i] - 1;
        for (; k >= 0 && v->edges[k].to >= i; k--)
            if (v->edges[k].to == i && rank[i] < minc[v->edges[k].from])
                minc[v->edges[k].from] = rank[i];
    }
}

/* A source (no edge comes into it: a leaf, a constant, a box of leaves) used on ranks far apart
   (one input feeding every statement of a script) pulls a long edge through every rank between
   its first use and each later one. When those edges skip more than VIZ_REPEAT_SPAN ranks in
   all, the source is drawn again beside each later use: one copy per consuming box, appended to
   nodes[] (v->nrepeats), in the consumer's cluster; the first drawing keeps its first use.
   Sources only: a copy of a computed node would hide where its value came from. */
#define VIZ_REPEAT_SPAN 4
static bool repeat_far_sources(bs_view *v)
{
    int n = v->nnodes;
    if (!n || !v->nedges) return true;
    int *rank = calloc((size_t)n, sizeof *rank), *far = calloc((size_t)n, sizeof *far);
    int *first = malloc(sizeof(int) * (size_t)n), *indeg = calloc((size_t)n, sizeof *indeg);
    int *last_to = malloc(sizeof(int) * (size_t)n), *copy = malloc(sizeof(int) * (size_t)n);
    bool ok = rank && far && first && indeg && last_to && copy;
    if (!ok) goto out;
    view_ranks(v, rank, first); /* first[i]: the rank of i's nearest use */
    for (int k = 0; k < v->nedges; k++) {
        const bs_view_edge *e = &v->edges[k];
        indeg[e->to]++;
        far[e->from] += rank[e->to] - first[e->from];
    }
#define FAR_USE(e) (!indeg[(e)->from] && far[(e)->from] > VIZ_REPEAT_SPAN && \
                    rank[(e)->to] > first[(e)->from])
    int extra = 0;
    for (int i = 0; i < n; i++) last_to[i] = -1;
    for (int k = 0; k < v->nedges; k++) { /* one copy per (source, consumer) pair */
        const bs_view_edge *e = &v->edges[k];
        if (!FAR_USE(e)) continue;
        if (last_to[e->from] != e->to) extra++;
        last_to[e->from] = e->to;
    }
    if (!extra) goto out;
    bs_view_node *grown = realloc(v->nodes, sizeof *grown * (size_t)(n + extra));
    if (!grown) {
        ok = false;
        goto out;
    }
    v->nodes = grown;
    for (int i = 0; i < n; i++) last_to[i] = -1;
    int next = n;
    for (int k = 0; k < v->nedges; k++) {
        bs_view_edge *e = &v->edges[k];
        int src = e->from;
        if (!FAR_USE(e)) continue;
        if (last_to[src] != e->to) { /* the edges into one consumer are next to each other */
            bs_view_node *r = &v->nodes[next];
            *r = v->nodes[src];
            r->flags |= BS_VNF_REPEAT;
            r->repeats = src;
            r->cluster = v->nodes[e->to].cluster;
            copy[src] = next++;
            last_to[src] = e->to;
        }
        e->from = copy[src];
    }
#undef FAR_USE
    v->nnodes = next;
    v->nrepeats = next - n;
out:
    free(rank);
    free(far);
    free(first);
    free(indeg);
    free(last_to);
    free(copy);
    return ok;
}

/* which nodes: everything root depends on (inputs, transitively: bs_tape_walk), or with down
   everything that depends on root (one forward sweep; ids are topological), or with no root the
   whole tape: idx[i] = 0 for those, -1 for the others; returns their count, -1 when out of
   memory */
static int32_t select_nodes(const bs_ctx *c, const bs_view_opts *o, int32_t n, int *idx)
{
    bs_id root = o->root;
    int32_t count = 0;
    for (int32_t i = 0; i < n; i++)
        idx[i] = root == BS_NONE ? 0 : -1;
    if (root != BS_NONE && o->down) {
        idx[root] = 0;
        for (int32_t i = root + 1; i < n; i++) {
            const bs_node *nd = bs_node_get(c, i);
            for (int k = 0; k < nd->nin && idx[i] < 0; k++)
                if (nd->in[k] >= 0 && nd->in[k] < n && idx[nd->in[k]] == 0)
                    idx[i] = 0;
            if (nd->is_leaf && nd->init == BS_INIT_COPY && nd->init_src >= 0 &&
                nd->init_src < n && idx[nd->init_src] == 0)
                idx[i] = 0;
        }
    } else if (root != BS_NONE) {
        bool *on = calloc((size_t)root + 1, sizeof *on);
        if (!on)
            return -1;
        bs_tape_walk(c, root, 0, on);
        for (int32_t i = 0; i <= root; i++)
            if (on[i])
                idx[i] = 0;
        free(on);
    }
    for (int32_t i = 0; i < n; i++)
        if (idx[i] == 0)
            count++;
    return count;
}

/* the structure hash: what the layout depends on (a value or grad change keeps it) */
static uint64_t structure_hash(const bs_view *v)
{
    uint64_t h = VIZ_HASH0;
    h = viz_hash(h, &v->root, sizeof v->root);
    h = viz_hash(h, &v->nnodes, sizeof v->nnodes);
    for (int k = 0; k < v->nnodes; k++) {
        const bs_view_node *vn = &v->nodes[k];
        unsigned sf = vn->flags & BS_VNF_TENSOR;
        h = viz_hash(h, &vn->id, sizeof vn->id);
        h = viz_hash(h, &vn->kind, sizeof vn->kind);
        h = viz_hash(h, &sf, sizeof sf);
        h = viz_hash(h, vn->title, strlen(vn->title) + 1);
        h = viz_hash(h, &vn->width, sizeof vn->width);
        h = viz_hash(h, &vn->height, sizeof vn->height);
        h = viz_hash(h, &vn->cluster, sizeof vn->cluster);
    }
    for (int k = 0; k < v->nedges; k++) {
        const bs_view_edge *e = &v->edges[k];
        h = viz_hash(h, &e->from, sizeof e->from);
        h = viz_hash(h, &e->to, sizeof e->to);
        h = viz_hash(h, &e->slot, sizeof e->slot);
    }
    for (int k = 0; k < v->nclusters; k++)
        h = viz_hash(h, v->clusters[k].title, strlen(v->clusters[k].title) + 1);
    return h;
}

bs_view *bs_view_build_opts(const bs_ctx *c, const bs_view_opts *o, const bs_view_state *st,
                            unsigned flags, char *err, size_t len)
{
    const bs_theme *th = bs_theme_get();
    int32_t n = bs_tape_len(c);
    bs_id root = o->root;
    if (root != BS_NONE && (root < 0 || root >= n)) {
        viz_fail(BS_ERR_ARG, err, len, "no node %d on the tape (it has %d)", root, n);
        return NULL;
    }
    bs_view *v = calloc(1, sizeof *v);
    int *idx = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    int *vis = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    viz_groups G;
    memset(&G, 0, sizeof G);
    kset eset = {0}, iset = {0};
    int *gbox = NULL, *gin = NULL, *gout = NULL;
    unsigned *gagg = NULL;
    char *outmark = NULL;
    if (!v || !idx || !vis) {
        free(v);
        free(idx);
        free(vis);
        viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
        return NULL;
    }
    v->root = root;
    v->tape_len = n;
    v->stepping = st && st->stepping;
    v->selected = st ? st->selected : BS_NONE;
    v->caption = viz_strdup(v, st ? st->caption : "");
    if (!v->caption)
        goto nomem;

    int32_t count = select_nodes(c, o, n, idx);
    if (count < 0)
        goto nomem;
    bool grouped = o->collapse != BS_COLLAPSE_NONE;
    if (grouped && !viz_groups_build(&G, c, idx, count, o))
        goto nomem;

    /* the boxes: a node drawn as itself, or a collapsed group at its last member */
    int nbox = 0, nedges = 0;
    for (int32_t i = 0; i < n; i++) {
        vis[i] = -1;
        if (idx[i] < 0)
            continue;
        const bs_node *nd = bs_node_get(c, i);
        nedges += nd->nin + (nd->init == BS_INIT_COPY ? 1 : 0);
        if (bs_node_freed(c, i))
            v->freed = true;
        if (!grouped || viz_group_shown(&G, i) || G.g[G.gid[i]].last == i)
            vis[i] = nbox++;
    }
    if (grouped) { /* members of a closed group point at its box */
        for (int32_t i = 0; i < n; i++)
            if (idx[i] >= 0 && vis[i] < 0)
                vis[i] = vis[G.g[G.gid[i]].last];
        size_t ng = (size_t)(G.ng ? G.ng : 1);
        gbox = malloc(sizeof(int) * ng);
        gin = calloc(ng, sizeof(int));
        gout = calloc(ng, sizeof(int));
        gagg = calloc(ng, sizeof(unsigned));
        outmark = calloc((size_t)(n ? n : 1), 1);
        if (!gbox || !gin || !gout || !gagg || !outmark)
            goto nomem;
        for (int g = 0; g < G.ng; g++)
            gbox[g] = -1;
    }
    v->nodes = calloc((size_t)(nbox ? nbox : 1), sizeof *v->nodes);
    v->edges = calloc((size_t)(nedges ? nedges : 1), sizeof *v->edges);
    if (!v->nodes || !v->edges)
        goto nomem;
    v->nnodes = nbox;
    if (grouped && G.ncl) {
        v->clusters = viz_alloc(v, (size_t)G.ncl * sizeof *v->clusters);
        if (!v->clusters)
            goto nomem;
        v->nclusters = G.ncl;
        for (int k = 0; k < G.ncl; k++) {
            v->clusters[k].name = viz_strdup(v, G.cl[k].name);
            v->clusters[k].title = G.cl[k].calls > 1
                                       ? viz_strfmt(v, "%s \xc3\x97 %d", G.cl[k].name, G.cl[k].calls)
                                       : viz_strdup(v, G.cl[k].name);
            v->clusters[k].parent = G.cl[k].parent;
            if (!v->clusters[k].name || !v->clusters[k].title)
                goto nomem;
        }
    }
    for (int32_t i = 0; i < n; i++) {
        if (idx[i] < 0)
            continue;
        if (!grouped || viz_group_shown(&G, i) || leaf_box(&G, i)) {
            bs_view_node *vn = &v->nodes[vis[i]];
            if (!fill_node(v, c, i, vn, st, flags, root))
                goto nomem;
            vn->cluster = grouped ? G.home[i] : -1;
            if (grouped && leaf_box(&G, i)) { /* W = param(randn(4, 6) * 0.5): the chain folds in */
                vn->members = G.g[G.gid[i]].nmem;
                vn->cluster = G.g[G.gid[i]].home;
            }
            continue;
        }
        /* a member of a closed group: its state joins the box's */
        int g = G.gid[i];
        v->hidden++;
        gbox[g] = vis[i];
        const bs_node *nd = bs_node_get(c, i);
        unsigned a = 0;
        if (nd->requires_grad) a |= BS_VNF_REQ_GRAD;
        if (i == root) a |= BS_VNF_ROOT;
        if (bs_node_freed(c, i)) a |= BS_VNF_FREED;
        if (bs_tensor_numel(&nd->value) > 1) a |= BS_VNF_TENSOR;
        if (st && st->selected == i) a |= BS_VNF_SELECTED;
        bs_vstep vs = state_of(st, i);
        a |= vs == BS_VSTEP_CURRENT ? BS_VNF_CURRENT : vs == BS_VSTEP_DONE ? BS_VNF_DONE
             : vs == BS_VSTEP_PENDING ? BS_VNF_PENDING : 0u;
        gagg[g] |= a;
    }

    /* edges, ordered by (to, slot): inputs of each node, then its copy source; two boxes are
       joined once */
    int ne = 0;
    for (int32_t i = 0; i < n; i++) {
        if (idx[i] < 0)
            continue;
        const bs_node *nd = bs_node_get(c, i);
        for (int s = 0; s <= nd->nin; s++) {
            bs_id from;
            if (s < nd->nin)
                from = nd->in[s];
            else if (nd->init == BS_INIT_COPY && nd->is_leaf)
                from = nd->init_src;
            else
                continue;
            if (from < 0 || from >= n || idx[from] < 0)
                continue;
            int vf = vis[from], vt = vis[i];
            if (vf == vt)
                continue; /* inside one closed group */
            /* an edge of a box; a folded leaf (its chain closed into it) is the leaf itself */
            bool boxed = grouped && ((!viz_group_shown(&G, from) && !leaf_box(&G, from)) ||
                                     (!viz_group_shown(&G, i) && !leaf_box(&G, i)));
            if (boxed) {
                if (!viz_group_shown(&G, i)) { /* the box's distinct inputs */
                    int r = kset_add(&iset, (uint64_t)from << 32 | (uint32_t)vt);
                    if (r < 0)
                        goto nomem;
                    gin[G.gid[i]] += r;
                }
                if (!viz_group_shown(&G, from) && !outmark[from]) {
                    outmark[from] = 1;
                    gout[G.gid[from]]++;
                }
                int r = kset_add(&eset, (uint64_t)vf << 32 | (uint32_t)vt);
                if (r < 0)
                    goto nomem;
                if (r == 0)
                    continue; /* these two boxes are joined already */
            }
            bs_view_edge *e = &v->edges[ne++];
            e->from = vf;
            e->to = vt;
            e->slot = s < nd->nin ? s : -1;
            e->gmag = NAN;
            e->width = 1.5f;
            e->color = th->edge;
            const char *lab = !boxed && e->slot >= 0 ? edge_label_of(st, i, s) : NULL;
            e->label = lab ? viz_strdup(v, lab) : "";
            if (!e->label)
                goto nomem;
            if (e->slot < 0) {
                e->flags |= BS_VEF_COPY;
                e->color = th->edge_copy;
            }
            if (!boxed) /* boxes are styled once they are filled */
                edge_style(e, &v->nodes[vf], &v->nodes[vt], flags);
        }
    }
    v->nedges = ne;
    if (grouped) {
        for (int g = 0; g < G.ng; g++) {
            if (gbox[g] < 0)
                continue;
            bs_view_node *vn = &v->nodes[gbox[g]];
            if (G.g[g].kind == VG_CHAIN && G.g[g].ctor && G.g[g].anchor >= 0)
                continue; /* drawn as its leaf, filled above */
            bs_view_node out;
            memset(&out, 0, sizeof out);
            bs_id oid = G.g[g].kind == VG_CHAIN && G.g[g].anchor >= 0 ? G.g[g].anchor : G.g[g].last;
            if (!fill_node(v, c, oid, &out, st, flags & ~(unsigned)(BS_VIEW_DETAILS | BS_VIEW_HEATMAPS), root) ||
                !fill_group(v, &G.g[g], vn, &out, gin[g], gout[g], gagg[g], flags))
                goto nomem;
            vn->cluster = G.g[g].home;
        }
        for (int k = 0; k < ne; k++) {
            bs_view_edge *e = &v->edges[k];
            const bs_view_node *src = &v->nodes[e->from], *dst = &v->nodes[e->to];
            if (src->kind == BS_VN_GROUP || dst->kind == BS_VN_GROUP)
                edge_style(e, src, dst, flags);
        }
        qsort(v->edges, (size_t)ne, sizeof *v->edges, edge_cmp);
    }

    if (!repeat_far_sources(v))
        goto nomem;

    v->structure = structure_hash(v);
    free(idx);
    free(vis);
    free(gbox);
    free(gin);
    free(gout);
    free(gagg);
    free(outmark);
    free(eset.k);
    free(iset.k);
    viz_groups_free(&G);
    return v;

nomem:
    free(idx);
    free(vis);
    free(gbox);
    free(gin);
    free(gout);
    free(gagg);
    free(outmark);
    free(eset.k);
    free(iset.k);
    viz_groups_free(&G);
    bs_view_free(v);
    viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
    return NULL;
}


uint64_t viz_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* What dot's layout costs, roughly: the nodes, plus the ranks skipped by the long edges out of
   the node that has most of them (dot threads a virtual node through every skipped rank; one
   value feeding hundreds of far-off nodes is what makes its passes take minutes). Nodes are in
   tape order and edges by consumer, so one pass ranks them. */
long bs_viz_layout_cost(const bs_view *v)
{
    int n = v->nnodes ? v->nnodes : 1;
    int *rank = calloc((size_t)n, sizeof *rank);
    long *fan = calloc((size_t)n, sizeof *fan);
    if (!rank || !fan) {
        free(rank);
        free(fan);
        return LONG_MAX;
    }
    for (int k = 0; k < v->nedges; k++) {
        const bs_view_edge *e = &v->edges[k];
        if (rank[e->to] < rank[e->from] + 1) rank[e->to] = rank[e->from] + 1;
    }
    long worst = 0;
    for (int k = 0; k < v->nedges; k++) {
        const bs_view_edge *e = &v->edges[k];
        int span = rank[e->to] - rank[e->from] - 1;
        if (span > 0 && (fan[e->from] += span) > worst) worst = fan[e->from];
    }
    free(rank);
    free(fan);
    return v->nnodes + worst;
}
