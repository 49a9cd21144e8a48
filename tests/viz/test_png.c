/* tests/viz/test_png.c: the PNG writer's zlib-free path (stored deflate blocks, used when zlib is
 * not built in): an image larger than one 64 KiB block is written and read back with zlib's own
 * inflate, every CRC checked, every pixel compared. */
#define VT_WITH_PNG_READER 1
#include "viz_test.h"

#undef BS_HAVE_ZLIB
#define bs_png_write png_write_stored   /* this copy, not the library's */
#include "../../viz/png.c"

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

int main(void)
{
    int w = 301, h = 203, stride = w * 3 + 5;   /* odd sizes, padded rows */
    uint8_t *px = malloc((size_t)stride * (size_t)h);
    uint32_t x = 12345;
    for (int i = 0; i < stride * h; i++) {
        x = x * 1103515245u + 12345u;
        px[i] = (uint8_t)(x >> 16);
    }
    char path[] = "/tmp/bs_png_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    char err[256];
    CHECK(png_write_stored(path, px, w, h, stride, err, sizeof err) == BS_OK, "%s", err);
    vt_image im;
    CHECK(vt_png_read(path, &im), "the PNG does not read back");
    if (im.rgb) {
        CHECK(im.w == w && im.h == h, "%dx%d", im.w, im.h);
        for (int y = 0; y < h && !vt_failures; y++)
            CHECK(!memcmp(im.rgb + (size_t)y * (size_t)w * 3, px + (size_t)y * (size_t)stride,
                          (size_t)w * 3), "row %d differs", y);
        free(im.rgb);
    }
    CHECK(png_write_stored("/nonexistent/x.png", px, w, h, stride, err, sizeof err) == BS_ERR_VALUE,
          "unwritable path");
    CHECK(png_write_stored(path, px, 0, h, stride, err, sizeof err) == BS_ERR_ARG, "empty image");
    unlink(path);
    free(px);
    return vt_failures ? 1 : 0;
}
