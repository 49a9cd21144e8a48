/* tests/viz/viz_test.h: what the viz tests and the viz benchmark share: a CHECK macro, the 2-2-1
 * network of the reference texts built through core's API, bigger generated graphs, an Xvfb
 * display for window tests, and a PNG reader (zlib inflate, all five row filters). */
#ifndef BS_VIZ_TEST_H
#define BS_VIZ_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backstep.h"
#include "viz.h"

/* ==== Checks ==== */
static int vt_failures;
#define CHECK(cond, ...)                                                                         \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            vt_failures++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);             \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
        }                                                                                        \
    } while (0)

static inline double vt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of this process, all threads (software GL renders in ours): a measure of work that
   other processes on a busy machine do not inflate */
static inline double vt_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ==== Graphs ==== */

static inline bs_id vt_scalar(bs_ctx *c, const char *name, double v, bool param)
{
    bs_shape s = {0};
    s.ndim = 0;
    bs_id id = bs_leaf(c, &v, &s, BS_F64, param);
    if (id >= 0 && name)
        bs_node_set_label(c, id, name);
    return id;
}

static inline bs_id vt_name(bs_ctx *c, const char *name, bs_id id)
{
    if (id >= 0 && name)
        bs_node_set_label(c, id, name);
    return id;
}

typedef struct {
    bs_id x1, x2, y, w11, w12, b1, w21, w22, b2, v1, v2, b3;
    bs_id z1, z2, h1, h2, z3, yhat, L;
    int nparams;
} vt_net;

/* `calls` calls of neuron(): each w * x + b on its own params, then tanh, summed at top level into
   L (collapsed: one box "neuron() × calls") */
static inline bs_id vt_build_calls(bs_ctx *c, int calls)
{
    bs_id x = vt_scalar(c, "x", 0.5, false), L = BS_NONE;
    for (int k = 0; k < calls; k++) {
        bs_id w = vt_scalar(c, NULL, 0.01 * k, true), b = vt_scalar(c, NULL, 0.1, true);
        int32_t prev = bs_scope_enter(c, "neuron()");
        bs_id h = bs_apply1(c, BS_OP_TANH, bs_apply2(c, BS_OP_ADD, bs_apply2(c, BS_OP_MUL, w, x), b));
        bs_scope_leave(c, prev);
        L = L == BS_NONE ? h : bs_apply2(c, BS_OP_ADD, L, h);
    }
    return vt_name(c, "L", L);
}

/* The 2-2-1 network of the reference texts: L = bce(sigmoid(z3), y) ≈ 0.4629. name_all: label
 * every intermediate node too (unique titles, for tests that identify nodes by their text). */
static inline vt_net vt_build_221(bs_ctx *c, bool name_all)
{
    vt_net n;
    n.x1 = vt_scalar(c, "x1", 1.0, false);
    n.x2 = vt_scalar(c, "x2", 0.5, false);
    n.y = vt_scalar(c, "y", 1.0, false);
    n.w11 = vt_scalar(c, "w11", 0.3, true);
    n.w12 = vt_scalar(c, "w12", 0.7, true);
    n.b1 = vt_scalar(c, "b1", 0.1, true);
    n.w21 = vt_scalar(c, "w21", -0.2, true);
    n.w22 = vt_scalar(c, "w22", 0.5, true);
    n.b2 = vt_scalar(c, "b2", 0.0, true);
    n.v1 = vt_scalar(c, "v1", 0.6, true);
    n.v2 = vt_scalar(c, "v2", -0.4, true);
    n.b3 = vt_scalar(c, "b3", 0.1, true);
    n.nparams = 9;
#define NM(s) (name_all ? (s) : NULL)
    bs_id a = vt_name(c, NM("w11x1"), bs_apply2(c, BS_OP_MUL, n.w11, n.x1));
    bs_id b = vt_name(c, NM("w12x2"), bs_apply2(c, BS_OP_MUL, n.w12, n.x2));
    bs_id s = vt_name(c, NM("s1"), bs_apply2(c, BS_OP_ADD, a, b));
    n.z1 = vt_name(c, "z1", bs_apply2(c, BS_OP_ADD, s, n.b1));
    a = vt_name(c, NM("w21x1"), bs_apply2(c, BS_OP_MUL, n.w21, n.x1));
    b = vt_name(c, NM("w22x2"), bs_apply2(c, BS_OP_MUL, n.w22, n.x2));
    s = vt_name(c, NM("s2"), bs_apply2(c, BS_OP_ADD, a, b));
    n.z2 = vt_name(c, "z2", bs_apply2(c, BS_OP_ADD, s, n.b2));
    n.h1 = vt_name(c, "h1", bs_apply1(c, BS_OP_RELU, n.z1));
    n.h2 = vt_name(c, "h2", bs_apply1(c, BS_OP_RELU, n.z2));
    a = vt_name(c, NM("v1h1"), bs_apply2(c, BS_OP_MUL, n.v1, n.h1));
    b = vt_name(c, NM("v2h2"), bs_apply2(c, BS_OP_MUL, n.v2, n.h2));
    s = vt_name(c, NM("s3"), bs_apply2(c, BS_OP_ADD, a, b));
    n.z3 = vt_name(c, "z3", bs_apply2(c, BS_OP_ADD, s, n.b3));
    n.yhat = vt_name(c, "yhat", bs_apply1(c, BS_OP_SIGMOID, n.z3));
    n.L = vt_name(c, "L", bs_apply2(c, BS_OP_BCE, n.yhat, n.y));
#undef NM
    return n;
}

/* A graph of about `nodes` nodes shaped like a deep MLP on scalars: layers of width 4, each
 * unit tanh(sum_j w_ij h_j + b_i); unique names when name_all. Returns the last node. */
static inline bs_id vt_build_mlp(bs_ctx *c, int nodes, bool name_all)
{
    char nm[32];
    int k = 0;
    bs_id h[4];
    for (int i = 0; i < 4; i++) {
        snprintf(nm, sizeof nm, "x%d", i);
        h[i] = vt_scalar(c, nm, 0.1 * (i + 1), false);
    }
    bs_id last = h[0];
    int layer = 0;
    while (bs_tape_len(c) < nodes) {
        bs_id nh[4] = {h[0], h[1], h[2], h[3]};
        for (int i = 0; i < 4 && bs_tape_len(c) < nodes; i++) {
            snprintf(nm, sizeof nm, "w%d_%d", layer, i);
            bs_id w = vt_scalar(c, nm, 0.5 - 0.1 * i, true);
            bs_id acc = bs_apply2(c, BS_OP_MUL, w, h[i]);
            bs_id mix = bs_apply2(c, BS_OP_ADD, acc, h[(i + 1) % 4]);
            if (name_all) {
                snprintf(nm, sizeof nm, "m%d", k++);
                vt_name(c, nm, acc);
                snprintf(nm, sizeof nm, "m%d", k++);
                vt_name(c, nm, mix);
            }
            nh[i] = bs_apply1(c, BS_OP_TANH, mix);
            snprintf(nm, sizeof nm, "h%d_%d", layer, i);
            vt_name(c, nm, nh[i]);
            last = nh[i];
        }
        for (int i = 0; i < 4; i++)
            h[i] = nh[i];
        layer++;
    }
    return last;
}

/* ==== A display for window tests ==== */

static pid_t vt_xvfb_pid;

static inline void vt_xvfb_stop(void)
{
    if (vt_xvfb_pid > 0) {
        kill(vt_xvfb_pid, SIGTERM);
        waitpid(vt_xvfb_pid, NULL, 0);
        vt_xvfb_pid = 0;
    }
}

/* DISPLAY already set: use it. Else start Xvfb (1280x1024x24) on a free display and set DISPLAY.
 * Without Xvfb, fall back to SDL's offscreen driver (SDL_VIDEODRIVER=offscreen). Returns 0 with a
 * display, 1 with the offscreen driver (a window that does not open there is a skip, 77). */
static inline int vt_display(void)
{
    const char *d = getenv("DISPLAY");
    if (d && *d)
        return 0;
    int fds[2];
    if (pipe(fds) != 0)
        goto offscreen;
    pid_t pid = fork();
    if (pid < 0)
        goto offscreen;
    if (pid == 0) {
        close(fds[0]);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", fds[1]);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execlp("Xvfb", "Xvfb", "-displayfd", fd, "-screen", "0", "1280x1024x24", "-nolisten",
               "tcp", "-nolisten", "unix", (char *)NULL);
        execlp("Xvfb", "Xvfb", "-displayfd", fd, "-screen", "0", "1280x1024x24", "-nolisten",
               "tcp", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char buf[32] = {0};
    size_t got = 0;
    while (got < sizeof buf - 1) {
        ssize_t k = read(fds[0], buf + got, sizeof buf - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
        if (memchr(buf, '\n', got))
            break;
    }
    close(fds[0]);
    if (got == 0) {
        waitpid(pid, NULL, 0);
        goto offscreen;
    }
    vt_xvfb_pid = pid;
    atexit(vt_xvfb_stop);
    char disp[40];
    snprintf(disp, sizeof disp, ":%d", atoi(buf));
    setenv("DISPLAY", disp, 1);
    return 0;
offscreen:
    fprintf(stderr, "no DISPLAY and no Xvfb: trying SDL's offscreen driver\n");
    setenv("SDL_VIDEODRIVER", "offscreen", 1);
    return 1;
}

/* ==== Reading PNG files (to check screenshots) ==== */
#ifdef VT_WITH_PNG_READER
#include <zlib.h>

typedef struct {
    int w, h;
    unsigned char *rgb;     /* (h, w, 3) */
} vt_image;

static inline uint32_t vt_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline int vt_paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* 8-bit RGB or RGBA, non-interlaced; checks every CRC. Returns false on anything else. */
static inline bool vt_png_read(const char *path, vt_image *img)
{
    memset(img, 0, sizeof *img);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc((size_t)n);
    bool ok = d && fread(d, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (!ok || n < 8 || memcmp(d, sig, 8)) {
        free(d);
        return false;
    }
    unsigned char *z = NULL;
    size_t zn = 0;
    int ch = 0;
    long at = 8;
    bool end = false;
    while (at + 12 <= n && !end) {
        uint32_t len = vt_be32(d + at);
        if (at + 12 + (long)len > n)
            break;
        const unsigned char *type = d + at + 4, *data = d + at + 8;
        uint32_t crc = (uint32_t)crc32(0, type, 4 + len);
        if (crc != vt_be32(data + len))
            break;
        if (!memcmp(type, "IHDR", 4)) {
            img->w = (int)vt_be32(data);
            img->h = (int)vt_be32(data + 4);
            if (data[8] != 8 || (data[9] != 2 && data[9] != 6) || data[12] != 0)
                break;
            ch = data[9] == 2 ? 3 : 4;
        } else if (!memcmp(type, "IDAT", 4)) {
            unsigned char *p = realloc(z, zn + len);
            if (!p)
                break;
            z = p;
            memcpy(z + zn, data, len);
            zn += len;
        } else if (!memcmp(type, "IEND", 4))
            end = true;
        at += 12 + (long)len;
    }
    free(d);
    if (!end || !ch || img->w <= 0 || img->h <= 0) {
        free(z);
        return false;
    }
    size_t stride = (size_t)img->w * (size_t)ch, rawn = (stride + 1) * (size_t)img->h;
    unsigned char *raw = malloc(rawn);
    uLongf got = (uLongf)rawn;
    if (!raw || uncompress(raw, &got, z, (uLong)zn) != Z_OK || got != rawn) {
        free(z);
        free(raw);
        return false;
    }
    free(z);
    unsigned char *px = malloc(stride * (size_t)img->h);
    img->rgb = malloc((size_t)img->w * (size_t)img->h * 3);
    if (!px || !img->rgb) {
        free(raw);
        free(px);
        return false;
    }
    for (int y = 0; y < img->h; y++) {
        unsigned char ft = raw[(size_t)y * (stride + 1)];
        const unsigned char *src = raw + (size_t)y * (stride + 1) + 1;
        unsigned char *cur = px + (size_t)y * stride, *up = y ? cur - stride : NULL;
        for (size_t i = 0; i < stride; i++) {
            int a = i >= (size_t)ch ? cur[i - (size_t)ch] : 0, b = up ? up[i] : 0;
            int c = up && i >= (size_t)ch ? up[i - (size_t)ch] : 0, v = src[i];
            switch (ft) {
            case 0: break;
            case 1: v += a; break;
            case 2: v += b; break;
            case 3: v += (a + b) / 2; break;
            case 4: v += vt_paeth(a, b, c); break;
            default: free(raw); free(px); return false;
            }
            cur[i] = (unsigned char)v;
        }
    }
    for (size_t i = 0; i < (size_t)img->w * (size_t)img->h; i++)
        memcpy(img->rgb + 3 * i, px + (size_t)ch * i, 3);
    free(raw);
    free(px);
    return true;
}

/* pixels within tol (per channel) of colour c */
static inline long vt_count_color(const vt_image *im, bs_rgb c, int tol)
{
    long k = 0;
    for (size_t i = 0; i < (size_t)im->w * (size_t)im->h; i++) {
        const unsigned char *p = im->rgb + 3 * i;
        if (abs(p[0] - c.r) <= tol && abs(p[1] - c.g) <= tol && abs(p[2] - c.b) <= tol)
            k++;
    }
    return k;
}

/* connected regions (4-neighbour) of colour c with at least min_area pixels, within the
 * rectangle [x0, x1) x [y0, y1); their centres into cx/cy (up to max) */
static inline int vt_regions(const vt_image *im, bs_rgb c, int tol, long min_area, int x0, int y0, int x1,
                      int y1, int *cx, int *cy, int max)
{
    size_t n = (size_t)im->w * (size_t)im->h;
    unsigned char *seen = calloc(n, 1);
    int *stack = malloc(sizeof(int) * n);
    int found = 0;
    if (!seen || !stack) {
        free(seen);
        free(stack);
        return -1;
    }
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            size_t i = (size_t)y * (size_t)im->w + (size_t)x;
            const unsigned char *p = im->rgb + 3 * i;
            if (seen[i] || abs(p[0] - c.r) > tol || abs(p[1] - c.g) > tol || abs(p[2] - c.b) > tol)
                continue;
            long area = 0, sx = 0, sy = 0;
            int top = 0;
            stack[top++] = (int)i;
            seen[i] = 1;
            while (top) {
                int j = stack[--top], jx = j % im->w, jy = j / im->w;
                area++;
                sx += jx;
                sy += jy;
                int nb[4][2] = {{jx + 1, jy}, {jx - 1, jy}, {jx, jy + 1}, {jx, jy - 1}};
                for (int q = 0; q < 4; q++) {
                    int qx = nb[q][0], qy = nb[q][1];
                    if (qx < x0 || qy < y0 || qx >= x1 || qy >= y1)
                        continue;
                    size_t qi = (size_t)qy * (size_t)im->w + (size_t)qx;
                    const unsigned char *qp = im->rgb + 3 * qi;
                    if (seen[qi] || abs(qp[0] - c.r) > tol || abs(qp[1] - c.g) > tol ||
                        abs(qp[2] - c.b) > tol)
                        continue;
                    seen[qi] = 1;
                    stack[top++] = (int)qi;
                }
            }
            if (area >= min_area) {
                if (found < max && cx && cy) {
                    cx[found] = (int)(sx / area);
                    cy[found] = (int)(sy / area);
                }
                found++;
            }
        }
    free(seen);
    free(stack);
    return found;
}
#endif

#endif
