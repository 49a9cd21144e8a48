/* viz/png.c: a small PNG writer for screenshots: 8-bit RGB, filter "none" per row, zlib deflate
 * when zlib is built in, else stored (uncompressed) deflate blocks. */
#include "viz_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef BS_HAVE_ZLIB
#include <zlib.h>
#endif

/* ==== Checksums ==== */

static uint32_t crc_table[256];

static void crc_init(void)
{
    if (crc_table[1])
        return;
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return crc;
}

/* ==== Chunks ==== */

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static bool chunk(FILE *f, const char *type, const uint8_t *data, uint32_t n)
{
    uint8_t hdr[8], tail[4];
    be32(hdr, n);
    memcpy(hdr + 4, type, 4);
    uint32_t crc = crc_update(0xffffffffu, hdr + 4, 4);
    crc = crc_update(crc, data, n) ^ 0xffffffffu;
    be32(tail, crc);
    return fwrite(hdr, 1, 8, f) == 8 && (n == 0 || fwrite(data, 1, n, f) == n) &&
           fwrite(tail, 1, 4, f) == 4;
}

/* ==== The zlib stream ==== */

#ifndef BS_HAVE_ZLIB
/* zlib header, stored blocks of at most 65535 bytes, adler32 */
static uint8_t *deflate_stored(const uint8_t *raw, size_t n, size_t *out_n)
{
    size_t blocks = n / 65535 + 1;
    uint8_t *out = malloc(2 + n + blocks * 5 + 4), *p = out;
    if (!out)
        return NULL;
    *p++ = 0x78;
    *p++ = 0x01;
    size_t left = n;
    const uint8_t *s = raw;
    do {
        uint16_t k = (uint16_t)(left > 65535 ? 65535 : left);
        *p++ = left <= 65535 ? 1 : 0;   /* BFINAL on the last block, BTYPE 00 */
        *p++ = (uint8_t)k;
        *p++ = (uint8_t)(k >> 8);
        *p++ = (uint8_t)~k;
        *p++ = (uint8_t)(~k >> 8);
        memcpy(p, s, k);
        p += k;
        s += k;
        left -= k;
    } while (left > 0);
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) {
        a = (a + raw[i]) % 65521;
        b = (b + a) % 65521;
    }
    be32(p, (b << 16) | a);
    p += 4;
    *out_n = (size_t)(p - out);
    return out;
}
#endif

bs_status bs_png_write(const char *path, const uint8_t *rgb, int w, int h, int stride, char *err,
                       size_t len)
{
    if (w <= 0 || h <= 0)
        return viz_fail(BS_ERR_ARG, err, len, "empty image");
    crc_init();
    size_t row = (size_t)w * 3 + 1, raw_n = row * (size_t)h;
    uint8_t *raw = malloc(raw_n);
    if (!raw)
        return viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
    for (int y = 0; y < h; y++) {
        raw[(size_t)y * row] = 0;   /* filter: none */
        memcpy(raw + (size_t)y * row + 1, rgb + (size_t)y * (size_t)stride, (size_t)w * 3);
    }
    uint8_t *z;
    size_t zn;
#ifdef BS_HAVE_ZLIB
    uLongf bound = compressBound((uLong)raw_n);
    z = malloc(bound);
    if (z && compress2(z, &bound, raw, (uLong)raw_n, 6) != Z_OK) {
        free(z);
        z = NULL;
    }
    zn = bound;
#else
    z = deflate_stored(raw, raw_n, &zn);
#endif
    free(raw);
    if (!z)
        return viz_fail(BS_ERR_NOMEM, err, len, "out of memory");
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(z);
        return viz_fail(BS_ERR_VALUE, err, len, "cannot write %s: %s", path, strerror(errno));
    }
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13];
    be32(ihdr, (uint32_t)w);
    be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;    /* bit depth */
    ihdr[9] = 2;    /* colour type: RGB */
    ihdr[10] = 0;   /* deflate */
    ihdr[11] = 0;   /* adaptive filtering (we use filter 0) */
    ihdr[12] = 0;   /* no interlace */
    bool ok = fwrite(sig, 1, 8, f) == 8 && chunk(f, "IHDR", ihdr, 13) &&
              chunk(f, "IDAT", z, (uint32_t)zn) && chunk(f, "IEND", NULL, 0);
    free(z);
    if (fclose(f) != 0)
        ok = false;
    if (!ok)
        return viz_fail(BS_ERR_VALUE, err, len, "cannot write %s: %s", path, strerror(errno));
    return BS_OK;
}
