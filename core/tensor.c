/* core/tensor.c: shapes (numel, equality, NumPy broadcasting, printing) and dtypes (names, sizes,
 * rounding a double to what f32/f16/bf16 can hold). */
#include "backstep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Shapes ==== */

/* The element count; INT64_MAX when the product does not fit (a size no limit admits), so an
   absurd shape is refused by the memory check instead of overflowing. */
int64_t bs_shape_numel(const bs_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->d[i] == 0) return 0;
    }
    for (int i = 0; i < s->ndim; i++) {
        if (s->d[i] < 0) return INT64_MAX;
        if (__builtin_mul_overflow(n, s->d[i], &n)) return INT64_MAX;
    }
    return n;
}

/* "7.1 PiB", "11.8 GiB", "512 B": binary units, three significant digits */
char *bs_bytes_str(double bytes, char *buf, size_t len)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
    int u = 0;
    while (bytes >= 1024 && u < 8) {
        bytes /= 1024;
        u++;
    }
    if (u == 0 || bytes == floor(bytes)) snprintf(buf, len, "%.0f %s", bytes, unit[u]);
    else snprintf(buf, len, bytes < 10 ? "%.2f %s" : bytes < 100 ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
    return buf;
}

/* "4GiB", "512M", "1.5 G", "1e9", "100000": a byte count; -1 when it is not one */
double bs_bytes_parse(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || v > 1e30) return -1;
    while (*end == ' ') end++;
    double m = 1;
    switch (*end) {
    case 'k': case 'K': m = 1024.0; break;
    case 'm': case 'M': m = 1024.0 * 1024; break;
    case 'g': case 'G': m = 1024.0 * 1024 * 1024; break;
    case 't': case 'T': m = 1024.0 * 1024 * 1024 * 1024; break;
    case 'p': case 'P': m = 1024.0 * 1024 * 1024 * 1024 * 1024; break;
    case 'b': case 'B': case '\0': break;
    default: return -1;
    }
    if (m > 1) {
        end++;
        if (*end == 'i') end++;
        if (*end == 'B' || *end == 'b') end++;
    } else if (*end) {
        end++;
    }
    if (*end) return -1;
    return v * m;
}

bool bs_shape_eq(const bs_shape *a, const bs_shape *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->d[i] != b->d[i])
            return false;
    return true;
}

/* Align trailing dims; each pair must be equal or contain a 1 (the 1 stretches). */
bool bs_shape_broadcast(const bs_shape *a, const bs_shape *b, bs_shape *out)
{
    bs_shape r;
    r.ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    if (r.ndim > BS_MAX_DIMS)
        return false;
    for (int i = 0; i < r.ndim; i++) {
        int ia = a->ndim - r.ndim + i, ib = b->ndim - r.ndim + i;
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        if (da == db || db == 1)
            r.d[i] = da;
        else if (da == 1)
            r.d[i] = db;
        else
            return false;
    }
    for (int i = r.ndim; i < BS_MAX_DIMS; i++)
        r.d[i] = 0;
    *out = r;
    return true;
}

/* Python tuple form: "()", "(3,)", "(2, 3)". */
char *bs_shape_str(const bs_shape *s, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    size_t p = 0;
    int n = snprintf(buf, len, "(");
    p = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < s->ndim && p < len; i++) {
        n = snprintf(buf + p, len - p, i ? ", %lld" : "%lld", (long long)s->d[i]);
        if (n < 0)
            break;
        p += (size_t)n;
    }
    if (p < len)
        snprintf(buf + p, len - p, s->ndim == 1 ? ",)" : ")");
    return buf;
}

/* ==== Dtypes ==== */

static const char *const dtype_names[BS_DTYPE_COUNT] = {"f64", "f32", "f16", "bf16", "i64"};

const char *bs_dtype_name(bs_dtype t)
{
    return (t >= 0 && t < BS_DTYPE_COUNT) ? dtype_names[t] : "?";
}

bool bs_dtype_parse(const char *s, bs_dtype *out)
{
    if (!s)
        return false;
    for (int i = 0; i < BS_DTYPE_COUNT; i++) {
        if (strcmp(s, dtype_names[i]) == 0) {
            *out = (bs_dtype)i;
            return true;
        }
    }
    return false;
}

size_t bs_dtype_size(bs_dtype t)
{
    switch (t) {
    case BS_F64: return 8;
    case BS_F32: return 4;
    case BS_F16: return 2;
    case BS_BF16: return 2;
    case BS_I64: return 8;
    default: return 8;
    }
}

/* Round v to nearest-even in a binary format with `mant` explicit mantissa bits, smallest normal
 * exponent emin (2^emin) and largest finite value maxv. The quantum (spacing of representable
 * numbers) at |v| is 2^(e - mant) for a normal |v| in [2^e, 2^(e+1)) and 2^(emin - mant) below
 * 2^emin (subnormals); v/quantum is exact in double, so rint (ties-to-even) rounds correctly. */
static double round_format(double v, int mant, int emin, double maxv)
{
    if (isnan(v) || isinf(v) || v == 0.0)
        return v;
    double a = fabs(v);
    int e;
    frexp(a, &e); /* a = f * 2^e, f in [0.5, 1): a in [2^(e-1), 2^e) */
    e -= 1;
    if (e < emin)
        e = emin;
    double q = ldexp(1.0, e - mant);
    double r = rint(a / q) * q;
    if (r > maxv)
        r = INFINITY;
    return v < 0 ? -r : r;
}

double bs_dtype_round(bs_dtype t, double v)
{
    switch (t) {
    case BS_F32:
        return (double)(float)v;
    case BS_F16: /* 10 mantissa bits, normals from 2^-14, max 65504 */
        return round_format(v, 10, -14, 65504.0);
    case BS_BF16: /* 7 mantissa bits, normals from 2^-126, max (2 - 2^-7) * 2^127 */
        return round_format(v, 7, -126, ldexp(255.0, 120));
    default:
        return v;
    }
}

float bs_dtype_roundf(bs_dtype t, float v)
{
    /* a float widened to double is exact, so this rounds once, from the float */
    return (t == BS_F16 || t == BS_BF16) ? (float)bs_dtype_round(t, (double)v) : v;
}
