/* repl/lex.c: the lexer: source text to tokens, with 1-based line:column positions (ast.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"

/* ==== Helpers ==== */

/* per byte: 1 a name's first byte (a-z A-Z _), 2 a digit; a name goes on over either */
static const unsigned char name_class[256] = {
    ['0'] = 2, ['1'] = 2, ['2'] = 2, ['3'] = 2, ['4'] = 2, ['5'] = 2, ['6'] = 2, ['7'] = 2, ['8'] = 2,
    ['9'] = 2, ['_'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
    ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};
static inline bool is_name_start(int c) { return name_class[(unsigned char)c] == 1; }
static inline bool is_digit(int c) { return c >= '0' && c <= '9'; }
static inline bool is_name_char(int c) { return name_class[(unsigned char)c] != 0; }

static inline __attribute__((always_inline)) bs_token tok_at(const bs_lexer *lx, bs_tok_kind k, int start)
{
    bs_token t;
    memset(&t, 0, sizeof t);
    t.kind = k;
    t.start = start;
    t.end = lx->pos;
    t.line = lx->line;
    t.col = start - lx->line_start + 1;
    return t;
}

/* An error token over [start, lx->pos) with a formatted message. */
static bs_token tok_error(bs_lexer *lx, int start, const char *fmt, const char *arg)
{
    snprintf(lx->err, sizeof lx->err, fmt, arg);
    return tok_at(lx, BS_TOK_ERROR, start);
}

void bs_lex_init(bs_lexer *lx, const char *src, int line0)
{
    memset(lx, 0, sizeof *lx);
    lx->src = src ? src : "";
    lx->line = line0;
    lx->at_bol = true;
}

const char *bs_tok_kind_name(bs_tok_kind k)
{
    switch (k) {
    case BS_TOK_EOF: return "end of input";
    case BS_TOK_NEWLINE: return "end of line";
    case BS_TOK_NAME: return "a name";
    case BS_TOK_NUMBER: return "a number";
    case BS_TOK_STRING: return "a string";
    case BS_TOK_LPAREN: return "'('";
    case BS_TOK_RPAREN: return "')'";
    case BS_TOK_LBRACKET: return "'['";
    case BS_TOK_RBRACKET: return "']'";
    case BS_TOK_LBRACE: return "'{'";
    case BS_TOK_RBRACE: return "'}'";
    case BS_TOK_COMMA: return "','";
    case BS_TOK_DOT: return "'.'";
    case BS_TOK_COLON: return "':'";
    case BS_TOK_SEMI: return "';'";
    case BS_TOK_ASSIGN: return "'='";
    case BS_TOK_PLUS: return "'+'";
    case BS_TOK_MINUS: return "'-'";
    case BS_TOK_STAR: return "'*'";
    case BS_TOK_SLASH: return "'/'";
    case BS_TOK_POW: return "'**'";
    case BS_TOK_AT: return "'@'";
    case BS_TOK_FLOORDIV: return "'//'";
    case BS_TOK_PERCENT: return "'%'";
    case BS_TOK_FSTRING: return "an f-string";
    case BS_TOK_CMP: return "a comparison";
    case BS_TOK_AUGASSIGN: return "an augmented assignment";
    case BS_TOK_BADOP: return "an operator";
    case BS_TOK_ERROR: return "an error";
    }
    return "a token";
}

/* ==== Numbers ==== */

/* NUMBER := digits ['.' digits*] [exp] | '.' digits [exp];  exp := ('e'|'E') ['+'|'-'] digits.
 * "2" is an integer literal; a '.' or an exponent makes it a float, as in Python. */
static bs_token lex_number(bs_lexer *lx, int start)
{
    const char *s = lx->src;
    int p = start;
    bool is_int = true;
    while (is_digit(s[p])) p++;
    if (s[p] == '.') {
        is_int = false;
        p++;
        while (is_digit(s[p])) p++;
    }
    bool bad = false;
    if (s[p] == 'e' || s[p] == 'E') {
        is_int = false;
        p++;
        if (s[p] == '+' || s[p] == '-') p++;
        if (!is_digit(s[p])) bad = true;
        while (is_digit(s[p])) p++;
    }
    if (is_name_char(s[p]) || bad) {
        while (is_name_char(s[p])) p++;
        lx->pos = p;
        char text[64];
        int n = p - start < (int)sizeof text - 1 ? p - start : (int)sizeof text - 1;
        memcpy(text, s + start, (size_t)n);
        text[n] = '\0';
        return tok_error(lx, start, "invalid number literal '%s'", text);
    }
    lx->pos = p;
    bs_token t = tok_at(lx, BS_TOK_NUMBER, start);
    char buf[128];
    int n = p - start;
    if (n >= (int)sizeof buf) {
        if (is_int) return tok_error(lx, start, "%s", "integer literal too large");
        n = (int)sizeof buf - 1;   /* a float this long: the first digits decide */
    }
    memcpy(buf, s + start, (size_t)n);
    buf[n] = '\0';
    t.is_int = is_int;
    if (is_int) {
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        if (errno == ERANGE || v > BS_INT_EXACT_MAX)
            return tok_error(lx, start, "%s", "integer literal too large: past 2**53, where "
                             "backstep's numbers stop being exact");
        t.inum = v;
        t.num = (double)v;
    } else {
        t.num = strtod(buf, NULL);
    }
    return t;
}

/* ==== Strings ==== */

/* STRING := '\'' chars '\'' | '"' chars '"', on one line; a backslash escapes the next byte. */
static bs_token lex_string(bs_lexer *lx, int start)
{
    const char *s = lx->src;
    char q = s[start];
    int p = start + 1;
    for (;;) {
        char c = s[p];
        if (c == '\0' || c == '\n' || (c == '\r' && s[p + 1] == '\n')) {
            lx->pos = p;   /* the newline stays for the caller */
            bs_token t = tok_error(lx, start, "%s", "unterminated string");
            return t;
        }
        if (c == '\\' && s[p + 1] != '\0' && s[p + 1] != '\n') { p += 2; continue; }
        p++;
        if (c == q) break;
    }
    lx->pos = p;
    return tok_at(lx, BS_TOK_STRING, start);
}

/* ==== Characters that are not in the language ==== */

/* Characters people paste from documents, with what they meant. */
static const struct { unsigned cp; const char *meant; } lookalikes[] = {
    {0x2212, "-"}, {0x2013, "-"}, {0x2014, "-"}, {0x00D7, "*"}, {0x22C5, "*"}, {0x00B7, "*"},
    {0x00F7, "/"}, {0x2018, "'"}, {0x2019, "'"}, {0x201C, "\""}, {0x201D, "\""}, {0x00A0, "a space"},
};

static bs_token lex_bad_char(bs_lexer *lx, int start)
{
    const unsigned char *s = (const unsigned char *)lx->src;
    unsigned c = s[start];
    if (c < 0x80) {
        lx->pos = start + 1;
        if (c >= 0x20 && c < 0x7f) {
            char one[2] = {(char)c, 0};
            return tok_error(lx, start, "unexpected character '%s'", one);
        }
        char hex[8];
        snprintf(hex, sizeof hex, "0x%02x", c);
        return tok_error(lx, start, "unexpected control character (byte %s)", hex);
    }
    /* UTF-8: decode one code point for the message */
    int n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    unsigned cp = n == 4 ? c & 0x07 : n == 3 ? c & 0x0f : n == 2 ? c & 0x1f : c;
    int i;
    for (i = 1; i < n; i++) {
        if ((s[start + i] & 0xc0) != 0x80) break;
        cp = (cp << 6) | (s[start + i] & 0x3f);
    }
    lx->pos = start + i;
    if (i != n || n == 1) {
        char hex[8];
        snprintf(hex, sizeof hex, "0x%02x", c);
        return tok_error(lx, start, "unexpected byte %s (not valid UTF-8)", hex);
    }
    char msg[160];
    int len = snprintf(msg, sizeof msg, "unexpected character '%.*s' (U+%04X)", n,
                       (const char *)s + start, cp);
    for (size_t k = 0; k < sizeof lookalikes / sizeof lookalikes[0]; k++) {
        if (lookalikes[k].cp == cp) {
            const char *m = lookalikes[k].meant;
            if (m[1] == '\0')
                snprintf(msg + len, sizeof msg - (size_t)len, "; did you mean '%s'?", m);
            else
                snprintf(msg + len, sizeof msg - (size_t)len, "; did you mean %s?", m);
            break;
        }
    }
    return tok_error(lx, start, "%s", msg);
}

/* ==== The scanner ==== */

static inline __attribute__((always_inline)) bs_token scan(bs_lexer *lx)
{
    const char *s = lx->src;
    for (;;) {
        char c = s[lx->pos];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') { lx->pos++; continue; }
        if (c == '#') {
            while (s[lx->pos] != '\0' && s[lx->pos] != '\n') lx->pos++;
            continue;
        }
        if (c == '\\') {
            int p = lx->pos + 1;
            while (s[p] == ' ' || s[p] == '\t' || s[p] == '\r') p++;
            if (s[p] == '\n') {          /* explicit line joining */
                lx->pos = p + 1;
                lx->line++;
                lx->line_start = lx->pos;
                continue;
            }
            if (s[p] == '\0') {          /* a '\' at the very end: the line goes on (REPL) */
                lx->pos = p;
                continue;
            }
            break;
        }
        if (c == '\n') {
            if (lx->depth > 0) {         /* implicit line joining inside brackets */
                lx->pos++;
                lx->line++;
                lx->line_start = lx->pos;
                continue;
            }
            bs_token t = tok_at(lx, BS_TOK_NEWLINE, lx->pos);
            lx->pos++;
            t.end = lx->pos;
            lx->line++;
            lx->line_start = lx->pos;
            return t;
        }
        break;
    }

    int start = lx->pos;
    char c = s[start];
    if (c == '\0') return tok_at(lx, BS_TOK_EOF, start);

    if (is_name_start(c)) {
        int p = start;
        while (is_name_char(s[p])) p++;
        lx->pos = p;
        if (s[p] == '\'' || s[p] == '"') {
            /* f'...', r"...", b'...': Python string prefixes */
            int n = p - start;
            if (n <= 2 && strspn(s + start, "rRfFbBuU") >= (size_t)n) {
                char pre[3] = {0};
                memcpy(pre, s + start, (size_t)n);
                bs_token t = lex_string(lx, p);
                if (t.kind == BS_TOK_ERROR) return t;
                if (strpbrk(pre, "bB"))
                    return tok_error(lx, start, "bytes literals like %s'...' are not supported", pre);
                t.kind = strpbrk(pre, "fF") ? BS_TOK_FSTRING : BS_TOK_STRING;
                t.start = start;
                t.col = start - lx->line_start + 1;
                t.pre = n;
                t.raw = strpbrk(pre, "rR") != NULL;
                return t;
            }
        }
        return tok_at(lx, BS_TOK_NAME, start);
    }
    if (is_digit(c) || (c == '.' && is_digit(s[start + 1]))) return lex_number(lx, start);
    if (c == '\'' || c == '"') return lex_string(lx, start);

    char c1 = s[start + 1], c2 = c1 ? s[start + 2] : '\0';
    bs_tok_kind k;
    int n = 1;
    switch (c) {
    case '(': k = BS_TOK_LPAREN; lx->depth++; break;
    case '[': k = BS_TOK_LBRACKET; lx->depth++; break;
    case '{': k = BS_TOK_LBRACE; lx->depth++; break;
    case ')': k = BS_TOK_RPAREN; if (lx->depth > 0) lx->depth--; break;
    case ']': k = BS_TOK_RBRACKET; if (lx->depth > 0) lx->depth--; break;
    case '}': k = BS_TOK_RBRACE; if (lx->depth > 0) lx->depth--; break;
    case ',': k = BS_TOK_COMMA; break;
    case ';': k = BS_TOK_SEMI; break;
    case '.': k = BS_TOK_DOT; break;
    case ':': if (c1 == '=') { k = BS_TOK_BADOP; n = 2; } else k = BS_TOK_COLON; break;
    case '=': if (c1 == '=') { k = BS_TOK_CMP; n = 2; } else k = BS_TOK_ASSIGN; break;
    case '+': if (c1 == '=') { k = BS_TOK_AUGASSIGN; n = 2; } else k = BS_TOK_PLUS; break;
    case '-':
        if (c1 == '=') { k = BS_TOK_AUGASSIGN; n = 2; }
        else if (c1 == '>') { k = BS_TOK_BADOP; n = 2; }
        else k = BS_TOK_MINUS;
        break;
    case '*':
        if (c1 == '*') { if (c2 == '=') { k = BS_TOK_AUGASSIGN; n = 3; } else { k = BS_TOK_POW; n = 2; } }
        else if (c1 == '=') { k = BS_TOK_AUGASSIGN; n = 2; }
        else k = BS_TOK_STAR;
        break;
    case '/':
        if (c1 == '/') { if (c2 == '=') { k = BS_TOK_AUGASSIGN; n = 3; } else { k = BS_TOK_FLOORDIV; n = 2; } }
        else if (c1 == '=') { k = BS_TOK_AUGASSIGN; n = 2; }
        else k = BS_TOK_SLASH;
        break;
    case '@': if (c1 == '=') { k = BS_TOK_AUGASSIGN; n = 2; } else k = BS_TOK_AT; break;
    case '%': if (c1 == '=') { k = BS_TOK_AUGASSIGN; n = 2; } else k = BS_TOK_PERCENT; break;
    case '!': if (c1 == '=') { k = BS_TOK_CMP; n = 2; } else k = BS_TOK_BADOP; break;
    case '<':
    case '>':
        if (c1 == '=') { k = BS_TOK_CMP; n = 2; }
        else if (c1 == c) { k = BS_TOK_BADOP; n = 2; }
        else k = BS_TOK_CMP;
        break;
    case '&': case '|': case '^':
        k = BS_TOK_BADOP;
        if (c1 == '=') n = 2;
        break;
    case '~': k = BS_TOK_BADOP; break;
    default:
        return lex_bad_char(lx, start);
    }
    lx->pos = start + n;
    return tok_at(lx, k, start);
}

/* Python's indentation width of the text from the line's start to pos: a tab advances to the
   next multiple of 8 */
static int indent_width(const char *s, int from, int to)
{
    int w = 0;
    for (int i = from; i < to; i++) w = s[i] == '\t' ? (w / 8 + 1) * 8 : w + 1;
    return w;
}

void bs_lex_scan(bs_lexer *lx, bs_token *out)
{
    bs_token t = scan(lx); /* inlined: built in place */
    if (t.kind == BS_TOK_NEWLINE) {
        lx->at_bol = true;
    } else if (t.kind != BS_TOK_EOF) {
        t.bol = lx->at_bol && lx->depth <= (t.kind == BS_TOK_LPAREN || t.kind == BS_TOK_LBRACKET ||
                                             t.kind == BS_TOK_LBRACE ? 1 : 0);
        if (t.bol) t.indent = indent_width(lx->src, t.start - (t.col - 1), t.start);
        lx->at_bol = false;
    }
    *out = t;
}

bs_token bs_lex_next(bs_lexer *lx)
{
    bs_token t;
    bs_lex_scan(lx, &t);
    return t;
}
