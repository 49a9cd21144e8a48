/* tests/fuzz/fuzz_theme.c: libFuzzer target for the theme-file reader (viz/view.c,
 * bs_theme_load as BACKSTEP_THEME uses it). Each input is a theme file (in memory: a memfd
 * read through /proc/self/fd); after a load, good or bad, the active theme must still be one the
 * renderers can use: every number positive, and the gradient colour scale defined everywhere. */
#include "fuzz_util.h"

#include <math.h>
#include <sys/mman.h>

#include "viz.h"

#define MAX_LEN 65536

static int g_fd = -1;
static char g_path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_LEN)
        return -1;
    if (g_fd < 0) {
        g_fd = memfd_create("bs-fuzz-theme", 0);
        FUZZ_CHECK(g_fd >= 0);
        snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
    }
    FUZZ_CHECK(ftruncate(g_fd, 0) == 0);
    FUZZ_CHECK(pwrite(g_fd, data, size, 0) == (ssize_t)size);
    char err[512];
    err[0] = '\0';
    bs_status st = bs_theme_load(g_path, err, sizeof err);
    if (st != BS_OK)
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err));
    const bs_theme *t = bs_theme_get();
    FUZZ_CHECK(t->grad_vanish > 0 && t->grad_explode > 0 && t->font_size > 0 &&
               t->small_font_size > 0);
    static const double mags[] = {0, 1e-300, 1e-8, 1e-4, 0.5, 1, 100, 1e300, INFINITY, NAN};
    for (size_t i = 0; i < sizeof mags / sizeof mags[0]; i++)
        (void)bs_theme_grad_color(mags[i]);
    return 0;
}
