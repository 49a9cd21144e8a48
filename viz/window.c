/* viz/window.c: the live graph window (SDL2 + SDL2_ttf): draws Graphviz's layout itself (nodes,
 * spline edges, labels, heatmaps), so values and highlights redraw without a new layout; pan, zoom,
 * fit, click for details, stepper keys reported as events, a loss-curve panel, screenshots. */
#include "viz_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BS_HAVE_SDL

/* ==== Without SDL2: every entry point says what to install ==== */

bs_window *bs_window_open(char *err, size_t len)
{
    viz_fail(BS_ERR_UNSUPPORTED, err, len, BS_NO_SDL_MSG);
    return NULL;
}
void bs_window_close(bs_window *w) { (void)w; }
bs_status bs_window_update(bs_window *w, const bs_ctx *c, bs_id root, const bs_view_state *st,
                           char *err, size_t len)
{
    return viz_fail(BS_ERR_UNSUPPORTED, err, len, BS_NO_SDL_MSG);
}
int bs_window_pump(bs_window *w, int timeout_ms, bs_window_event *ev)
{
    if (ev) {
        ev->kind = BS_WEV_NONE;
        ev->node = BS_NONE;
        ev->group[0] = 0;
    }
    return 0;
}
bs_status bs_window_update_opts(bs_window *w, const bs_ctx *c, const bs_view_opts *o,
                                const bs_view_state *st, char *err, size_t len)
{
    return viz_fail(BS_ERR_UNSUPPORTED, err, len, BS_NO_SDL_MSG);
}
void bs_window_redraw(bs_window *w) { (void)w; }
void bs_window_select(bs_window *w, bs_id node) { (void)w; }
void bs_window_fit(bs_window *w) { (void)w; }
bs_status bs_window_screenshot(bs_window *w, const char *png, char *err, size_t len)
{
    return viz_fail(BS_ERR_UNSUPPORTED, err, len, BS_NO_SDL_MSG);
}
bs_status bs_window_plot(bs_window *w, const double *y, int n, const char *title, char *err,
                         size_t len)
{
    return viz_fail(BS_ERR_UNSUPPORTED, err, len, BS_NO_SDL_MSG);
}
int bs_window_layout_count(const bs_window *w) { return 0; }
void viz_window_sync(bs_window *w) { (void)w; }
float viz_window_zoom(const bs_window *w) { (void)w; return 0; }
bs_status viz_window_screenshot_now(bs_window *w, const char *png, char *err, size_t len)
{
    (void)w;
    (void)png;
    return viz_fail(BS_ERR_UNSUPPORTED, err, len, BS_NO_SDL_MSG);
}
const bs_layout *viz_window_layout(const bs_window *w, bool *quick)
{
    (void)w;
    if (quick)
        *quick = false;
    return NULL;
}
const char *bs_window_renderer(const bs_window *w) { return ""; }
bool bs_window_available(char *why, size_t len)
{
    viz_fail(BS_ERR_UNSUPPORTED, why, len, BS_NO_SDL_MSG);
    return false;
}

#else

#include <SDL2/SDL.h>
#include <SDL2/SDL_ttf.h>

/* ==== Window state ==== */

/* The bars and the panel grow with the theme's type (the projector theme's 18 points: 1.29x) */
#define UI ((float)bs_theme_get()->font_size / 14.0f)
#define TOP_BAR ((int)(34 * UI))    /* pixels: status line */
#define BOTTOM_BAR ((int)(28 * UI)) /* pixels: key hints and the gradient legend */
#define PANEL_W ((int)(340 * UI))   /* pixels: details panel on the right */
#define PLOT_W 420
#define PLOT_H 230
#define QUEUE 32

enum { F_REGULAR, F_BOLD, F_MONO, F_COUNT };

#define ATLAS 1024          /* glyph atlas: ATLAS x ATLAS pixels */
#define GLYPHS 4096         /* glyph table slots */

typedef struct {
    uint32_t key;           /* code point, font, pixel size */
    bool used;
    int16_t x, y, w, h;     /* in the atlas (w 0: nothing to draw, a space) */
    int16_t advance;        /* pen advance in pixels */
} glyph;

typedef struct {
    SDL_Vertex *v;
    int n, cap;
} batch;

struct bs_window {
    SDL_Window *win;
    SDL_Renderer *ren;
    char renderer_name[32];
    TTF_Font *font[F_COUNT];
    int font_px[F_COUNT];   /* size each font is set to now */

    bs_view *view;
    bs_layout *layout;
    bool tb_now;            /* the direction the window's shape asks for now */
    int layouts;            /* layouts computed since open */
    bool settle;            /* layout is a quick placement of appended nodes: Graphviz's layout
                               is due at the next pump with nothing else to draw */

    float zoom;             /* pixels per point */
    float cam_x, cam_y;     /* graph point at the top-left corner of the graph area */
    bool user_moved;        /* pan/zoom by hand since the last fit: keep the camera on relayout */
    bool dirty;

    bs_id selected;         /* node shown in the details panel */
    bool dragging, drag_moved;
    int drag_x, drag_y;

    double *plot;           /* loss curve, NULL when hidden */
    int nplot;
    char plot_title[64];

    bs_window_event queue[QUEUE];
    int qhead, qlen;

    SDL_Texture *atlas;     /* glyphs, white on transparent */
    glyph glyphs[GLYPHS];   /* open addressing */
    int nglyphs;
    int shelf_x, shelf_y, shelf_h;
    batch txt;              /* textured quads of queued text */

    batch tri;              /* untextured triangles, blended: edges, glows, panels */
    batch fill;             /* opaque fills drawn without blending (node boxes, heat cells) */
    batch strk;             /* blended strokes over the fills (node outlines) */
};

static bool sdl_up;         /* SDL and TTF initialised by us */

/* ==== Small helpers ==== */

static SDL_Color col(bs_rgb c, uint8_t a)
{
    SDL_Color s = {c.r, c.g, c.b, a};
    return s;
}

static void push_event_group(bs_window *w, bs_window_event_kind k, bs_id node, const char *group)
{
    if (w->qlen == QUEUE)
        return;
    bs_window_event *e = &w->queue[(w->qhead + w->qlen++) % QUEUE];
    e->kind = k;
    e->node = node;
    snprintf(e->group, sizeof e->group, "%s", group ? group : "");
}

static void push_event(bs_window *w, bs_window_event_kind k, bs_id node)
{
    push_event_group(w, k, node, NULL);
}

static void area(const bs_window *w, int *x, int *y, int *aw, int *ah)
{
    int W, H;
    SDL_GetRendererOutputSize(w->ren, &W, &H);
    *x = 0;
    *y = TOP_BAR;
    *aw = W - (w->selected != BS_NONE ? PANEL_W : 0);
    *ah = H - TOP_BAR - BOTTOM_BAR - (w->plot ? PLOT_H + 24 : 0);
    if (*aw < 50)
        *aw = 50;
    if (*ah < 50)
        *ah = 50;
}

static void to_screen(const bs_window *w, float gx, float gy, float *sx, float *sy)
{
    *sx = (gx - w->cam_x) * w->zoom;
    *sy = TOP_BAR + (gy - w->cam_y) * w->zoom;
}

static void to_graph(const bs_window *w, float sx, float sy, float *gx, float *gy)
{
    *gx = sx / w->zoom + w->cam_x;
    *gy = (sy - TOP_BAR) / w->zoom + w->cam_y;
}

/* ==== Triangles ==== */

static bool tri_reserve(batch *b, int k)
{
    if (b->n + k <= b->cap)
        return true;
    int cap = b->cap ? b->cap : 4096;
    while (cap < b->n + k)
        cap *= 2;
    SDL_Vertex *v = realloc(b->v, (size_t)cap * sizeof *v);
    if (!v)
        return false;
    b->v = v;
    b->cap = cap;
    return true;
}

/* a triangle with a colour per corner (the renderer blends between them) */
static void tri3(batch *b, float x0, float y0, SDL_Color c0, float x1, float y1, SDL_Color c1,
                 float x2, float y2, SDL_Color c2)
{
    if (!tri_reserve(b, 3))
        return;
    SDL_Vertex *v = b->v + b->n;
    v[0].position.x = x0, v[0].position.y = y0, v[0].color = c0;
    v[1].position.x = x1, v[1].position.y = y1, v[1].color = c1;
    v[2].position.x = x2, v[2].position.y = y2, v[2].color = c2;
    for (int i = 0; i < 3; i++)
        v[i].tex_coord.x = v[i].tex_coord.y = 0;
    b->n += 3;
}

static void tri(batch *b, float x0, float y0, float x1, float y1, float x2, float y2, SDL_Color c)
{
    tri3(b, x0, y0, c, x1, y1, c, x2, y2, c);
}

static void quad(batch *b, float x0, float y0, float x1, float y1, SDL_Color c)
{
    tri(b, x0, y0, x1, y0, x1, y1, c);
    tri(b, x0, y0, x1, y1, x0, y1, c);
}

static void flush_batch(bs_window *w, batch *b, bool blend)
{
    if (!b->n)
        return;
    if (!blend)   /* opaque: skipping the blend is much cheaper on software GL */
        SDL_SetRenderDrawBlendMode(w->ren, SDL_BLENDMODE_NONE);
    SDL_RenderGeometry(w->ren, NULL, b->v, b->n, NULL, 0);
    if (!blend)
        SDL_SetRenderDrawBlendMode(w->ren, SDL_BLENDMODE_BLEND);
    b->n = 0;
}

static void flush_text(bs_window *w);

/* draw what is queued: triangles, then the text over them */
static void flush(bs_window *w)
{
    flush_batch(w, &w->tri, true);
    flush_text(w);
}

/* A thick segment: a solid core and a one-pixel feather on each side fading to transparent
 * (anti-aliasing without multisampling). Pieces are extended a little so joints overlap. */
static void seg(batch *b, float x0, float y0, float x1, float y1, float width, SDL_Color c)
{
    float dx = x1 - x0, dy = y1 - y0, l = sqrtf(dx * dx + dy * dy);
    if (l < 1e-4f)
        return;
    float ux = dx / l, uy = dy / l;
    float core = width / 2 - 0.5f, edge = width / 2 + 0.5f;
    SDL_Color clear = c;
    clear.a = 0;
    if (core < 0.25f) {   /* a hairline: lines under a pixel fade instead of vanishing */
        c.a = (uint8_t)(c.a * (width > 1 ? 1 : width > 0.5f ? width : 0.5f));
        core = 0.25f;
        edge = 1.0f;
    }
    float ext = width * 0.3f;
    x0 -= ux * ext, y0 -= uy * ext, x1 += ux * ext, y1 += uy * ext;
    float cx = -uy * core, cy = ux * core, ex = -uy * edge, ey = ux * edge;
    tri(b, x0 + cx, y0 + cy, x1 + cx, y1 + cy, x1 - cx, y1 - cy, c);
    tri(b, x0 + cx, y0 + cy, x1 - cx, y1 - cy, x0 - cx, y0 - cy, c);
    tri3(b, x0 + cx, y0 + cy, c, x1 + cx, y1 + cy, c, x1 + ex, y1 + ey, clear);
    tri3(b, x0 + cx, y0 + cy, c, x1 + ex, y1 + ey, clear, x0 + ex, y0 + ey, clear);
    tri3(b, x0 - cx, y0 - cy, c, x1 - cx, y1 - cy, c, x1 - ex, y1 - ey, clear);
    tri3(b, x0 - cx, y0 - cy, c, x1 - ex, y1 - ey, clear, x0 - ex, y0 - ey, clear);
}

/* outline of a rounded rectangle (or ellipse when round) as points, clockwise. As many points as
 * the size on screen needs: a corner arc gets the fewest pieces (up to 4) that stay within
 * SHAPE_TOL pixels of the true arc, an ellipse likewise (up to 48), so the hundreds of tiny boxes
 * of a big graph at fit cost a fraction of the triangles and look the same. */
#define SHAPE_TOL 0.15f
static int arc_pieces(float r, float angle, int most)
{
    /* k chords over an arc of `angle` radians stray r (1 - cos(angle / k / 2)) from it */
    for (int k = 1; k < most; k++)
        if (r * (1 - cosf(angle / (float)k / 2)) <= SHAPE_TOL)
            return k;
    return most;
}

static int shape_points(float x, float y, float wd, float ht, float r, bool ellipse, float *p, int max)
{
    int n = 0;
    if (ellipse) {
        int k = max / 2 < 48 ? max / 2 : 48;
        float big = (wd > ht ? wd : ht) / 2;
        int need = arc_pieces(big, 2 * (float)M_PI, k);
        k = need < 8 ? (k < 8 ? k : 8) : need;
        for (int i = 0; i < k; i++) {
            float a = (float)i / (float)k * 2 * (float)M_PI;
            p[n++] = x + wd / 2 * cosf(a);
            p[n++] = y + ht / 2 * sinf(a);
        }
        return n / 2;
    }
    if (r > wd / 2)
        r = wd / 2;
    if (r > ht / 2)
        r = ht / 2;
    int pieces = arc_pieces(r, (float)M_PI / 2, 4);
    float cx[4] = {x + wd / 2 - r, x - wd / 2 + r, x - wd / 2 + r, x + wd / 2 - r};
    float cy[4] = {y + ht / 2 - r, y + ht / 2 - r, y - ht / 2 + r, y - ht / 2 + r};
    for (int c = 0; c < 4; c++)
        for (int i = 0; i <= pieces && n + 2 <= max; i++) {
            float a = ((float)c + (float)i / (float)pieces) * (float)M_PI / 2;
            p[n++] = cx[c] + r * cosf(a);
            p[n++] = cy[c] + r * sinf(a);
        }
    return n / 2;
}

static void fill_shape(batch *b, float x, float y, const float *p, int n, SDL_Color c)
{
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        tri(b, x, y, p[2 * i], p[2 * i + 1], p[2 * j], p[2 * j + 1], c);
    }
}

static void stroke_shape(batch *b, const float *p, int n, float width, bool dashed, SDL_Color c)
{
    float run = 0;
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        float dx = p[2 * j] - p[2 * i], dy = p[2 * j + 1] - p[2 * i + 1];
        float l = sqrtf(dx * dx + dy * dy);
        if (dashed) {
            /* dashes of 6 px on, 4 off along the outline */
            float t = 0;
            while (t < l) {
                float phase = fmodf(run + t, 10.0f);
                float step = phase < 6 ? 6 - phase : 10 - phase;
                if (step > l - t)
                    step = l - t;
                if (phase < 6)
                    seg(b, p[2 * i] + dx * t / l, p[2 * i + 1] + dy * t / l,
                        p[2 * i] + dx * (t + step) / l, p[2 * i + 1] + dy * (t + step) / l, width, c);
                t += step;
            }
            run += l;
        } else
            seg(b, p[2 * i], p[2 * i + 1], p[2 * j], p[2 * j + 1], width, c);
    }
}

/* ==== Text ==== */

static const char *font_file(int which)
{
    static const char *names[F_COUNT][3] = {
        {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
         "/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf"},
        {"/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
         "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"},
        {"/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
         "/usr/share/fonts/TTF/DejaVuSansMono.ttf", "/usr/share/fonts/dejavu/DejaVuSansMono.ttf"},
    };
    const char *env = getenv("BACKSTEP_FONT");
    if (env && *env && which != F_MONO)
        return env;
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen(names[which][i], "rb");
        if (f) {
            fclose(f);
            return names[which][i];
        }
    }
    /* any of the others will do */
    for (int o = 0; o < F_COUNT; o++)
        for (int i = 0; i < 3; i++) {
            FILE *f = fopen(names[o][i], "rb");
            if (f) {
                fclose(f);
                return names[o][i];
            }
        }
    return NULL;
}

/* Text goes through a glyph atlas: each glyph (font, pixel size, code point) is rendered once
 * by SDL_ttf in white into one texture; a string becomes textured quads, tinted by vertex
 * colour, and all text of a pass is one draw call. Changing values then costs no new textures. */

static void atlas_reset(bs_window *w)
{
    memset(w->glyphs, 0, sizeof w->glyphs);
    w->nglyphs = 0;
    w->shelf_x = w->shelf_y = w->shelf_h = 0;
}

static uint32_t utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t cp = *s++;
    if (cp >= 0xF0 && s[0] && s[1] && s[2]) {
        cp = (cp & 7) << 18 | (uint32_t)(s[0] & 63) << 12 | (uint32_t)(s[1] & 63) << 6 | (s[2] & 63);
        s += 3;
    } else if (cp >= 0xE0 && s[0] && s[1]) {
        cp = (cp & 15) << 12 | (uint32_t)(s[0] & 63) << 6 | (s[1] & 63);
        s += 2;
    } else if (cp >= 0xC0 && s[0]) {
        cp = (cp & 31) << 6 | (s[0] & 63);
        s += 1;
    }
    *p = s;
    return cp;
}

static void flush_text(bs_window *w)
{
    if (w->txt.n && w->atlas)
        SDL_RenderGeometry(w->ren, w->atlas, w->txt.v, w->txt.n, NULL, 0);
    w->txt.n = 0;
}

/* the atlas slot of a glyph, rendering it on first use; NULL without a font or room */
static glyph *glyph_of(bs_window *w, int f, int px, uint32_t cp)
{
    if (!w->font[f] || !w->atlas)
        return NULL;
    uint32_t key = cp << 10 | (uint32_t)f << 8 | (uint32_t)(px & 255);
    unsigned h = (key * 2654435761u) % GLYPHS;
    while (w->glyphs[h].used && w->glyphs[h].key != key)
        h = (h + 1) % GLYPHS;
    glyph *g = &w->glyphs[h];
    if (g->used)
        return g;
    if (w->nglyphs * 4 >= GLYPHS * 3) {   /* table full: start over (after drawing what uses it) */
        flush_text(w);
        atlas_reset(w);
        return glyph_of(w, f, px, cp);
    }
    if (w->font_px[f] != px) {
        TTF_SetFontSize(w->font[f], px);
        w->font_px[f] = px;
    }
    char one[5] = {0};
    if (cp < 0x80)
        one[0] = (char)cp;
    else if (cp < 0x800)
        one[0] = (char)(0xC0 | cp >> 6), one[1] = (char)(0x80 | (cp & 63));
    else if (cp < 0x10000)
        one[0] = (char)(0xE0 | cp >> 12), one[1] = (char)(0x80 | (cp >> 6 & 63)),
        one[2] = (char)(0x80 | (cp & 63));
    else
        one[0] = '?';
    SDL_Color white = {255, 255, 255, 255};
    SDL_Surface *surf = cp == ' ' ? NULL : TTF_RenderUTF8_Blended(w->font[f], one, white);
    int gw = 0, gh = TTF_FontHeight(w->font[f]);
    int minx, maxx, miny, maxy;
    if (TTF_GlyphMetrics32(w->font[f], cp, &minx, &maxx, &miny, &maxy, &gw) != 0)
        TTF_SizeUTF8(w->font[f], one, &gw, NULL);
    if (surf && (surf->w + 2 > ATLAS || surf->h + 2 > ATLAS)) {
        SDL_FreeSurface(surf);
        surf = NULL;
    }
    if (surf) {
        /* shelf packing with a 1-pixel gutter (linear filtering must not bleed) */
        if (w->shelf_x + surf->w + 2 > ATLAS) {
            w->shelf_x = 0;
            w->shelf_y += w->shelf_h;
            w->shelf_h = 0;
        }
        if (w->shelf_y + surf->h + 2 > ATLAS) {
            SDL_FreeSurface(surf);
            flush_text(w);
            atlas_reset(w);
            return glyph_of(w, f, px, cp);
        }
        SDL_Rect r = {w->shelf_x + 1, w->shelf_y + 1, surf->w, surf->h};
        SDL_Surface *conv = SDL_ConvertSurfaceFormat(surf, SDL_PIXELFORMAT_ARGB8888, 0);
        if (conv) {
            SDL_UpdateTexture(w->atlas, &r, conv->pixels, conv->pitch);
            SDL_FreeSurface(conv);
        }
        g->x = (int16_t)r.x;
        g->y = (int16_t)r.y;
        g->w = (int16_t)surf->w;
        g->h = (int16_t)surf->h;
        w->shelf_x += surf->w + 2;
        if (surf->h + 2 > w->shelf_h)
            w->shelf_h = surf->h + 2;
        SDL_FreeSurface(surf);
    } else {
        g->w = 0;
        g->h = (int16_t)gh;
    }
    g->key = key;
    g->used = true;
    g->advance = (int16_t)gw;
    w->nglyphs++;
    return g;
}

/* width in pixels of s in font f at px */
static float text_width(bs_window *w, int f, int px, const char *s)
{
    float tw = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        glyph *g = glyph_of(w, f, px, utf8_next(&p));
        if (g)
            tw += g->advance;
    }
    return tw;
}

/* draw text with its left edge at x (align 0), centre (1) or right edge (2), vertically centred
 * on cy; shrinks it to fit max_w when max_w > 0. Returns the drawn width. Queued: it appears
 * at the next flush_text (or flush). */
static float text_at(bs_window *w, int f, float pt_px, SDL_Color c, const char *s, float x, float cy,
                     int align, float max_w)
{
    int px = (int)lroundf(pt_px);
    if (!w->font[f] || !*s || px < 4 || px > 200)
        return 0;
    float tw = text_width(w, f, px, s);
    float scale = max_w > 0 && tw > max_w ? max_w / tw : 1;
    float left = align == 0 ? x : align == 1 ? x - tw * scale / 2 : x - tw * scale;
    float th = (float)TTF_FontHeight(w->font[f]) * scale;
    float top = cy - th / 2;
    if (scale == 1) {   /* whole pixels: crisp glyphs */
        left = roundf(left);
        top = roundf(top);
    }
    float pen = left;
    float iw = 1.0f / ATLAS;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        glyph *g = glyph_of(w, f, px, utf8_next(&p));
        if (!g)
            continue;
        if (g->w > 0 && tri_reserve(&w->txt, 6)) {
            float x0 = pen, y0 = top, x1 = pen + g->w * scale, y1 = top + g->h * scale;
            float u0 = g->x * iw, v0 = g->y * iw, u1 = (g->x + g->w) * iw, v1 = (g->y + g->h) * iw;
            SDL_Vertex *v = w->txt.v + w->txt.n;
            float P[6][4] = {{x0, y0, u0, v0}, {x1, y0, u1, v0}, {x1, y1, u1, v1},
                             {x0, y0, u0, v0}, {x1, y1, u1, v1}, {x0, y1, u0, v1}};
            for (int i = 0; i < 6; i++) {
                v[i].position.x = P[i][0];
                v[i].position.y = P[i][1];
                v[i].tex_coord.x = P[i][2];
                v[i].tex_coord.y = P[i][3];
                v[i].color = c;
            }
            w->txt.n += 6;
        }
        pen += g->advance * scale;
    }
    return tw * scale;
}

/* ==== Drawing the graph ==== */

/* cells (opaque) into b, the frame (anti-aliased) into lines */
static void draw_heat(batch *b, batch *lines, const bs_heat *h, float x, float y, float cell,
                      bs_rgb frame)
{
    for (int i = 0; i < h->rows; i++)
        for (int j = 0; j < h->cols; j++)
            quad(b, x + (float)j * cell, y + (float)i * cell, x + (float)(j + 1) * cell,
                 y + (float)(i + 1) * cell, col(viz_heat_color(h, h->v[i * h->cols + j]), 255));
    float W = cell * (float)h->cols, H = cell * (float)h->rows;
    SDL_Color fc = col(frame, 255);
    b = lines;
    seg(b, x, y, x + W, y, 1, fc);
    seg(b, x, y + H, x + W, y + H, 1, fc);
    seg(b, x, y, x, y + H, 1, fc);
    seg(b, x + W, y, x + W, y + H, 1, fc);
}

static void draw_edges(bs_window *w)
{
    const bs_view *v = w->view;
    const bs_layout *l = w->layout;
    float pts[2 * 128];
    for (int k = 0; k < v->nedges && k < l->nedges; k++) {
        const bs_view_edge *e = &v->edges[k];
        const bs_layout_edge *le = &l->edges[k];
        SDL_Color c = col(e->color, 255);
        float width = e->width * w->zoom;
        width = width < 1.2f ? 1.2f : width > 8 ? 8 : width;
        /* sample the Bézier pieces, about every 8 pixels */
        int n = 0;
        for (int s = 0; s + 3 < le->npts && n + 2 * 13 <= (int)(sizeof pts / sizeof pts[0]); s += 3) {
            const float *p = le->pts + 2 * s;
            float span = (fabsf(p[2] - p[0]) + fabsf(p[3] - p[1]) + fabsf(p[4] - p[2]) +
                          fabsf(p[5] - p[3]) + fabsf(p[6] - p[4]) + fabsf(p[7] - p[5])) * w->zoom;
            int steps = (int)(span / 8);
            steps = steps < 2 ? 2 : steps > 12 ? 12 : steps;
            if (!(e->flags & BS_VEF_COPY)) {
                /* solid: no more pieces than keep within SHAPE_TOL pixels of the curve (n pieces
                   of a cubic stray at most 3/4 D / n^2, D its largest second difference); the
                   dashes of a copy follow the pieces, so those keep theirs */
                float d1x = p[0] - 2 * p[2] + p[4], d1y = p[1] - 2 * p[3] + p[5];
                float d2x = p[2] - 2 * p[4] + p[6], d2y = p[3] - 2 * p[5] + p[7];
                float d = sqrtf(fmaxf(d1x * d1x + d1y * d1y, d2x * d2x + d2y * d2y)) * w->zoom;
                int flat = (int)ceilf(sqrtf(0.75f * d / SHAPE_TOL));
                flat = flat < 1 ? 1 : flat;
                steps = flat < steps ? flat : steps;
            }
            for (int i = s == 0 ? 0 : 1; i <= steps; i++) {
                float tt = (float)i / (float)steps, u = 1 - tt;
                float a = u * u * u, bb = 3 * u * u * tt, cc = 3 * u * tt * tt, d = tt * tt * tt;
                float gx = a * p[0] + bb * p[2] + cc * p[4] + d * p[6];
                float gy = a * p[1] + bb * p[3] + cc * p[5] + d * p[7];
                to_screen(w, gx, gy, &pts[n], &pts[n + 1]);
                n += 2;
            }
        }
        bool dashed = e->flags & BS_VEF_COPY;
        float run = 0;
        for (int i = 0; i + 3 < n; i += 2) {
            float x0 = pts[i], y0 = pts[i + 1], x1 = pts[i + 2], y1 = pts[i + 3];
            float sl = sqrtf((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0));
            if (!dashed || fmodf(run, 12.0f) < 7.0f)
                seg(&w->tri, x0, y0, x1, y1, width, c);
            run += sl;
        }
        if (le->arrow && n >= 2) {
            float ex = pts[n - 2], ey = pts[n - 1], ax, ay;
            to_screen(w, le->ax, le->ay, &ax, &ay);
            float dx = ax - ex, dy = ay - ey, dl = sqrtf(dx * dx + dy * dy);
            if (dl > 0.5f) {
                float hw = dl * 0.45f + width * 0.5f;
                float nx = -dy / dl * hw, ny = dx / dl * hw;
                if (dashed) {   /* an open arrowhead for copies */
                    seg(&w->tri, ex + nx, ey + ny, ax, ay, width, c);
                    seg(&w->tri, ex - nx, ey - ny, ax, ay, width, c);
                } else {
                    tri(&w->tri, ex + nx, ey + ny, ax, ay, ex - nx, ey - ny, c);
                    seg(&w->tri, ex + nx, ey + ny, ax, ay, 1, c);   /* soft sides */
                    seg(&w->tri, ex - nx, ey - ny, ax, ay, 1, c);
                }
            }
        }
    }
}

/* open groups: a tinted rounded box behind their members, the name in its top band */
static void draw_clusters(bs_window *w)
{
    const bs_theme *t = bs_theme_get();
    const bs_layout *l = w->layout;
    float p[2 * 100];
    for (int k = 0; k < l->nclusters && k < w->view->nclusters; k++) {
        const bs_layout_node *c = &l->clusters[k];
        float x, y;
        to_screen(w, c->x, c->y, &x, &y);
        float wd = c->w * w->zoom, ht = c->h * w->zoom;
        int n = shape_points(x, y, wd, ht, 9 * w->zoom, false, p, 100);
        fill_shape(&w->tri, x, y, p, n, col(t->cluster_fill, 255));
        stroke_shape(&w->tri, p, n, 1.5f, false, col(t->cluster_border, 255));
    }
    flush(w);
    float sfs = (float)t->small_font_size * w->zoom;
    if (sfs < 6)
        return;
    for (int k = 0; k < l->nclusters && k < w->view->nclusters; k++) {
        const bs_layout_node *c = &l->clusters[k];
        float x, y;
        to_screen(w, c->x - c->w / 2 + 8, c->y - c->h / 2 + 9, &x, &y);
        text_at(w, F_BOLD, sfs, col(t->group_border, 255), w->view->clusters[k].title, x, y, 0,
                c->w * w->zoom - 16);
    }
    flush(w);
}

static void node_rect(const bs_window *w, int k, float *x, float *y, float *wd, float *ht)
{
    const bs_layout_node *ln = &w->layout->nodes[k];
    to_screen(w, ln->x, ln->y, x, y);
    *wd = ln->w * w->zoom;
    *ht = ln->h * w->zoom;
}

static void draw_node_shapes(bs_window *w)
{
    const bs_theme *t = bs_theme_get();
    const bs_view *v = w->view;
    float p[2 * 100];
    int W, H;
    SDL_GetRendererOutputSize(w->ren, &W, &H);
    for (int k = 0; k < v->nnodes; k++) {
        const bs_view_node *vn = &v->nodes[k];
        float x, y, wd, ht;
        node_rect(w, k, &x, &y, &wd, &ht);
        if (x + wd < -20 || x - wd > W + 20 || y + ht < -20 || y - ht > H + 20)
            continue;
        bool ell = vn->kind == BS_VN_CONST;
        float r = 7 * w->zoom;
        /* highlight rings under the node: current step (orange glow), selected (violet) */
        if (vn->flags & BS_VNF_CURRENT) {
            int n = shape_points(x, y, wd + 14 * w->zoom + 6, ht + 14 * w->zoom + 6, r + 7 * w->zoom, ell, p, 100);
            fill_shape(&w->tri, x, y, p, n, col(t->current_border, 90));
        }
        if (vn->id == w->selected) {
            int n = shape_points(x, y, wd + 8 * w->zoom + 4, ht + 8 * w->zoom + 4, r + 4 * w->zoom, ell, p, 100);
            stroke_shape(&w->strk, p, n, 3, false, col(t->selected_border, 255));
        }
        int n = shape_points(x, y, wd, ht, r, ell, p, 100);
        fill_shape(&w->fill, x, y, p, n, col(vn->fill, 255));
        float bw = (vn->flags & BS_VNF_CURRENT) ? 4.0f
                   : (vn->kind == BS_VN_PARAM || (vn->flags & (BS_VNF_ROOT | BS_VNF_SELECTED))) ? 2.5f
                                                                                                  : 1.5f;
        bw *= w->zoom;
        bw = bw < 1 ? 1 : bw > 6 ? 6 : bw;
        stroke_shape(&w->strk, p, n, bw, (vn->flags & (BS_VNF_DETACHED | BS_VNF_NO_GRAD)) != 0,
                     col(vn->border, 255));
        if (vn->kind == BS_VN_GROUP) { /* a box of boxes: a second outline inside */
            int m = shape_points(x, y, wd - 8 * w->zoom, ht - 8 * w->zoom, r * 0.7f, false, p, 100);
            stroke_shape(&w->strk, p, m, bw * 0.7f < 1 ? 1 : bw * 0.7f, false, col(vn->border, 255));
        }
        /* heatmaps at the right, vertically centred */
        if (vn->heat && !ell) {
            float cell = viz_heat_cell(vn->heat) * w->zoom;
            float hw = cell * (float)vn->heat->cols, hh = cell * (float)vn->heat->rows;
            bool two = (vn->flags & BS_VNF_REQ_GRAD) != 0;
            float right = x + wd / 2 - VIZ_PAD * w->zoom;
            float gx = right - hw, vx = two ? gx - VIZ_HEAT_GAP * w->zoom - hw : gx;
            bs_rgb frame = (vn->flags & BS_VNF_PENDING) ? t->pending_border : t->ink_muted;
            draw_heat(&w->fill, &w->strk, vn->heat, vx, y - hh / 2, cell, frame);
            if (two) {
                if (vn->gheat)
                    draw_heat(&w->fill, &w->strk, vn->gheat, gx, y - hh / 2, cell, t->grad_ink);
                else   /* grad not known yet: an empty frame */
                    draw_heat(&w->fill, &w->strk, &(bs_heat){vn->heat->rows, vn->heat->cols, 0, {0}}, gx,
                              y - hh / 2, cell, t->pending_border);
            }
        }
    }
}

static void draw_node_texts(bs_window *w)
{
    const bs_theme *t = bs_theme_get();
    const bs_view *v = w->view;
    float fs = (float)t->font_size * w->zoom, sfs = (float)t->small_font_size * w->zoom;
    if (fs < 5)
        return;   /* too small to read: shapes only */
    int W, H;
    SDL_GetRendererOutputSize(w->ren, &W, &H);
    for (int k = 0; k < v->nnodes; k++) {
        const bs_view_node *vn = &v->nodes[k];
        float x, y, wd, ht;
        node_rect(w, k, &x, &y, &wd, &ht);
        if (x + wd < 0 || x - wd > W || y + ht < 0 || y - ht > H)
            continue;
        bool pending = vn->flags & BS_VNF_PENDING;
        if (vn->kind == BS_VN_CONST) {
            text_at(w, F_REGULAR, sfs, col(vn->ink, 255), vn->title, x, y, 1, wd - 4);
            continue;
        }
        /* text column: left part of the box (heatmaps take the right part) */
        float pad = VIZ_PAD * w->zoom;
        float text_w = wd - 2 * pad;
        if (vn->heat) {
            float cell = viz_heat_cell(vn->heat) * w->zoom;
            int maps = (vn->flags & BS_VNF_REQ_GRAD) ? 2 : 1;
            text_w -= VIZ_HEAT_GAP * w->zoom * (float)maps + cell * (float)vn->heat->cols * (float)maps;
        }
        float left = x - wd / 2 + pad;
        bool grad_line = (vn->flags & BS_VNF_REQ_GRAD) != 0;
        char line2[128];
        snprintf(line2, sizeof line2, "%s%s%s", vn->shape, *vn->shape && *vn->tag ? "  " : "", vn->tag);
        /* the lines present, centred in the box (its size reserves room for all of them) */
        int lines = (*line2 ? 1 : 0) + 1 + (grad_line ? 1 : 0);
        float block = fs * VIZ_LINE + (float)lines * sfs * VIZ_LINE;
        float ty = y - block / 2 + fs * VIZ_LINE / 2;
        float cx = vn->heat ? left : x;
        int align = vn->heat ? 0 : 1;
        text_at(w, F_BOLD, fs, col(vn->ink, 255), vn->title, cx, ty, align, text_w);
        ty += fs * VIZ_LINE / 2 + sfs * VIZ_LINE / 2;
        if (sfs < 5)
            continue;
        if (*line2) {
            text_at(w, F_REGULAR, sfs, col(pending ? t->pending_ink : t->ink_muted, 255), line2, cx,
                    ty, align, text_w);
            ty += sfs * VIZ_LINE;
        }
        text_at(w, F_REGULAR, sfs, col(pending ? t->pending_ink : t->value_ink, 255), vn->value, cx,
                ty, align, text_w);
        ty += sfs * VIZ_LINE;
        if (grad_line && *vn->grad)
            text_at(w, F_REGULAR, sfs, col(t->grad_ink, 255), vn->grad, cx, ty, align, text_w);
    }
}

/* the stepper's labels on edges: a box at the middle of the curve */
static void draw_edge_labels(bs_window *w)
{
    const bs_theme *t = bs_theme_get();
    const bs_view *v = w->view;
    /* with room from the layout, exactly its size; else readable whatever the zoom */
    float sfs = w->layout->labels ? (float)t->small_font_size * w->zoom
                                  : (float)t->small_font_size * (w->zoom < 1.0f ? 1.0f : w->zoom > 1.6f ? 1.6f : w->zoom);
    if (sfs < 6)
        sfs = 6;
    int px = (int)lroundf(sfs);
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < v->nedges && k < w->layout->nedges; k++) {
            const bs_view_edge *e = &v->edges[k];
            if (!*e->label)
                continue;
            float x, y;
            to_screen(w, w->layout->edges[k].lx, w->layout->edges[k].ly, &x, &y);
            float tw = text_width(w, F_BOLD, px, e->label), th = (float)px * 1.2f;
            float nx, ny, nw, nh;
            if (w->layout->labels)
                goto place; /* dot placed it, off every node */
            /* keep the box off the node it leaves if it can, and off the node it enters (the
               stepper's current node) in any case */
            node_rect(w, e->from, &nx, &ny, &nw, &nh);
            if (x - (float)tw / 2 - 8 < nx + nw / 2)
                x = nx + nw / 2 + (float)tw / 2 + 8;
            node_rect(w, e->to, &nx, &ny, &nw, &nh);
            if (x + (float)tw / 2 + 8 > nx - nw / 2 - (e->flags & BS_VEF_STEP ? 6 * w->zoom : 0))
                x = nx - nw / 2 - (float)tw / 2 - 8 - (e->flags & BS_VEF_STEP ? 6 * w->zoom : 0);
        place:
            x = roundf(x);
            y = roundf(y);
            float maxw = 0; /* with room from the layout: the text is shrunk to that room */
            if (w->layout->labels) {
                float room = viz_text_width((v->nodes[e->from].flags & BS_VNF_TENSOR) ? VIZ_LABEL_TENSOR
                                                                                     : VIZ_LABEL_SCALAR,
                                            (float)t->small_font_size) * w->zoom;
                if (tw > room) {
                    tw = room;
                    maxw = room;
                }
            }
            if (pass == 0) {
                float p[2 * 40];
                int n = shape_points(x, y, tw + 12, th + 6, 5, false, p, 40);
                fill_shape(&w->tri, x, y, p, n, col(t->edge_label_fill, 240));
                stroke_shape(&w->tri, p, n, 1.5f, false, col(t->edge_step, 255));
            } else
                text_at(w, F_BOLD, sfs, col(t->grad_ink, 255), e->label, x, y, 1, maxw);
        }
        if (pass == 0)
            flush(w);
    }
}

/* ==== Panels ==== */

static void panel_box(bs_window *w, float x, float y, float wd, float ht)
{
    const bs_theme *t = bs_theme_get();
    quad(&w->tri, x, y, x + wd, y + ht, col(t->panel, 255));
    seg(&w->tri, x, y, x + wd, y, 1, col(t->panel_border, 255));
    seg(&w->tri, x, y + ht, x + wd, y + ht, 1, col(t->panel_border, 255));
    seg(&w->tri, x, y, x, y + ht, 1, col(t->panel_border, 255));
    seg(&w->tri, x + wd, y, x + wd, y + ht, 1, col(t->panel_border, 255));
}

static void draw_details(bs_window *w)
{
    const bs_theme *t = bs_theme_get();
    int k = w->selected == BS_NONE ? -1 : bs_view_find(w->view, w->selected);
    if (k < 0)
        return;
    const bs_view_node *vn = &w->view->nodes[k];
    int W, H;
    SDL_GetRendererOutputSize(w->ren, &W, &H);
    float x = (float)(W - PANEL_W), y = TOP_BAR, ht = (float)(H - TOP_BAR - BOTTOM_BAR);
    panel_box(w, x, y, PANEL_W, ht);
    const float u = UI;
    /* a colour chip of the node's kind, then the text */
    quad(&w->tri, x + 12 * u, y + 14 * u, x + 28 * u, y + 30 * u, col(vn->fill, 255));
    float heat_y = y;
    flush(w);
    text_at(w, F_BOLD, 18 * u, col(t->ink, 255), vn->title, x + 36 * u, y + 22 * u, 0, PANEL_W - 48 * u);
    float ly = y + 50 * u;
    const char *s = vn->detail;
    char line[256];
    int lineno = 0;
    while (*s && ly < y + ht - 12) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n >= sizeof line)
            n = sizeof line - 1;
        memcpy(line, s, n);
        line[n] = 0;
        s += n + (e ? 1 : 0);
        if (lineno++ == 0)
            continue;   /* the title line is drawn above */
        bool head = !strcmp(line, "value") || !strcmp(line, "grad") || !strncmp(line, "grad ", 5);
        SDL_Color c = col(head ? t->ink : !strncmp(line, "  ", 2) ? t->value_ink : t->ink_muted, 255);
        text_at(w, head ? F_BOLD : F_MONO, 14 * u, c, line, x + 14, ly, 0, PANEL_W - 28);
        ly += 20 * u;
    }
    heat_y = ly + 10;
    /* bigger heatmaps of value and grad */
    if (vn->heat && heat_y + 60 < y + ht) {
        float cell = 150.0f / (float)(vn->heat->cols > vn->heat->rows ? vn->heat->cols : vn->heat->rows);
        if (cell > 24)
            cell = 24;
        draw_heat(&w->tri, &w->tri, vn->heat, x + 14, heat_y + 20, cell, t->ink_muted);
        if (vn->gheat)
            draw_heat(&w->tri, &w->tri, vn->gheat, x + 14 + cell * (float)vn->heat->cols + 24, heat_y + 20,
                      cell, t->grad_ink);
        flush(w);
        text_at(w, F_REGULAR, 13 * u, col(t->ink_muted, 255), "value", x + 14, heat_y + 8, 0, 0);
        if (vn->gheat)
            text_at(w, F_REGULAR, 13 * u, col(t->grad_ink, 255), "grad",
                    x + 14 + cell * (float)vn->heat->cols + 24, heat_y + 8, 0, 0);
    }
}

static void draw_plot(bs_window *w)
{
    if (!w->plot || w->nplot < 1)
        return;
    const bs_theme *t = bs_theme_get();
    int W, H;
    SDL_GetRendererOutputSize(w->ren, &W, &H);
    float x = 12, y = (float)(H - BOTTOM_BAR - PLOT_H - 12);
    panel_box(w, x, y, PLOT_W, PLOT_H);
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < w->nplot; i++)
        if (isfinite(w->plot[i])) {
            lo = w->plot[i] < lo ? w->plot[i] : lo;
            hi = w->plot[i] > hi ? w->plot[i] : hi;
        }
    if (!(hi >= lo)) {
        lo = 0;
        hi = 1;
    }
    if (hi - lo < 1e-12) {
        hi += 0.5;
        lo -= 0.5;
    }
    float px0 = x + 56, px1 = x + PLOT_W - 14, py0 = y + 34, py1 = y + PLOT_H - 26;
    for (int g = 0; g <= 4; g++) {
        float gy = py0 + (py1 - py0) * (float)g / 4;
        seg(&w->tri, px0, gy, px1, gy, 1, col(t->plot_grid, 255));
    }
    seg(&w->tri, px0, py0, px0, py1, 1.5f, col(t->ink_muted, 255));
    seg(&w->tri, px0, py1, px1, py1, 1.5f, col(t->ink_muted, 255));
    float prevx = 0, prevy = 0;
    bool have = false;
    for (int i = 0; i < w->nplot; i++) {
        if (!isfinite(w->plot[i])) {
            have = false;
            continue;
        }
        float fx = px0 + (px1 - px0) * (w->nplot > 1 ? (float)i / (float)(w->nplot - 1) : 0.5f);
        float fy = py1 - (py1 - py0) * (float)((w->plot[i] - lo) / (hi - lo));
        if (have)
            seg(&w->tri, prevx, prevy, fx, fy, 2.5f, col(t->plot_line, 255));
        else if (w->nplot == 1)
            quad(&w->tri, fx - 3, fy - 3, fx + 3, fy + 3, col(t->plot_line, 255));
        prevx = fx, prevy = fy, have = true;
    }
    flush(w);
    char buf[128], a[32], b[32];
    snprintf(buf, sizeof buf, "%s   step %d: %s", w->plot_title, w->nplot,
             viz_num(w->plot[w->nplot - 1], a, sizeof a));
    text_at(w, F_BOLD, 14, col(t->ink, 255), buf, x + 12, y + 16, 0, PLOT_W - 24);
    text_at(w, F_REGULAR, 12, col(t->ink_muted, 255), viz_num(hi, a, sizeof a), px0 - 6, py0, 2, 0);
    text_at(w, F_REGULAR, 12, col(t->ink_muted, 255), viz_num(lo, b, sizeof b), px0 - 6, py1, 2, 0);
    text_at(w, F_REGULAR, 12, col(t->ink_muted, 255), "1", px0, py1 + 12, 1, 0);
    snprintf(buf, sizeof buf, "%d", w->nplot);
    text_at(w, F_REGULAR, 12, col(t->ink_muted, 255), buf, px1, py1 + 12, 1, 0);
}

static void draw_bars(bs_window *w)
{
    const bs_theme *t = bs_theme_get();
    int W, H;
    SDL_GetRendererOutputSize(w->ren, &W, &H);
    quad(&w->tri, 0, 0, (float)W, TOP_BAR, col(t->panel, 255));
    seg(&w->tri, 0, TOP_BAR, (float)W, TOP_BAR, 1, col(t->panel_border, 255));
    quad(&w->tri, 0, (float)(H - BOTTOM_BAR), (float)W, (float)H, col(t->panel, 255));
    seg(&w->tri, 0, (float)(H - BOTTOM_BAR), (float)W, (float)(H - BOTTOM_BAR), 1,
        col(t->panel_border, 255));
    /* gradient legend swatches, bottom right */
    const float u = UI;
    float lx = (float)W - 300 * u, ly = (float)H - BOTTOM_BAR / 2.0f;
    const double mags[3] = {bs_theme_get()->grad_vanish, 1, bs_theme_get()->grad_explode};
    for (int i = 0; i < 3; i++)
        quad(&w->tri, lx + (52 + (float)i * 84) * u, ly - 5 * u, lx + (74 + (float)i * 84) * u, ly + 5 * u,
             col(bs_theme_grad_color(mags[i]), 255));
    flush(w);

    char buf[256], nm[64];
    const bs_view *v = w->view;
    if (v && v->nnodes) {
        const char *root = "whole tape";
        int rk = v->root == BS_NONE ? -1 : bs_view_find(v, v->root);
        if (rk >= 0)
            root = *v->nodes[rk].name ? v->nodes[rk].name : v->nodes[rk].title;
        snprintf(nm, sizeof nm, "%s", root);
        int cur = -1, groups = 0, shown = v->nnodes - v->nrepeats; /* repeats are not new nodes */
        for (int k = 0; k < v->nnodes; k++) {
            if (v->nodes[k].flags & BS_VNF_CURRENT)
                cur = k;
            groups += k < shown && v->nodes[k].kind == BS_VN_GROUP;
        }
        if (*v->caption)
            snprintf(buf, sizeof buf, "graph of %s  \xc2\xb7  %d nodes  \xc2\xb7  %s", nm, shown,
                     v->caption);
        else if (cur >= 0 && *v->nodes[cur].name)
            snprintf(buf, sizeof buf, "graph of %s  \xc2\xb7  %d nodes  \xc2\xb7  stepping: %s", nm,
                     shown, v->nodes[cur].name);
        else if (cur >= 0) /* an unnamed node: the text that made it ("w11 * x1"), else its op */
            snprintf(buf, sizeof buf, "graph of %s  \xc2\xb7  %d nodes  \xc2\xb7  stepping: %s", nm,
                     shown, *v->nodes[cur].text ? v->nodes[cur].text : v->nodes[cur].title);
        else if (groups)
            snprintf(buf, sizeof buf, "graph of %s  \xc2\xb7  %d boxes for %d nodes (click a group to open it)%s%s",
                     nm, shown, shown - groups + (int)v->hidden,
                     v->freed ? "  \xc2\xb7  saved tensors freed by backward()" : "",
                     v->stepping ? "  \xc2\xb7  stepping" : "");
        else
            snprintf(buf, sizeof buf, "graph of %s  \xc2\xb7  %d nodes%s%s", nm, shown,
                     v->freed ? "  \xc2\xb7  saved tensors freed by backward()" : "",
                     v->stepping ? "  \xc2\xb7  stepping" : "");
    } else
        snprintf(buf, sizeof buf, "the graph is empty: type an expression in the REPL");
    text_at(w, F_BOLD, 16 * u, col(t->ink, 255), "backstep", 12 * u, TOP_BAR / 2.0f, 0, 0);
    text_at(w, F_REGULAR, 15 * u, col(t->ink, 255), buf, 104 * u, TOP_BAR / 2.0f, 0, (float)W - 120 * u);
    text_at(w, F_REGULAR, 13 * u, col(t->ink_muted, 255),
            "drag: pan   wheel: zoom   0: fit   click: details   n/space: next   b: back   f: finish",
            12 * u, ly, 0, (float)W - 330 * u);
    text_at(w, F_REGULAR, 13 * u, col(t->ink_muted, 255), "|grad|", lx, ly, 0, 0);
    char a[16], b[16];
    snprintf(buf, sizeof buf, "\xe2\x89\xa4%s", viz_num(mags[0], a, sizeof a));
    text_at(w, F_REGULAR, 12 * u, col(t->ink_muted, 255), buf, lx + 78 * u, ly, 0, 0);
    text_at(w, F_REGULAR, 12 * u, col(t->ink_muted, 255), "1", lx + 162 * u, ly, 0, 0);
    snprintf(buf, sizeof buf, "\xe2\x89\xa5%s", viz_num(mags[2], b, sizeof b));
    text_at(w, F_REGULAR, 12 * u, col(t->ink_muted, 255), buf, lx + 246 * u, ly, 0, 0);
}

static void draw(bs_window *w)
{
    const bs_theme *t = bs_theme_get();
    SDL_SetRenderDrawColor(w->ren, t->background.r, t->background.g, t->background.b, 255);
    SDL_RenderClear(w->ren);
    if (w->view && w->layout && w->view->nnodes) {
        draw_clusters(w);
        draw_edges(w);
        draw_node_shapes(w);
        flush(w);                          /* edges and glows */
        flush_batch(w, &w->fill, false);   /* node boxes and heat cells, opaque */
        flush_batch(w, &w->strk, true);    /* outlines */
        draw_node_texts(w);
        flush(w);
        draw_edge_labels(w);
    }
    draw_plot(w);
    draw_details(w);
    flush(w);
    draw_bars(w);
    flush(w);
    w->dirty = false;
}

/* ==== Camera ==== */

void bs_window_fit(bs_window *w)
{
    if (!w)
        return;
    w->user_moved = false;
    w->dirty = true;
    int ax, ay, aw, ah;
    area(w, &ax, &ay, &aw, &ah);
    if (!w->layout || w->layout->width <= 0 || w->layout->height <= 0) {
        w->zoom = 1;
        w->cam_x = w->cam_y = 0;
        return;
    }
    float margin = 24;
    float z = fminf(((float)aw - 2 * margin) / w->layout->width,
                    ((float)ah - 2 * margin) / w->layout->height);
    if (z > 2.0f)
        z = 2.0f;   /* small graphs: large, readable on a projector, not absurd */
    if (z < 0.02f)
        z = 0.02f;
    w->zoom = z;
    /* centre */
    w->cam_x = w->layout->width / 2 - ((float)aw / 2) / z;
    w->cam_y = w->layout->height / 2 - ((float)ah / 2) / z;
}

static void zoom_at(bs_window *w, float factor, float sx, float sy)
{
    float gx, gy;
    to_graph(w, sx, sy, &gx, &gy);
    float z = w->zoom * factor;
    if (z < 0.02f)
        z = 0.02f;
    if (z > 8)
        z = 8;
    w->zoom = z;
    w->cam_x = gx - sx / z;
    w->cam_y = gy - (sy - TOP_BAR) / z;
    w->user_moved = true;
    w->dirty = true;
}

static int hit(const bs_window *w, float sx, float sy)
{
    if (!w->view || !w->layout)
        return -1;
    float gx, gy;
    to_graph(w, sx, sy, &gx, &gy);
    for (int k = 0; k < w->layout->nnodes; k++) {
        const bs_layout_node *n = &w->layout->nodes[k];
        if (fabsf(gx - n->x) <= n->w / 2 && fabsf(gy - n->y) <= n->h / 2)
            return k;
    }
    return -1;
}

/* the open group whose title band (the top 18 points of its box) is at a screen point, or -1;
   the innermost wins */
static int hit_cluster_title(const bs_window *w, float sx, float sy)
{
    if (!w->view || !w->layout)
        return -1;
    float gx, gy;
    to_graph(w, sx, sy, &gx, &gy);
    for (int k = w->layout->nclusters - 1; k >= 0; k--) {
        const bs_layout_node *c = &w->layout->clusters[k];
        float top = c->y - c->h / 2;
        if (fabsf(gx - c->x) <= c->w / 2 && gy >= top && gy <= top + 18)
            return k;
    }
    return -1;
}

/* ==== Public API ==== */

bool bs_window_available(char *why, size_t len)
{
    if (why && len)
        why[0] = 0;
    return true;
}

bs_window *bs_window_open(char *err, size_t len)
{
    const char *drv = getenv("SDL_VIDEODRIVER");
    if (!(drv && *drv) && !getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY")) {
        viz_fail(BS_ERR_UNSUPPORTED, err, len, "no display (DISPLAY is not set): no graph window");
        return NULL;
    }
    if (!sdl_up) {
        SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");   /* Ctrl-C stays the REPL's */
        SDL_SetHint(SDL_HINT_VIDEO_X11_NET_WM_BYPASS_COMPOSITOR, "0");
        if (SDL_Init(SDL_INIT_VIDEO) != 0) {
            viz_fail(BS_ERR_UNSUPPORTED, err, len, "no graph window: %s", SDL_GetError());
            return NULL;
        }
        if (TTF_Init() != 0) {
            viz_fail(BS_ERR_UNSUPPORTED, err, len, "no graph window: SDL_ttf: %s", TTF_GetError());
            SDL_Quit();
            return NULL;
        }
        sdl_up = true;
    }
    bs_window *w = calloc(1, sizeof *w);
    if (!w) {
        viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
        return NULL;
    }
    w->selected = BS_NONE;
    w->zoom = 1;
    /* no multisampling: lines get soft edges from feathered triangles instead (seg), which
       costs nothing on software GL (llvmpipe, Xvfb) where 4x MSAA tripled the frame time */
    w->win = SDL_CreateWindow("backstep: graph", SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED,
                              1280, 800, SDL_WINDOW_RESIZABLE | SDL_WINDOW_SHOWN);
    if (!w->win) {
        viz_fail(BS_ERR_UNSUPPORTED, err, len, "no graph window: %s", SDL_GetError());
        bs_window_close(w);
        return NULL;
    }
    w->ren = SDL_CreateRenderer(w->win, -1, SDL_RENDERER_ACCELERATED);
    if (!w->ren)
        w->ren = SDL_CreateRenderer(w->win, -1, SDL_RENDERER_SOFTWARE);
    if (!w->ren) {
        viz_fail(BS_ERR_UNSUPPORTED, err, len, "no graph window: %s", SDL_GetError());
        bs_window_close(w);
        return NULL;
    }
    SDL_RendererInfo info;
    if (SDL_GetRendererInfo(w->ren, &info) == 0)
        snprintf(w->renderer_name, sizeof w->renderer_name, "%s", info.name);
    SDL_SetRenderDrawBlendMode(w->ren, SDL_BLENDMODE_BLEND);
    w->atlas = SDL_CreateTexture(w->ren, SDL_PIXELFORMAT_ARGB8888, SDL_TEXTUREACCESS_STATIC, ATLAS,
                                 ATLAS);
    if (w->atlas) {
        /* start transparent, blend by alpha, filter smoothly for shrunk text */
        uint32_t *zero = calloc((size_t)ATLAS * ATLAS, 4);
        if (zero) {
            SDL_UpdateTexture(w->atlas, NULL, zero, ATLAS * 4);
            free(zero);
        }
        SDL_SetTextureBlendMode(w->atlas, SDL_BLENDMODE_BLEND);
        SDL_SetTextureScaleMode(w->atlas, SDL_ScaleModeLinear);
    }
    for (int f = 0; f < F_COUNT; f++) {
        const char *path = font_file(f);
        w->font[f] = path ? TTF_OpenFont(path, 14) : NULL;
        w->font_px[f] = 14;
        if (w->font[f])
            TTF_SetFontHinting(w->font[f], TTF_HINTING_LIGHT);
    }
    w->dirty = true;
    return w;
}

void bs_window_close(bs_window *w)
{
    if (!w)
        return;
    if (w->atlas)
        SDL_DestroyTexture(w->atlas);
    for (int f = 0; f < F_COUNT; f++)
        if (w->font[f])
            TTF_CloseFont(w->font[f]);
    if (w->ren)
        SDL_DestroyRenderer(w->ren);
    if (w->win)
        SDL_DestroyWindow(w->win);
    bs_view_free(w->view);
    bs_layout_free(w->layout);
    free(w->plot);
    free(w->tri.v);
    free(w->fill.v);
    free(w->strk.v);
    free(w->txt.v);
    free(w);
    if (sdl_up) {
        TTF_Quit();
        SDL_Quit();
        sdl_up = false;
    }
}

static double area_aspect(const bs_window *w)
{
    int ax, ay, aw, ah;
    area(w, &ax, &ay, &aw, &ah);
    return ah > 0 ? (double)aw / (double)ah : 0;
}

/* does the layout still fit the view, the window's shape and the stepping labels? */
static bool layout_fits(const bs_window *w, const bs_view *v)
{
    return w->layout && w->layout->structure == v->structure &&
           w->layout->labels == v->stepping && w->layout->tb == bs_viz_prefer_tb(v, area_aspect(w));
}

/* ==== Appended nodes: a quick placement now, Graphviz's layout at the next idle pump ==== */

/* A statement that appends a few nodes to a graph already laid out (the usual case in the REPL)
 * is drawn at once without Graphviz: the old nodes and edges stay where the old layout put them,
 * the new nodes go in new ranks beyond the old bounding box in the layout direction (so no new box
 * overlaps any old one), each rank one past its inputs' ranks, near its inputs across the ranks,
 * and their edges are plain curves. Graphviz's layout of the whole view replaces this at the next
 * pump that has nothing else to draw (settle()): the picture then is exactly a full layout's.
 * Only for graphs big enough for Graphviz to take a while, without stepping labels and open
 * groups (both need Graphviz's placement), when every old node keeps its size and every repeated
 * source of the old view is still there; NULL otherwise (and on out of memory): lay out now. */
#define QUICK_MAX_NEW 32
#define QUICK_MIN_NODES 100  /* below, Graphviz takes a few ms (52 nodes: 1.5 ms) and laying out
                                at once costs less in all than a quick frame and a second redraw */
#define QUICK_RANKSEP 21.6f  /* gv.c's ranksep 0.3 and nodesep 0.2 inches, in points */
#define QUICK_NODESEP 14.4f
#define QUICK_ARROW 7.0f     /* arrowsize 0.7: the head's length, points */

static void quick_edge(bs_layout_edge *le, const bs_layout_node *a, const bs_layout_node *b, bool tb,
                       float shift)
{
    /* from the tail's far side to the head's near side, leaving the arrowhead's length; shift:
       across, for the second of two edges between the same nodes (x * x) */
    float x0 = tb ? a->x + shift : a->x + a->w / 2, y0 = tb ? a->y + a->h / 2 : a->y + shift;
    float tx = tb ? b->x + shift : b->x - b->w / 2, ty = tb ? b->y - b->h / 2 : b->y + shift;
    float x3 = tb ? tx : tx - QUICK_ARROW, y3 = tb ? ty - QUICK_ARROW : ty;
    float mx = (x0 + x3) / 2, my = (y0 + y3) / 2;
    float p[8] = {x0, y0, tb ? x0 : mx, tb ? my : y0, tb ? x3 : mx, tb ? my : y3, x3, y3};
    memcpy(le->pts, p, sizeof p);
    le->npts = 4;
    le->arrow = true;
    le->ax = tx;
    le->ay = ty;
    float t = 0.4f, u = 1 - t; /* the label anchor, 40% along as gv.c puts it */
    float k0 = u * u * u, k1 = 3 * u * u * t, k2 = 3 * u * t * t, k3 = t * t * t;
    le->lx = k0 * p[0] + k1 * p[2] + k2 * p[4] + k3 * p[6];
    le->ly = k0 * p[1] + k1 * p[3] + k2 * p[5] + k3 * p[7];
}

static bs_layout *quick_layout(const bs_view *ov, const bs_layout *ol, const bs_view *v, bool tb)
{
    if (!ov || !ol || ol->tb != tb || ol->labels || v->stepping || v->nnodes < QUICK_MIN_NODES ||
        ol->nnodes != ov->nnodes || ol->nedges != ov->nedges || v->nnodes <= ov->nnodes ||
        v->nnodes - ov->nnodes > QUICK_MAX_NEW || v->nclusters || ov->nclusters ||
        v->nrepeats < ov->nrepeats || v->nnodes > BS_VIZ_MAX_LAYOUT ||
        bs_viz_layout_cost(v) > BS_VIZ_MAX_COST)
        return NULL;
    for (int k = 0; k < v->nedges; k++)
        if (*v->edges[k].label)
            return NULL;
    int n = v->nnodes, on = ov->nnodes;
    int *old = malloc((size_t)n * sizeof *old);        /* new index -> old index, -1: new */
    int *rank = calloc((size_t)n, sizeof *rank);       /* new nodes: 1.., old: 0 */
    int *first = malloc((size_t)(on + 1) * sizeof *first); /* old node -> its first old edge */
    bs_layout *l = calloc(1, sizeof *l);
    if (l) {
        l->nodes = calloc((size_t)n, sizeof *l->nodes);
        l->edges = calloc((size_t)(v->nedges ? v->nedges : 1), sizeof *l->edges);
    }
    bool ok = old && rank && first && l && l->nodes && l->edges;
    /* both views list nodes by id ascending, then their repeats: match the nodes in one walk,
       a repeat by its id and the node it feeds (its consumer's id) */
    int matched = 0, nr = n - v->nrepeats, onr = on - ov->nrepeats;
    int *feeds = malloc((size_t)(n + on + 1) * sizeof *feeds); /* repeats: the consumer's id */
    ok = ok && feeds;
    if (ok) {
        for (int i = 0; i < n + on; i++)
            feeds[i] = -1;
        for (int e = 0; e < v->nedges; e++)
            if (v->edges[e].from >= nr)
                feeds[v->edges[e].from] = v->nodes[v->edges[e].to].id;
        for (int e = 0; e < ov->nedges; e++)
            if (ov->edges[e].from >= onr)
                feeds[n + ov->edges[e].from] = ov->nodes[ov->edges[e].to].id;
    }
    for (int k = 0, j = 0; ok && k < n; k++) {
        if (k < nr) {
            while (j < onr && ov->nodes[j].id < v->nodes[k].id)
                j++;
            old[k] = j < onr && ov->nodes[j].id == v->nodes[k].id ? j : -1;
        } else {
            old[k] = -1;
            for (int r = onr; r < on && old[k] < 0; r++)
                if (ov->nodes[r].id == v->nodes[k].id && feeds[n + r] == feeds[k])
                    old[k] = r;
        }
        if (old[k] >= 0) {
            matched++;
            const bs_view_node *a = &ov->nodes[old[k]], *b = &v->nodes[k];
            if (a->width != b->width || a->height != b->height || a->kind != b->kind)
                ok = false;
        }
    }
    ok = ok && matched == on;
    if (ok) { /* old edges are ordered by (to, slot): each node's inputs are one run */
        for (int j = 0; j <= on; j++)
            first[j] = -1;
        for (int e = ov->nedges - 1; e >= 0; e--)
            first[ov->edges[e].to] = e;
    }
    free(feeds);
    float major = tb ? ol->height : ol->width, minor = tb ? ol->width : ol->height;
    int ranks = 0;
    /* new nodes after their inputs: the repeats first (sources, listed last), then tape order */
    for (int i = 0; ok && i < n; i++) {
        int k = i < n - nr ? nr + i : i - (n - nr);
        bs_layout_node *ln = &l->nodes[k];
        if (old[k] >= 0) {
            *ln = ol->nodes[old[k]];
            continue;
        }
        ln->w = v->nodes[k].width;
        ln->h = v->nodes[k].height;
        /* inputs: edges into k (ordered by to: a binary search would do, the count is small) */
        float sum = 0;
        int nin = 0, r = 1;
        for (int e = 0; e < v->nedges; e++) {
            if (v->edges[e].to != k)
                continue;
            int f = v->edges[e].from;
            if ((f >= k && f < nr) || k >= nr) { /* inputs come first in tape order, and
                                                     repeats are sources; else: lay out now */
                ok = false;
                break;
            }
            if (rank[f] + 1 > r)
                r = rank[f] + 1;
            sum += tb ? l->nodes[f].x : l->nodes[f].y;
            nin++;
        }
        rank[k] = r;
        if (r > ranks)
            ranks = r;
        /* the wanted position across the ranks for now; the sweep below makes room */
        if (tb)
            ln->x = nin ? sum / (float)nin : minor / 2;
        else
            ln->y = nin ? sum / (float)nin : minor / 2;
    }
    /* rank by rank: the depth of the rank, then left to right by wanted position, no overlaps */
    float at = major, across = minor;
    for (int r = 1; ok && r <= ranks; r++) {
        float depth = 0;
        int idx[QUICK_MAX_NEW], m = 0;
        for (int k = 0; k < n; k++)
            if (old[k] < 0 && rank[k] == r) {
                float d = tb ? l->nodes[k].h : l->nodes[k].w;
                depth = d > depth ? d : depth;
                int i = m++;
                float want = tb ? l->nodes[k].x : l->nodes[k].y;
                while (i > 0 && (tb ? l->nodes[idx[i - 1]].x : l->nodes[idx[i - 1]].y) > want) {
                    idx[i] = idx[i - 1];
                    i--;
                }
                idx[i] = k;
            }
        float centre = at + QUICK_RANKSEP + depth / 2, edge = 0;
        for (int i = 0; i < m; i++) {
            bs_layout_node *ln = &l->nodes[idx[i]];
            float half = (tb ? ln->w : ln->h) / 2;
            float *pos = tb ? &ln->x : &ln->y;
            float lo = i == 0 ? half : edge + QUICK_NODESEP + half;
            if (*pos < lo)
                *pos = lo;
            edge = *pos + half;
            if (tb)
                ln->y = centre;
            else
                ln->x = centre;
        }
        across = edge > across ? edge : across;
        at = centre + depth / 2;
    }
    for (int e = 0; ok && e < v->nedges; e++) {
        const bs_view_edge *ve = &v->edges[e];
        bs_layout_edge *le = &l->edges[e];
        int of = old[ve->from], ot = old[ve->to], oe = -1;
        if (of >= 0 && ot >= 0) {
            for (int j = first[ot]; j >= 0 && j < ov->nedges && ov->edges[j].to == ot; j++)
                if (ov->edges[j].from == of && ov->edges[j].slot == ve->slot) {
                    oe = j;
                    break;
                }
            if (oe < 0) { /* an old pair newly joined: not an append */
                ok = false;
                break;
            }
        }
        int np = oe >= 0 ? ol->edges[oe].npts : 4;
        le->pts = malloc((size_t)np * 2 * sizeof(float));
        if (!le->pts) {
            ok = false;
            break;
        }
        l->nedges = e + 1;
        if (oe >= 0) {
            float *pts = le->pts;
            *le = ol->edges[oe];
            le->pts = pts;
            memcpy(pts, ol->edges[oe].pts, (size_t)np * 2 * sizeof(float));
        } else { /* edges between the same two nodes side by side, 8 points apart */
            int dup = 0, ndup = 0;
            for (int j = e; j >= 0 && v->edges[j].to == ve->to; j--)
                dup += j < e && v->edges[j].from == ve->from;
            for (int j = e; j < v->nedges && v->edges[j].to == ve->to; j++)
                ndup += j > e && v->edges[j].from == ve->from;
            ndup += dup + 1;
            quick_edge(le, &l->nodes[ve->from], &l->nodes[ve->to], tb,
                       ((float)dup - (float)(ndup - 1) / 2) * 8.0f);
        }
    }
    free(old);
    free(rank);
    free(first);
    if (!ok) {
        bs_layout_free(l);
        return NULL;
    }
    l->nnodes = n;
    l->nedges = v->nedges;
    l->width = tb ? across : at;
    l->height = tb ? at : across;
    l->tb = tb;
    l->labels = false;
    l->structure = v->structure;
    return l;
}

/* Graphviz's layout for a quick placement (the next pump with nothing else to draw, or a
 * screenshot): true when the layout changed. On failure the quick placement stays. */
static bool settle(bs_window *w)
{
    if (!w->settle)
        return false;
    w->settle = false;
    if (!w->view)
        return false;
    char err[256];
    bs_layout *l = bs_viz_layout_ex(w->view, area_aspect(w), w->view->stepping, err, sizeof err);
    if (!l)
        return false;
    bs_layout_free(w->layout);
    w->layout = l;
    w->layouts++;
    if (!w->user_moved)
        bs_window_fit(w);
    w->dirty = true;
    return true;
}

bs_status bs_window_update(bs_window *w, const bs_ctx *c, bs_id root, const bs_view_state *st,
                           char *err, size_t len)
{
    bs_view_opts o;
    bs_view_opts_init(&o);
    o.root = root;
    o.collapse = BS_COLLAPSE_NONE;
    return bs_window_update_opts(w, c, &o, st, err, len);
}

bs_status bs_window_update_opts(bs_window *w, const bs_ctx *c, const bs_view_opts *o,
                                const bs_view_state *st, char *err, size_t len)
{
    if (!w)
        return viz_fail(BS_ERR_ARG, err, len, "no window");
    bs_id root = o->root;
    if (root != BS_NONE && (root < 0 || root >= bs_tape_len(c)))
        return viz_fail(BS_ERR_ARG, err, len, "no node %d on the tape", root);
    bs_view *v = bs_view_build_opts(c, o, st, BS_VIEW_ALL, err, len);
    if (!v)
        return BS_ERR_NOMEM;
    if (w->view && w->view->root != root)
        w->user_moved = false;   /* another graph: fit it, whatever the old one's camera was */
    if (!layout_fits(w, v)) {
        bool tb = bs_viz_prefer_tb(v, area_aspect(w));
        bs_layout *l = quick_layout(w->view, w->layout, v, tb);
        bool quick = l != NULL;
        if (!l)
            l = bs_viz_layout_ex(v, area_aspect(w), v->stepping, err, len);
        if (!l) {
            bs_view_free(v);
            return BS_ERR_VALUE;
        }
        bs_layout_free(w->layout);
        w->layout = l;
        w->settle = quick;
        w->layouts += !quick;
        bs_view_free(w->view);
        w->view = v;
        if (w->selected != BS_NONE && bs_view_find(v, w->selected) < 0)
            w->selected = BS_NONE;
        if (st && st->selected != BS_NONE && bs_view_find(v, st->selected) >= 0)
            w->selected = st->selected;
        if (!w->user_moved)
            bs_window_fit(w);
    } else {
        bs_view_free(w->view);
        w->view = v;
        if (st && st->selected != BS_NONE && bs_view_find(v, st->selected) >= 0)
            bs_window_select(w, st->selected);
    }
    char title[96], nm[64] = "whole tape";
    int rk = root == BS_NONE ? -1 : bs_view_find(v, root);
    if (rk >= 0)
        snprintf(nm, sizeof nm, "%s", *v->nodes[rk].name ? v->nodes[rk].name : v->nodes[rk].title);
    snprintf(title, sizeof title, "backstep: graph of %s", nm);
    SDL_SetWindowTitle(w->win, title);
    w->dirty = true;
    return BS_OK;
}

static void handle(bs_window *w, const SDL_Event *e)
{
    switch (e->type) {
    case SDL_QUIT:
        push_event(w, BS_WEV_CLOSE, BS_NONE);
        break;
    case SDL_WINDOWEVENT:
        if (e->window.event == SDL_WINDOWEVENT_CLOSE)
            push_event(w, BS_WEV_CLOSE, BS_NONE);
        else if (e->window.event == SDL_WINDOWEVENT_SIZE_CHANGED) {
            /* another shape may want the other direction: lay the same view out again */
            if (w->view && w->layout && !layout_fits(w, w->view)) {
                char err[256];
                bs_layout *l = bs_viz_layout_ex(w->view, area_aspect(w), w->view->stepping, err,
                                                sizeof err);
                if (l) {
                    bs_layout_free(w->layout);
                    w->layout = l;
                    w->layouts++;
                    w->settle = false;
                }
            }
            if (!w->user_moved)
                bs_window_fit(w);
            w->dirty = true;
        } else
            w->dirty = true;
        break;
    case SDL_KEYDOWN: {
        SDL_Keycode k = e->key.keysym.sym;
        int ax, ay, aw, ah;
        area(w, &ax, &ay, &aw, &ah);
        if (k == SDLK_n || k == SDLK_SPACE || k == SDLK_RETURN || k == SDLK_KP_ENTER)
            push_event(w, BS_WEV_NEXT, BS_NONE);
        else if (k == SDLK_b)
            push_event(w, BS_WEV_BACK, BS_NONE);
        else if (k == SDLK_f)
            push_event(w, BS_WEV_FINISH, BS_NONE);
        else if (k == SDLK_0 || k == SDLK_HOME || k == SDLK_KP_0)
            bs_window_fit(w);
        else if (k == SDLK_PLUS || k == SDLK_EQUALS || k == SDLK_KP_PLUS)
            zoom_at(w, 1.25f, (float)aw / 2, TOP_BAR + (float)ah / 2);
        else if (k == SDLK_MINUS || k == SDLK_KP_MINUS)
            zoom_at(w, 0.8f, (float)aw / 2, TOP_BAR + (float)ah / 2);
        else if (k == SDLK_LEFT || k == SDLK_RIGHT || k == SDLK_UP || k == SDLK_DOWN) {
            float step = 80 / w->zoom;
            w->cam_x += k == SDLK_LEFT ? -step : k == SDLK_RIGHT ? step : 0;
            w->cam_y += k == SDLK_UP ? -step : k == SDLK_DOWN ? step : 0;
            w->user_moved = true;
            w->dirty = true;
        } else if (k == SDLK_ESCAPE) {
            w->selected = BS_NONE;
            w->dirty = true;
        }
        break;
    }
    case SDL_MOUSEBUTTONDOWN:
        if (e->button.button == SDL_BUTTON_LEFT) {
            w->dragging = true;
            w->drag_moved = false;
            w->drag_x = e->button.x;
            w->drag_y = e->button.y;
        }
        break;
    case SDL_MOUSEMOTION:
        if (w->dragging && (e->motion.state & SDL_BUTTON_LMASK)) {
            if (abs(e->motion.x - w->drag_x) + abs(e->motion.y - w->drag_y) > 3)
                w->drag_moved = true;
            if (w->drag_moved) {
                w->cam_x -= (float)e->motion.xrel / w->zoom;
                w->cam_y -= (float)e->motion.yrel / w->zoom;
                w->user_moved = true;
                w->dirty = true;
            }
        }
        break;
    case SDL_MOUSEBUTTONUP:
        if (e->button.button == SDL_BUTTON_LEFT && w->dragging) {
            w->dragging = false;
            int ax, ay, aw, ah;
            area(w, &ax, &ay, &aw, &ah);
            if (!w->drag_moved && e->button.x < aw && e->button.y >= TOP_BAR &&
                e->button.y < ay + ah) {
                int k = hit(w, (float)e->button.x, (float)e->button.y);
                if (k >= 0 && w->view->nodes[k].kind == BS_VN_GROUP) {
                    push_event_group(w, BS_WEV_EXPAND, w->view->nodes[k].id, w->view->nodes[k].group);
                    break;
                }
                int cl = k < 0 ? hit_cluster_title(w, (float)e->button.x, (float)e->button.y) : -1;
                if (cl >= 0) {
                    push_event_group(w, BS_WEV_COLLAPSE, BS_NONE, w->view->clusters[cl].name);
                    break;
                }
                bs_id id = k >= 0 ? w->view->nodes[k].id : BS_NONE;
                bool had = w->selected != BS_NONE;
                w->selected = id;
                if (had != (id != BS_NONE) && !w->user_moved)
                    bs_window_fit(w);   /* the panel changed the graph area */
                w->dirty = true;
                if (id != BS_NONE)
                    push_event(w, BS_WEV_CLICK, id);
            }
        }
        break;
    case SDL_MOUSEWHEEL: {
        int mx, my;
        SDL_GetMouseState(&mx, &my);
        float f = e->wheel.y > 0 ? 1.15f : e->wheel.y < 0 ? 1 / 1.15f : 1;
        if (f != 1)
            zoom_at(w, f, (float)mx, (float)my);
        break;
    }
    default:
        break;
    }
}

int bs_window_pump(bs_window *w, int timeout_ms, bs_window_event *ev)
{
    if (ev) {
        ev->kind = BS_WEV_NONE;
        ev->node = BS_NONE;
        ev->group[0] = 0;
    }
    if (!w)
        return 0;
    SDL_Event e;
    if (w->qlen == 0 && timeout_ms > 0 && !w->dirty && !w->settle) {
        if (SDL_WaitEventTimeout(&e, timeout_ms))
            handle(w, &e);
    }
    while (SDL_PollEvent(&e))
        handle(w, &e);
    if (w->dirty)
        bs_window_redraw(w);
    else if (w->qlen == 0)   /* idle: Graphviz's layout for a quick placement; the redraw it */
        settle(w);           /* needs is the next pump's, so no pump does both */
    if (w->qlen == 0)
        return 0;
    if (ev)
        *ev = w->queue[w->qhead];
    w->qhead = (w->qhead + 1) % QUEUE;
    w->qlen--;
    return 1;
}

void bs_window_redraw(bs_window *w)
{
    if (!w)
        return;
    draw(w);
    SDL_RenderPresent(w->ren);
}

void bs_window_select(bs_window *w, bs_id node)
{
    if (!w)
        return;
    bool had = w->selected != BS_NONE;
    w->selected = node;
    if (had != (node != BS_NONE) && !w->user_moved)
        bs_window_fit(w);
    w->dirty = true;
}

static bs_status screenshot(bs_window *w, bool settled, const char *png, char *err, size_t len)
{
    if (!w)
        return viz_fail(BS_ERR_ARG, err, len, "no window is open (:graph opens it)");
    /* let the window settle (a resize or expose pending), then draw and read before presenting */
    SDL_Event e;
    while (SDL_PollEvent(&e))
        handle(w, &e);
    if (settled)
        settle(w);   /* what the window settles on, not a quick placement */
    draw(w);
    int W, H;
    SDL_GetRendererOutputSize(w->ren, &W, &H);
    uint8_t *px = malloc((size_t)W * (size_t)H * 3);
    if (!px)
        return viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
    if (SDL_RenderReadPixels(w->ren, NULL, SDL_PIXELFORMAT_RGB24, px, W * 3) != 0) {
        free(px);
        SDL_RenderPresent(w->ren);
        return viz_fail(BS_ERR_UNSUPPORTED, err, len, "cannot read the window: %s", SDL_GetError());
    }
    SDL_RenderPresent(w->ren);
    bs_status st = bs_png_write(png, px, W, H, W * 3, err, len);
    free(px);
    return st;
}

bs_status bs_window_screenshot(bs_window *w, const char *png, char *err, size_t len)
{
    return screenshot(w, true, png, err, len);
}

bs_status viz_window_screenshot_now(bs_window *w, const char *png, char *err, size_t len)
{
    return screenshot(w, false, png, err, len);
}

bs_status bs_window_plot(bs_window *w, const double *y, int n, const char *title, char *err,
                         size_t len)
{
    if (!w)
        return viz_fail(BS_ERR_ARG, err, len, "no window is open");
    bool had = w->plot != NULL;
    if (n <= 0) {
        free(w->plot);
        w->plot = NULL;
        w->nplot = 0;
        w->dirty = true;
        if (had && !w->user_moved)
            bs_window_fit(w);   /* the graph gets the panel's room back */
        return BS_OK;
    }
    double *p = malloc((size_t)n * sizeof *p);
    if (!p)
        return viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
    memcpy(p, y, (size_t)n * sizeof *p);
    free(w->plot);
    w->plot = p;
    w->nplot = n;
    snprintf(w->plot_title, sizeof w->plot_title, "%s", title && *title ? title : "loss");
    w->dirty = true;
    if (!had && !w->user_moved)
        bs_window_fit(w);   /* keep the graph clear of the panel */
    return BS_OK;
}

int bs_window_layout_count(const bs_window *w)
{
    return w ? w->layouts : 0;
}

const char *bs_window_renderer(const bs_window *w)
{
    return w ? w->renderer_name : "";
}

float viz_window_zoom(const bs_window *w)
{
    return w ? w->zoom : 0;
}

const bs_layout *viz_window_layout(const bs_window *w, bool *quick)
{
    if (quick)
        *quick = w && w->settle;
    return w ? w->layout : NULL;
}

void viz_window_sync(bs_window *w)
{
    uint8_t px[4];
    SDL_Rect r = {0, 0, 1, 1};
    if (w)
        SDL_RenderReadPixels(w->ren, &r, SDL_PIXELFORMAT_RGBA32, px, 4);
}

#endif

#ifdef BS_VIZ_MODULE
/* ==== The module's table (viz/viz_mod.h): libbswin.so ==== */
#include "viz_mod.h"

const bs_win_api *bs_win_module(void)
{
    static const bs_win_api api = {BS_WIN_ABI, sizeof api, bs_window_available, bs_window_open,
                                   bs_window_close, bs_window_update, bs_window_update_opts,
                                   bs_window_pump, bs_window_redraw, bs_window_select,
                                   bs_window_fit, bs_window_screenshot, bs_window_plot,
                                   bs_window_layout_count, bs_window_renderer};
    return &api;
}
#endif
